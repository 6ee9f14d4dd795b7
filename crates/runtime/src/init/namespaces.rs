//! Namespaces (config-linux.md "Namespaces"): each entry is either joined
//! (`path`, with setns) or created (unshare). The PID namespace is the
//! exception: the runtime made it with `clone`, since `unshare` and `setns`
//! of a PID namespace only move future children.

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Namespaces given by path that the *runtime* joins before it clones the
/// init, so the init inherits them: once the init is in a new user
/// namespace it has no privilege over namespaces the host owns (a CNI
/// network namespace, say), so joining must happen first, as runc does.
/// Mount namespaces are joined by the init (the runtime still needs the
/// host's paths), PID ones by `clone`, user ones by the init first of all.
pub fn joined_by_runtime(t: LinuxNamespaceType) -> bool {
    matches!(
        t,
        LinuxNamespaceType::Network
            | LinuxNamespaceType::Ipc
            | LinuxNamespaceType::Uts
            | LinuxNamespaceType::Cgroup
            | LinuxNamespaceType::Time
    )
}

/// The runtime's half of the joins (see [`joined_by_runtime`]).
pub fn join_in_runtime(spec: &Spec) -> Result<(), String> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in namespaces.iter().filter(|n| joined_by_runtime(n.typ())) {
        if let Some(path) = ns.path() {
            let t = ns.typ();
            let f = std::fs::File::open(path).map_err(|e| format!("opening {t} namespace {}: {e}", path.display()))?;
            nix::sched::setns(&f, flag(t))
                .map_err(|e| format!("joining {t} namespace {}: {}", path.display(), e.desc()))?;
        }
    }
    Ok(())
}

/// Does the config create a new namespace of this type?
pub fn creates(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t && n.path().is_none()))
}

/// Join and create every namespace but the PID one and a new user one
/// (both made by `clone`). A user namespace given by path is joined first:
/// it decides what the other joins and creations are allowed to do.
pub fn enter(spec: &Spec) -> Result<(), String> {
    let mut namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    namespaces.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    let mut new = CloneFlags::empty();
    for ns in &namespaces {
        let t = ns.typ();
        if t == LinuxNamespaceType::Pid || (t == LinuxNamespaceType::User && ns.path().is_none()) {
            continue;
        }
        match ns.path() {
            Some(_) if joined_by_runtime(t) => {}
            Some(path) => {
                let f =
                    std::fs::File::open(path).map_err(|e| format!("opening {t} namespace {}: {e}", path.display()))?;
                nix::sched::setns(&f, flag(t))
                    .map_err(|e| format!("joining {t} namespace {}: {}", path.display(), e.desc()))?;
            }
            None => new |= flag(t),
        }
    }
    nix::sched::unshare(new).map_err(|e| format!("unshare({new:?}): {}", e.desc()))?;
    if new.contains(flag(LinuxNamespaceType::Time)) {
        write_time_offsets(spec)?;
    }
    Ok(())
}

/// `linux.timeOffsets`: written while no process is in the new time
/// namespace yet. `unshare(CLONE_NEWTIME)` moved only our future children —
/// and the program we `execve` at the end, which is how the container's
/// process enters it (time_namespaces(7)).
fn write_time_offsets(spec: &Spec) -> Result<(), String> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(());
    };
    let mut text = String::new();
    let mut clocks: Vec<_> = offsets.keys().collect();
    clocks.sort();
    for clock in clocks {
        let o = &offsets[clock];
        text.push_str(&format!(
            "{clock} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", &text).map_err(|e| {
        format!(
            "linux.timeOffsets: writing /proc/self/timens_offsets ({:?}): {e}",
            text.trim()
        )
    })
}
