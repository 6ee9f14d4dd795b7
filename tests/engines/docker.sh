#!/usr/bin/env bash
# Docker (dockerd 20.10 from Debian's docker.io) checks against one runtime.
# Called by run.sh with:
#   T, D, WRAPPER, WRAPPER_LOG, RUNTIME_NAME, OUT, RESULTS, IMAGE_TAR, ENGINES_DIR.
# A private dockerd: its own --data-root, --exec-root, --pidfile, API socket and
# daemon.json under $D, no bridge/iptables, cgroupfs, started in the background
# and stopped at the end. dockerd starts its own containerd (config, sockets and
# state under $D/exec/containerd, root under $D/data/containerd). The runtime
# under test is added with --add-runtime (docker already has a "runc": the runc
# wrapper is "testrunc") and every container runs with --runtime <it>.
set -uo pipefail
. "$ENGINES_DIR/lib.sh"
ENGINE=docker

# docker.io ships the 20.10 client as /usr/bin/docker; another docker on PATH
# (e.g. /usr/local/bin) may be a different version
DOCKER_BIN=/usr/bin/docker
DOCKERD_BIN=/usr/sbin/dockerd
case "$RUNTIME_NAME" in runc) RT=testrunc ;; *) RT=$RUNTIME_NAME ;; esac
mkdir -p "$D"/{data,exec}
NOFILE=$(ulimit -Hn)
CG_PARENT="mcengines-$$-docker-$RUNTIME_NAME"
# deprecated-key-path: dockerd 20.10 otherwise writes /etc/docker/key.json
cat >"$D/daemon.json" <<EOF
{ "deprecated-key-path": "$D/key.json" }
EOF
DOCKER_STR="$DOCKER_BIN -H unix://$D/docker.sock"
DK() { eval "$DOCKER_STR \"\$@\""; }
R() { DK run --runtime "$RT" --network none "$@"; }
IMG=localhost/busybox:latest
export -f DK R
export D CG_PARENT T DOCKER_STR IMG RT WRAPPER WRAPPER_LOG

