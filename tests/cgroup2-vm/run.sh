#!/usr/bin/env bash
# Host side of the cgroup v2 test bed: boots a throw-away VM whose only
# cgroup hierarchy is cgroup2, runs checks.sh in it, and turns the TAP lines
# it prints on the serial console into an exit status.
#
#   tests/cgroup2-vm/run.sh [--shell] [BINARY]
#
# BINARY defaults to target/debug/mini-containerd. --shell keeps the VM
# interactive (serial console on this terminal, no time limit) and opens a
# shell after the checks instead of powering off: for debugging.
# Environment: CGROUP2_VM_TIMEOUT (seconds, default 300),
# CGROUP2_VM_APPEND (extra kernel command line, e.g. "loglevel=7"),
# CGROUP2_VM_CHECKS (another guest script to run instead of checks.sh).
# See README.md beside this file.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

shell=0
if [ "${1:-}" = "--shell" ]; then shell=1; shift; fi
bin=${1:-target/debug/mini-containerd}
timeout=${CGROUP2_VM_TIMEOUT:-300}
cache=$repo/target/cgroup2-vm          # target/ is git-ignored
rootfs=$repo/bundles/busybox/rootfs
log=$cache/console.log

say() { printf 'cgroup2-vm: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

[ -x "$bin" ] || die "$bin not found: build it first (cargo build -p mini-containerd)"
[ -x "$rootfs/bin/busybox" ] || die "$rootfs is empty: run 'just bundle' first"

# --- 1. Host tools, from Debian, only when missing ---------------------------
apt_updated=0
apt_update_once() {
    if [ $apt_updated = 0 ]; then apt-get update -qq; apt_updated=1; fi
}
missing=()
for pkg in qemu-system-x86 cpio busybox-static jq; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. A kernel, extracted once into the cache ------------------------------
# Debian's linux-image-amd64 is a meta-package; its dependency
# linux-image-<version>-amd64 holds /boot/vmlinuz-<version>. We download that
# .deb (not install it: the host's /boot stays untouched) and unpack only the
# kernel, its config (for the curious) and brd.ko (a RAM block device, so the
# guest has a disk for io.max).
kdir=$cache/kernel
if [ ! -s "$kdir/vmlinuz" ]; then
    mkdir -p "$cache"
    dl=$(mktemp -d "$cache/download.XXXXXX")
    fetch() {
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        [ -n "$pkg" ] || return 1
        say "fetching kernel package $pkg (once; cached in $kdir)"
        # As root, apt's sandbox user cannot write our directory: download as root.
        (cd "$dl" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
    }
    # Empty or stale package lists (a fresh machine): update them and retry.
    fetch || { apt_update_once; fetch; } || die "cannot download linux-image-amd64's kernel package"
    mkdir -p "$dl/x"
    dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -x -C "$dl/x" --wildcards \
        './boot/vmlinuz-*' './boot/config-*' './lib/modules/*/kernel/drivers/block/brd.ko*'
    rm -rf "$kdir"; mkdir -p "$kdir"
    cp "$dl"/x/boot/vmlinuz-* "$kdir/vmlinuz"
    cp "$dl"/x/boot/config-* "$kdir/config"
    cp "$dl"/x/lib/modules/*/kernel/drivers/block/brd.ko* "$kdir/" 2>/dev/null || true
    basename "$dl"/x/boot/vmlinuz-* | sed 's/^vmlinuz-//' > "$kdir/version"
    rm -rf "$dl"
fi
say "kernel $(cat "$kdir/version") from $kdir"

# --- 3. The initramfs ---------------------------------------------------------
stage=$cache/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/mc,lib/modules,proc,sys,dev,run,tmp,root,containers}
chmod 1777 "$stage/tmp"

busybox=$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$stage/bin/$applet"
done

# The runtime, stripped of debug info (the debug build is ~50 MiB, ~10 stripped).
if command -v strip >/dev/null; then
    strip -o "$stage/usr/bin/mini-containerd" "$bin"
else
    cp "$bin" "$stage/usr/bin/mini-containerd"
fi
cp "$(command -v jq)" "$stage/usr/bin/jq"

# Dynamically linked programs need their libraries at the paths the dynamic
# loader will look them up: exactly what ldd prints (cp -L follows symlinks,
# so libc.so.6 lands as a file named libc.so.6).
copy_libs() {
    ldd "$1" | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]*ld-linux/ {print $1}' | while read -r lib; do
        [ -e "$stage$lib" ] && continue
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
}
copy_libs "$bin"
copy_libs "$(command -v jq)"

# The containers' rootfs, and the bundle config the checks start from.
cp -a "$rootfs" "$stage/containers/rootfs"
cp bundles/busybox/config.json "$stage/etc/mc/config.template.json"
cp "$kdir"/brd.ko* "$stage/lib/modules/" 2>/dev/null || true

cp "$here/init" "$stage/init"
cp "${CGROUP2_VM_CHECKS:-$here/checks.sh}" "$stage/checks.sh"
chmod 755 "$stage/init" "$stage/checks.sh"
[ $shell = 1 ] && touch "$stage/etc/mc/debug-shell"
# The kernel opens /dev/console for PID 1 before anything is mounted.
mknod -m 600 "$stage/dev/console" c 5 1

initrd=$cache/initramfs.cpio.gz
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 > "$initrd")
say "initramfs $(du -h "$initrd" | cut -f1)"

# --- 4. Boot ------------------------------------------------------------------
# TCG (software emulation): KVM is not available. panic=-1 + -no-reboot make
# any kernel panic (e.g. the init script dying) end QEMU instead of hanging.
append="console=ttyS0 panic=-1 loglevel=1 ${CGROUP2_VM_APPEND:-}"
qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1G -no-reboot
      -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "$append" -nic none)

if [ $shell = 1 ]; then
    say "interactive: the checks run, then a shell; 'poweroff -f' to leave (or Ctrl-A X)"
    exec "${qemu[@]}" -nographic
fi

qemu_pid='' tail_pid=''
cleanup() {
    if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
    if [ -n "$tail_pid" ]; then kill "$tail_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: > "$log"
start=$(date +%s)
say "booting (time limit ${timeout}s; console in $log)"
"${qemu[@]}" -display none -monitor none -serial "file:$log" </dev/null &
qemu_pid=$!
# Show the console live, without the carriage returns of the serial line
# (tail ends by itself once QEMU is gone; sed -u so nothing stays buffered).
tail -n +1 -f --pid="$qemu_pid" "$log" | sed -u 's/\r$//' &
tail_pid=$!

timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
        timed_out=1
        kill "$qemu_pid" 2>/dev/null || true
        break
    fi
    sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
elapsed=$(($(date +%s) - start))
wait "$tail_pid" 2>/dev/null || true
tail_pid=

summary=$(tr -d '\r' < "$log" | grep -E '^cgroup2: [0-9]+ passed, [0-9]+ failed' | tail -1 || true)
echo
if [ $timed_out = 1 ]; then
    say "the VM did not finish within ${timeout}s: killed (see $log)"
    echo "cgroup2: 0 passed, 1 failed"
    exit 1
fi
if [ -z "$summary" ]; then
    say "the VM stopped after ${elapsed}s without a summary line (did init die? see $log)"
    echo "cgroup2: 0 passed, 1 failed"
    exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")
say "VM ran ${elapsed}s"
tr -d '\r' < "$log" | grep -E '^not ok ' >&2 || true
echo "$summary"
[ "$failed" = 0 ]
