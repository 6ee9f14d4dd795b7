//! The sync channel between the runtime and the container's init.
//!
//! A `socketpair(AF_UNIX, SOCK_STREAM)` carries one raw "go" byte (read by
//! the cloned child before it execs), then length-prefixed JSON messages
//! (u32 little-endian length, then the JSON). One enum per
//! direction, so each side can only say what the protocol allows.
//!
//! ```text
//!  runtime (create / run)                     init (becomes the container's PID 1)
//!  ──────────────────────                     ───────────────────────────────────
//!  clone(CLONE_NEWPID [|CLONE_NEWUSER]) ────► (child waits for one byte)
//!  save state "creating" (pid, start time)
//!  write uid_map/gid_map (user namespace)
//!  make the cgroups, open their tasks files
//!  one byte "go" + those files (SCM_RIGHTS) ─► write "0" to each: it joins
//!                                             [setresuid(0) in the userns]
//!  Bootstrap{spec, bundle, rootfs, state}     execveat(read-only view of
//!    (waits in the socket meanwhile) ───────►   our binary, "init"); read it
//!  save the config copy                       setns / unshare namespaces
//!                                             hostname, mounts, /dev
//!                                 ◄────────── RunHooks  (only with prestart or
//!  [prestart, createRuntime hooks]                       createRuntime hooks)
//!  HooksDone ───────────────────────────────► (a failed hook: the runtime
//!                                              kills the init instead)
//!                                 ◄────────── Log{level, line}…  (hook output)
//!                                             [createContainer hooks]
//!                                 ◄────────── HookFailed(why) → exit 1
//!                                             pivot_root, masked & read-only
//!                                             paths, look up process.args[0]
//!                                 ◄────────── Ready        (or Failed{step…} → exit 1)
//!  save state "created", exit 0               open <state>/exec.fifo for writing:
//!                                             blocks until `start` opens it
//!  ── later, `start` (the same framing, on the FIFO) ──
//!  open exec.fifo (read), read 1 byte ◄────── write "0"
//!  remove exec.fifo                           [startContainer hooks]
//!  read messages until EOF ◄───────────────── Log{…}…, HookFailed(why) → exit 1
//!                                             user, cwd, close fds,
//!  EOF: the write end was close-on-exec ◄──── execve(process.args)
//!  [poststart hooks]
//! ```
//!
//! If the runtime dies mid-`create`, the init reads EOF and exits, so a
//! half-made container never outlives its creator's socket.

use std::io::{Read, Write};
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The environment variable that tells `mini-containerd init` which fd is
/// its end of the channel.
pub const INIT_FD_ENV: &str = "_MINI_CONTAINERD_INIT_FD";
/// …and which fd is an `O_PATH` handle of `exec.fifo`, opened by the runtime:
/// the init may not be allowed to reach the state directory by path (it is
/// 0700, and in a user namespace the init is not the host's root).
pub const FIFO_FD_ENV: &str = "_MINI_CONTAINERD_FIFO_FD";

/// Largest message we accept: configs with big seccomp profiles stay far
/// below this; anything larger is a bug or an attack.
const MAX_MESSAGE: u32 = 16 << 20;

