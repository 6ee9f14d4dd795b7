# mini-containerd — every task of the project. Run as root: containers need it.

set shell := ["bash", "-euo", "pipefail", "-c"]

bin := "target/debug/mini-containerd"
rootfs := "bundles/busybox/rootfs"

# List the recipes
default:
    @just --list

# Debian packages the build and the tests need, installed when missing (as root)
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    # libseccomp-dev, pkg-config: libseccomp-sys links libseccomp; busybox-static:
    # the demo rootfs; uidmap: newuidmap/newgidmap for the rootless range tests.
    missing=()
    for pkg in libseccomp-dev pkg-config busybox-static uidmap; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "deps: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi

# Build the runtime (debug)
build: deps
    cargo build --workspace

# Fill bundles/busybox/rootfs from Debian's busybox-static
bundle: deps
    #!/usr/bin/env bash
    set -euo pipefail
    busybox_path=$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')
    r={{rootfs}}
    [ -x "$r/bin/busybox" ] && cmp -s "$busybox_path" "$r/bin/busybox" && exit 0
    mkdir -p "$r"/{bin,dev,etc,proc,sys,tmp,root,home,run,var}
    chmod 1777 "$r/tmp"
    cp "$busybox_path" "$r/bin/busybox"
    for applet in $("$r/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
    echo "bundle ready: $r ($("$r/bin/busybox" | head -1 | cut -d' ' -f1-2))"

# A guided tour: run a container, then drive its lifecycle step by step
demo: build bundle
    #!/usr/bin/env bash
    set -euo pipefail
    bin=$(pwd)/{{bin}}; root=$(mktemp -d /tmp/mini-containerd-demo.XXXXXX)
    trap '"$bin" --root "$root" delete --force demo-2 >/dev/null 2>&1 || true; rm -rf "$root"' EXIT
    step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
    step "run: a BusyBox container that looks at itself"
    tmp=$(mktemp -d); cp bundles/busybox/config.json "$tmp/"; ln -s "$(pwd)/{{rootfs}}" "$tmp/rootfs"
    sed -i 's#"sh"$#"sh", "-c", "echo hostname: $(hostname); echo processes, PID 1 is this shell:; ps -o pid,user,comm; if test -e /etc/debian_version; then echo host file /etc/debian_version: visible; else echo host file /etc/debian_version: absent; fi; echo its / holds: $(ls /)"#' "$tmp/config.json"
    echo "\$ mini-containerd run -b $tmp demo-1"
    "$bin" --root "$root" run -b "$tmp" demo-1
    echo "host's hostname: $(hostname); host file /etc/debian_version: $(cat /etc/debian_version)"
    step "create: namespaces, mounts and pivot_root done; the init waits on exec.fifo"
    sed -i 's|"sh", "-c", .*$|"sleep", "1000"|' "$tmp/config.json"
    "$bin" --root "$root" create -b "$tmp" demo-2 </dev/null
    "$bin" --root "$root" state demo-2
    step "start: the init execs process.args"
    "$bin" --root "$root" start demo-2
    "$bin" --root "$root" state demo-2
    "$bin" --root "$root" list
    step "kill: SIGKILL to the container's PID 1"
    "$bin" --root "$root" kill demo-2 KILL
    for _ in $(seq 50); do "$bin" --root "$root" state demo-2 | grep -q '"stopped"' && break; sleep 0.1; done
    "$bin" --root "$root" state demo-2
    step "delete: the state directory goes; mounts went with the mount namespace"
    "$bin" --root "$root" delete demo-2
    "$bin" --root "$root" list
    rm -rf "$tmp"

# Run the OCI conformance suite (default: against our binary); e.g. `just conformance /usr/sbin/runc --format table`
conformance runtime=bin *args: build bundle
    cargo run -q -p conformance -- --runtime {{runtime}} {{args}}

# The conformance suite against runc: checks the suite itself
conformance-runc *args: build bundle
    cargo run -q -p conformance -- --runtime "$(command -v runc)" {{args}}

# Regenerate docs/conformance.md: mini-containerd and runc side by side
conformance-report: build bundle
    cargo run -q -p conformance -- --report-markdown docs/conformance.md --runtime {{bin}} --runtime "$(command -v runc)"

# cgroup v2 checks in a throw-away QEMU VM (pure cgroup v2 host); `just test-cgroup2 --shell` to explore it
test-cgroup2 *args: build bundle
    tests/cgroup2-vm/run.sh {{args}}

# Podman and containerd (ctr) on the runtime and on runc; see tests/engines/README.md
engines *args: build
    tests/engines/run.sh {{args}}

# Time mini-containerd against runc and crun (release build; docs/performance.md); `just bench --quick` for a short run
bench *args: bundle
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for pkg in runc crun libseccomp-dev pkg-config golang-github-containers-common; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bench: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    just release
    cargo build -q --release -p bench
    target/release/bench --mini "$(just release-path)" --rootfs {{rootfs}} --out target/bench/latest.md {{args}}

# The release binary: static, musl libc, libseccomp inside, LTO, opt-level s (docs/performance.md)
release: libseccomp-musl
    #!/usr/bin/env bash
    set -euo pipefail
    target="$(uname -m)-unknown-linux-musl"
    if ! rustup target list --installed | grep -qx "$target"; then
        echo "release: adding the Rust target $target"
        rustup target add "$target"
    fi
    # musl: its start-up does not probe the CPU as glibc's does (costly on a
    # VM, twice per container). relocation-model=static: no relocations to
    # apply at each exec (not position-independent, like Debian's runc).
    # --target keeps these flags off build scripts and proc-macros.
    LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$PWD/$(just libseccomp-musl-dir)/lib" \
        RUSTFLAGS="-C relocation-model=static" \
        cargo build -q --release -p mini-containerd --target "$target"
    echo "release: $(just release-path)"

# Where `just release` puts the binary
release-path:
    @echo "target/$(uname -m)-unknown-linux-musl/release/mini-containerd"

# libseccomp as a static library for musl, built from Debian's own source of
# the version the system has (bookworm's 2.5.4-1+deb12u1), checksums pinned
libseccomp-musl:
    #!/usr/bin/env bash
    set -euo pipefail
    out="$PWD/$(just libseccomp-musl-dir)"
    [ -f "$out/lib/libseccomp.a" ] && exit 0
    missing=()
    for pkg in musl-tools gperf curl xz-utils patch; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "libseccomp-musl: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    src=$(mktemp -d /tmp/libseccomp-musl.XXXXXX)
    trap 'rm -rf "$src"' EXIT
    pool=http://deb.debian.org/debian/pool/main/libs/libseccomp
    echo "libseccomp-musl: building 2.5.4-1+deb12u1 into $out"
    curl -sSfL -o "$src/orig.tar.gz" "$pool/libseccomp_2.5.4.orig.tar.gz"
    curl -sSfL -o "$src/debian.tar.xz" "$pool/libseccomp_2.5.4-1%2Bdeb12u1.debian.tar.xz"
    printf '%s  %s\n' \
        d82902400405cf0068574ef3dc1fe5f5926207543ba1ae6f8e7a1576351dcbdb "$src/orig.tar.gz" \
        665fc6ad1b9887207b0af1a293a2d7975e2df503a2618d1808b970081f9672f6 "$src/debian.tar.xz" \
        | sha256sum -c --quiet
    tar -C "$src" -xzf "$src/orig.tar.gz"
    cd "$src/libseccomp-2.5.4"
    tar -xJf "$src/debian.tar.xz"
    # Debian's patches (the syscall table up to Linux 6.7), as its package has them.
    grep -v '^#' debian/patches/series | while read -r p; do
        [ -n "$p" ] && patch -s -p1 < "debian/patches/$p"
    done
    # musl-gcc sees no kernel headers: lend it the system's linux/, asm/, asm-generic/.
    mkdir kernel-headers
    ln -s /usr/include/linux /usr/include/asm-generic kernel-headers/
    ln -s "/usr/include/$(gcc -print-multiarch)/asm" kernel-headers/asm
    AR_FLAGS=cr ./configure -q CC=musl-gcc CFLAGS="-O2 -isystem $PWD/kernel-headers" \
        --enable-static --disable-shared --prefix="$out" >/dev/null
    make -s -j"$(nproc)" >/dev/null
    make -s install >/dev/null

# Where `just libseccomp-musl` puts it
libseccomp-musl-dir:
    @echo "target/libseccomp-musl/2.5.4-1+deb12u1"

# Run every example bundle in bundles/examples and check its output (docs/examples.md)
examples: build bundle
    #!/usr/bin/env bash
    set -uo pipefail
    bin=$(pwd)/{{bin}}; root=$(mktemp -d /tmp/mc-examples.XXXXXX); passed=0; failed=0
    trap 'rm -rf "$root"' EXIT
    for dir in bundles/examples/*/; do
        name=$(basename "$dir")
        out=$("$bin" --root "$root" run --bundle "$dir" "ex-$name" </dev/null 2>&1)
        ok=1
        while IFS= read -r want; do
            [ -z "$want" ] && continue
            printf '%s' "$out" | grep -qF -- "$(printf '%b' "$want")" || ok=0
        done < "$dir/expect"
        if [ $ok = 1 ]; then passed=$((passed + 1)); echo "ok - $name"
        else failed=$((failed + 1)); echo "not ok - $name"; printf '%s\n' "$out" | sed 's/^/    /'; fi
    done
    echo "examples: $passed passed, $failed failed"
    [ $failed = 0 ]

# Fuzz config.json's load-and-validate path for SECONDS (crates/runtime/fuzz; docs/security.md)
fuzz seconds="60":
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v cargo-fuzz >/dev/null; then
        echo "fuzz: installing cargo-fuzz"; cargo install --locked cargo-fuzz
    fi
    cd crates/runtime
    # `-s none`: cargo-fuzz builds with AddressSanitizer by default, through
    # `-Zsanitizer=address`, which only a nightly rustc takes; this project
    # builds on stable. libFuzzer's coverage hooks are stable `-C` flags, and
    # what this target hunts (panics, contract breaks in safe Rust) needs no
    # ASan; without it a run is about 5x faster. For an ASan build on stable,
    # `RUSTC_BOOTSTRAP=1 cargo fuzz run config` works (rustc then passes for
    # nightly; after a failed try, delete fuzz/target/.rustc_info.json, where
    # cargo cached the refusal).
    # New inputs go to fuzz/target/corpus (ignored); the committed corpus is
    # read as seeds only, so a run leaves the tree clean. A crash lands in
    # fuzz/artifacts/config/ and the run fails.
    mkdir -p fuzz/target/corpus
    cargo fuzz run -s none config fuzz/target/corpus fuzz/corpus/config -- \
        -max_total_time={{seconds}} -dict=fuzz/config.dict -print_final_stats=1

# Format check, clippy, unit and integration tests (as root)
test: deps bundle lint
    cargo test --workspace

# The integration tests and the conformance suite against the release binary (the one `just bench` measures)
test-release: release bundle
    MINI_CONTAINERD_TEST_BIN="$PWD/$(just release-path)" cargo test --workspace
    just conformance "$PWD/$(just release-path)"

# cargo fmt --check and clippy -D warnings
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate docs/spec-coverage.md from the runtime's feature table
spec-coverage:
    UPDATE_SPEC_COVERAGE=1 cargo test -q -p runtime --lib features::tests::spec_coverage_doc_is_current

# Man pages into target/man (mini-containerd.1 and one per subcommand)
man: build
    {{bin}} man target/man
    @ls target/man

# Format the code
fmt:
    cargo fmt --all
