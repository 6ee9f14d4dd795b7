//! `kill`: send a signal to the container (runtime.md "Kill").

use std::os::unix::fs::MetadataExt;

use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::state::{self, StateRoot, Stored};
use crate::sys;

pub fn kill(root: &StateRoot, id: &str, signal: i32, all: bool) -> Result<()> {
    let dir = root.lock(id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    let status = dir.status(Some(&stored));
    if !status.can_kill() {
        return Err(Error::WrongState {
            verb: "kill",
            id: id.to_string(),
            status: status.to_string(),
            hint: " (container not running)",
        });
    }
    if all {
        for pid in container_processes(&stored)? {
            // A process may exit between listing and signalling: not an error.
            let _ = signal_pid(pid, None, signal);
        }
        return Ok(());
    }
    signal_pid(Pid::from_raw(stored.pid), Some(stored.pid_start), signal)
        .context(|| format!("sending signal {signal} to container {id} (pid {})", stored.pid))
}

/// Signal through a pidfd, and check the start time *after* opening it:
/// if it still matches, the pidfd is the container's init and no pid reuse
/// can redirect the signal.
pub(crate) fn signal_pid(pid: Pid, start: Option<u64>, signal: i32) -> std::result::Result<(), nix::errno::Errno> {
    let pidfd = sys::pidfd_open(pid)?;
    if let Some(start) = start {
        if !state::process_matches(pid.as_raw(), start) {
            return Err(nix::errno::Errno::ESRCH);
        }
    }
    sys::pidfd_send_signal(&pidfd, signal)
}

/// Every process of the container: those in the init's PID namespace when
/// it has its own, else the init alone.
/// (Cgroup-based listing replaces this once the runtime manages cgroups.)
pub(crate) fn container_processes(stored: &Stored) -> Result<Vec<Pid>> {
    let Some(init) = state::live_pid(stored) else {
        return Ok(Vec::new());
    };
    let ns_of = |pid: i32| std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| m.ino()).ok();
    let own = std::fs::metadata("/proc/self/ns/pid").map(|m| m.ino()).ok();
    let Some(target) = ns_of(init.as_raw()) else {
        return Ok(Vec::new());
    };
    if Some(target) == own {
        return Ok(vec![init]);
    }
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").context(|| "reading /proc".into())?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if ns_of(pid) == Some(target) {
            pids.push(Pid::from_raw(pid));
        }
    }
    Ok(pids)
}
