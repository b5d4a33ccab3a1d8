#!/usr/bin/env bash
# Every test: installs the real BFD peers (FRR, BIRD 2, OVN) from Debian, lints, runs all tests.
# .ci/run calls this; README.md shows it. Needs root (network namespaces, apt-get).
# .ci/run sets CI=true; the integration tests then fail instead of skipping when a tool is
# missing. Run by hand without it, they skip what this machine cannot do.
set -euo pipefail

cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

# Keep the packages' postinst scripts from starting system frr/bird/ovs/ovn services: the tests start
# their own daemons inside network namespaces. invoke-rc.d honours policy-rc.d (exit 101 =
# action forbidden). Remove it again afterwards only if we created it.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
cleanup_policy() {
    if [ "$created_policy" = 1 ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
}
trap cleanup_policy EXIT

# The packages' daemons already running: a host that uses FRR, BIRD or OVS keeps them.
daemons='/usr/sbin/bird /usr/lib/frr/watchfrr /usr/lib/frr/zebra /usr/lib/frr/bgpd
    /usr/lib/frr/staticd /usr/lib/frr/bfdd /usr/sbin/ovsdb-server /usr/sbin/ovs-vswitchd
    /usr/bin/ovn-northd /usr/bin/ovn-controller'
running_before=" "
for exe in $daemons; do
    running_before+="$(pgrep -x -f "$exe( .*)?" 2>/dev/null | tr '\n' ' ' || true)"
done

echo "== apt-get install"
apt-get update -qq
# catatonit: podman kube play builds its pause image around it (a Recommends of podman).
# openvswitch-switch, ovn-central, ovn-host: OVN as a peer (tests/interop_ovn.rs).
apt-get install -y -qq --no-install-recommends frr bird2 iproute2 procps python3 buildah podman runc catatonit \
    openvswitch-switch ovn-central ovn-host >/dev/null

cleanup_policy
created_policy=0

# Belt and braces: if the install started some service anyway (e.g. a systemd without
# policy-rc.d support), stop it. Only the system daemons started from their packaged paths, in
# the root namespace, and not running before the install are matched.
for exe in $daemons; do
    for pid in $(pgrep -x -f "$exe( .*)?" 2>/dev/null || true); do
        case "$running_before" in *" $pid "*) continue ;; esac
        # Test daemons run inside network namespaces with their own directories; the system
        # service instances run in the root namespace with their packaged defaults.
        if [ "$(readlink /proc/"$pid"/ns/net 2>/dev/null)" = "$(readlink /proc/1/ns/net)" ]; then
            echo "stopping system daemon $exe (pid $pid), started by the install"
            kill "$pid" 2>/dev/null || true
        fi
    done
done

echo "== cargo fmt"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"; cleanup_policy' EXIT
cargo test --workspace 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary, the last of them
# usually a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