/// Runtime → init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToInit {
    /// Everything the init needs, parsed once by the runtime: config.json
    /// changes after `create` must not affect the container (runtime.md).
    Bootstrap(Box<Bootstrap>),
    /// `exec`: join the namespaces of the container whose init is
    /// `container_pid` and run `spec.process` there.
    Exec(Box<ExecBootstrap>),
    /// The prestart and createRuntime hooks succeeded: go on.
    HooksDone,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecBootstrap {
    /// The container's config with `process` replaced by the one to run.
    pub spec: Spec,
    /// Its `linux.seccomp`, compiled by the runtime.
    pub seccomp: Option<crate::init::seccomp::Filter>,
    /// The container's init, in the runtime's PID namespace.
    pub container_pid: i32,
    pub preserve_fds: u32,
    pub seccomp_state: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Bootstrap {
    pub spec: Spec,
    /// `linux.seccomp`, compiled by the runtime (which validated it so).
    pub seccomp: Option<crate::init::seccomp::Filter>,
    /// Absolute host path of the bundle (relative bind sources start here).
    pub bundle: PathBuf,
    /// Absolute host path of the root filesystem.
    pub rootfs: PathBuf,
    /// Fds 3..3+N that reach the container's process (`--preserve-fds`).
    pub preserve_fds: u32,
    /// The state createContainer and startContainer hooks read on stdin;
    /// the init fills in its own pid and the status.
    pub hook_state: crate::hooks::State,
    /// `--no-pivot`: move the rootfs onto / and chroot, for a rootfs on
    /// ramfs where pivot_root is refused.
    pub no_pivot: bool,
    /// Join a new session keyring named after the container (runc's default;
    /// off with `--no-new-keyring`).
    pub keyring: Option<String>,
    /// The container process state for the seccomp agent, when the profile
    /// uses SCMP_ACT_NOTIFY (the socket itself is an inherited fd).
    pub seccomp_state: Option<serde_json::Value>,
    /// The crash tests' fault point (`MINI_CONTAINERD_TEST_CRASH_AT`), for
    /// the points inside the init's setup: the init reports `Reached` there
    /// and waits, and the runtime kills itself.
    #[serde(default)]
    pub report_at: Option<String>,
    /// Drop the setup's clean pages before waiting for `start` (`create`,
    /// where the wait may be long); not for `run`, where `start` follows at
    /// once and the pages would only fault back in.
    pub shed_pages: bool,
}

/// When each step of the init's setup ended: (step, CLOCK_MONOTONIC in
/// ns). The clock is the machine's, so the runtime can set these against
/// the moment it released the init and log how long each step took.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Marks(pub Vec<(String, u64)>);

impl Marks {
    /// Note that `step` ended now.
    pub fn mark(&mut self, step: &str) {
        self.0.push((step.to_string(), crate::sys::monotonic_ns()));
    }
}

/// Init → runtime.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromInit {
    /// The container exists and waits on the FIFO. With it, when each step
    /// of the init's setup ended (see `Marks`), for `--debug`'s timings.
    Ready(Marks),
    /// Setup failed; the message names the step, path and errno.
    Failed(String),
    /// `exec`: the process was forked inside the container, with this pid
    /// (in the runtime's PID namespace); it is the runtime's child.
    Spawned(i32),
    /// Mounts are done, pivot_root is not: run the prestart and
    /// createRuntime hooks, then answer `HooksDone` (runtime.md steps 3–4).
    RunHooks,
    /// A line of a hook's output, for the runtime's log.
    Log(crate::hooks::Level, String),
    /// A createContainer or startContainer hook failed (runtime.md steps 5
    /// and 7): the container must be destroyed and poststop hooks run.
    HookFailed(String),
    /// The crash tests only: the init got to `Bootstrap.report_at`.
    Reached(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the other side closed the channel")]
    Closed,
    #[error("channel I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("channel message: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("channel message of {0} bytes is too large")]
    TooLarge(u32),
}

pub fn send<T: Serialize>(sock: &mut impl Write, msg: &T) -> Result<(), ChannelError> {
    sock.write_all(&frame(msg)?)?;
    Ok(())
}

/// One message as `send` writes it: length, then JSON.
pub fn frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, ChannelError> {
    let body = serde_json::to_vec(msg)?;
    let len = u32::try_from(body.len()).map_err(|_| ChannelError::TooLarge(u32::MAX))?;
    if len > MAX_MESSAGE {
        return Err(ChannelError::TooLarge(len));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn recv<T: DeserializeOwned>(sock: &mut impl Read) -> Result<T, ChannelError> {
    let mut len = [0u8; 4];
    match sock.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(ChannelError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_MESSAGE {
        return Err(ChannelError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    sock.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ChannelError::Closed,
        _ => e.into(),
    })?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn round_trip_and_eof() {
        let (mut a, mut b) = UnixStream::pair().expect("pair");
        send(&mut a, &FromInit::Failed("mount /proc: EPERM".into())).expect("send");
        send(&mut a, &FromInit::Ready(Marks::default())).expect("send");
        drop(a);
        assert!(matches!(recv::<FromInit>(&mut b), Ok(FromInit::Failed(m)) if m.contains("EPERM")));
        assert!(matches!(recv::<FromInit>(&mut b), Ok(FromInit::Ready(_))));
        assert!(matches!(recv::<FromInit>(&mut b), Err(ChannelError::Closed)));
    }
}
