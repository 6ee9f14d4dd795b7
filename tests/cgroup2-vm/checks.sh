#!/bin/sh
# The checks, run inside the VM (busybox sh) on a pure cgroup v2 host.
# Each check prints one TAP line: "ok N - name" or "not ok N - name # why".
# The last line, "cgroup2: P passed, F failed", is what run.sh reads.
#
# The contract checked (runc's cgroup v2 behaviour): each container gets
# /sys/fs/cgroup/<linux.cgroupsPath, or /<id>>; linux.resources are written
# to the v2 files (converted where v1 and v2 differ); pause/resume use
# cgroup.freeze; kill --all empties the cgroup; events --stats reads it;
# delete removes it.
# The $ in single quotes below are for the containers' shells:
# shellcheck disable=SC2016
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

CG=/sys/fs/cgroup
ROOTFS=/containers/rootfs
TEMPLATE=/etc/mc/config.template.json
WORK=/tmp/checks
mkdir -p "$WORK"

n=0 passed=0 failed=0 skipped=0
ok()    { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1 # $2"; }
skip()  { n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - $1 # SKIP $2"; }

# The runtime, bounded in time so that a hang fails one check, not the run.
# Its stdout goes to $WORK/out, stderr to $WORK/err.
mc() { timeout 60 mini-containerd --root /run/mc "$@" >"$WORK/out" 2>"$WORK/err"; }
# The last line of stderr; of a log line, only its msg="...".
lasterr() { tail -n 1 "$WORK/err" | sed 's/^time=.* msg="\(.*\)"$/\1/' | tr -d '\n'; }

# expect NAME FILE VALUE: the cgroup file holds exactly VALUE.
expect() {
    if [ ! -e "$2" ]; then
        notok "$1" "$2 does not exist"
        return
    fi
    got=$(cat "$2" 2>&1)
    if [ "$got" = "$3" ]; then ok "$1"; else notok "$1" "$2 is '$got', want '$3'"; fi
}

# bundle NAME ARGS_JSON [JQ_FILTER]: /bundles/NAME/config.json from the
# repo's busybox config, with our rootfs, process.args and the filter
# (which sets linux.resources, cgroupsPath, ...).
bundle() {
    mkdir -p "/bundles/$1"
    jq --argjson args "$2" --arg rootfs "$ROOTFS" \
        ".root.path = \$rootfs | .process.args = \$args | ${3:-.}" \
        "$TEMPLATE" > "/bundles/$1/config.json"
}

# status ID: the container's status from `state`.
status() { mc state "$1" && jq -r .status "$WORK/out"; }

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    t=$(($1 * 10)); shift
    while [ $t -gt 0 ]; do
        "$@" && return 0
        sleep 0.1; t=$((t - 1))
    done
    return 1
}

# cgroup of a process, as /proc/PID/cgroup shows it on v2 ("0::/path").
cgroup_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }

uptime_s() { cut -d' ' -f1 /proc/uptime; }
t0=$(uptime_s)
echo "# $(mini-containerd --version 2>&1 | head -n 1); checks start ${t0}s after boot"

# --- a container runs --------------------------------------------------------
bundle true '["true"]'
if mc run -b /bundles/true c-true; then ok "run: a trivial container exits 0"
else notok "run: a trivial container exits 0" "exit $?: $(lasterr)"; fi

bundle exit3 '["sh", "-c", "exit 3"]'
mc run -b /bundles/exit3 c-exit3; rc=$?
if [ $rc = 3 ]; then ok "run: returns the container's exit code"
else notok "run: returns the container's exit code" "exit $rc, want 3: $(lasterr)"; fi

