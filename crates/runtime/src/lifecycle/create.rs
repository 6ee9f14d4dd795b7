//! `create`: build the container and leave its init waiting on the FIFO
//! (runtime.md "Create"; lifecycle steps 1–2).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::SystemTime;

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use tracing::{debug, info_span};

use crate::bundle::Bundle;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::process::channel::{self, Bootstrap, ChannelError, FromInit, ToInit};
use crate::process::spawn::{spawn_init, InitSpawn};
use crate::state::{self, ContainerDir, StateRoot, Status, Stored};

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// Where the pty master goes when `process.terminal` is set: a
    /// connected unix socket (`--console-socket`), or `run`'s own end.
    pub console: Console,
    /// `--preserve-fds N`: fds 3..3+N reach the container's process.
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `--systemd-cgroup`: cgroupsPath is systemd's `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// `run`: `start` follows at once, so the init does not shed its pages
    /// for a wait that will not come (see `Bootstrap::shed_pages`).
    pub start_at_once: bool,
}

/// A created container whose init is our child. The directory stays locked
/// while this value lives.
pub struct Created {
    pub dir: ContainerDir,
    pub stored: Stored,
    pub pid: Pid,
    /// With [`Console::Proxy`] and a terminal: our end of the socketpair,
    /// on which the pty master arrives.
    pub console: Option<UnixStream>,
}

/// Where a terminal's pty master goes.
pub enum Console {
    /// Nowhere: a config asking for a terminal is refused.
    None,
    /// `--console-socket`: a connected unix socket.
    Socket(std::os::fd::OwnedFd),
    /// `run` without a socket: create makes a socketpair when the process
    /// wants a terminal and hands back its end in [`Created::console`].
    Proxy,
}

pub fn create(root: &StateRoot, opts: &CreateOptions) -> Result<Created> {
    state::validate_id(&opts.id)?;
    // A profile compiled for an earlier container is taken from the cache.
    let cache = crate::seccomp_cache::Cache::under(&root.path);
    let mut bundle = info_span!("load_config").in_scope(|| Bundle::load_with(&opts.bundle, Some(&cache)))?;
    let dir = root.create_container(&opts.id)?;
    fault_point("after-mkdir");
    // From here on, anything that fails must undo what was made.
    let mut undo = Undo {
        dir: Some(dir),
        pid: None,
        cgroup: Default::default(),
        hook_state: None,
        channel: None,
    };
    match build(&mut undo, &bundle, opts) {
        Ok(created) => {
            undo.disarm();
            if let (Some(pending), Some(filter)) = (bundle.seccomp_pending.take(), &bundle.seccomp) {
                pending.store(filter);
            }
            Ok(created)
        }
        Err(e) => {
            let state = undo.hook_state.take();
            // runtime.md "Lifecycle" step 12: destroy the container…
            drop(undo);
            // …and, when a hook failed (steps 3–5: "continue the lifecycle
            // at step 12"), step 13: the poststop hooks.
            if let (Error::Hook(_), Some(mut state)) = (&e, state) {
                state.status = Status::Stopped.to_string();
                hooks::run_poststop(&bundle.spec, &state);
            }
            Err(e)
        }
    }
}

