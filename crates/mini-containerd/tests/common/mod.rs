//! Shared harness for the integration tests: each test gets its own
//! `--root` and bundle under a temporary directory, drives the real binary
//! on the BusyBox rootfs, and removes every container it made on drop.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test: the one cargo built with the tests, or the one
/// `MINI_CONTAINERD_TEST_BIN` names (`just test-release` runs the suites
/// against the release build that way).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("MINI_CONTAINERD_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mini-containerd").to_string())
    })
}

pub fn rootfs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles/busybox/rootfs")
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the integration tests create real containers: run them as root"
        );
        assert!(
            rootfs().join("bin/busybox").exists(),
            "no BusyBox rootfs at {}: run `just bundle` first",
            rootfs().display()
        );
        let tmp = tempfile::Builder::new().prefix("mc-test").tempdir().expect("tempdir");
        let root = tmp.path().join("state");
        Env { tmp, root }
    }

    /// A bundle whose config is the demo bundle's, with `args` as the
    /// process and `edit` applied; `root.path` points at the shared rootfs.
    pub fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).expect("bundle dir");
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles/busybox/config.json");
        let mut config: Value =
            serde_json::from_str(&std::fs::read_to_string(base).expect("demo config")).expect("demo config parses");
        config["root"]["path"] = Value::String(rootfs().canonicalize().expect("rootfs").display().to_string());
        config["process"]["args"] = args.iter().map(|a| Value::String(a.to_string())).collect();
        // Tests run in parallel with the same ids under different roots:
        // give each bundle a cgroup of its own (the default is /<id>).
        config["linux"]["cgroupsPath"] = Value::String(format!("/mc-test-{}-{}", std::process::id(), unique()));
        edit(&mut config);
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("write");
        dir
    }

    /// A rootfs of the test's own to plant things in (the shared BusyBox
    /// rootfs must stay untouched): the BusyBox binary and `applets` as
    /// links to it in /bin.
    pub fn private_rootfs(&self, applets: &[&str]) -> PathBuf {
        let own = self.tmp.path().join("rootfs");
        std::fs::create_dir_all(own.join("bin")).expect("rootfs/bin");
        std::fs::copy(rootfs().join("bin/busybox"), own.join("bin/busybox")).expect("copy busybox");
        for applet in applets {
            std::os::unix::fs::symlink("busybox", own.join("bin").join(applet)).expect("applet link");
        }
        own
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(&self.root);
        c
    }

    /// Run a subcommand to completion, capturing its output.
    pub fn exec(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn mini-containerd")
    }

    /// Run a subcommand with none of our stdio (a process it leaves running,
    /// a created or detached container, would hold a pipe open); its status.
    pub fn quiet(&self, args: &[&str]) -> std::process::ExitStatus {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn mini-containerd")
    }

    /// Run a subcommand that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "mini-containerd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a subcommand that must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            !out.status.success(),
            "mini-containerd {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `create` with the container's stdout and stderr going to files: the
    /// container inherits them, so a pipe would keep us waiting for EOF
    /// until the container exits. Returns the stdout file's path.
    pub fn create(&self, bundle: &Path, id: &str) -> PathBuf {
        let (status, err) = self.try_create(bundle, id, &[]);
        assert!(status.success(), "create {id} failed: {err}");
        self.tmp.path().join(format!("{id}.out"))
    }

    /// `create` with extra arguments; returns the exit status and what the
    /// runtime (or, later, the container) wrote to stderr.
    pub fn try_create(&self, bundle: &Path, id: &str, extra: &[&str]) -> (std::process::ExitStatus, String) {
        let out = self.tmp.path().join(format!("{id}.out"));
        let err = self.tmp.path().join(format!("{id}.err.{}", unique()));
        let status = self
            .cmd()
            .arg("create")
            .args(extra)
            .arg("--bundle")
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("out file"))
            .stderr(File::create(&err).expect("err file"))
            .status()
            .expect("spawn create");
        (status, std::fs::read_to_string(&err).unwrap_or_default())
    }

    /// `run` to completion: (exit code, stdout, stderr).
    pub fn run(&self, bundle: &Path, id: &str) -> (i32, String, String) {
        let out = self
            .cmd()
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .expect("spawn run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or_default().to_string()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.status(id);
            if now == want {
                return;
            }
            assert!(Instant::now() < deadline, "{id} stayed {now}, expected {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The ids under this test's root (not the runtime's `.cache`: ids
    /// start with a letter or a digit).
    pub fn ids(&self) -> Vec<String> {
        match std::fs::read_dir(&self.root) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.exec(&["delete", "--force", &id]);
        }
    }
}

/// A process-unique counter for file names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Is `pid` a live (non-zombie) process?
pub fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let after = stat.rsplit_once(')').map(|(_, r)| r.trim_start()).unwrap_or("");
            !after.starts_with('Z') && !after.starts_with('X')
        }
        Err(_) => false,
    }
}

/// The cgroup v1 directory of `pid` for `controller`, read from
/// `/proc/PID/cgroup` (whose lines are `ID:CONTROLLERS:PATH`; controllers
/// mounted together, like `cpu,cpuacct`, share a line).
pub fn cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let table = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = table
        .lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers.split(',').any(|c| c == controller).then_some(path)
        })
        .unwrap_or_else(|| panic!("no {controller} line in /proc/{pid}/cgroup:\n{table}"));
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}
