#!/usr/bin/env bash
# The main job, self-contained: an external-gateway bfdd and two "node" bfdd peers, each in its
# own network namespace joined by veth links, bring BFD sessions Up; `bfdctl peers` shows them;
# one node dies and the gateway detects it; everything is cleaned up, also on failure.
# Needs root (network namespaces). Uses only 198.51.100.0/24 and 203.0.113.0/24.
set -euo pipefail
# Prebuilt binaries (the test that runs this demo passes its own), resolved before the cd.
DEMO_BIN_DIR=${DEMO_BIN_DIR:+$(realpath "$DEMO_BIN_DIR")}
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "demo: needs root for network namespaces (run: sudo $0)" >&2
    exit 2
fi
command -v ip >/dev/null || { echo "demo: needs iproute2 (apt-get install -y iproute2)" >&2; exit 2; }

if [ -n "$DEMO_BIN_DIR" ]; then
    BIN=$DEMO_BIN_DIR
else
    echo "== building bfdd and bfdctl"
    cargo build --quiet --release -p bfdd -p bfdctl
    BIN=${CARGO_TARGET_DIR:-target}/release
fi

# DEMO_NS_PREFIX: the test that runs this passes names its harness sweeps up after a crash.
TAG="${DEMO_NS_PREFIX:-bfdemo$$}"
GW="${TAG}gw" N1="${TAG}n1" N2="${TAG}n2"
WORK=$(mktemp -d "/tmp/${TAG}.XXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.2
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for ns in "$GW" "$N1" "$N2"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== namespaces: $GW (gateway) <-> $N1 (198.51.100.0/24), $GW <-> $N2 (203.0.113.0/24)"
for ns in "$GW" "$N1" "$N2"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
link() { # ns_a if_a addr_a ns_b if_b addr_b
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
    ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}
link "$GW" gw1 198.51.100.1/24 "$N1" eth0 198.51.100.2/24
link "$GW" gw2 203.0.113.1/24 "$N2" eth0 203.0.113.2/24

conf() { # name peer... -> writes $WORK/name.toml
    local name=$1; shift
    {
        printf '[daemon]\ncontrol-socket = "%s/%s.sock"\nmetrics-address = "127.0.0.1:9000"\nstate-dir = "%s/%s-state"\n\n' "$WORK" "$name" "$WORK" "$name"
        printf '[defaults]\ndesired-min-tx = "100ms"\nrequired-min-rx = "100ms"\ndetect-multiplier = 3\n'
        for p in "$@"; do printf '\n[[peer]]\naddress = "%s"\n' "$p"; done
    } > "$WORK/$name.toml"
}
conf gw 198.51.100.2 203.0.113.2
conf n1 198.51.100.1
conf n2 203.0.113.1

start() { # ns name
    # The state-change lines below are logged at info, whatever RUST_LOG the caller has.
    RUST_LOG=info ip netns exec "$1" "$BIN/bfdd" --config "$WORK/$2.toml" >"$WORK/$2.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$2=$!"
    disown  # the shell need not report the peer we kill on purpose
}
start "$GW" gw; start "$N1" n1; start "$N2" n2

ctl() { "$BIN/bfdctl" --socket "$WORK/gw.sock" "$@"; }
echo "== waiting for both sessions to come Up"
for _ in $(seq 1 100); do
    if ctl peers --check >/dev/null 2>&1; then break; fi
    sleep 0.1
done
# A session comes Up at the slow rate (1 s while not Up, RFC 5880 6.8.3) and then moves to
# 100 ms with a Poll sequence; until then its detection time is 3 s, so wait for that.
fast() { ctl peer "$1" --json | grep -qE '"detection_time_us": 300000,?$'; }
for _ in $(seq 1 50); do
    if fast 198.51.100.2 && fast 203.0.113.2; then break; fi
    sleep 0.1
done
ctl peers
ctl peers --check
if ! fast 203.0.113.2; then
    echo "demo: FAILED, the sessions did not move to 100 ms" >&2
    exit 1
fi
echo "both sessions at 100 ms x 3: detection time 300 ms"

echo
echo "== node 2 dies (SIGKILL: no AdminDown); the gateway must detect it within 300 ms (+100 ms tolerance)"
killed_at=$(date +%s.%N)
kill -9 "$PID_n2"
sleep 0.6
ctl peers
if ctl peers --check; then
    echo "demo: FAILED, the dead node still shows Up" >&2
    exit 1
fi
echo
echo "== the gateway's log line for it:"
line=$(grep -F 'state-change' "$WORK/gw.log" | grep -F 'peer:203.0.113.2 ' | grep -F ' -> down ' | tail -1 || true)
if [ -z "$line" ]; then
    echo "demo: FAILED, the gateway logged no Down for the dead node" >&2
    exit 1
fi
echo "$line"
# The detection time runs from the last packet received, which left before the kill: the
# Down comes at most 300 ms after it (100 ms more allowed for a busy, shared machine).
if ! down_at=$(date -d "${line%%Z*}Z" +%s.%N); then
    echo "demo: FAILED, cannot read the time of the gateway's log line" >&2
    exit 1
fi
detected_ms=$(awk -v a="$killed_at" -v b="$down_at" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
echo "detected ${detected_ms} ms after the kill (detection time 300 ms)"
if [ "$detected_ms" -lt 0 ] || [ "$detected_ms" -gt 400 ]; then
    echo "demo: FAILED, the Down came ${detected_ms} ms after the kill, not within 0-400 ms" >&2
    exit 1
fi
echo
echo "== metrics (bfd_session_up):"
ip netns exec "$GW" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9000; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' \
    | grep '^bfd_session_up' || true
echo
echo "demo: OK (cleaning up)"
