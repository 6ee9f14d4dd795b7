//! Driving a runtime through its runc-compatible CLI, one test at a time.
//!
//! Each test gets a [`Ctx`]: a temp dir holding its own `--root` and its
//! bundles (each with a private copy of the BusyBox rootfs plus the probe at
//! `/oci-probe`), a deadline, and the list of container ids it created.
//! Every runtime invocation runs in its own process group with stdio sent to
//! files (never pipes: a container inherits them and would keep them open),
//! and is killed when the test's deadline passes. [`Ctx::cleanup`] always
//! runs: `delete --force` of every id, SIGKILL of any pid the runtime still
//! reports, then the temp dir goes.

use std::fmt;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;

/// Why a test did not pass.
#[derive(Debug)]
pub enum Failure {
    Fail(String),
    Skip(String),
}

pub type TResult = Result<(), Failure>;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Fail(m) | Failure::Skip(m) => f.write_str(m),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Fail(format!("suite I/O error: {e}"))
    }
}

/// Fail the test with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::harness::Failure::Fail(format!($($fmt)+)));
        }
    };
}

/// Fail the test with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)+) => { return Err($crate::harness::Failure::Fail(format!($($fmt)+))) };
}

/// What the whole run shares: the runtime under test and where things are.
pub struct Env {
    pub runtime: PathBuf,
    pub probe: PathBuf,
    pub rootfs: PathBuf,
    pub test_timeout: Duration,
    pub verbose: bool,
}

/// The result of one runtime invocation.
#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` when killed by a signal or by the timeout.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// One line for failure messages: exit status and the first stderr line.
    pub fn brief(&self) -> String {
        let status = match (self.timed_out, self.code) {
            (true, _) => "timed out".to_string(),
            (false, Some(c)) => format!("exit {c}"),
            (false, None) => "killed by a signal".to_string(),
        };
        let err = self.stderr.trim();
        let err = err.lines().last().unwrap_or("");
        if err.is_empty() {
            status
        } else {
            format!("{status}: {}", truncate(err, 200))
        }
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// A bundle made for one container.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn write_config(&self, cfg: &Value) -> std::io::Result<()> {
        fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(cfg).map_err(std::io::Error::other)?,
        )
    }
}