fn build(undo: &mut Undo, bundle: &Bundle, opts: &CreateOptions) -> Result<Created> {
    let dir = undo
        .dir
        .as_ref()
        .ok_or_else(|| Error::Invalid("internal: no container dir".into()))?;
    let fifo = dir.fifo_path();
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622)).context(|| format!("mkfifo {}", fifo.display()))?;
    // Writable by the init whatever uid it maps to; the umask must not narrow it.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .context(|| format!("chmod {}", fifo.display()))?;
    let fifo_fd = crate::sys::openat2(libc::AT_FDCWD, &fifo, libc::O_PATH, 0, 0)
        .context(|| format!("opening {}", fifo.display()))?;

    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let mut own_console = None;
    let console = match (&opts.console, terminal) {
        (Console::Socket(c), true) => Some(c.try_clone().context(|| "duplicating the console socket".into())?),
        (Console::Proxy, true) => {
            let (ours, theirs) = UnixStream::pair().context(|| "socketpair for the terminal".into())?;
            own_console = Some(ours);
            Some(theirs.into())
        }
        (Console::None, true) => {
            return Err(Error::Invalid(
                "process.terminal is set: --console-socket is needed to hand over the terminal".into(),
            ))
        }
        _ => None,
    };
    // systemd socket activation: the LISTEN_FDS fds follow --preserve-fds's
    // rule, and the process learns of them as PID 1 (as runc does).
    let mut spec = bundle.spec.clone();
    let listen_fds: u32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if listen_fds > 0 {
        if let Some(process) = spec.process_mut() {
            let mut env = process.env().clone().unwrap_or_default();
            env.push(format!("LISTEN_FDS={listen_fds}"));
            env.push("LISTEN_PID=1".to_string());
            process.set_env(Some(env));
        }
    }
    // The init gets linux.seccomp compiled (Bootstrap.seccomp), not as text.
    if let Some(linux) = spec.linux_mut() {
        linux.set_seccomp(None);
    }
    let preserve_fds = opts.preserve_fds + listen_fds;
    let listener = seccomp_listener(&bundle.spec)?;
    let mut spawn = init_spawn(bundle, fifo_fd)?;
    if let Some(l) = listener {
        spawn.inherit.push((crate::init::seccomp::LISTENER_FD_ENV.into(), l));
    }
    spawn.preserve_fds = preserve_fds;
    if let Some(c) = console {
        spawn.inherit.push((crate::console::CONSOLE_FD_ENV.into(), c));
    }
    for (index, tree) in crate::idmap::prepare_mounts(&bundle.spec, &bundle.dir).map_err(Error::Invalid)? {
        spawn.inherit.push((crate::idmap::env_name(index), tree));
    }
    crate::init::namespaces::join_in_runtime(&bundle.spec).map_err(Error::Invalid)?;
    let (sock, child_sock) = UnixStream::pair().context(|| "socketpair for the sync channel".into())?;
    let sock = undo.channel.insert(sock);
    let pid = info_span!("spawn_init")
        .in_scope(|| spawn_init(spawn, &child_sock, sock))
        .map_err(|e| Error::Invalid(format!("spawning container init: {e}")))?;
    undo.pid = Some(pid);
    let mut stored = Stored {
        id: opts.id.clone(),
        status: Status::Creating,
        pid: pid.as_raw(),
        pid_start: state::process_start_time(pid.as_raw())
            .ok_or_else(|| Error::Init("exited right after it was spawned".into()))?,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::time::rfc3339_nano(SystemTime::now()),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        cgroup: Default::default(),
    };
    // Saved before the init does anything, so a runtime killed from here on
    // leaves a pid that `delete --force` can find.
    dir.save(&stored)?;
    fault_point("after-spawn");
    drop(child_sock);
    debug!(pid = pid.as_raw(), "init spawned");
    if new_user_namespace(&bundle.spec) {
        crate::userns::write_id_maps(pid, &bundle.spec)?;
    }
    if let Some(list) = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.exec_cpu_affinity().as_ref())
        .and_then(|a| a.initial().clone())
    {
        // The init runs its setup on these CPUs; `final` applies at exec.
        crate::init::process_attrs::set_affinity(pid, &list, "process.execCPUAffinity.initial")
            .map_err(Error::Invalid)?;
    }
    // The cgroup before the init runs a single instruction of its own: it
    // and everything it forks are accounted and limited from the start, and
    // a cgroup namespace it creates is rooted there.
    // (The init moves itself in, with the files it gets with the go byte.)
    let join = info_span!("cgroups").in_scope(|| -> Result<Vec<std::os::fd::OwnedFd>> {
        let Some(host) = plan_cgroup(&mut undo.cgroup, &bundle.spec, &opts.id, opts.systemd_cgroup)? else {
            return Ok(Vec::new());
        };
        // The plan is saved before any directory exists (see Cgroup::plan).
        stored.cgroup = undo.cgroup.clone();
        dir.save(&stored)?;
        match make_cgroup(&undo.cgroup, host, &bundle.spec, pid) {
            // Rootless: cgroups only where they were delegated to us.
            Err(e) if !nix::unistd::geteuid().is_root() => {
                tracing::warn!("rootless: no cgroup for the container, linux.resources not applied ({e})");
                let _ = undo.cgroup.remove();
                undo.cgroup = Default::default();
                stored.cgroup = Default::default();
                dir.save(&stored).map(|()| Vec::new())
            }
            other => other,
        }
    })?;
    fault_point("after-cgroup");
    let hook_state = hooks::State::of(&stored, Status::Creating);
    undo.hook_state = Some(hook_state.clone());
    let boot = Bootstrap {
        seccomp_state: seccomp_state(&bundle.spec, &stored, "creating"),
        hook_state: hook_state.clone(),
        preserve_fds,
        no_pivot: opts.no_pivot,
        keyring: (!opts.no_new_keyring).then(|| opts.id.clone()),
        spec,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        report_at: std::env::var(CRASH_AT_ENV).ok(),
        seccomp: bundle.seccomp.clone(),
        shed_pages: !opts.start_at_once,
    };
    info_span!("init_setup").in_scope(|| -> Result<()> {
        // Release the child to exec the init (see the protocol in
        // channel.rs) with its instructions queued behind the go byte: they
        // wait in the socket while it execs. Encoded first, so that our work
        // does not compete with its exec.
        let boot = channel::frame(&ToInit::Bootstrap(Box::new(boot))).map_err(|e| Error::Init(e.to_string()))?;
        let released = crate::sys::monotonic_ns();
        crate::process::spawn::release_or_why(sock, &join, &boot, "releasing the init").map_err(Error::Init)?;
        drop(join);
        // `exec` needs the config the container was made from, not
        // whatever config.json says later. Saved while the init works.
        dir.save_config(&bundle.spec)?;
        let marks = wait_ready(sock, &mut undo.pid, &bundle.spec, &hook_state)?;
        log_init_steps(released, &marks);
        Ok(())
    })?;

    fault_point("before-created");
    stored.status = Status::Created;
    dir.save(&stored)?;
    if let Some(path) = &opts.pid_file {
        super::write_pid_file(path, pid.as_raw())?;
    }
    let dir = undo
        .dir
        .take()
        .ok_or_else(|| Error::Invalid("internal: no container dir".into()))?;
    Ok(Created {
        dir,
        stored,
        pid,
        console: own_console,
    })
}

