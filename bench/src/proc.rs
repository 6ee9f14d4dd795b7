//! Running a runtime's command and measuring it: wall time from just before
//! `fork` to just after `wait4`, and the peak RSS that `wait4` reports (the
//! same number as `/usr/bin/time -f %M`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM: the phases stop between iterations and the
/// cleanup runs.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

pub fn check_interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// What one command took.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub wall: Duration,
    /// `ru_maxrss` of the child (and of the children it waited for), KiB.
    pub maxrss_kib: u64,
    pub stdout: Vec<u8>,
}

/// A runtime under test: its binary, its own state root, and for crun a
/// mount namespace to enter before exec.
pub struct Runtime {
    /// As printed in the table.
    pub name: &'static str,
    /// In container ids.
    pub tag: &'static str,
    pub bin: PathBuf,
    pub root: PathBuf,
    /// A mount namespace every command of this runtime runs in (crun: one
    /// where /sys/fs/cgroup/unified is unmounted, see DESIGN.md §8).
    pub mntns: Option<OwnedFd>,
    /// Where the runtime's stderr (and its containers') goes.
    pub stderr_log: PathBuf,
}

impl Runtime {
    fn command(&self, args: &[&str], capture: bool) -> io::Result<Command> {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c.stdout(if capture { Stdio::piped() } else { Stdio::null() });
        c.stderr(OpenOptions::new().create(true).append(true).open(&self.stderr_log)?);
        let ns = self.mntns.as_ref().map(|f| f.as_raw_fd());
        // Every runtime goes through the same fork+exec path (a pre_exec
        // hook makes std use fork rather than posix_spawn); crun's also
        // joins its mount namespace, one setns(2).
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                if let Some(fd) = ns {
                    if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok(c)
    }

    /// Run `args` to completion, timed; an error (with the stderr tail)
    /// unless it exits 0.
    pub fn run(&self, args: &[&str]) -> Result<Outcome, String> {
        self.run_inner(args, false)
    }

    /// As [`Runtime::run`], keeping stdout.
    pub fn output(&self, args: &[&str]) -> Result<Outcome, String> {
        self.run_inner(args, true)
    }

    fn run_inner(&self, args: &[&str], capture: bool) -> Result<Outcome, String> {
        let mut cmd = self.command(args, capture).map_err(|e| format!("{}: {e}", self.name))?;
        let (status, out) = timed(&mut cmd)?;
        if status != 0 {
            return Err(format!(
                "{} {}: exit status {status}; stderr ends with: {}",
                self.name,
                args.join(" "),
                tail(&self.stderr_log)
            ));
        }
        Ok(out)
    }

    /// The init's pid from `state` (0 when stopped), and the status.
    pub fn state(&self, id: &str) -> Result<(i32, String), String> {
        let out = self.output(&["state", id])?;
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("{} state {id}: {e}", self.name))?;
        let pid = v["pid"].as_i64().unwrap_or(0) as i32;
        Ok((pid, v["status"].as_str().unwrap_or("").to_string()))
    }

    /// The container ids present in our state root.
    pub fn ids_on_disk(&self) -> Vec<String> {
        let mut ids: Vec<String> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Stop and delete one container, whatever its state: `kill` + reap +
    /// `delete`, and `delete --force` if that fails. (runc's `delete
    /// --force` polls every 100 ms, which would dominate the clean-up.)
    pub fn remove(&self, id: &str) {
        if let Ok((pid, status)) = self.state(id) {
            if pid > 0 && (status == "created" || status == "running" || status == "paused") {
                if status == "paused" {
                    let _ = self.run(&["resume", id]);
                }
                let _ = self.run(&["kill", id, "9"]);
                wait_gone(pid);
            }
        }
        if self.run(&["delete", id]).is_err() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}

/// A command for something other than a runtime (the bare `unshare`),
/// spawned the same way as the runtimes' commands.
pub fn plain_command(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: an empty hook; it only selects the fork+exec path.
    unsafe { c.pre_exec(|| Ok(())) };
    c
}

/// Spawn, wait with `wait4`, and time it.
pub fn timed(cmd: &mut Command) -> Result<(i32, Outcome), String> {
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning {:?}: {e}", cmd.get_program()))?;
    let mut stdout = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    let (status, ru) = wait4(child.id() as i32).map_err(|e| format!("wait4: {e}"))?;
    let wall = t0.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((
        code,
        Outcome {
            wall,
            maxrss_kib: ru.ru_maxrss.max(0) as u64,
            stdout,
        },
    ))
}

fn wait4(pid: i32) -> io::Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data; zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return Ok((status, ru));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Wait for a container's process to be gone. We are a child subreaper, so
/// a container init orphaned by `create` is our child: reap it. (If it is
/// not, poll /proc until it is gone or a zombie.)
pub fn wait_gone(pid: i32) {
    let mut status = 0;
    loop {
        // SAFETY: valid pointer to a local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(s) if s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Reap whatever exited among our children (orphaned container processes).
pub fn reap_orphans() {
    let mut status = 0;
    // SAFETY: valid pointer to a local.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
}

pub fn set_child_subreaper() -> Result<(), String> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(format!("PR_SET_CHILD_SUBREAPER: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// A private mount namespace with /sys/fs/cgroup/unified unmounted: the
/// way DESIGN.md §8 runs crun on this hybrid-cgroup host (the same as
/// `unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun …'`, made
/// once and entered with setns(2) by each crun command).
pub fn crun_mount_namespace() -> Result<OwnedFd, String> {
    let mut holder = Command::new("sleep");
    holder.arg("600").stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        holder.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            let none = c"none";
            if libc::mount(
                none.as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // Absent on a pure v1 or pure v2 host: nothing to do then.
            let _ = libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
            Ok(())
        });
    }
    let mut child = holder
        .spawn()
        .map_err(|e| format!("making crun's mount namespace: {e}"))?;
    let ns =
        File::open(format!("/proc/{}/ns/mnt", child.id())).map_err(|e| format!("opening crun's mount namespace: {e}"));
    let _ = child.kill();
    let _ = child.wait();
    let ns = ns?;
    // SAFETY: we own the fd we just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(ns)) })
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "(nothing)".into()
    } else {
        t
    }
}

/// `VmRSS`, `RssAnon`, `RssFile`, `RssShmem` of a process, KiB.
pub fn rss_of(pid: i32) -> Option<Rss> {
    parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rss {
    pub total: u64,
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
}

pub fn parse_status(text: &str) -> Option<Rss> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Rss {
        total: field("VmRSS:")?,
        anon: field("RssAnon:").unwrap_or(0),
        file: field("RssFile:").unwrap_or(0),
        shmem: field("RssShmem:").unwrap_or(0),
    })
}

/// Where the cgroup-v1 `memory` hierarchy is mounted, from /proc/self/mounts.
fn memory_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 3 && f[2] == "cgroup" && f[3].split(',').any(|o| o == "memory")).then(|| PathBuf::from(f[1]))
    })
}

