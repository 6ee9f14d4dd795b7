# Shared helpers for the engine harness (sourced by run.sh, podman.sh, containerd.sh).
# shellcheck shell=bash

# Tools the harness needs from Debian, by command.
engines_install_deps() {
    local missing=() pkg
    for pkg in podman conmon containerd docker.io umoci skopeo busybox-static python3 bsdutils; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "engines: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # policy-rc.d-less hosts would start containerd.service here: block it.
        local policy=/usr/sbin/policy-rc.d created_policy=
        if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
        [ -z "$created_policy" ] || rm -f "$policy"
    fi
}

# engines_build_image DIR: a BusyBox image from busybox-static, as
# DIR/busybox.tar (docker-archive, tagged localhost/busybox:latest), built offline
# with umoci (OCI layout) + skopeo (layout -> docker-archive).
engines_build_image() {
    local d=$1 bb r
    bb=$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')
    r=$d/rootfs
    mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root,home/user,run,var/tmp}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp "$bb" "$r/bin/busybox"
    local applet
    for applet in $("$r/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' >"$r/etc/group"
    chown 1000:1000 "$r/home/user"
    umoci init --layout "$d/oci"
    umoci new --image "$d/oci:latest"
    umoci unpack --image "$d/oci:latest" "$d/unpacked" >/dev/null
    cp -a "$r/." "$d/unpacked/rootfs/"
    umoci repack --image "$d/oci:latest" "$d/unpacked" >/dev/null
    umoci config --image "$d/oci:latest" --config.cmd sh \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --config.workingdir / >/dev/null
    umoci gc --layout "$d/oci"
    skopeo --insecure-policy copy -q "oci:$d/oci:latest" "docker-archive:$d/busybox.tar:localhost/busybox:latest"
    rm -rf "$d/unpacked"
}

# engines_make_wrapper PATH REAL LOG [ROOT]: a runtime wrapper that logs every
# call ("$@", shell-quoted, one line), runs the real runtime, logs its exit code
# and, when it fails, the tail of the --log file the engine passed. With ROOT,
# a call without --root gets --root ROOT (logged as "+root"): podman as root
# passes none, and it drops --runtime-flag from its cleanup calls.
engines_make_wrapper() {
    local path=$1 real=$2 log=$3 root=${4:-}
    cat >"$path" <<EOF
#!/bin/bash
log=$log
real=$real
root=$root
EOF
    cat >>"$path" <<'EOF'
line="$(date +%H:%M:%S.%N | cut -c1-12) [$$] $(basename "$real")"
for a in "$@"; do line+=" $(printf '%q' "$a")"; done
if [ -n "$root" ]; then
    has_root=
    for a in "$@"; do case "$a" in --root | --root=*) has_root=1 ;; esac; done
    if [ -z "$has_root" ]; then set -- --root "$root" "$@"; line+="   (+root: --root $root)"; fi
fi
echo "$line" >>"$log"
logfile=
prev=
for a in "$@"; do
    case "$prev" in --log) logfile=$a ;; esac
    case "$a" in --log=*) logfile=${a#--log=} ;; esac
    prev=$a
done
lines_before=0
[ -n "$logfile" ] && [ -f "$logfile" ] && lines_before=$(wc -l <"$logfile")
"$real" "$@"
rc=$?
echo "  [$$] -> rc=$rc" >>"$log"
if [ "$rc" != 0 ] && [ -n "$logfile" ] && [ -f "$logfile" ]; then
    tail -n +"$((lines_before + 1))" "$logfile" | tail -n 5 | sed 's/^/  [log] /' >>"$log"
fi
exit $rc
EOF
    chmod +x "$path"
}

# --- check bookkeeping -------------------------------------------------------
# Globals: ENGINE, RUNTIME_NAME, OUT (dir for this engine x runtime), RESULTS (file).

# check NAME FUNC: run FUNC (an exported function) in a child bash with a
# timeout; its output goes to $OUT/checks/NAME.log; records PASS/FAIL.
check() {
    local name=$1 fn=$2 rc
    mkdir -p "$OUT/checks"
    local t0=$SECONDS
    timeout -k 5 "${CHECK_TIMEOUT:-90}" bash -c "set -uo pipefail; $fn" >"$OUT/checks/$name.log" 2>&1
    rc=$?
    local verdict=PASS
    [ $rc = 0 ] || verdict=FAIL
    [ $rc = 124 ] && echo "TIMEOUT after ${CHECK_TIMEOUT:-90}s" >>"$OUT/checks/$name.log"
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "$name" "$RUNTIME_NAME" "$verdict" >>"$RESULTS"
    printf '  %-28s %s (%ss)\n' "$name" "$verdict" "$((SECONDS - t0))"
    if [ $verdict = FAIL ]; then sed 's/^/      | /' "$OUT/checks/$name.log" | tail -n 15; fi
}

