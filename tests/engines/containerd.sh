#!/usr/bin/env bash
# containerd (driven with ctr) checks against one runtime. Called by run.sh with:
#   T, D, WRAPPER, WRAPPER_LOG, RUNTIME_NAME, OUT, RESULTS, IMAGE_TAR, ENGINES_DIR.
# A private containerd: its own config.toml, root, state, gRPC/ttrpc sockets
# under $D, started in the background and stopped at the end. The runc v2
# shim runs our wrapper as its runc binary (ctr --runc-binary) with a private
# runtime root (ctr --runc-root).
set -uo pipefail
. "$ENGINES_DIR/lib.sh"
ENGINE=containerd

mkdir -p "$D"/{root,state,opt,runtime-root}
CG_PARENT="mcengines-$$-containerd-$RUNTIME_NAME"
cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$D/containerd.sock"
[ttrpc]
  address = "$D/containerd.sock.ttrpc"
[debug]
  address = "$D/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
EOF
CTR_STR="ctr --address $D/containerd.sock -n mcengines"
C() { eval "$CTR_STR \"\$@\""; }
# R ID ARGS...: ctr run with the runtime under test and a cgroup of our own
R() {
    local id=$1; shift
    local args=() a
    # ctr run [flags] IMAGE ID CMD...: flags first; the caller passes flags, then --, then the command
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    C run --runtime io.containerd.runc.v2 --runc-binary "$WRAPPER" --runc-root "$D/runtime-root" \
        --cgroup "/$CG_PARENT/$id" "${args[@]}" "$IMG" "$id" "$@"
}
IMG=localhost/busybox:latest
export -f C R
export D CG_PARENT T CTR_STR IMG WRAPPER WRAPPER_LOG

# containerd 1.6's shims put their sockets in /run/containerd/s (hard-coded) and
# ctr its FIFOs in /run/containerd/fifo: remove those if this run made them
run_containerd_existed=; [ -e /run/containerd ] && run_containerd_existed=1
containerd_pid=
cleanup_containerd() {
    if [ -n "$containerd_pid" ]; then
        for id in $(C task ls -q 2>/dev/null); do C task kill -s KILL "$id" >/dev/null 2>&1; C task delete -f "$id" >/dev/null 2>&1; done
        for id in $(C container ls -q 2>/dev/null); do C container delete "$id" >/dev/null 2>&1; done
        C images rm "$IMG" >/dev/null 2>&1
        kill "$containerd_pid" 2>/dev/null
        wait "$containerd_pid" 2>/dev/null
    fi
    umount_below "$D"
    rm_cgroups "$CG_PARENT"
    [ -n "$run_containerd_existed" ] || rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
}
trap cleanup_containerd EXIT

containerd --config "$D/config.toml" >"$OUT/containerd.log" 2>&1 &
containerd_pid=$!
if ! wait_for 20 C version; then
    echo "containerd did not start:"; tail -20 "$OUT/containerd.log"
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "start-containerd" "$RUNTIME_NAME" FAIL >>"$RESULTS"
    exit 1
fi
echo "containerd $(containerd --version | awk '{print $3}') with $RUNTIME_NAME ($D, pid $containerd_pid)"
if ! C images import "$IMAGE_TAR" >"$OUT/load.log" 2>&1 || ! C images ls -q | grep -qx "$IMG"; then
    cat "$OUT/load.log"; C images ls
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "import-image" "$RUNTIME_NAME" FAIL >>"$RESULTS"
    exit 1
fi

# task_status ID: RUNNING / PAUSED / STOPPED / ...
task_status() { C task ls | awk -v id="$1" '$1 == id { print $3 }'; }
export -f task_status