/// A process's cgroup in the v1 `memory` hierarchy, from /proc/PID/cgroup.
pub fn memory_cgroup_of(pid: &str) -> Option<String> {
    parse_memory_cgroup(&fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)
}

fn parse_memory_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers.split(',').any(|c| c == "memory").then(|| path.to_string())
    })
}

/// The bench's own memory cgroup (v1), a child of the one it was started
/// in: every runtime command it spawns is charged there, so what a runtime
/// leaves behind outside its containers' cgroups (a waiting init's
/// memory, a memfd copy) is measured without the rest of the machine.
pub struct MemCgroup {
    mount: PathBuf,
    /// Relative to the mount, with a leading '/'.
    path: String,
    parent: String,
}

impl MemCgroup {
    /// None where there is no v1 memory hierarchy (a pure cgroup v2 host).
    pub fn enter(name: &str) -> Option<MemCgroup> {
        let mount = memory_mount()?;
        let parent = memory_cgroup_of("self")?;
        let path = format!("{}/{name}", parent.trim_end_matches('/'));
        let dir = mount.join(path.trim_start_matches('/'));
        fs::create_dir(&dir).ok()?;
        let cg = MemCgroup { mount, path, parent };
        if fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_err() {
            let _ = fs::remove_dir(&dir);
            return None;
        }
        Some(cg)
    }

    fn file(&self, path: &str, name: &str) -> PathBuf {
        self.mount.join(path.trim_start_matches('/')).join(name)
    }

    /// memory.usage_in_bytes of our cgroup, KiB.
    pub fn usage_kib(&self) -> u64 {
        read_kib(&self.file(&self.path, "memory.usage_in_bytes"))
    }

    /// The memory charged to the cgroup of a container's process, KiB, and
    /// whether that cgroup is below ours (runc, given no cgroupsPath, makes
    /// the container's cgroup under its caller's), and so already counted
    /// in our usage.
    pub fn container_kib(&self, pid: i32) -> (u64, bool) {
        match memory_cgroup_of(&pid.to_string()) {
            Some(p) if p == self.path => (0, true),
            Some(p) => {
                let nested = p.starts_with(&format!("{}/", self.path));
                (read_kib(&self.file(&p, "memory.usage_in_bytes")), nested)
            }
            None => (0, false),
        }
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.file(&self.parent, "cgroup.procs"), std::process::id().to_string());
        let dir = self.mount.join(self.path.trim_start_matches('/'));
        // Containers' cgroups a runtime made below ours and left behind.
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::remove_dir(e.path());
            }
        }
        let _ = fs::remove_dir(dir);
    }
}

fn read_kib(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(0, |b| b / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = "Name:\tsleep\nVmPeak:\t 1 kB\nVmRSS:\t    4264 kB\nRssAnon:\t     552 kB\nRssFile:\t    1472 kB\nRssShmem:\t    2240 kB\n";
        assert_eq!(
            parse_status(s),
            Some(Rss {
                total: 4264,
                anon: 552,
                file: 1472,
                shmem: 2240
            })
        );
        assert_eq!(parse_status("Name:\tzombie\n"), None);
    }

    #[test]
    fn memory_cgroup_line() {
        let c = "9:name=systemd:/\n4:memory:/process_api/9ffa\n1:cpu,cpuacct:/\n0::/\n";
        assert_eq!(parse_memory_cgroup(c), Some("/process_api/9ffa".to_string()));
        assert_eq!(parse_memory_cgroup("0::/user.slice\n"), None);
    }
}