/// `--debug`: how long each step of the init's setup took, from the moment
/// the runtime released it (the first step, `exec`, is the init's execve and
/// start-up). Sub-phases of `init_setup`, so the bench does not add them up.
fn log_init_steps(released: u64, marks: &channel::Marks) {
    let mut since = released;
    for (step, at) in &marks.0 {
        let micros = at.saturating_sub(since) / 1000;
        debug!("phase init_setup.{step} took {}.{:03} ms", micros / 1000, micros % 1000);
        since = *at;
    }
}

/// The crash tests' fault point (see `fault_point`).
const CRASH_AT_ENV: &str = "MINI_CONTAINERD_TEST_CRASH_AT";

/// Fault injection for the crash tests (issue "Hardening"): with
/// `MINI_CONTAINERD_TEST_CRASH_AT=<point>` in its environment, `create`
/// SIGKILLs itself there, as a crash or an OOM kill of the runtime would.
/// Whatever it leaves must still be removable by `delete --force`. The
/// points: after-mkdir, after-spawn, after-cgroup, before-created here, and
/// after-namespaces and after-mounts in the init, which reports reaching
/// them (`FromInit::Reached`) so that the runtime dies while the init
/// holds its namespaces and mounts.
fn fault_point(point: &str) {
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|p| p == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// Connect to `linux.seccomp.listenerPath` when the profile notifies an
/// agent: a refused connection fails create (config-linux.md "Seccomp").
pub(crate) fn seccomp_listener(spec: &oci_spec::runtime::Spec) -> Result<Option<std::os::fd::OwnedFd>> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    match seccomp.listener_path() {
        Some(path) if crate::init::seccomp::uses_notify(seccomp) => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .context(|| format!("linux.seccomp.listenerPath: connecting to {}", path.display()))?;
            Ok(Some(s.into()))
        }
        _ => Ok(None),
    }
}

