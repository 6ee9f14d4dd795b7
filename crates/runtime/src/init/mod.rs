//! What runs inside: `mini-containerd init`, the container's PID 1 until it
//! execs the user's program.
//!
//! The order matters and follows the spec's lifecycle (runtime.md steps 2
//! and 8): namespaces → hostname → mounts and `/dev` → `pivot_root` →
//! masked/read-only paths → rlimits → report ready → wait on the exec FIFO
//! → user, cwd, NoNewPrivileges → close fds → `execve`. Hooks run between
//! the mounts and `pivot_root` (prestart and createRuntime by the runtime,
//! at our request; createContainer here) and after the FIFO releases us
//! (startContainer), as runtime.md steps 3–7 order them.

mod capabilities;
pub mod devices;
mod exec;
mod join;
pub mod mount_opts;
pub mod namespaces;
pub mod process_attrs;
pub mod rootfs;
pub mod seccomp;
pub mod sysctl;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::stat::Mode;

use crate::hooks;
use crate::process::channel::{self, Bootstrap, FromInit, Marks, ToInit, FIFO_FD_ENV, INIT_FD_ENV};
use crate::sys;

/// Entry point of `mini-containerd init`. Never returns.
pub fn main() -> ! {
    let code = match run() {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("mini-containerd init: {msg}");
            1
        }
    };
    std::process::exit(code)
}

fn run() -> Result<(), String> {
    // From the runtime's go to here: the execve of this binary and its start-up.
    let mut marks = Marks::default();
    marks.mark("exec");
    let sock = inherited_fd(INIT_FD_ENV)?;
    let mut sock = UnixStream::from(sock);
    let boot = match channel::recv(&mut sock).map_err(|e| format!("waiting for the bootstrap: {e}"))? {
        ToInit::Bootstrap(boot) => boot,
        ToInit::Exec(exec) => return join::run(sock, *exec),
        ToInit::HooksDone => return Err("the runtime sent HooksDone before the bootstrap".into()),
    };
    marks.mark("bootstrap");
    let fifo = inherited_fd(FIFO_FD_ENV)?;
    let console = inherited_fd_if_any(crate::console::CONSOLE_FD_ENV)?;

    let prepared = match setup(&boot, fifo, console, &mut sock, &mut marks) {
        Ok(p) => p,
        Err(failure) => {
            let (msg, reply) = match failure {
                SetupError::Step(msg) => (msg.clone(), FromInit::Failed(msg)),
                SetupError::Hook(msg) => (msg.clone(), FromInit::HookFailed(msg)),
            };
            // The runtime prints it; if it is gone, stderr is all we have.
            if channel::send(&mut sock, &reply).is_err() {
                return Err(msg);
            }
            std::process::exit(1);
        }
    };
    if boot.shed_pages {
        shed_setup_pages();
        marks.mark("shed_pages");
    }
    channel::send(&mut sock, &FromInit::Ready(marks)).map_err(|e| format!("reporting ready: {e}"))?;
    drop(sock);

    // `start` reads the FIFO until EOF: our write end is close-on-exec, so
    // EOF tells it the program runs (or we died), and it may then run the
    // poststart hooks (config.md "Poststart": after the program is executed).
    let mut fifo = wait_for_start(&prepared.fifo)?;
    // runtime.md step 7, config.md "StartContainer Hooks": after start, in
    // the container, with a path resolved in it (we are past pivot_root),
    // before the program. Their output and failure go to `start`.
    let mut state = boot.hook_state.clone();
    state.pid = std::process::id() as i32;
    state.status = crate::state::Status::Created.to_string();
    let result = hooks::run(hooks::Kind::StartContainer, &boot.spec, &state, &mut |level, line| {
        let _ = channel::send(&mut fifo, &FromInit::Log(level, line));
    });
    if let Err(msg) = result {
        let _ = channel::send(&mut fifo, &FromInit::HookFailed(msg.clone()));
        return Err(msg);
    }
    exec::finish(prepared.exec)
}

/// Waiting in state `created` can last (an engine creates, and starts much
/// later), and all the init does meanwhile is block in open(2). The code and
/// libraries that set the container up are clean file pages: drop them from
/// the init's page tables, so a waiting container holds little memory
/// (docs/performance.md); what `start` needs faults back in.
fn shed_setup_pages() {
    sys::shed_clean_pages();
}