# Assertion helpers for check bodies (exported).
expect_eq() { # WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then echo "FAIL: $1: expected [$2], got [$3]"; return 1; fi
    echo "ok: $1 = [$3]"
}
expect_contains() { # WHAT NEEDLE HAYSTACK
    case "$3" in *"$2"*) echo "ok: $1 contains [$2]" ;; *) echo "FAIL: $1: [$2] not in [$3]"; return 1 ;; esac
}
# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
    local n=$(($1 * 10)); shift
    while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}
# host cgroup v1 file for PID: cgfile PID CONTROLLER FILE
cgfile() {
    local path
    path=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
    echo "/sys/fs/cgroup/$2$path/$3"
}
# pty_run EXPECT_RC INPUT CMD...: run CMD on a new pty, type INPUT, print the
# transcript; fails unless the exit code is EXPECT_RC.
pty_run() {
    local want=$1 input=$2; shift 2
    python3 "$ENGINES_DIR/pty_drive.py" "$want" "$input" "$@"
}
export -f expect_eq expect_contains wait_for cgfile pty_run

# Leftover checks shared by the engines. T is the private temp dir.
# leftover_processes: processes whose root or cmdline lives under $T.
leftover_processes() {
    local p root cmd found=0
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = $$ ] && continue
        root=$(readlink "$p/root" 2>/dev/null) || continue
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        case "$root $cmd" in
        *"$T"*) case "$cmd" in *containerd\ --config* | *dockerd\ --config-file*) continue ;; esac
            echo "leftover process ${p#/proc/}: root=$root cmd=$cmd"; found=1 ;;
        esac
    done
    return $found
}
# leftover_cgroups PARENT v1|hybrid [ALLOWED...]: cgroup dirs below
# /sys/fs/cgroup/*/PARENT in the v1 controller hierarchies (v1) or in name=systemd
# and the cgroup2 tree (hybrid). The parent itself, and ALLOWED children without
# processes, are not leftovers: engines create them and nobody removes them.
leftover_cgroups() {
    local parent=$1 kind=$2 d a found=0 hier=()
    shift 2
    for d in /sys/fs/cgroup/*/; do
        d=${d%/}
        case "${d##*/}:$kind" in systemd:hybrid | unified:hybrid) hier+=("$d") ;; systemd:v1 | unified:v1) ;; *:v1) hier+=("$d") ;; esac
    done
    [ "$kind" = hybrid ] && [ -f /sys/fs/cgroup/cgroup.controllers ] && hier+=(/sys/fs/cgroup)
    while read -r d; do
        [ "$d" = "" ] && continue
        for a in "$@"; do
            if [ "${d##*/}" = "$a" ] && [ ! -s "$d/cgroup.procs" ]; then continue 2; fi
        done
        echo "leftover cgroup $d ($(wc -l <"$d/cgroup.procs") processes)"; found=1
    done < <(for h in "${hier[@]}"; do [ -d "$h/$parent" ] && find "$h/$parent" -mindepth 1 -type d; done)
    return $found
}
# leftover_mounts PATTERN...: mountinfo lines matching any PATTERN (ERE)
leftover_mounts() {
    local pat
    pat=$(IFS='|'; echo "$*")
    if grep -E "$pat" /proc/self/mountinfo; then return 1; fi
    return 0
}
# leftover_state WRAPPER_LOG: for each --root the engine passed, entries left
# there. Not container state: mini-containerd's .cache of compiled seccomp
# profiles (docs/performance.md), as long as it holds only whole entries.
leftover_state() {
    local r left found=0
    for r in $(grep -oE -- "--root[= ][^ ]+" "$1" | sed 's/^--root[= ]//' | sort -u); do
        [ -d "$r" ] || continue
        left=$(ls -A "$r" | grep -vx '.cache' | tr '\n' ' ')
        if [ -d "$r/.cache" ]; then
            left+=$(cd "$r/.cache" && find . -mindepth 1 ! -path ./seccomp ! -regex './seccomp/[0-9a-f]*' | tr '\n' ' ')
        fi
        if [ -n "$left" ]; then echo "leftover state in --root $r: $left"; found=1; fi
    done
    return $found
}
# unmount everything at or below $1 (deepest first)
umount_below() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
}
# remove cgroup dirs at or below NAME in every v1/v2 hierarchy (deepest first)
rm_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}
export -f leftover_processes leftover_cgroups leftover_mounts leftover_state umount_below rm_cgroups
