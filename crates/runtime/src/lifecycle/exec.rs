//! `exec`: run another process inside a running container, the way runc
//! does — joining every namespace of its init.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::SigSet;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capabilities, Capability, Process, User};

use super::run::{block_forwarded_signals, wait_forwarding};
use crate::error::{Context, Error, Result};
use crate::process::channel::{self, ChannelError, ExecBootstrap, FromInit, ToInit};
use crate::process::spawn::{spawn_init, InitSpawn};
use crate::state::{self, StateRoot, Status};

#[derive(Default)]
pub struct ExecOptions {
    pub id: String,
    /// `--process FILE`: a whole process.json, instead of the flags below.
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds N`: fds 3..3+N reach the process.
    pub preserve_fds: u32,
}

/// Returns the exit code of the process (0 when detached).
pub fn exec(root: &StateRoot, opts: &ExecOptions) -> Result<i32> {
    let dir = root.open(&opts.id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(opts.id.clone()))?;
    let status = dir.status(Some(&stored));
    if !matches!(status, Status::Created | Status::Running) {
        return Err(Error::WrongState {
            verb: "exec in",
            id: opts.id.clone(),
            status: status.to_string(),
            hint: " (only a created or running container takes exec)",
        });
    }
    let mut spec = dir.load_config()?;
    let process = build_process(spec.process().as_ref(), opts)?;
    let console = match (&opts.console_socket, process.terminal().unwrap_or(false)) {
        (Some(path), true) => Some(crate::console::connect(path)?),
        (None, true) => {
            return Err(Error::Invalid(
                "exec --tty needs --console-socket to hand over the terminal".into(),
            ))
        }
        _ => None,
    };
    crate::bundle::validate_process(&process).map_err(|(f, why)| Error::Invalid(format!("{f}: {why}")))?;
    spec.set_process(Some(process));
    // The container's filter, for the new process too.
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|s| crate::seccomp_cache::Cache::under(&root.path).build(s))
        .transpose()
        .map_err(Error::Invalid)?
        .map(|(filter, pending)| {
            // The profile compiled at create; here only if the cache lost it.
            if let Some(p) = pending {
                p.store(&filter);
            }
            filter
        });

    let set = if opts.detach {
        SigSet::empty()
    } else {
        block_forwarded_signals()?
    };
    // runtime.md "Exec"/runc: the new process runs in the container's
    // cgroups (its limits, `pause`, `ps` and `kill --all` cover it).
    // Rootless, where joining may be refused (the caller may sit in another
    // scope than at create), the process stays where the caller is.
    let join = if nix::unistd::geteuid().is_root() {
        stored
            .cgroup
            .exec_join_fds(Pid::from_raw(stored.pid))
            .map_err(Error::Invalid)?
    } else {
        Vec::new()
    };
    let (mut sock, child_sock) = UnixStream::pair().context(|| "socketpair for the sync channel".into())?;
    let spawn = InitSpawn {
        clone_flags: CloneFlags::empty(),
        join_pid_ns: None,
        preserve_fds: opts.preserve_fds,
        inherit: console
            .into_iter()
            .map(|c| (crate::console::CONSOLE_FD_ENV.to_string(), c))
            .chain(
                super::create::seccomp_listener(&spec)?.map(|l| (crate::init::seccomp::LISTENER_FD_ENV.to_string(), l)),
            )
            .collect(),
    };
    let helper =
        spawn_init(spawn, &child_sock, &sock).map_err(|e| Error::Invalid(format!("spawning exec helper: {e}")))?;
    drop(child_sock);
    // The exec'd process's own pid is known only after the clone; the
    // agent gets the container's init pid, with the state (noted in
    // docs/spec-coverage.md).
    let seccomp_state = super::create::seccomp_state(&spec, &stored, "running");
    let boot = ExecBootstrap {
        seccomp,
        spec,
        container_pid: stored.pid,
        preserve_fds: opts.preserve_fds,
        seccomp_state,
    };
    let outcome = drive_helper(&mut sock, helper, boot, join);
    // The helper exits once it has forked; reap it whatever happened.
    let _ = waitpid(helper, None);
    let child = outcome?;
    if let Some(path) = &opts.pid_file {
        super::write_pid_file(path, child.as_raw())?;
    }
    if opts.detach {
        return Ok(0);
    }
    wait_forwarding(child, &set, &|| {
        super::run::forward(child, nix::sys::signal::Signal::SIGWINCH)
    })
}

/// Release the helper with its instructions and the files through which it
/// joins the container's cgroups (the process it forks inherits them).
fn drive_helper(
    sock: &mut UnixStream,
    helper: Pid,
    mut boot: ExecBootstrap,
    join: Vec<std::os::fd::OwnedFd>,
) -> Result<Pid> {
    if !state::process_matches(
        boot.container_pid,
        state::process_start_time(boot.container_pid).unwrap_or(0),
    ) {
        return Err(Error::Init("the container's init is gone".into()));
    }
    // The helper gets linux.seccomp compiled, not as text.
    if let Some(linux) = boot.spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let frame =
        channel::frame(&ToInit::Exec(Box::new(boot))).map_err(|e| Error::Init(format!("exec helper {helper}: {e}")))?;
    crate::process::spawn::release_or_why(sock, &join, &frame, "releasing the exec helper").map_err(Error::Init)?;
    drop(join);
    let child = match channel::recv::<FromInit>(sock) {
        Ok(FromInit::Spawned(pid)) => Pid::from_raw(pid),
        Ok(FromInit::Failed(msg)) => return Err(Error::Init(msg)),
        Ok(_) => return Err(Error::Init("exec helper answered as a container init".into())),
        Err(e) => return Err(Error::Init(format!("exec helper: {e}"))),
    };
    // EOF means the process exec'd (the channel is close-on-exec).
    match channel::recv::<FromInit>(sock) {
        Err(ChannelError::Closed) => Ok(child),
        Ok(FromInit::Failed(msg)) => {
            let _ = waitpid(child, None);
            Err(Error::Init(msg))
        }
        Ok(_) => Err(Error::Init("unexpected message from the exec'd process".into())),
        Err(e) => Err(Error::Init(format!("exec: {e}"))),
    }
}

/// The process to run: `--process FILE` as is, or the container's own
/// process with the command-line overrides, as runc builds it.
fn build_process(base: Option<&Process>, opts: &ExecOptions) -> Result<Process> {
    if let Some(path) = &opts.process {
        let text = std::fs::read_to_string(path).context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}:{}:{}: {e}", path.display(), e.line(), e.column())));
    }
    if opts.args.is_empty() {
        return Err(Error::Invalid("exec: no command given (arguments or --process)".into()));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(user) = &opts.user {
        let (uid, gid) = parse_user(user)?;
        let mut u = User::default();
        u.set_uid(uid);
        u.set_gid(gid);
        p.set_user(u);
    }
    if !opts.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(u);
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: Option<&Capabilities>, extra: &[Capability]| -> Capabilities {
            let mut s = set.cloned().unwrap_or_default();
            s.extend(extra.iter().copied());
            s
        };
        let extra: Vec<Capability> = opts
            .caps
            .iter()
            .map(|c| {
                let name = c.to_ascii_uppercase();
                let name = name.strip_prefix("CAP_").unwrap_or(&name).to_string();
                serde_json::from_value(serde_json::Value::String(format!("CAP_{name}")))
                    .map_err(|_| Error::Invalid(format!("exec --cap: unknown capability {c:?}")))
            })
            .collect::<Result<_>>()?;
        caps.set_bounding(Some(add(caps.bounding().as_ref(), &extra)));
        caps.set_effective(Some(add(caps.effective().as_ref(), &extra)));
        caps.set_permitted(Some(add(caps.permitted().as_ref(), &extra)));
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &opts.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &opts.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

/// `--user UID[:GID]` (numeric, as runc's exec takes it).
fn parse_user(s: &str) -> Result<(u32, u32)> {
    let bad = || Error::Invalid(format!("exec --user {s:?}: expected UID[:GID] as numbers"));
    let (uid, gid) = match s.split_once(':') {
        Some((u, g)) => (u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?),
        None => (s.parse().map_err(|_| bad())?, 0),
    };
    Ok((uid, gid))
}