/// The container process state sent with the seccomp notify fd.
pub(crate) fn seccomp_state(
    spec: &oci_spec::runtime::Spec,
    stored: &Stored,
    status: &str,
) -> Option<serde_json::Value> {
    let seccomp = spec.linux().as_ref()?.seccomp().as_ref()?;
    if !crate::init::seccomp::uses_notify(seccomp) {
        return None;
    }
    let mut v = serde_json::json!({
        "ociVersion": crate::OCI_SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": stored.pid,
        "state": {
            "ociVersion": crate::OCI_SPEC_VERSION,
            "id": stored.id,
            "status": status,
            "pid": stored.pid,
            "bundle": stored.bundle,
            "annotations": stored.annotations,
        }
    });
    if let Some(meta) = seccomp.listener_metadata() {
        v["metadata"] = serde_json::Value::String(meta.clone());
    }
    Some(v)
}

/// Serve the init until it is ready: run the runtime's create-time hooks
/// when it asks, log what its hooks print, and turn its failures into
/// errors.
fn wait_ready(
    sock: &mut UnixStream,
    init: &mut Option<Pid>,
    spec: &oci_spec::runtime::Spec,
    state: &hooks::State,
) -> Result<channel::Marks> {
    loop {
        match channel::recv::<FromInit>(sock) {
            Ok(FromInit::Ready(marks)) => return Ok(marks),
            Ok(FromInit::RunHooks) => {
                // runtime.md steps 3–4, in the runtime namespace while the
                // init waits between its mounts and pivot_root (config.md
                // "Prestart", "CreateRuntime Hooks"), as runc does.
                let mut out = |level, line: String| hooks::log(level, &line);
                for kind in [Kind::Prestart, Kind::CreateRuntime] {
                    hooks::run(kind, spec, state, &mut out).map_err(Error::Hook)?;
                }
                channel::send(sock, &ToInit::HooksDone)
                    .map_err(|e| Error::Init(format!("resuming after the createRuntime hooks: {e}")))?;
            }
            Ok(FromInit::Log(level, line)) => hooks::log(level, &line),
            Ok(FromInit::Reached(point)) => {
                fault_point(&point);
                return Err(Error::Init(format!("reported fault point {point:?} unasked")));
            }
            Ok(FromInit::HookFailed(msg)) => return Err(Error::Hook(msg)),
            Ok(FromInit::Failed(msg)) => return Err(Error::Init(msg)),
            Err(ChannelError::Closed) | Err(ChannelError::Io(_)) => {
                // Reaped here, so the undo has no pid left to kill.
                let status = init
                    .take()
                    .and_then(|pid| waitpid(pid, None).ok())
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_default();
                return Err(Error::Init(format!("exited before it was ready ({status})")));
            }
            Ok(FromInit::Spawned(_)) => return Err(Error::Init("answered a create as if it were an exec".into())),
            Err(e) => return Err(Error::Init(e.to_string())),
        }
    }
}

/// Plan the container's cgroup for this host (see `Cgroup::plan`); `None`
/// where the host has no cgroup hierarchy.
fn plan_cgroup(
    cg: &mut crate::cgroups::Cgroup,
    spec: &oci_spec::runtime::Spec,
    id: &str,
    systemd: bool,
) -> Result<Option<crate::cgroups::Host>> {
    use crate::cgroups::{detect, Host};
    let mut path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    if systemd {
        // No D-Bus client here: the unit's cgroup is made through cgroupfs
        // at the path systemd would use, and the log says so.
        let given = path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        let mapped = crate::cgroups::systemd_path(&given, id).map_err(Error::Invalid)?;
        let running = std::path::Path::new("/run/systemd/system").exists();
        tracing::info!(
            "--systemd-cgroup: {given:?} placed at {} through cgroupfs{}",
            mapped.display(),
            if running {
                " (systemd is running but is not told about it)"
            } else {
                " (systemd is not running)"
            }
        );
        path = Some(mapped);
    }
    let path = path.as_deref();
    let host = detect();
    match &host {
        Host::V1(hierarchies) => cg.plan(hierarchies, path, id).map_err(Error::Invalid)?,
        Host::V2 { mountpoint, own } => cg.plan_v2(mountpoint, own, path, id).map_err(Error::Invalid)?,
        Host::None => return Ok(None),
    }
    Ok(Some(host))
}

