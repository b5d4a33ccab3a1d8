#!/usr/bin/env bash
# Builds the bfdd container image without any registry: static bfdd + bfdctl compiled on this
# machine, then `FROM scratch` (container/Containerfile) with buildah.
#
#   sudo ./container/build.sh            # localhost/bfdd:<version> and localhost/bfdd:latest
#
# Environment:
#   BFDD_IMAGE       image name (default localhost/bfdd)
#   BFDD_FILE_CAPS   file capabilities of /usr/bin/bfdd (default cap_net_admin=ep; "" for none;
#                    cap_net_admin,cap_net_raw=ep for `interface` peers on kernels < 5.7)
#   CARGO_TARGET_DIR honoured like cargo does (default <workspace>/target)
#   CARGO            the cargo to run (default: cargo from PATH)
#
# Needs root: it installs buildah, podman and runc with apt-get when they are missing, writes
# the podman drop-in /etc/containers/containers.conf.d/50-local.conf when it is absent, and
# sets a file capability (setcap). The last two lines printed are `image: NAME:TAG` and
# `size: BYTES (HUMAN)`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

target=x86_64-unknown-linux-gnu
image=${BFDD_IMAGE:-localhost/bfdd}
file_caps=${BFDD_FILE_CAPS-cap_net_admin=ep}
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, /etc/containers, setcap, root podman storage)"

# The version of the workspace ([workspace.package] version in Cargo.toml).
version=$(awk '
    /^\[workspace\.package\]/ { inpkg = 1; next }
    /^\[/ { inpkg = 0 }
    inpkg && /^version[ \t]*=/ { gsub(/.*=[ \t]*"|".*/, ""); print; exit }
' Cargo.toml)
[ -n "$version" ] || die "no version in [workspace.package] of Cargo.toml"

# --- tools --------------------------------------------------------------------------------
need_pkgs=()
command -v buildah >/dev/null || need_pkgs+=(buildah)
command -v podman >/dev/null || need_pkgs+=(podman)
command -v runc >/dev/null || need_pkgs+=(runc)
[ -n "$file_caps" ] && ! command -v setcap >/dev/null && need_pkgs+=(libcap2-bin)
command -v strip >/dev/null || need_pkgs+=(binutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "apt-get install ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
    fi
fi

# podman on these machines: runc (crun refuses the hybrid cgroup layout) and ulimits that
# root may set. Only written when absent; Debian's default capability list stays in force.
dropin=/etc/containers/containers.conf.d/50-local.conf
if [ ! -e "$dropin" ]; then
    log "writing $dropin"
    mkdir -p "$(dirname "$dropin")"
    cat > "$dropin" <<'EOF'
# Written by bfdd's container/build.sh.
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
fi

# --- static binaries ----------------------------------------------------------------------
log "cargo build --release --target $target -p bfdd -p bfdctl (crt-static)"
RUSTFLAGS='-C target-feature=+crt-static' \
    "${CARGO:-cargo}" build --release --target "$target" -p bfdd -p bfdctl
bindir=$target_dir/$target/release

for b in bfdd bfdctl; do
    [ -x "$bindir/$b" ] || die "$bindir/$b was not built"
    # glibc's ldd says "not a dynamic executable" for static and "statically linked" for
    # static-pie executables (what rustc makes with crt-static); anything else lists libraries.
    out=$(ldd "$bindir/$b" 2>&1 || true)
    case $out in
        *"not a dynamic executable"* | *"statically linked"*) ;;
        *) die "$b is not static: ldd says: $out" ;;
    esac
    log "$b: ldd: $(printf '%s' "$out" | tr -s ' \t\n' ' ' | sed 's/^ //')"
done

# --- build context ------------------------------------------------------------------------
ctx=$target_dir/container/context
rm -rf "$ctx"
mkdir -p "$ctx/usr/bin" "$ctx/run/bfdd" "$ctx/var/lib/bfdd"
for b in bfdd bfdctl; do
    strip --strip-debug -o "$ctx/usr/bin/$b" "$bindir/$b"
    chmod 0755 "$ctx/usr/bin/$b"
done
chmod 0755 "$ctx/run/bfdd" "$ctx/var/lib/bfdd"
if [ -n "$file_caps" ]; then
    setcap "$file_caps" "$ctx/usr/bin/bfdd"
    log "file capabilities: $(getcap "$ctx/usr/bin/bfdd")"
fi

# --- image ----------------------------------------------------------------------------------
log "buildah build $image:$version"
old_id=$(podman image inspect --format '{{.Id}}' "$image:$version" 2>/dev/null || true)
buildah build --quiet --layers=false \
    --build-arg "VERSION=$version" \
    -f "$root/container/Containerfile" \
    -t "$image:$version" -t "$image:latest" \
    "$ctx" >/dev/null

if [ -n "$file_caps" ]; then
    # The capability must have survived COPY and the layer tarball.
    mnt=$(podman image mount "$image:$version")
    got=$(getcap "$mnt/usr/bin/bfdd" || true)
    podman image unmount "$image:$version" >/dev/null || true
    case $got in
        *cap_net_admin*) ;;
        *) die "the image lost bfdd's file capability (getcap: '$got')" ;;
    esac
fi

# The image this build replaced, now untagged: remove it (only it; fails harmlessly when a
# container still uses it).
new_id=$(podman image inspect --format '{{.Id}}' "$image:$version")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] \
    && [ -z "$(podman image inspect --format '{{join .RepoTags " "}}' "$old_id" 2>/dev/null)" ]; then
    podman rmi "$old_id" >/dev/null 2>&1 || true
fi

size=$(podman image inspect --format '{{.Size}}' "$image:$version")
human=$(numfmt --to=iec-i --suffix=B "$size" 2>/dev/null || echo "$size B")
echo "image: $image:$version"
echo "size: $size ($human)"
