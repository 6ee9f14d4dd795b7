#!/usr/bin/env bash
# Engine harness: runs podman, containerd (ctr) and docker privately on top of
# mini-containerd and of runc, the same checks against both, and prints a
# check x runtime table. See README.md in this directory.
#
# usage: tests/engines/run.sh [--engine podman|containerd|docker|all] [--runtime mini|runc|both] [--keep]
# env:   MINI=path to the runtime binary (default target/debug/mini-containerd)
set -uo pipefail
ENGINES_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$ENGINES_DIR/../.." && pwd)
export ENGINES_DIR
. "$ENGINES_DIR/lib.sh"

engines=(podman containerd docker)
runtimes=(runc mini)
keep=
while [ $# -gt 0 ]; do
    case "$1" in
    --engine) [ "$2" = all ] || engines=("$2"); shift 2 ;;
    --runtime) [ "$2" = both ] || runtimes=("$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--engine podman|containerd|docker|all] [--runtime mini|runc|both] [--keep]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "engines: run as root" >&2; exit 2; }

MINI=${MINI:-$REPO/target/debug/mini-containerd}
MINI=$(realpath "$MINI")
RUNC=$(command -v runc || echo /usr/sbin/runc)
[ -x "$MINI" ] || { echo "engines: no runtime at $MINI (cargo build first)" >&2; exit 2; }

t_start=$SECONDS
engines_install_deps
[ -x "$RUNC" ] || RUNC=$(command -v runc)

T=$(mktemp -d /tmp/mc-engines.XXXXXX)
export T
ARTIFACTS=$REPO/target/engines
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"
RESULTS=$ARTIFACTS/results.tsv
: >"$RESULTS"
export RESULTS

cleanup() {
    # the engine scripts clean up after themselves; this catches an interrupted run
    umount_below "$T"
    for d in /sys/fs/cgroup/*/mcengines-$$-* /sys/fs/cgroup/mcengines-$$-*; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    if [ -n "$keep" ]; then echo "engines: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building the BusyBox image (umoci + skopeo, offline)"
mkdir -p "$T/image"
if ! engines_build_image "$T/image" >"$ARTIFACTS/image.log" 2>&1; then
    cat "$ARTIFACTS/image.log"; exit 1
fi
IMAGE_TAR=$T/image/busybox.tar
export IMAGE_TAR
echo "   $IMAGE_TAR ($(du -h "$IMAGE_TAR" | cut -f1))"

for engine in "${engines[@]}"; do
    for rt in "${runtimes[@]}"; do
        case "$rt" in mini) real=$MINI ;; runc) real=$RUNC ;; *) echo "unknown runtime $rt"; exit 2 ;; esac
        D=$T/$engine-$rt
        OUT=$ARTIFACTS/$engine-$rt
        mkdir -p "$D/bin" "$OUT"
        WRAPPER=$D/bin/$rt
        WRAPPER_LOG=$OUT/runtime-calls.log
        : >"$WRAPPER_LOG"
        # podman as root gives the runtime no --root: the wrapper adds a private one
        wroot=; [ "$engine" = podman ] && wroot=$D/runtime-root
        engines_make_wrapper "$WRAPPER" "$real" "$WRAPPER_LOG" $wroot
        echo "== $engine on $rt"
        t0=$SECONDS
        D=$D OUT=$OUT WRAPPER=$WRAPPER WRAPPER_LOG=$WRAPPER_LOG RUNTIME_NAME=$rt \
            "$ENGINES_DIR/$engine.sh" 2>&1 | tee "$OUT/engine.log" | grep -v '^\s*$'
        echo "   ($((SECONDS - t0))s)"
    done
done

# --- the table --------------------------------------------------------------
xfail_file=$ENGINES_DIR/xfail.txt
is_xfail() { [ -f "$xfail_file" ] && grep -qxF "$1" <(sed 's/#.*//; s/[[:space:]]*$//' "$xfail_file"); }
{
    printf '| engine | check |'
    for rt in "${runtimes[@]}"; do printf ' %s |' "$rt"; done
    printf '\n|---|---|'
    for _ in "${runtimes[@]}"; do printf -- '---|'; done
    printf '\n'
    cut -f1,2 "$RESULTS" | awk '!seen[$0]++' | while IFS=$'\t' read -r e c; do
        printf '| %s | %s |' "$e" "$c"
        for rt in "${runtimes[@]}"; do
            v=$(awk -F'\t' -v e="$e" -v c="$c" -v r="$rt" '$1 == e && $2 == c && $3 == r { print $4 }' "$RESULTS")
            [ "$v" = FAIL ] && [ "$rt" = mini ] && is_xfail "$e/$c" && v="FAIL (xfail)"
            printf ' %s |' "${v:--}"
        done
        printf '\n'
    done
} >"$ARTIFACTS/results.md"
echo
cat "$ARTIFACTS/results.md"

status=0
broken=$(awk -F'\t' '$3 == "runc" && $4 == "FAIL" { print $1 "/" $2 }' "$RESULTS")
if [ -n "$broken" ]; then
    echo; echo "checks that fail with runc (the check or the setup is wrong):"; echo "$broken" | sed 's/^/  /'
    status=1
fi
regress=
while IFS=$'\t' read -r e c r v; do
    [ "$r" = mini ] && [ "$v" = FAIL ] || continue
    runc_v=$(awk -F'\t' -v e="$e" -v c="$c" '$1 == e && $2 == c && $3 == "runc" { print $4 }' "$RESULTS")
    [ "$runc_v" = FAIL ] && continue
    is_xfail "$e/$c" && continue
    regress+="$e/$c"$'\n'
done <"$RESULTS"
if [ -n "$regress" ]; then
    echo; echo "fail with mini-containerd, pass with runc (not in xfail.txt):"; printf '%s' "$regress" | sed 's/^/  /'
    status=1
fi
echo; echo "engines: logs in $ARTIFACTS (runtime-calls.log, checks/*.log); took $((SECONDS - t_start))s"
# The closing line CI reads: every check of every engine x runtime.
passed=$(awk -F'\t' '$4 == "PASS"' "$RESULTS" | wc -l)
failed=$(awk -F'\t' '$4 == "FAIL"' "$RESULTS" | wc -l)
echo "engines: $passed passed, $failed failed"
exit $status