pub struct Ctx<'a> {
    pub env: &'a Env,
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    deadline: Instant,
    ids: Vec<String>,
    seq: usize,
    /// The longest a single runtime command may take.
    cmd_cap: Duration,
    /// Whether any runtime command of this test hit its deadline.
    pub timed_out: bool,
    /// Commands run so far, for failure details with --verbose.
    pub transcript: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(env: &'a Env) -> std::io::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("oci-conformance.").tempdir()?;
        let root = tmp.path().join("state");
        fs::create_dir(&root)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
        Ok(Ctx {
            env,
            tmp,
            root,
            deadline: Instant::now() + env.test_timeout,
            ids: Vec::new(),
            seq: 0,
            cmd_cap: Duration::from_secs(30),
            timed_out: false,
            transcript: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A fresh container id, unique on this host, registered for cleanup.
    pub fn new_id(&mut self) -> String {
        self.seq += 1;
        let id = format!("oci-conf-{}-{}", std::process::id(), self.seq);
        self.ids.push(id.clone());
        id
    }

    /// Register an id chosen by the test (for cleanup).
    pub fn track(&mut self, id: &str) {
        if !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_string());
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Make a bundle directory with `cfg` as config.json and a private copy of
    /// the rootfs (hard links where possible) holding the probe at /oci-probe.
    /// `root.path` is left as the config says ("rootfs" by default).
    pub fn bundle(&mut self, cfg: &Value) -> Result<Bundle, Failure> {
        self.seq += 1;
        let dir = self.path().join(format!("bundle-{}", self.seq));
        fs::create_dir(&dir)?;
        let rootfs = dir.join("rootfs");
        copy_tree(&self.env.rootfs, &rootfs)
            .map_err(|e| Failure::Fail(format!("copying rootfs {}: {e}", self.env.rootfs.display())))?;
        link_or_copy(&self.env.probe, &rootfs.join("oci-probe"))
            .map_err(|e| Failure::Fail(format!("installing the probe: {e}")))?;
        let b = Bundle { dir, rootfs };
        b.write_config(cfg)?;
        Ok(b)
    }

    /// Run `RUNTIME --root ROOT ARGS…`, stdio to files in the temp dir.
    pub fn rt(&mut self, args: &[&str]) -> Result<Output, Failure> {
        self.rt_in(args, None, None)
    }

    /// Like [`Ctx::rt`], with the runtime's stdout/stderr going to the given
    /// files (a container started by it inherits them) and an optional cwd.
    pub fn rt_in(
        &mut self,
        args: &[&str],
        stdio: Option<(&Path, &Path)>,
        cwd: Option<&Path>,
    ) -> Result<Output, Failure> {
        self.seq += 1;
        let (out, err) = match stdio {
            Some((o, e)) => (o.to_path_buf(), e.to_path_buf()),
            None => (
                self.path().join(format!("cmd-{}.out", self.seq)),
                self.path().join(format!("cmd-{}.err", self.seq)),
            ),
        };
        let mut cmd = Command::new(&self.env.runtime);
        cmd.arg("--root").arg(&self.root).args(args);
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out)?)
            .stderr(fs::File::create(&err)?);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        // Its own process group, so that a timeout kills it and whatever it forked.
        cmd.process_group(0);
        let timeout = self.remaining().min(self.cmd_cap);
        let line = format!("{} {}", self.env.runtime.display(), args.join(" "));
        let mut child = cmd
            .spawn()
            .map_err(|e| Failure::Fail(format!("cannot run {}: {e}", self.env.runtime.display())))?;
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            reap_orphans(Some(child.id()));
            if let Some(st) = child.try_wait()? {
                break Some(st);
            }
            if start.elapsed() >= timeout {
                timed_out = true;
                let pg = Pid::from_raw(child.id() as i32);
                let _ = killpg(pg, Signal::SIGKILL);
                let _ = child.kill();
                break child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let code = if timed_out { None } else { status.and_then(|s| s.code()) };
        let o = Output {
            code,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
            timed_out,
        };
        let sig = status
            .and_then(|s| s.signal())
            .map(|s| format!(" (signal {s})"))
            .unwrap_or_default();
        self.transcript.push(format!("$ {line}  -> {}{sig}", o.brief()));
        if timed_out {
            self.timed_out = true;
            return Err(Failure::Fail(format!(
                "timeout: `{line}` did not finish within {:.1}s",
                timeout.as_secs_f64()
            )));
        }
        Ok(o)
    }

    /// `create --bundle B ID`, the container's stdout/stderr going to
    /// B/stdout and B/stderr.
    pub fn create(&mut self, b: &Bundle, id: &str) -> Result<Output, Failure> {
        self.track(id);
        let bundle = b.dir.display().to_string();
        let (o, e) = (b.dir.join("stdout"), b.dir.join("stderr"));
        self.rt_in(&["create", "--bundle", &bundle, id], Some((&o, &e)), None)
    }

    /// `create` that must succeed.
    pub fn create_ok(&mut self, b: &Bundle, id: &str) -> TResult {
        let o = self.create(b, id)?;
        ensure!(o.ok(), "create failed: {}", o.brief());
        Ok(())
    }

    pub fn start(&mut self, id: &str) -> Result<Output, Failure> {
        self.rt(&["start", id])
    }

    pub fn start_ok(&mut self, id: &str) -> TResult {
        let o = self.start(id)?;
        ensure!(o.ok(), "start failed: {}", o.brief());
        Ok(())
    }

    /// `state ID` parsed; `Ok(None)` when the runtime says no such container.
    pub fn state(&mut self, id: &str) -> Result<Option<Value>, Failure> {
        let o = self.rt(&["state", id])?;
        if !o.ok() {
            return Ok(None);
        }
        match serde_json::from_str(&o.stdout) {
            Ok(v) => Ok(Some(v)),
            Err(e) => fail!("state printed invalid JSON ({e}): {}", truncate(&o.stdout, 200)),
        }
    }

    pub fn state_ok(&mut self, id: &str) -> Result<Value, Failure> {
        match self.state(id)? {
            Some(v) => Ok(v),
            None => fail!("state {id} failed although the container should exist"),
        }
    }

    pub fn status(&mut self, id: &str) -> Result<String, Failure> {
        let s = self.state_ok(id)?;
        Ok(s["status"].as_str().unwrap_or("").to_string())
    }

    /// Poll `state` until it reports `want` (or the timeout passes).
    pub fn wait_status(&mut self, id: &str, want: &str, timeout: Duration) -> TResult {
        let end = Instant::now() + timeout.min(self.remaining());
        let mut last = String::new();
        loop {
            reap_orphans(None);
            if let Some(s) = self.state(id)? {
                last = s["status"].as_str().unwrap_or("").to_string();
                if last == want {
                    return Ok(());
                }
            }
            if Instant::now() >= end {
                fail!("container {id} did not reach status {want:?} (last: {last:?})");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self, id: &str, sig: &str) -> Result<Output, Failure> {
        self.rt(&["kill", id, sig])
    }

    pub fn delete(&mut self, id: &str, force: bool) -> Result<Output, Failure> {
        if force {
            self.rt(&["delete", "--force", id])
        } else {
            self.rt(&["delete", id])
        }
    }

    /// Make a bundle from `cfg`, create and start it, wait for it to stop and
    /// return what it printed on stdout (the probe's report, parsed). The
    /// container is deleted afterwards.
    pub fn run_probe(&mut self, cfg: &Value) -> Result<Value, Failure> {
        let b = self.bundle(cfg)?;
        let id = self.new_id();
        self.create_ok(&b, &id)?;
        self.start_ok(&id)?;
        self.wait_status(&id, "stopped", Duration::from_secs(10))?;
        let out = fs::read_to_string(b.dir.join("stdout"))?;
        let err = fs::read_to_string(b.dir.join("stderr"))?;
        let _ = self.delete(&id, false);
        let line = out.lines().find(|l| l.starts_with('{'));
        match line.map(serde_json::from_str::<Value>) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => fail!("probe output is not JSON ({e}): {}", truncate(&out, 200)),
            None => fail!(
                "the probe printed nothing (stdout {:?}, stderr {:?})",
                truncate(&out, 200),
                truncate(&err, 300)
            ),
        }
    }

    /// `create` expected to fail; checks that no container was left behind.
    pub fn expect_create_error(&mut self, cfg: &Value) -> TResult {
        let b = self.bundle(cfg)?;
        self.expect_create_error_in(&b)
    }

    pub fn expect_create_error_in(&mut self, b: &Bundle) -> TResult {
        let id = self.new_id();
        let before = descendants();
        let o = self.create(b, &id)?;
        if o.ok() {
            let st = self.state(&id)?.map(|s| s["status"].to_string()).unwrap_or_default();
            fail!("create succeeded (state {st}) but should have failed");
        }
        self.expect_no_container(&id, &before)
    }

    /// `state ID` fails and no process the runtime started is left.
    pub fn expect_no_container(&mut self, id: &str, before: &[i32]) -> TResult {
        if let Some(s) = self.state(id)? {
            fail!("a failed operation left state behind: state {id} -> {}", s["status"]);
        }
        let end = Instant::now() + Duration::from_secs(2);
        loop {
            reap_orphans(None);
            let left: Vec<i32> = descendants().into_iter().filter(|p| !before.contains(p)).collect();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= end {
                fail!("processes left behind by the runtime: {left:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Always called after a test: remove every container it made, even from
    /// a runtime that misbehaves, then reap.
    pub fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        // A fresh budget: cleanup must run even when the test timed out, but
        // a hung runtime must not hold the suite for long.
        self.deadline = Instant::now() + Duration::from_secs(10);
        self.cmd_cap = Duration::from_secs(3);
        for id in self.ids.clone() {
            let pid = self.state(&id).ok().flatten().and_then(|s| s["pid"].as_i64());
            let _ = self.rt(&["delete", "--force", &id]);
            let still = self.state(&id).ok().flatten();
            if let Some(pid) = still.as_ref().and_then(|s| s["pid"].as_i64()).or(pid) {
                if pid > 0 && Path::new(&format!("/proc/{pid}")).exists() && still.is_some() {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    std::thread::sleep(Duration::from_millis(50));
                    reap_orphans(None);
                    let _ = self.rt(&["delete", "--force", &id]);
                }
            }
            if self.state(&id).ok().flatten().is_some() {
                problems.push(format!("container {id} could not be deleted"));
            }
        }
        reap_orphans(None);
        problems
    }
}

/// Copy a directory tree: directories with their modes, symlinks as
/// symlinks, regular files hard-linked (copied across filesystems).
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    fs::create_dir(dst)?;
    fs::set_permissions(dst, md.permissions())?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_symlink() {
            symlink(fs::read_link(&s)?, &d)?;
        } else if ft.is_dir() {
            copy_tree(&s, &d)?;
        } else if ft.is_file() {
            link_or_copy(&s, &d)?;
        }
    }
    Ok(())
}

fn link_or_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst)?;
    }
    Ok(())
}

/// The suite is a child subreaper: container processes orphaned by the
/// runtime come to us, as they would to containerd's shim. Reap those that
/// exited, but never `except` (a child whose status we still want).
pub fn reap_orphans(except: Option<u32>) {
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::All, flags) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(st) => {
                let Some(pid) = st.pid() else { return };
                if Some(pid.as_raw() as u32) == except {
                    return;
                }
                let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            }
        }
    }
}

/// Every live (non-zombie) descendant of this process.
pub fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the last ')': state, ppid, …
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 1 && f[0] != "Z" {
                if let Ok(ppid) = f[1].parse::<i32>() {
                    parent_of.push((pid, ppid));
                }
            }
        }
    }
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.retain(|p| *p != me);
    found
}

/// The host's (this process's) namespace inode of each type.
pub fn host_ns(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/self/ns/{ns}")).ok().map(|m| m.ino())
}

/// Poll for a file to appear.
pub fn wait_file(p: &Path, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    p.exists()
}