# Not private in dockerd 20.10 / containerd 1.6: /run/docker/plugins (plugin
# discovery) and the shims' /run/containerd/s: remove what this run made.
run_docker_existed=; [ -e /run/docker ] && run_docker_existed=1
run_containerd_existed=; [ -e /run/containerd ] && run_containerd_existed=1
etc_key_existed=; [ -e /etc/docker/key.json ] && etc_key_existed=1
dockerd_pid=
cleanup_docker() {
    if [ -n "$dockerd_pid" ]; then
        ids=$(DK ps -aq 2>/dev/null)
        [ -z "$ids" ] || DK rm -f $ids >/dev/null 2>&1
        DK rmi -f "$IMG" >/dev/null 2>&1
        kill "$dockerd_pid" 2>/dev/null
        # dockerd stops its containerd (and the shims) before exiting
        for _ in $(seq 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$dockerd_pid" 2>/dev/null
        wait "$dockerd_pid" 2>/dev/null
        # its containerd, should it outlive dockerd
        cpid=$(cat "$D/exec/containerd/containerd.pid" 2>/dev/null)
        if [ -n "$cpid" ] && grep -q "$D" "/proc/$cpid/cmdline" 2>/dev/null; then kill "$cpid"; sleep 1; fi
    fi
    umount_below "$D"
    rm_cgroups "$CG_PARENT"
    [ -n "$run_docker_existed" ] || rm -rf /run/docker
    # the shims remove their sockets in /run/containerd/s a moment after exiting
    if [ -z "$run_containerd_existed" ]; then
        for _ in $(seq 50); do
            rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
            [ -e /run/containerd ] || break
            sleep 0.1
        done
        [ ! -e /run/containerd ] || echo "warning: /run/containerd left: $(find /run/containerd | tr '\n' ' ')"
    fi
    [ -n "$etc_key_existed" ] || rm -f /etc/docker/key.json
}
trap cleanup_docker EXIT

"$DOCKERD_BIN" --config-file "$D/daemon.json" --data-root "$D/data" --exec-root "$D/exec" \
    --pidfile "$D/docker.pid" -H "unix://$D/docker.sock" \
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    --add-runtime "$RT=$WRAPPER" --exec-opt native.cgroupdriver=cgroupfs \
    --cgroup-parent "/$CG_PARENT" --default-ulimit "nofile=$NOFILE:$NOFILE" \
    >"$OUT/dockerd.log" 2>&1 &
dockerd_pid=$!
if ! wait_for 30 DK version; then
    echo "dockerd did not start:"; tail -20 "$OUT/dockerd.log"
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "start-dockerd" "$RUNTIME_NAME" FAIL >>"$RESULTS"
    exit 1
fi
echo "dockerd $(DK version -f '{{.Server.Version}}') with $RUNTIME_NAME as runtime '$RT' ($D, pid $dockerd_pid)"
if ! DK load -q -i "$IMAGE_TAR" >"$OUT/load.log" 2>&1 || ! DK image inspect "$IMG" >/dev/null 2>&1; then
    cat "$OUT/load.log"; DK images
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "load-image" "$RUNTIME_NAME" FAIL >>"$RESULTS"
    exit 1
fi

# --- the checks -------------------------------------------------------------
c_run_echo() {
    out=$(R --rm "$IMG" echo hi); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_eq output hi "$out"
}
c_exit_3() {
    R --rm "$IMG" sh -c 'exit 3'; expect_eq "exit code" 3 $?
}
c_exit_127_missing() {
    R --rm "$IMG" /no/such/cmd; expect_eq "exit code" 127 $?
}
c_exit_126_noexec() {
    R --rm "$IMG" /etc/passwd; expect_eq "exit code" 126 $?
}
c_detached_logs_exec_stop_rm() {
    trap 'DK rm -f det >/dev/null 2>&1' EXIT  # also when the check fails
    R -d --name det "$IMG" sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2; done' || return 1
    wait_for 10 sh -c "$DOCKER_STR logs det 2>&1 | grep -q started" || { echo "no 'started' in logs"; DK logs det; return 1; }
    expect_contains logs started "$(DK logs det 2>&1)" || return 1
    out=$(DK exec det echo inside); rc=$?
    expect_eq "exec exit code" 0 "$rc" && expect_eq "exec output" inside "$out" || return 1
    DK exec det sh -c 'exit 5'; expect_eq "exec 'exit 5' code" 5 $? || return 1
    # dockerd 20.10 gives 126 for any exec the runtime fails to start (it maps
    # "no such file" to 127 only for `docker run`)
    DK exec det /no/such/cmd; expect_eq "exec missing-command code" 126 $? || return 1
    DK stop -t 10 det || return 1
    expect_eq "state after stop" exited "$(DK inspect -f '{{.State.Status}}' det)" || return 1
    expect_eq "exit code after stop" 0 "$(DK inspect -f '{{.State.ExitCode}}' det)" || return 1
    expect_contains "logs after stop" got-term "$(DK logs det 2>&1)" || return 1
    DK rm det || return 1
    [ -z "$(DK ps -aq)" ] || { echo "containers left: $(DK ps -a)"; return 1; }
}
c_user_1000() {
    out=$(R --rm --user 1000:1000 "$IMG" id); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_contains id "uid=1000(user) gid=1000(user)" "$out"
}
c_read_only() {
    R --rm --read-only "$IMG" sh -c 'touch /x'; rc=$?
    [ $rc != 0 ] || { echo "FAIL: touch /x succeeded on a read-only root"; return 1; }
    echo "ok: touch /x failed ($rc)"
    # docker (unlike podman) mounts no tmpfs on /tmp with --read-only: ask for one
    R --rm --read-only --tmpfs /tmp "$IMG" sh -c 'touch /tmp/x'; expect_eq "touch /tmp/x (--tmpfs) code" 0 $?
}
c_memory_limit_update() {
    trap 'DK rm -f mem >/dev/null 2>&1' EXIT  # also when the check fails
    R -d --name mem --memory 64m "$IMG" sleep 1000 >/dev/null || return 1
    pid=$(DK inspect -f '{{.State.Pid}}' mem)
    f=$(cgfile "$pid" memory memory.limit_in_bytes); echo "host file: $f"
    expect_eq "memory.limit_in_bytes" 67108864 "$(cat "$f")" || { DK rm -f mem >/dev/null; return 1; }
    out=$(DK update --memory 32m mem 2>&1); rc=$?
    echo "update: rc=$rc $out"
    expect_eq "update exit code" 0 "$rc" || { DK rm -f mem >/dev/null; return 1; }
    expect_eq "memory.limit_in_bytes after update" 33554432 "$(cat "$f")"; rc=$?
    expect_eq "inspect Memory after update" 33554432 "$(DK inspect -f '{{.HostConfig.Memory}}' mem)" || rc=1
    DK rm -f mem >/dev/null
    return $rc
}
c_pids_limit() {
    trap 'DK rm -f pids >/dev/null 2>&1' EXIT  # also when the check fails
    R -d --name pids --pids-limit 50 "$IMG" sleep 1000 >/dev/null || return 1
    pid=$(DK inspect -f '{{.State.Pid}}' pids)
    f=$(cgfile "$pid" pids pids.max); echo "host file: $f"
    expect_eq "pids.max" 50 "$(cat "$f")"; rc=$?
    DK rm -f pids >/dev/null
    return $rc
}
c_pause_unpause() {
    trap 'DK rm -f pz >/dev/null 2>&1' EXIT  # also when the check fails
    R -d --name pz "$IMG" sh -c 'while :; do sleep 0.2; done' >/dev/null || return 1
    pid=$(DK inspect -f '{{.State.Pid}}' pz)
    DK pause pz || return 1
    expect_eq "state" paused "$(DK inspect -f '{{.State.Status}}' pz)" || return 1
    f=$(cgfile "$pid" freezer freezer.state)
    expect_eq "host $f" FROZEN "$(cat "$f")" || return 1
    DK unpause pz || return 1
    expect_eq "state" running "$(DK inspect -f '{{.State.Status}}' pz)" || return 1
    expect_eq "host $f" THAWED "$(cat "$f")" || return 1
    out=$(DK exec pz echo alive); expect_eq "exec after unpause" alive "$out" || return 1
    DK rm -f pz >/dev/null
}
c_seccomp_default() {
    out=$(R --rm "$IMG" grep Seccomp: /proc/self/status); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_eq "status line" "$(printf 'Seccomp:\t2')" "$out"
}
export -f c_run_echo c_exit_3 c_exit_127_missing c_exit_126_noexec c_detached_logs_exec_stop_rm \
    c_user_1000 c_read_only c_memory_limit_update c_pids_limit c_pause_unpause c_seccomp_default

check run-echo c_run_echo
check exit-3 c_exit_3
check exit-127-missing c_exit_127_missing
check exit-126-noexec c_exit_126_noexec
check detached-logs-exec-stop-rm c_detached_logs_exec_stop_rm
check user-1000 c_user_1000
check read-only c_read_only
check memory-limit-update c_memory_limit_update
check pids-limit c_pids_limit
check pause-unpause c_pause_unpause
check seccomp-default c_seccomp_default

# --- nothing left behind ----------------------------------------------------
c_no_leftovers() {
    ok=0
    left=$(DK ps -aq); [ -z "$left" ] || { echo "containers left: $left"; ok=1; }
    leftover_state "$WRAPPER_LOG" || ok=1
    leftover_cgroups "$CG_PARENT" v1 || ok=1
    leftover_mounts "$D/data/overlay2/[^/]+/merged" "$D/data/containers/[^ ]*/mounts/shm" \
        "$D/exec/containerd/[^ ]*/rootfs" || ok=1
    # shims and containers (dockerd and its containerd are stopped afterwards)
    leftover_processes || ok=1
    return $ok
}
c_no_leftover_cgroups_hybrid() {
    leftover_cgroups "$CG_PARENT" hybrid
}
export -f c_no_leftovers c_no_leftover_cgroups_hybrid
check no-leftovers c_no_leftovers
check no-leftover-cgroups-hybrid c_no_leftover_cgroups_hybrid
