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
    if all && !status.can_kill() {
        // runc accepts `kill --all` of a stopped container (the shim sends
        // it after the init exits): with the init gone, nothing is left of
        // a container with its own PID namespace, and nothing can be found
        // of one without.
        return Ok(());
    }
    if !status.can_kill() {
        return Err(Error::WrongState {
            verb: "kill",
            id: id.to_string(),
            status: status.to_string(),
            hint: " (container not running)",
        });
    }
    if all {
        let own_pid_ns = dir
            .load_config()
            .ok()
            .is_some_and(|spec| crate::init::namespaces::creates(&spec, oci_spec::runtime::LinuxNamespaceType::Pid));
        // The cgroup knows every process of the container; without one, the
        // PID namespace or the init's descendants stand in for it.
        let pids = if stored.cgroup.dirs.is_empty() {
            container_processes(&stored, own_pid_ns)?
        } else {
            stored.cgroup.procs()
        };
        for pid in pids {
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

/// Every process of the container: all of its PID namespace when it made
/// one of its own; otherwise (no namespace, or one shared with others) the
/// init and its descendants only.
/// (Cgroup-based listing replaces this once the runtime manages cgroups.)
pub(crate) fn container_processes(stored: &Stored, own_pid_ns: bool) -> Result<Vec<Pid>> {
    let Some(init) = state::live_pid(stored) else {
        return Ok(Vec::new());
    };
    let mut parents = Vec::new();
    let ns_of = |pid: i32| std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| m.ino()).ok();
    let target = ns_of(init.as_raw());
    let mut in_ns = Vec::new();
    for entry in std::fs::read_dir("/proc").context(|| "reading /proc".into())?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if own_pid_ns {
            if target.is_some() && ns_of(pid) == target {
                in_ns.push(Pid::from_raw(pid));
            }
        } else if let Some(ppid) = parent_of(pid) {
            parents.push((pid, ppid));
        }
    }
    if own_pid_ns {
        return Ok(in_ns);
    }
    let mut family = vec![init.as_raw()];
    let mut i = 0;
    while i < family.len() {
        let p = family[i];
        family.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    Ok(family.into_iter().map(Pid::from_raw).collect())
}

/// The parent pid, field 4 of /proc/PID/stat (after the command name).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}