/// Make the planned cgroup and apply `linux.resources`; returns the files
/// through which the init moves itself in (`Cgroup::join_fds`), or, rootless,
/// moves it in from here.
fn make_cgroup(
    cg: &crate::cgroups::Cgroup,
    host: crate::cgroups::Host,
    spec: &oci_spec::runtime::Spec,
    pid: Pid,
) -> Result<Vec<std::os::fd::OwnedFd>> {
    use crate::cgroups::Host;
    let linux = spec.linux().as_ref();
    match &host {
        Host::V1(hierarchies) => cg.make(hierarchies).map_err(Error::Invalid)?,
        Host::V2 { mountpoint, .. } => cg.make_v2(mountpoint).map_err(Error::Invalid)?,
        Host::None => return Ok(Vec::new()),
    }
    if let Some(resources) = linux.and_then(|l| l.resources().as_ref()) {
        let extra: Vec<String> = linux
            .and_then(|l| l.devices().as_ref())
            .into_iter()
            .flatten()
            .filter_map(|d| {
                let t = match d.typ() {
                    oci_spec::runtime::LinuxDeviceType::B => "b",
                    oci_spec::runtime::LinuxDeviceType::C | oci_spec::runtime::LinuxDeviceType::U => "c",
                    _ => return None,
                };
                Some(format!("{t} {}:{} rwm", d.major(), d.minor()))
            })
            .collect();
        cg.apply(resources, &extra).map_err(Error::Invalid)?;
    }
    if !nix::unistd::geteuid().is_root() {
        // Rootless: some refusals (v2's check of the common ancestor) come
        // only at the write; made here, the caller can still go on without.
        return cg.add(pid).map(|()| Vec::new()).map_err(Error::Invalid);
    }
    cg.join_fds().map_err(Error::Invalid)
}

fn new_user_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        })
}

/// What `clone` must do: create new PID and user namespaces, or join a PID
/// namespace by path. The user namespace is made by `clone` too, so that
/// the PID namespace belongs to it and the runtime can write its id maps
/// before the init does anything.
fn init_spawn(bundle: &Bundle, fifo: std::os::fd::OwnedFd) -> Result<InitSpawn> {
    let namespaces = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut spawn = InitSpawn {
        clone_flags: CloneFlags::empty(),
        join_pid_ns: None,
        preserve_fds: 0,
        inherit: vec![(crate::process::channel::FIFO_FD_ENV.into(), fifo)],
    };
    if new_user_namespace(&bundle.spec) {
        spawn.clone_flags |= CloneFlags::CLONE_NEWUSER;
    }
    if let Some(ns) = namespaces.iter().find(|n| n.typ() == LinuxNamespaceType::Pid) {
        match ns.path() {
            None => spawn.clone_flags |= CloneFlags::CLONE_NEWPID,
            Some(path) => {
                let f = std::fs::File::open(path).context(|| format!("opening pid namespace {}", path.display()))?;
                spawn.join_pid_ns = Some(f.into());
            }
        }
    }
    Ok(spawn)
}

/// Tear-down on failure, in reverse order: the init (and with it its mount
/// namespace and every mount in it), then the state directory.
struct Undo {
    dir: Option<ContainerDir>,
    pid: Option<Pid>,
    cgroup: crate::cgroups::Cgroup,
    /// Once the state exists: what the poststop hooks get when a hook fails.
    hook_state: Option<hooks::State>,
    /// Our end of the sync channel. Closed only after the init is killed:
    /// an init still waiting for its go-ahead would otherwise see EOF and
    /// print "runtime gone" under the real error.
    channel: Option<UnixStream>,
}

impl Undo {
    fn disarm(&mut self) {
        self.dir = None;
        self.pid = None;
        self.cgroup = Default::default();
        self.hook_state = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Err(e) = self.cgroup.remove() {
            tracing::warn!("cleaning up after failed create: {e}");
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = dir.remove() {
                tracing::warn!("cleaning up after failed create: {e}");
            }
        }
    }
}