# --- resources land in the files ---------------------------------------------
# 64 MiB memory, 32 MiB reservation, 128 MiB memory+swap; half a CPU;
# shares 1024; CPU 0; 20 pids; blkio weight 500 and 1 MiB/s reads on 1:0.
res_filter='.linux.cgroupsPath = "/mc-test/res" | .linux.resources = {
  "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
  "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
  "pids": {"limit": 20},
  "blockIO": {"weight": 500}
}'
if [ -b /dev/ram0 ]; then
    res_filter="$res_filter"' | .linux.resources.blockIO.throttleReadBpsDevice = [{"major": 1, "minor": 0, "rate": 1048576}]'
fi
bundle res '["sleep", "600"]' "$res_filter"
D=$CG/mc-test/res
if mc create -b /bundles/res c-res </dev/null && mc start c-res; then
    ok "create + start: a container with linux.resources"
else
    notok "create + start: a container with linux.resources" "$(lasterr)"
fi
mc state c-res; pid=$(jq -r .pid "$WORK/out" 2>/dev/null || echo 0)

if [ -d "$D" ]; then ok "cgroupsPath: $D exists"
else notok "cgroupsPath: $D exists" "no such directory"; fi
where=$(cgroup_of "$pid")
if [ "$where" = /mc-test/res ]; then ok "the container's init is in /mc-test/res"
else notok "the container's init is in /mc-test/res" "/proc/$pid/cgroup says '${where:-?}'"; fi

expect "memory.limit -> memory.max" "$D/memory.max" 67108864
expect "memory.reservation -> memory.low" "$D/memory.low" 33554432
if [ -d "$D" ] && [ ! -e "$D/memory.swap.max" ]; then
    skip "memory.swap -> memory.swap.max (swap - limit)" "no swap accounting in this kernel"
else
    expect "memory.swap -> memory.swap.max (swap - limit)" "$D/memory.swap.max" 67108864
fi
expect "cpu.quota/period -> cpu.max" "$D/cpu.max" "50000 100000"
# runc: weight = 1 + ((shares - 2) * 9999) / 262142
expect "cpu.shares 1024 -> cpu.weight 39" "$D/cpu.weight" 39
expect "cpu.cpus -> cpuset.cpus" "$D/cpuset.cpus" 0
expect "cpu.mems -> cpuset.mems" "$D/cpuset.mems" 0
expect "pids.limit -> pids.max" "$D/pids.max" 20
# runc, without BFQ: io.weight = 1 + ((weight - 10) * 9999) / 990
if [ -e "$D/io.weight" ] || [ ! -d "$D" ]; then
    got=$(head -n 1 "$D/io.weight" 2>&1)
    if [ "$got" = "default 4950" ]; then ok "blockIO.weight 500 -> io.weight 4950"
    else notok "blockIO.weight 500 -> io.weight 4950" "io.weight is '$got'"; fi
else
    skip "blockIO.weight 500 -> io.weight 4950" "no io.weight (io controller not enabled?)"
fi
if [ -b /dev/ram0 ]; then
    got=$(cat "$D/io.max" 2>&1)
    case "$got" in
        *"1:0 rbps=1048576 "*) ok "throttleReadBpsDevice -> io.max" ;;
        *) notok "throttleReadBpsDevice -> io.max" "io.max is '$got'" ;;
    esac
else
    skip "throttleReadBpsDevice -> io.max" "no /dev/ram0 (brd.ko not loaded)"
fi

# --- pause / resume: cgroup.freeze -------------------------------------------
if mc pause c-res; then
    st=$(status c-res)
    fz=$(cat "$D/cgroup.freeze" 2>/dev/null)
    if [ "$st" = paused ] && [ "$fz" = 1 ]; then ok "pause: state is paused, cgroup.freeze is 1"
    else notok "pause: state is paused, cgroup.freeze is 1" "state '$st', cgroup.freeze '${fz:-absent}'"; fi
else
    notok "pause: state is paused, cgroup.freeze is 1" "pause failed: $(lasterr)"