/// Why `setup` failed: a step of ours, or a createContainer hook (after
/// which the runtime also runs the poststop hooks, runtime.md step 5).
enum SetupError {
    Step(String),
    Hook(String),
}

impl From<String> for SetupError {
    fn from(msg: String) -> Self {
        SetupError::Step(msg)
    }
}

impl From<&str> for SetupError {
    fn from(msg: &str) -> Self {
        SetupError::Step(msg.to_string())
    }
}

struct Prepared {
    fifo: OwnedFd,
    exec: exec::Exec,
}

/// Like `inherited_fd`, for an fd the runtime passes only sometimes.
pub(crate) fn inherited_fd_if_any(var: &str) -> Result<Option<OwnedFd>, String> {
    if std::env::var_os(var).is_none() {
        return Ok(None);
    }
    inherited_fd(var).map(Some)
}

/// Take an fd the runtime left us, named by an environment variable.
fn inherited_fd(var: &str) -> Result<OwnedFd, String> {
    let fd: i32 = std::env::var(var)
        .map_err(|_| "not started by mini-containerd (no sync channel); `init` is internal".to_string())?
        .parse()
        .map_err(|_| format!("{var} is not an fd number"))?;
    std::env::remove_var(var);
    sys::adopt_inherited_fd(fd).map_err(|e| format!("{var} fd {fd}: {}", e.desc()))
}

/// Build the container around ourselves. Each error names its step.
fn setup(
    boot: &Bootstrap,
    fifo: OwnedFd,
    console: Option<OwnedFd>,
    sock: &mut UnixStream,
    marks: &mut Marks,
) -> Result<Prepared, SetupError> {
    let spec = &boot.spec;
    // Modes in config.json (devices, fileMode) are meant literally.
    nix::sys::stat::umask(Mode::empty());

    // Our own session, as runc's init: no signal meant for the caller's
    // terminal or process group reaches the container, and the caller's
    // controlling terminal is not ours.
    nix::unistd::setsid().map_err(|e| format!("setsid: {}", e.desc()))?;
    namespaces::enter(spec)?;
    marks.mark("namespaces");
    reached(boot, sock, "after-namespaces")?;
    if namespaces::creates(spec, oci_spec::runtime::LinuxNamespaceType::Network) {
        sys::loopback_up().map_err(|e| format!("bringing up lo in the new network namespace: {}", e.desc()))?;
    }
    if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(hostname).map_err(|e| format!("sethostname {hostname:?}: {}", e.desc()))?;
    }
    if let Some(domainname) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys::setdomainname(domainname).map_err(|e| format!("setdomainname {domainname:?}: {}", e.desc()))?;
    }
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        // Lowering it needs CAP_SYS_RESOURCE; the error says so by errno.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| format!("process.oomScoreAdj {adj}: writing /proc/self/oom_score_adj: {e}"))?;
    }
    marks.mark("lo_hostname_oom");

    rootfs::prepare_root(spec, &boot.rootfs)?;
    let root = rootfs::Root::open(&boot.rootfs)?;
    rootfs::mount_all(&root, spec, &boot.bundle)?;
    if rootfs::needs_dev_setup(spec) {
        rootfs::setup_dev(&root)?;
        devices::create(&root, spec)?;
    }
    drop(root);
    marks.mark("mounts");
    reached(boot, sock, "after-mounts")?;
    create_hooks(boot, sock)?;
    marks.mark("create_hooks");
    // The FIFO lives in the state directory, which pivot_root hides: we hold
    // an O_PATH fd from the runtime and reopen it through /proc/self/fd.
    if boot.no_pivot {
        rootfs::move_root(&boot.rootfs)?;
    } else {
        rootfs::pivot_root(&boot.rootfs)?;
    }
    rootfs::set_root_propagation(spec)?;
    // Before maskedPaths/readonlyPaths make /proc/sys read-only.
    sysctl::apply(spec)?;
    rootfs::mask_and_protect(spec)?;
    if let Some(socket) = console {
        // After pivot_root, so the pty is on the container's devpts.
        crate::console::setup_in_container(socket, console_size(spec), true)?;
    }
    // process.cwd is created when missing (as runc does) — before / may
    // turn read-only, and resolved inside the new root.
    if let Some(process) = spec.process() {
        rootfs::Root::open(Path::new("/"))?.mkdir_all(process.cwd())?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        rootfs::readonly_root()?;
    }
    if !Path::new(&format!("/proc/self/fd/{}", fifo.as_raw_fd())).exists() {
        return Err("waiting for start needs /proc in the container: add a proc mount at /proc".into());
    }

    if let Some(name) = &boot.keyring {
        // Keys of the host's session must not be reachable from inside.
        match sys::join_session_keyring(name) {
            Ok(()) | Err(nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(format!("joining a new session keyring: {}", e.desc()).into()),
        }
    }
    marks.mark("pivot_root_and_masks");
    let listener = inherited_fd_if_any(seccomp::LISTENER_FD_ENV)?.zip(boot.seccomp_state.clone());
    let exec = exec::prepare(spec, boot.preserve_fds, boot.seccomp.clone(), listener)?;
    marks.mark("prepare_exec");
    Ok(Prepared { fifo, exec })
}