# --- the checks -------------------------------------------------------------
c_run_echo() {
    out=$(R c-echo --rm -- echo hi); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_eq output hi "$out"
}
# output of a short-lived task must not be lost (seen once with mini-containerd)
c_run_echo_x20() {
    bad=0
    for i in $(seq 20); do
        out=$(R c-echo$i --rm -- echo hi-$i); rc=$?
        [ "$rc" = 0 ] && [ "$out" = hi-$i ] || { echo "run $i: rc=$rc output=[$out]"; bad=$((bad + 1)); }
    done
    expect_eq "failed runs of 20" 0 "$bad"
}
c_exit_3() {
    R c-exit3 --rm -- sh -c 'exit 3'; expect_eq "exit code" 3 $?
}
# runc refuses a missing or non-executable args[0] at create time: ctr run then
# fails (exit code 1) with the runtime's reason, and --rm still cleans up.
# Docker turns that reason into the exit code (127 for ENOENT's text "no such file
# or directory", 126 for EACCES's "permission denied", case-insensitively), so
# the checks ask for those texts.
c_exit_missing() {
    out=$(R c-missing --rm -- /no/such/cmd 2>&1); rc=$?
    echo "$out"
    [ $rc != 0 ] || { echo "FAIL: exit code 0"; return 1; }
    expect_contains "error (lowercased)" "no such file or directory" "${out,,}" || return 1
    sleep 0.5
    left=$(C container ls -q | grep -x c-missing)
    [ -z "$left" ] || { echo "FAIL: container record left"; C container delete c-missing; return 1; }
}
c_exit_noexec() {
    out=$(R c-noexec --rm -- /etc/passwd 2>&1); rc=$?
    echo "$out"
    [ $rc != 0 ] || { echo "FAIL: exit code 0"; return 1; }
    expect_contains "error (lowercased)" "permission denied" "${out,,}" || return 1
    sleep 0.5
    left=$(C container ls -q | grep -x c-noexec)
    [ -z "$left" ] || { echo "FAIL: container record left"; C container delete c-noexec; return 1; }
}
c_detached_exec() {
    R c-det -d --memory-limit 67108864 -- sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' || return 1
    wait_for 10 bash -c '[ "$(task_status c-det)" = RUNNING ]' || { C task ls; return 1; }
    out=$(C task exec --exec-id e1 c-det echo inside); rc=$?
    expect_eq "exec code" 0 "$rc" && expect_eq "exec output" inside "$out" || return 1
    C task exec --exec-id e2 c-det sh -c 'exit 4'; expect_eq "exec 'exit 4' code" 4 $? || return 1
    out=$(C task exec --exec-id e3 c-det /no/such/cmd 2>&1); rc=$?
    echo "$out"; [ $rc != 0 ] || { echo "FAIL: exec of a missing command succeeded"; return 1; }
    echo "ok: exec of a missing command failed ($rc)"
}
c_exec_tty() {
    out=$(pty_run 6 'tty; echo typed-$((6*7)); exit 6\n' bash -c "$CTR_STR task exec -t --exec-id t1 c-det sh"); rc=$?
    echo "$out"
    [ $rc = 0 ] && expect_contains transcript typed-42 "$out" && expect_contains transcript /dev/pts/ "$out"
}
c_memory_limit() {
    pid=$(C task ls | awk '$1 == "c-det" { print $2 }')
    f=$(cgfile "$pid" memory memory.limit_in_bytes); echo "host file: $f"
    expect_eq "memory.limit_in_bytes" 67108864 "$(cat "$f")"
}
c_task_ps() {
    out=$(C task ps c-det); rc=$?
    echo "$out"
    pid=$(C task ls | awk '$1 == "c-det" { print $2 }')
    expect_eq "exit code" 0 "$rc" && expect_contains "ps" "$pid" "$out"
}
c_pause_resume() {
    pid=$(C task ls | awk '$1 == "c-det" { print $2 }')
    C task pause c-det || return 1
    expect_eq status PAUSED "$(task_status c-det)" || return 1
    f=$(cgfile "$pid" freezer freezer.state)
    expect_eq "host $f" FROZEN "$(cat "$f")" || return 1
    C task resume c-det || return 1
    expect_eq status RUNNING "$(task_status c-det)" || return 1
    expect_eq "host $f" THAWED "$(cat "$f")" || return 1
    out=$(C task exec --exec-id e4 c-det echo alive); expect_eq "exec after resume" alive "$out"
}
c_metrics() {
    out=$(C task metrics c-det); rc=$?
    echo "$out"
    expect_eq "exit code" 0 "$rc" && expect_contains metrics "memory.limit_in_bytes" "$out" &&
        expect_contains metrics "67108864" "$out" && expect_contains metrics "pids.current" "$out"
}
c_kill_term_delete() {
    C task kill c-det || return 1
    wait_for 10 bash -c '[ "$(task_status c-det)" = STOPPED ]' || { echo "not STOPPED after SIGTERM"; C task ls; return 1; }
    echo "ok: STOPPED after SIGTERM"
    C task delete c-det || return 1
    C container delete c-det || return 1
    [ -z "$(C container ls -q)" ] || { echo "containers left: $(C container ls -q)"; return 1; }
    [ ! -e "$D/runtime-root/mcengines/c-det" ] || { echo "FAIL: runtime state left: $D/runtime-root/mcengines/c-det"; return 1; }
}
c_kill_KILL() {
    R c-kill -d -- sleep 1000 || return 1
    C task kill -s KILL c-kill || return 1
    wait_for 10 bash -c '[ "$(task_status c-kill)" = STOPPED ]' || { echo "not STOPPED after SIGKILL"; C task ls; return 1; }
    out=$(C task delete c-kill 2>&1); rc=$?
    echo "$out"
    C container delete c-kill
    expect_eq "task delete code" 0 "$rc"
}
c_run_tty() {
    out=$(pty_run 7 'tty; echo typed-$((6*7)); exit 7\n' \
        bash -c "$CTR_STR run -t --rm --runtime io.containerd.runc.v2 --runc-binary $WRAPPER --runc-root $D/runtime-root --cgroup /$CG_PARENT/c-tty $IMG c-tty sh"); rc=$?
    echo "$out"
    [ $rc = 0 ] && expect_contains transcript typed-42 "$out" && expect_contains transcript /dev/pts/0 "$out"
}
export -f c_run_echo c_run_echo_x20 c_exit_3 c_exit_missing c_exit_noexec c_detached_exec c_exec_tty c_memory_limit \
    c_task_ps c_pause_resume c_metrics c_kill_term_delete c_kill_KILL c_run_tty

