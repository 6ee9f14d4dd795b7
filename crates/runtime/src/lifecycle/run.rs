//! `run`: create + start + wait + delete, as runc's `run` does. The runtime
//! stays the init's parent, so it collects the exit status itself, and it
//! forwards the signals it receives to the container.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, Console, CreateOptions};
use super::start::start_locked;
use crate::error::{Context, Result};
use crate::state::StateRoot;

pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
}

/// Signals `run` passes on to the container instead of dying of them.
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Returns the exit code for the runtime to exit with: the process's own,
/// or 128+N when signal N killed it.
pub fn run(root: &StateRoot, opts: RunOptions) -> Result<i32> {
    let set = if opts.detach {
        SigSet::empty()
    } else {
        block_forwarded_signals()?
    };
    if !opts.detach {
        // Orphans of the container reparent to us, not to a slow host init.
        nix::sys::prctl::set_child_subreaper(true).context(|| "PR_SET_CHILD_SUBREAPER".into())?;
    }
    // A terminal and nobody to hand it to: we are the receiver, and our
    // own terminal becomes the container's (not when detached: nobody would
    // be left to hold it).
    let mut create_opts = opts.create;
    create_opts.start_at_once = true;
    if matches!(create_opts.console, Console::None) && !opts.detach {
        create_opts.console = Console::Proxy;
    }
    let mut created = create(root, &create_opts)?;
    let proxy = match created.console.take() {
        Some(sock) => {
            let master = crate::console::recv_fd(std::os::fd::AsRawFd::as_raw_fd(&sock)).map_err(crate::Error::Init);
            match master.and_then(|m| crate::console::Proxy::start(m).map_err(crate::Error::Invalid)) {
                Ok(p) => Some(p),
                Err(e) => {
                    let _ = super::delete::delete_locked(created.dir, true);
                    return Err(e);
                }
            }
        }
        None => None,
    };
    if let Err(e) = start_locked(&created.dir) {
        let _ = super::delete::delete_locked(created.dir, true);
        return Err(e);
    }
    let init = created.pid;
    let id = created.dir.id.clone();
    drop(created.dir); // release the lock: `kill`/`state` may now act on it
    if opts.detach {
        return Ok(0);
    }
    let code = match &proxy {
        Some(p) => wait_forwarding(init, &set, &|| p.resize()),
        None => wait_forwarding(init, &set, &|| forward(init, Signal::SIGWINCH)),
    };
    if let Some(p) = proxy {
        p.finish();
    }
    let code = code?;
    super::delete(root, &id, true)?;
    Ok(code)
}

pub(crate) fn forward(pid: Pid, sig: Signal) {
    let _ = nix::sys::signal::kill(pid, sig);
}

/// Block the signals we forward (and SIGCHLD), to collect them with sigwait.
/// Done before the child exists, so no signal slips by unforwarded; the
/// child clears the mask before it execs.
pub(crate) fn block_forwarded_signals() -> Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context(|| "blocking signals".into())?;
    Ok(set)
}

/// Forward signals to `init` until it exits; its exit code, or 128+N.
/// SIGWINCH is handed to `on_winch`: resize our pty proxy, or pass it on.
pub(crate) fn wait_forwarding(init: Pid, set: &SigSet, on_winch: &dyn Fn()) -> Result<i32> {
    loop {
        let sig = set.wait().context(|| "sigwait".into())?;
        if sig == Signal::SIGWINCH {
            on_winch();
            continue;
        }
        if sig != Signal::SIGCHLD {
            forward(init, sig);
            continue;
        }
        // Reap everything that has exited; only the init's status matters.
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