fi
frozen=$(sed -n 's/^frozen //p' "$D/cgroup.events" 2>/dev/null)
if [ "$frozen" = 1 ]; then ok "pause: cgroup.events says frozen 1"
else notok "pause: cgroup.events says frozen 1" "frozen '${frozen:-absent}'"; fi
if mc resume c-res; then
    st=$(status c-res)
    fz=$(cat "$D/cgroup.freeze" 2>/dev/null)
    if [ "$st" = running ] && [ "$fz" = 0 ]; then ok "resume: state is running, cgroup.freeze is 0"
    else notok "resume: state is running, cgroup.freeze is 0" "state '$st', cgroup.freeze '${fz:-absent}'"; fi
else
    notok "resume: state is running, cgroup.freeze is 0" "resume failed: $(lasterr)"
fi

# --- update ------------------------------------------------------------------
if mc update --memory 100663296 --pids-limit 30 --cpu-quota 20000 c-res; then
    expect "update --memory -> memory.max" "$D/memory.max" 100663296
    expect "update --pids-limit -> pids.max" "$D/pids.max" 30
    expect "update --cpu-quota -> cpu.max" "$D/cpu.max" "20000 100000"
else
    e=$(lasterr)
    notok "update --memory -> memory.max" "update failed: $e"
    notok "update --pids-limit -> pids.max" "update failed: $e"
    notok "update --cpu-quota -> cpu.max" "update failed: $e"
fi

# --- events --stats ----------------------------------------------------------
if mc events --stats c-res; then
    cp "$WORK/out" "$WORK/stats.json"
    if jq -e '.type == "stats" and .data.memory.usage.usage > 0 and .data.memory.usage.limit == 100663296' \
        "$WORK/stats.json" >/dev/null 2>&1; then
        ok "events --stats: memory usage and limit"
    else
        notok "events --stats: memory usage and limit" "$(jq -c '.data.memory.usage // .data.memory // "no memory"' "$WORK/stats.json" 2>&1 | head -c 200)"
    fi
    if jq -e '.data.pids.current >= 1 and .data.pids.limit == 30' "$WORK/stats.json" >/dev/null 2>&1; then
        ok "events --stats: pids current and limit"
    else
        notok "events --stats: pids current and limit" "$(jq -c '.data.pids // "no pids"' "$WORK/stats.json" 2>&1 | head -c 200)"
    fi
else
    e=$(lasterr)
    notok "events --stats: memory usage and limit" "events failed: $e"
    notok "events --stats: pids current and limit" "events failed: $e"
fi

# --- delete removes the cgroup -----------------------------------------------
existed=no; [ -d "$D" ] && existed=yes
mc kill c-res KILL
stopped() { [ "$(status c-res)" = stopped ]; }
wait_for 10 stopped
if mc delete c-res; then
    if [ $existed = no ]; then notok "delete: the cgroup directory is removed" "it was never created"
    elif [ -d "$D" ]; then notok "delete: the cgroup directory is removed" "$D still exists"
    else ok "delete: the cgroup directory is removed"; fi
else
    notok "delete: the cgroup directory is removed" "delete failed: $(lasterr)"
fi

# --- unified: keys written verbatim; the default path /<id> ------------------
bundle uni '["sleep", "600"]' '.linux.resources = {
  "cpu": {"period": 50000},
  "unified": {"pids.max": "7", "memory.high": "33554432"}
}'
U=$CG/c-uni
if mc run -d -b /bundles/uni c-uni </dev/null; then ok "run -d: a container with linux.resources.unified"
else notok "run -d: a container with linux.resources.unified" "$(lasterr)"; fi
if [ -d "$U" ]; then ok "no cgroupsPath: the cgroup is /sys/fs/cgroup/<id>"
else notok "no cgroupsPath: the cgroup is /sys/fs/cgroup/<id>" "$U does not exist"; fi
expect 'unified "pids.max": "7" written verbatim' "$U/pids.max" 7
expect 'unified "memory.high" written verbatim' "$U/memory.high" 33554432
expect "cpu.period alone -> cpu.max 'max 50000'" "$U/cpu.max" "max 50000"
existed=no; [ -d "$U" ] && existed=yes
if mc delete --force c-uni; then
    if [ $existed = no ]; then notok "delete --force: the cgroup directory is removed" "it was never created"
    elif [ -d "$U" ]; then notok "delete --force: the cgroup directory is removed" "$U still exists"
    else ok "delete --force: the cgroup directory is removed"; fi