check run-rm-echo c_run_echo
check run-rm-echo-x20 c_run_echo_x20
check exit-3 c_exit_3
check missing-command c_exit_missing
check noexec-command c_exit_noexec
check run-d-task-exec c_detached_exec
check task-exec-tty c_exec_tty
check memory-limit c_memory_limit
check task-ps c_task_ps
check task-pause-resume c_pause_resume
check task-metrics c_metrics
check task-kill-delete c_kill_term_delete
check task-kill-KILL c_kill_KILL
check run-tty c_run_tty

# --- nothing left behind ----------------------------------------------------
c_no_leftovers() {
    ok=0
    left=$(C container ls -q); [ -z "$left" ] || { echo "containers left: $left"; ok=1; }
    left=$(C task ls -q); [ -z "$left" ] || { echo "tasks left: $left"; ok=1; }
    leftover_state "$WRAPPER_LOG" || ok=1
    leftover_cgroups "$CG_PARENT" v1 || ok=1
    leftover_mounts "$D/state/io.containerd.runtime.v2.task/[^ ]*/rootfs" || ok=1
    # shims and containers (containerd itself is allowed: it is stopped afterwards)
    leftover_processes || ok=1
    return $ok
}
c_no_leftover_cgroups_hybrid() {
    leftover_cgroups "$CG_PARENT" hybrid
}
export -f c_no_leftovers c_no_leftover_cgroups_hybrid
check no-leftovers c_no_leftovers
check no-leftover-cgroups-hybrid c_no_leftover_cgroups_hybrid
