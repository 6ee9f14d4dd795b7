//! `delete`: undo what `create` made, then run the poststop hooks
//! (runtime.md "Delete"; lifecycle 11–13).

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use super::kill::signal_pid;
use crate::error::{Context, Error, Result};
use crate::state::{self, ContainerDir, StateRoot};
use crate::sys;

/// How long `delete --force` waits for a SIGKILLed init to be gone.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let dir = match root.lock(id) {
        Ok(d) => d,
        // runc: `delete --force` of a missing container succeeds.
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    delete_locked(dir, force)
}

/// `delete` on a directory we already hold (also used by `run`).
pub(crate) fn delete_locked(dir: ContainerDir, force: bool) -> Result<()> {
    let _phase = tracing::info_span!("delete").entered();
    let id = dir.id.clone();
    let stored = dir.load()?;
    let status = dir.status(stored.as_ref());
    if !status.can_delete() && !force {
        return Err(Error::WrongState {
            verb: "delete",
            id: id.to_string(),
            status: status.to_string(),
            hint: " (stop it first, or use --force)",
        });
    }
    // Read before the state directory goes: the poststop hooks are in it.
    let spec = dir.load_config().ok();
    // Even a "stopped" container can have a live init: a `create` that was
    // killed mid-way leaves one waiting for instructions that never come.
    if let Some(stored) = &stored {
        if stored.cgroup.is_frozen() {
            // A frozen process cannot act on SIGKILL until it thaws.
            stored.cgroup.freeze(false).map_err(Error::Invalid)?;
        }
        if let Some(pid) = state::live_pid(stored) {
            kill_and_wait(pid, stored.pid_start)?;
        }
    }
    if let Some(stored) = &stored {
        stored.cgroup.remove().map_err(Error::Invalid)?;
    }
    // The mounts lived in the init's mount namespace and went with it.
    dir.remove()?;
    // runtime.md step 13, config.md "Poststop": after the container is
    // deleted, before `delete` returns; failures are only warnings.
    if let (Some(spec), Some(stored)) = (spec, stored) {
        crate::hooks::run_poststop(&spec, &crate::hooks::State::of(&stored, state::Status::Stopped));
    }
    Ok(())
}

/// SIGKILL the init — as PID 1 of its namespace, the kernel then kills
/// every process in it — and wait until it is gone.
fn kill_and_wait(pid: Pid, start: u64) -> Result<()> {
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ESRCH) => return Ok(()),
        Err(e) => return Err(e).context(|| format!("pidfd_open({pid})")),
    };
    match signal_pid(pid, Some(start), libc::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(e).context(|| format!("killing container init {pid}")),
    }
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(KILL_WAIT).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) => Err(Error::Invalid(format!(
            "container init {pid} did not die within {}s of SIGKILL",
            KILL_WAIT.as_secs()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(e).context(|| format!("waiting for container init {pid}")),
    }
}