else
    notok "delete --force: the cgroup directory is removed" "delete failed: $(lasterr)"
fi

# --- kill --all: every process of the cgroup ---------------------------------
# No PID namespace: the children would outlive the init, so only the cgroup
# knows them all (runc uses cgroup.kill for this).
bundle many '["sh", "-c", "sleep 600 & sleep 600 & sleep 600 & wait"]' \
    '.linux.namespaces |= map(select(.type != "pid"))'
K=$CG/c-many
mc run -d -b /bundles/many c-many </dev/null || echo "# run -d c-many: $(lasterr)"
nprocs() { { wc -l < "$K/cgroup.procs"; } 2>/dev/null || echo 0; }
four() { [ "$(nprocs)" -ge 4 ]; }
[ -d "$K" ] && wait_for 10 four
before=$(nprocs)
if [ ! -d "$K" ]; then
    notok "kill --all: the cgroup is emptied" "$K does not exist"
elif [ "$before" -lt 4 ]; then
    notok "kill --all: the cgroup is emptied" "$K/cgroup.procs has ${before} processes before, want 4"
elif ! mc kill --all c-many KILL; then
    notok "kill --all: the cgroup is emptied" "kill failed: $(lasterr)"
else
    empty() { grep -q '^populated 0' "$K/cgroup.events"; }
    if wait_for 10 empty; then ok "kill --all: the cgroup is emptied"
    else notok "kill --all: the cgroup is emptied" "still in it: $(tr '\n' ' ' < "$K/cgroup.procs")"; fi
fi
mc delete --force c-many

# --- limits bite -------------------------------------------------------------
# pids.max 5: the shell (1) and four sleeps fill it; the fifth fork fails.
bundle forks '["sh", "-c", "i=0; while [ $i -lt 10 ]; do sleep 60 & i=$((i + 1)); done; echo spawned $i"]' \
    '.linux.resources = {"pids": {"limit": 5}}'
mc run -b /bundles/forks c-forks </dev/null; rc=$?
if grep -q 'spawned 10' "$WORK/out"; then notok "pids.max: the fork past the limit fails" "all 10 forks succeeded (exit $rc)"
elif grep -q "can't fork" "$WORK/err"; then ok "pids.max: the fork past the limit fails"
else notok "pids.max: the fork past the limit fails" "exit $rc: $(lasterr)"; fi

# memory.max 32 MiB: a shell doubling a string is OOM-killed before it
# reaches 64 MiB (without a limit it finishes and prints "survived").
hog='x=0123456789abcdef; i=0; while [ $i -lt 22 ]; do x=$x$x; i=$((i + 1)); done; echo survived ${#x}'
bundle hog "$(jq -cn --arg s "$hog" '["sh", "-c", $s]')" \
    '.linux.resources = {"memory": {"limit": 33554432, "swap": 33554432}}'
mc run -b /bundles/hog c-hog </dev/null; rc=$?
if [ $rc = 137 ]; then ok "memory.max: a process over the limit is OOM-killed (exit 137)"
else notok "memory.max: a process over the limit is OOM-killed (exit 137)" "exit $rc: $(tail -n 1 "$WORK/out") $(lasterr)"; fi

# The same hog as a child of a surviving init: memory.events counts the kill.
bundle oom "$(jq -cn --arg s "sh -c '$hog'; sleep 600" '["sh", "-c", $s]')" \
    '.linux.resources = {"memory": {"limit": 33554432, "swap": 33554432}}'
