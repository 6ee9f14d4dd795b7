//! `start`: release the waiting init so it execs the user's program
//! (runtime.md "Start"; lifecycle steps 6–9: the init runs the
//! startContainer hooks, then the program; we run the poststart hooks).

use std::fs::OpenOptions;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::{FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::process::channel::{self, ChannelError, FromInit};
use crate::state::{ContainerDir, StateRoot, Status};
use crate::sys;

pub fn start(root: &StateRoot, id: &str) -> Result<()> {
    let dir = root.lock(id)?;
    match start_locked(&dir) {
        Err(e @ Error::Hook(_)) => {
            // runtime.md steps 7 and 9: a failed startContainer or poststart
            // hook stops the container and the lifecycle continues at step
            // 12 (destroy) and 13 (poststop hooks), which is `delete`.
            if let Err(d) = super::delete::delete_locked(dir, true) {
                tracing::warn!("destroying the container after a failed hook: {d}");
            }
            Err(e)
        }
        other => other,
    }
}

/// `start` on a directory we already hold (also used by `run`).
pub(crate) fn start_locked(dir: &ContainerDir) -> Result<()> {
    let _phase = tracing::info_span!("start").entered();
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(dir.id.clone()))?;
    let status = dir.status(Some(&stored));
    if !status.can_start() {
        return Err(Error::WrongState {
            verb: "start",
            id: dir.id.clone(),
            status: status.to_string(),
            hint: " (only a created container can be started)",
        });
    }
    // The config the container was made from, for its poststart hooks.
    let spec = dir.load_config()?;
    // A pidfd tells us if the init dies while we wait, with no polling.
    let pidfd = sys::pidfd_open(Pid::from_raw(stored.pid)).context(|| format!("pidfd_open({})", stored.pid))?;
    let fifo_path = dir.fifo_path();
    // O_NONBLOCK: opening never waits; the init's blocked open for writing
    // completes as soon as we have opened for reading.
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .context(|| format!("opening {}", fifo_path.display()))?;
    // Once we hold it open the init is released (its open returns, its
    // one-byte write fits the pipe): from here on the container is running,
    // so the FIFO goes now, not after the read, or a `start` killed in
    // between would leave it reading "created" forever.
    std::fs::remove_file(&fifo_path).context(|| format!("removing {}", fifo_path.display()))?;
    let mut fds = [
        PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
        PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
    ];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(|| "waiting for the container init".into()),
        }
    }
    let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
    let mut byte = [0u8; 1];
    let got = if fifo_ready {
        fifo.read(&mut byte).unwrap_or(0)
    } else {
        0
    };
    if got != 1 {
        return Err(Error::Init("exited before it could be started".into()));
    }
    // The init now runs the startContainer hooks and reports on the FIFO;
    // its end is close-on-exec, so EOF means the program was executed (or
    // the init died).
    nix::fcntl::fcntl(fifo.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()))
        .context(|| "making the exec FIFO blocking".into())?;
    let mut failed = None;
    loop {
        match channel::recv::<FromInit>(&mut fifo) {
            Ok(FromInit::Log(level, line)) => hooks::log(level, &line),
            Ok(FromInit::HookFailed(msg)) => failed = Some(msg),
            Ok(_) => return Err(Error::Init("unexpected message on the exec FIFO".into())),
            Err(ChannelError::Closed) => break,
            Err(e) => return Err(Error::Init(format!("reading the exec FIFO: {e}"))),
        }
    }
    if let Some(msg) = failed {
        return Err(Error::Hook(msg));
    }
    // runtime.md step 9, config.md "Poststart": after the program is
    // executed, before `start` returns, in the runtime namespace.
    let state = hooks::State::of(&stored, Status::Running);
    hooks::run(Kind::Poststart, &spec, &state, &mut |level, line| {
        hooks::log(level, &line)
    })
    .map_err(Error::Hook)
}
