#!/usr/bin/env bash
# Podman checks against one runtime. Called by run.sh with:
#   T (private temp dir), D (this engine x runtime's dir under T), WRAPPER (runtime
#   wrapper), WRAPPER_LOG, RUNTIME_NAME, OUT, RESULTS, IMAGE_TAR, ENGINES_DIR.
# Everything podman keeps lives under $D: storage, runroot, tmp dir, events,
# configuration. Nothing is started in the background (podman has no daemon).
set -uo pipefail
. "$ENGINES_DIR/lib.sh"
ENGINE=podman

mkdir -p "$D"/{storage,run,tmp,static,volumes,net,host}
# podman as root asks for RLIMIT_NOFILE 1048576 and a large RLIMIT_NPROC; this
# host allows neither (no CAP_SYS_RESOURCE). Podman itself runs conmon/the runtime
# with an RLIMIT_NPROC hard limit of 32768, so ask for no more than that.
NOFILE=$(ulimit -Hn)
NPROC=$(ulimit -Hu); [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ] && NPROC=32768
CG_PARENT="mcengines-$$-podman-$RUNTIME_NAME"
cat >"$D/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
netns = "none"
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$D/tmp"
static_dir = "$D/static"
volume_path = "$D/volumes"
runtime = "$RUNTIME_NAME"
# podman passes --log-format=json --log FILE only to runtimes named here
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "mini", "mini-containerd"]
[network]
network_config_dir = "$D/net"
[engine.runtimes]
$RUNTIME_NAME = ["$WRAPPER"]
EOF
cat >"$D/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$D/storage"
runroot = "$D/run"
EOF
: >"$D/registries.conf"
export CONTAINERS_CONF="$D/containers.conf" CONTAINERS_STORAGE_CONF="$D/storage.conf" \
    CONTAINERS_REGISTRIES_CONF="$D/registries.conf"
PODMAN=(podman --root "$D/storage" --runroot "$D/run" --tmpdir "$D/tmp" --runtime "$WRAPPER"
    --cgroup-manager cgroupfs --events-backend file)
# every container: no network, a cgroup parent of our own (leftover check)
R() { P run --network none --cgroup-parent "/$CG_PARENT" "$@"; }
# arrays do not cross `bash -c`: P evaluates a quoted string
PODMAN_STR=$(printf '%q ' "${PODMAN[@]}")
P() { eval "$PODMAN_STR \"\$@\""; }
export -f P R
export D CG_PARENT T PODMAN_STR

shm_before=$(ls /dev/shm)
cleanup_podman() {
    P rm -af -t 0 >/dev/null 2>&1 || true
    P rmi -af >/dev/null 2>&1 || true
    umount_below "$D"
    rm_cgroups "$CG_PARENT"
    # podman's lock segment is /dev/shm/libpod_lock: remove it if we created it
    for f in $(ls /dev/shm); do
        grep -qx "$f" <<<"$shm_before" || rm -f "/dev/shm/$f"
    done
}
trap cleanup_podman EXIT

echo "podman $(podman --version | awk '{print $3}') with $RUNTIME_NAME ($D)"
if ! P load -q -i "$IMAGE_TAR" >"$OUT/load.log" 2>&1; then
    cat "$OUT/load.log"
    printf '%s\t%s\t%s\t%s\n' "$ENGINE" "load-image" "$RUNTIME_NAME" FAIL >>"$RESULTS"
    exit 1
fi