/// The crash tests' fault points inside the init (`Bootstrap.report_at`):
/// tell the runtime, which kills itself, and wait for the end of the
/// channel. Nothing happens unless the runtime was asked to crash here.
fn reached(boot: &Bootstrap, sock: &mut UnixStream, point: &str) -> Result<(), SetupError> {
    if boot.report_at.as_deref() != Some(point) {
        return Ok(());
    }
    channel::send(sock, &FromInit::Reached(point.to_string())).map_err(|e| format!("reporting {point}: {e}"))?;
    match channel::recv::<ToInit>(sock) {
        Err(e) => Err(format!("the runtime went away at {point}: {e}").into()),
        Ok(_) => Err(format!("the runtime answered at fault point {point}").into()),
    }
}

/// runtime.md steps 3–5: the environment exists (namespaces, mounts,
/// devices) and pivot_root has not happened, as config.md asks of the
/// prestart, createRuntime and createContainer hooks.
fn create_hooks(boot: &Bootstrap, sock: &mut UnixStream) -> Result<(), SetupError> {
    use hooks::Kind;
    let spec = &boot.spec;
    if !Kind::Prestart.of(spec).is_empty() || !Kind::CreateRuntime.of(spec).is_empty() {
        // Those run in the runtime namespace: the runtime runs them.
        channel::send(sock, &FromInit::RunHooks).map_err(|e| format!("asking for the createRuntime hooks: {e}"))?;
        match channel::recv::<ToInit>(sock) {
            Ok(ToInit::HooksDone) => {}
            Ok(_) => return Err("unexpected message while the createRuntime hooks ran".into()),
            Err(e) => return Err(format!("waiting for the createRuntime hooks: {e}").into()),
        }
    }
    // In the container's namespaces (we are in all of them) but with the
    // path resolved on the host's root, which we still have.
    let mut state = boot.hook_state.clone();
    state.pid = std::process::id() as i32;
    state.status = crate::state::Status::Creating.to_string();
    hooks::run(Kind::CreateContainer, spec, &state, &mut |level, line| {
        let _ = channel::send(sock, &FromInit::Log(level, line));
    })
    .map_err(SetupError::Hook)
}

/// `process.consoleSize` as (rows, cols).
pub(crate) fn console_size(spec: &oci_spec::runtime::Spec) -> Option<(u16, u16)> {
    let size = spec.process().as_ref()?.console_size()?;
    Some((size.height() as u16, size.width() as u16))
}

/// Block until `start` opens the FIFO, then hand it one byte: the signal
/// that `start` has released us. The open end (close-on-exec) is returned:
/// hook messages follow the byte.
fn wait_for_start(fifo: &OwnedFd) -> Result<std::fs::File, String> {
    use std::io::Write;
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| format!("opening exec FIFO for writing: {e}"))?;
    f.write_all(b"0").map_err(|e| format!("writing exec FIFO: {e}"))?;
    Ok(f)
}