O=$CG/c-oom
mc run -d -b /bundles/oom c-oom </dev/null || echo "# run -d c-oom: $(lasterr)"
killed() { [ "$(sed -n 's/^oom_kill //p' "$O/memory.events" 2>/dev/null)" -ge 1 ] 2>/dev/null; }
if [ ! -d "$O" ]; then notok "memory.events: oom_kill counted in the container's cgroup" "$O does not exist"
elif wait_for 30 killed; then ok "memory.events: oom_kill counted in the container's cgroup"
else notok "memory.events: oom_kill counted in the container's cgroup" "$(tr '\n' ' ' < "$O/memory.events" 2>&1)"; fi
mc delete --force c-oom

# Device rules: v2 has no devices.allow; an eBPF program attached to the
# container's cgroup decides. Deny all but the defaults, give the process
# CAP_MKNOD: it may make a node for /dev/mem (1:1), not open it; /dev/null works.
dev='mknod /tmp/mem c 1 1 && { head -c 1 /tmp/mem >/dev/null 2>&1 && echo MEM-OPENED || echo mem-refused; }; echo x > /dev/null && echo null-ok'
bundle devices "$(jq -cn --arg s "$dev" '["sh", "-c", $s]')" \
    '.linux.resources = {"devices": [{"allow": false, "access": "rwm"}]}
     | .process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"]
     | .process.capabilities.permitted += ["CAP_MKNOD"]
     | .mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]'
mc run -b /bundles/devices c-devices </dev/null; rc=$?
if [ $rc = 0 ] && grep -q mem-refused "$WORK/out" && grep -q null-ok "$WORK/out"; then
    ok "devices: the eBPF program refuses /dev/mem and allows /dev/null"
else notok "devices: the eBPF program refuses /dev/mem and allows /dev/null" "exit $rc: $(tr '\n' ' ' < "$WORK/out") $(lasterr)"; fi

# --- exec: the new process joins the container's cgroup ----------------------
# runc's exec puts the process in the init's cgroup; when the container made
# sub-cgroups (its own then refuses members: no internal processes), in the
# one the init is in.
bundle sleeper '["sleep", "1000"]'
mc run -d -b /bundles/sleeper c-exec </dev/null
mc state c-exec && pid=$(jq -r .pid "$WORK/out")
mc exec c-exec sed -n 's/^0:://p' /proc/self/cgroup
got=$(cat "$WORK/out")
if [ "$got" = "$(cgroup_of "$pid")" ] && [ "$got" = /c-exec ]; then ok "exec: the process is in the container's cgroup"
else notok "exec: the process is in the container's cgroup" "'$got', the init in '$(cgroup_of "$pid")': $(lasterr)"; fi
mkdir $CG/c-exec/init && echo "$pid" > $CG/c-exec/init/cgroup.procs && echo +pids > $CG/c-exec/cgroup.subtree_control
mc exec c-exec sed -n 's/^0:://p' /proc/self/cgroup; rc=$?
got=$(cat "$WORK/out")
if [ $rc = 0 ] && [ "$got" = /c-exec/init ]; then ok "exec: with sub-cgroups, in the init's"
else notok "exec: with sub-cgroups, in the init's" "exit $rc, '$got': $(lasterr)"; fi
mc delete --force c-exec
rmdir $CG/c-exec/init $CG/c-exec 2>/dev/null

# Nothing left behind: no container's cgroup outlives its container.
left=$(find $CG -mindepth 1 -type d -name 'c-*' 2>/dev/null | tr '\n' ' ')
if [ -z "$left" ]; then ok "no cgroup left behind"
else notok "no cgroup left behind" "$left"; fi

echo "# checks took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN {printf "%.1f", b - a}')s"
echo "1..$n"
line="cgroup2: $passed passed, $failed failed"
[ $skipped -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