# --- the checks -------------------------------------------------------------
c_run_echo() {
    out=$(R --rm busybox echo hi); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_eq output hi "$out"
}
c_exit_3() {
    R --rm busybox sh -c 'exit 3'; expect_eq "exit code" 3 $?
}
c_exit_127_missing() {
    R --rm busybox /no/such/cmd; expect_eq "exit code" 127 $?
}
c_exit_126_noexec() {
    R --rm busybox /etc/passwd; expect_eq "exit code" 126 $?
}
c_detached_logs_exec_stop_rm() {
    id=$(R -d --name det busybox sh -c 'echo started; trap "echo got-term; exit 0" TERM; while :; do sleep 0.2; done') || return 1
    wait_for 10 sh -c "$PODMAN_STR logs det | grep -q started" || { echo "no 'started' in logs"; P logs det; return 1; }
    expect_contains logs started "$(P logs det)" || return 1
    out=$(P exec det echo inside); rc=$?
    expect_eq "exec exit code" 0 "$rc" && expect_eq "exec output" inside "$out" || return 1
    P exec det sh -c 'exit 5'; expect_eq "exec 'exit 5' code" 5 $? || return 1
    P exec det /no/such/cmd; expect_eq "exec missing-command code" 127 $? || return 1
    P stop -t 10 det || return 1
    expect_eq "state after stop" exited "$(P inspect -f '{{.State.Status}}' det)" || return 1
    expect_eq "exit code after stop" 0 "$(P inspect -f '{{.State.ExitCode}}' det)" || return 1
    expect_contains "logs after stop" got-term "$(P logs det)" || return 1
    P rm det || return 1
    [ -z "$(P ps -aq)" ] || { echo "containers left: $(P ps -a)"; return 1; }
}
c_user_1000() {
    out=$(R --rm --user 1000:1000 busybox id); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_contains id "uid=1000(user) gid=1000(user)" "$out"
}
c_read_only() {
    R --rm --read-only busybox sh -c 'touch /x'; rc=$?
    [ $rc != 0 ] || { echo "FAIL: touch /x succeeded on a read-only root"; return 1; }
    echo "ok: touch /x failed ($rc)"
    R --rm --read-only busybox sh -c 'touch /tmp/x'; expect_eq "touch /tmp/x (tmpfs) code" 0 $?
}
c_memory_limit() {
    R -d --name mem --memory 64m busybox sleep 1000 >/dev/null || return 1
    pid=$(P inspect -f '{{.State.Pid}}' mem)
    f=$(cgfile "$pid" memory memory.limit_in_bytes); echo "host file: $f"
    expect_eq "memory.limit_in_bytes" 67108864 "$(cat "$f")"; rc=$?
    echo "inside: $(P exec mem cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)"
    P rm -f -t 0 mem >/dev/null
    return $rc
}
c_pids_limit() {
    R -d --name pids --pids-limit 50 busybox sleep 1000 >/dev/null || return 1
    pid=$(P inspect -f '{{.State.Pid}}' pids)
    f=$(cgfile "$pid" pids pids.max); echo "host file: $f"
    expect_eq "pids.max" 50 "$(cat "$f")"; rc=$?
    P rm -f -t 0 pids >/dev/null
    return $rc
}
c_cap_drop_add() {
    out=$(R --rm --cap-drop ALL --cap-add CHOWN busybox grep CapEff /proc/self/status); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_contains "CapEff" "0000000000000001" "$out" || return 1
    R --rm --cap-drop CHOWN busybox sh -c 'touch /f && chown 1000 /f'; rc=$?
    [ $rc != 0 ] || { echo "FAIL: chown succeeded without CAP_CHOWN"; return 1; }
    echo "ok: chown without CAP_CHOWN failed ($rc)"
    R --rm busybox sh -c 'touch /f && chown 1000 /f'; expect_eq "chown with default caps" 0 $?
}
c_bind_mounts() {
    h=$D/host; rm -f "$h"/*; echo from-host >"$h/in"
    out=$(R --rm -v "$h:/data" busybox sh -c 'cat /data/in; echo from-container > /data/out'); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_eq "read" from-host "$out" || return 1
    expect_eq "written file on host" from-container "$(cat "$h/out")" || return 1
    R --rm -v "$h:/data:ro" busybox sh -c 'echo x > /data/ro'; rc=$?
    [ $rc != 0 ] && [ ! -e "$h/ro" ] || { echo "FAIL: write to :ro bind mount succeeded"; return 1; }
    echo "ok: :ro bind mount refused the write ($rc)"
}
c_tmpfs_mount() {
    out=$(R --rm --tmpfs /scratch:size=1m busybox sh -c 'grep " /scratch " /proc/mounts; echo x > /scratch/f && cat /scratch/f'); rc=$?
    expect_eq "exit code" 0 "$rc" && expect_contains mounts "tmpfs /scratch tmpfs" "$out" &&
        expect_contains mounts "size=1024k" "$out"
}
c_pause_unpause() {
    R -d --name pz busybox sh -c 'while :; do sleep 0.2; done' >/dev/null || return 1
    pid=$(P inspect -f '{{.State.Pid}}' pz)
    P pause pz || return 1
    expect_eq "state" paused "$(P inspect -f '{{.State.Status}}' pz)" || return 1
    f=$(cgfile "$pid" freezer freezer.state)
    expect_eq "host $f" FROZEN "$(cat "$f")" || return 1
    P unpause pz || return 1
    expect_eq "state" running "$(P inspect -f '{{.State.Status}}' pz)" || return 1
    expect_eq "host $f" THAWED "$(cat "$f")" || return 1
    out=$(P exec pz echo alive); expect_eq "exec after unpause" alive "$out" || return 1
    P rm -f -t 0 pz >/dev/null
}
c_top() {
    R -d --name tp busybox sleep 1000 >/dev/null || return 1
    out=$(P top tp); rc=$?
    echo "$out"
    P rm -f -t 0 tp >/dev/null
    expect_eq "exit code" 0 "$rc" && expect_contains top "sleep 1000" "$out"
}
c_run_it_pty() {
    out=$(pty_run 7 'tty; echo typed-$((6*7)); exit 7\n' \
        bash -c "$PODMAN_STR run -it --rm --network none --cgroup-parent /$CG_PARENT busybox sh"); rc=$?
    echo "$out"
    [ $rc = 0 ] || return 1
    expect_contains transcript typed-42 "$out" && expect_contains transcript /dev/pts/0 "$out"
}
export -f c_run_echo c_exit_3 c_exit_127_missing c_exit_126_noexec c_detached_logs_exec_stop_rm \
    c_user_1000 c_read_only c_memory_limit c_pids_limit c_cap_drop_add c_bind_mounts c_tmpfs_mount \
    c_pause_unpause c_top c_run_it_pty

check run-echo c_run_echo
check exit-3 c_exit_3
check exit-127-missing c_exit_127_missing
check exit-126-noexec c_exit_126_noexec
check detached-logs-exec-stop-rm c_detached_logs_exec_stop_rm
check user-1000 c_user_1000
check read-only c_read_only
check memory-limit c_memory_limit
check pids-limit c_pids_limit
check cap-drop-add c_cap_drop_add
check bind-mounts c_bind_mounts
check tmpfs-mount c_tmpfs_mount
check pause-unpause c_pause_unpause
check top c_top
check run-it-pty c_run_it_pty

# --- nothing left behind ----------------------------------------------------
c_no_leftovers() {
    ok=0
    left=$(P ps -aq); [ -z "$left" ] || { echo "containers left: $left"; ok=1; }
    leftover_state "$WRAPPER_LOG" || ok=1
    # podman puts conmon in <parent>/conmon and never removes it: allowed when empty
    leftover_cgroups "$CG_PARENT" v1 conmon || ok=1
    # container mounts: rootfs (merged), /dev/shm of the container, ctr rootfs
    leftover_mounts "$D/storage/overlay/[^/]+/merged" "$D/storage/overlay-containers/[^ ]*/userdata/shm" || ok=1
    leftover_processes || ok=1
    return $ok
}
# name=systemd and the cgroup2 tree of this hybrid host (runc 1.1 leaves these)
c_no_leftover_cgroups_hybrid() {
    leftover_cgroups "$CG_PARENT" hybrid conmon
}
export -f c_no_leftovers c_no_leftover_cgroups_hybrid
export WRAPPER_LOG
check no-leftovers c_no_leftovers
check no-leftover-cgroups-hybrid c_no_leftover_cgroups_hybrid
