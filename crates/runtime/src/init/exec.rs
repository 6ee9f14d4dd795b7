//! The last steps before the user's program runs (config.md "Process"):
//! find the executable, then — after `start` — switch user, change
//! directory, set NoNewPrivileges, close stray fds and `execve`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxPersonalityDomain, PosixRlimitType, Spec};

use super::capabilities;
use crate::sys;

/// Execution domains of personality(2) (<linux/personality.h>).
const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

use crate::spec::DEFAULT_PATH;

/// Everything `execve` needs, computed before the init reports ready so
/// that a missing binary fails `create`, not `start`.
pub struct Exec {
    path: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    umask: Mode,
    cwd: PathBuf,
    no_new_privileges: bool,
    caps: Option<capabilities::CapSets>,
    personality: Option<libc::c_ulong>,
    process: oci_spec::runtime::Process,
    preserve_fds: u32,
    seccomp: Option<super::seccomp::Filter>,
    /// `listenerPath`, connected by the runtime, and the state to send it.
    listener: Option<(std::os::fd::OwnedFd, serde_json::Value)>,
}

pub fn prepare(
    spec: &Spec,
    preserve_fds: u32,
    seccomp: Option<super::seccomp::Filter>,
    listener: Option<(std::os::fd::OwnedFd, serde_json::Value)>,
) -> Result<Exec, String> {
    let process = spec.process().as_ref().ok_or("process: missing")?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let arg0 = args.first().ok_or("process.args: empty")?;
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    // A relative name with a slash is relative to the cwd, as execve sees it.
    let program = find_executable(arg0, &path_var, process.cwd())?;
    let user = process.user();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            crate::passwd::field_of_uid(user.uid(), 5).unwrap_or_else(|| "/".into())
        ));
    }

    apply_rlimits(spec)?;
    super::process_attrs::apply(spec, process)?;

    // config.md: cwd is absolute (checked at load); runc creates it if the
    // image lacks it.
    let cwd = process.cwd().clone();
    if !cwd.is_dir() {
        std::fs::create_dir_all(&cwd).map_err(|e| format!("process.cwd {}: {e}", cwd.display()))?;
    }

    let cstr = |s: &str, what: &str| CString::new(s).map_err(|_| format!("{what}: contains a NUL byte"));
    Ok(Exec {
        path: CString::new(program.as_os_str().as_bytes()).map_err(|_| "process.args[0]: NUL byte")?,
        argv: args.iter().map(|a| cstr(a, "process.args")).collect::<Result<_, _>>()?,
        env: env.iter().map(|e| cstr(e, "process.env")).collect::<Result<_, _>>()?,
        uid: Uid::from_raw(user.uid()),
        gid: Gid::from_raw(user.gid()),
        groups: user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect(),
        umask: Mode::from_bits_truncate(user.umask().unwrap_or(0o022)),
        cwd,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        caps: process
            .capabilities()
            .as_ref()
            .map(capabilities::from_spec)
            .transpose()?,
        personality: spec
            .linux()
            .as_ref()
            .and_then(|l| l.personality().as_ref())
            .map(|p| match p.domain() {
                LinuxPersonalityDomain::PerLinux => PER_LINUX,
                LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
            }),
        process: process.clone(),
        preserve_fds,
        listener,
        // Compiled by the runtime, so a bad profile fails create, not start.
        seccomp,
    })
}

/// Become the user and run the program. Returns only with an error.
pub fn finish(e: Exec) -> Result<(), String> {
    let mut listener = e.listener;
    let mut load = |filter: &super::seccomp::Filter| match (super::seccomp::load(filter)?, listener.take()) {
        (Some(notify), Some((socket, state))) => super::seccomp::send_to_listener(notify, socket, &state),
        (Some(_), None) => Err("linux.seccomp: a notify fd but no listenerPath connection".into()),
        (None, _) => Ok(()),
    };
    // Without NoNewPrivileges the kernel only lets a process with
    // CAP_SYS_ADMIN install a filter: load it while we still have it (the
    // filter then also covers the steps below, as with runc). With NNP set,
    // it goes in last, right before execve.
    if !e.no_new_privileges {
        if let Some(ctx) = &e.seccomp {
            load(ctx)?;
        }
    }
    if let Some(caps) = &e.caps {
        capabilities::drop_bounding(caps)?;
        nix::sys::prctl::set_keepcaps(true).map_err(|err| format!("prctl(PR_SET_KEEPCAPS): {}", err.desc()))?;
    }
    // Supplementary groups first: after setuid we may no longer change them.
    // setgroups is denied when a rootless runtime wrote a one-id gid_map
    // itself (see userns.rs): with no additional groups asked for, there
    // is nothing to set. With ranges from newgidmap it stays allowed, and
    // the groups are set as for root.
    let denied = std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !(denied && e.groups.is_empty()) {
        nix::unistd::setgroups(&e.groups).map_err(|err| format!("setgroups {:?}: {}", e.groups, err.desc()))?;
    }
    nix::unistd::setgid(e.gid).map_err(|err| format!("setgid {}: {}", e.gid, err.desc()))?;
    nix::unistd::setuid(e.uid).map_err(|err| format!("setuid {}: {}", e.uid, err.desc()))?;
    if let Some(caps) = &e.caps {
        nix::sys::prctl::set_keepcaps(false).map_err(|err| format!("prctl(PR_SET_KEEPCAPS): {}", err.desc()))?;
        capabilities::apply(caps)?;
    }
    nix::sys::stat::umask(e.umask);
    nix::unistd::chdir(&e.cwd).map_err(|err| format!("chdir to process.cwd {}: {}", e.cwd.display(), err.desc()))?;
    // The cwd must be inside the container: a path through a stray fd
    // (/proc/self/fd/N) could land on the host, which getcwd reports as
    // "(unreachable)" or fails on (CVE-2024-21626).
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => {}
        _ => {
            return Err(format!(
                "process.cwd {}: resolves outside the container",
                e.cwd.display()
            ))
        }
    }
    if e.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|err| format!("prctl(PR_SET_NO_NEW_PRIVS): {}", err.desc()))?;
    }
    super::process_attrs::set_exec_labels(&e.process)?;
    if let Some(persona) = e.personality {
        sys::personality(persona).map_err(|err| format!("linux.personality: {}", err.desc()))?;
    }
    // Nothing the runtime opened may reach the program (CVE-2024-21626).
    sys::cloexec_from(3 + e.preserve_fds as i32).map_err(|err| format!("close_range: {}", err.desc()))?;
    // Rust ignores SIGPIPE, and an ignored disposition survives execve:
    // give the program the defaults it expects.
    sys::reset_signal_dispositions();
    if e.no_new_privileges {
        if let Some(ctx) = &e.seccomp {
            load(ctx)?;
        }
    }
    let err = sys::execve(&e.path, &e.argv, &e.env)
        .err()
        .map_or("returned".into(), |x| x.desc().to_string());
    Err(format!("exec {}: {err}", e.path.to_string_lossy()))
}

/// `exec.LookPath` semantics: a name with a slash is used as is, otherwise
/// each `$PATH` entry is tried. The result must be an executable file.
pub fn find_executable(arg0: &str, path_var: &str, cwd: &Path) -> Result<PathBuf, String> {
    if arg0.contains('/') {
        let full = cwd.join(arg0);
        return check_executable(&full)
            .map(|()| full.clone())
            .map_err(|why| format!("process.args[0] {arg0:?}: {why}"));
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(arg0);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "process.args[0] {arg0:?}: executable file not found in $PATH ({path_var})"
    ))
}

fn check_executable(p: &Path) -> Result<(), String> {
    // Engines map these texts to exit codes (docker's client matches
    // "no such file or directory", lowercase, to 127), as runc words them.
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{}: no such file or directory", p.display()),
        _ => format!("{}: {e}", p.display()),
    })?;
    if meta.is_dir() {
        // "permission denied", as execve's EACCES reads: engines map that
        // text to exit status 126 (found but not runnable).
        return Err(format!("{}: permission denied (is a directory)", p.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{}: permission denied (not executable)", p.display()));
    }
    Ok(())
}

/// `process.rlimits` (config.md "POSIX process"): set before exec; a hard
/// limit above the runtime's own needs CAP_SYS_RESOURCE, and the error says
/// which limit and what was asked.
fn apply_rlimits(spec: &Spec) -> Result<(), String> {
    let Some(process) = spec.process() else { return Ok(()) };
    for rl in process.rlimits().iter().flatten() {
        let res = match rl.typ() {
            PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
            PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
            PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
            PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
            PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
            PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
            PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
            PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
            PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
            PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
            PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
            PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
            PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
            PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
            PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
            PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
        };
        setrlimit(res, rl.soft(), rl.hard()).map_err(|e| {
            format!(
                "process.rlimits: setting {:?} to soft {} hard {}: {}",
                res,
                rl.soft(),
                rl.hard(),
                e.desc()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_start_at_the_cwd() {
        assert_eq!(
            find_executable("./sh", "", Path::new("/bin")).ok(),
            Some(PathBuf::from("/bin/./sh"))
        );
    }

    #[test]
    fn lookup() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin", Path::new("/")).ok(),
            Some(PathBuf::from("/bin/sh"))
        );
        assert!(find_executable("definitely-not-here", "/bin", Path::new("/")).is_err());
        assert!(find_executable("/etc/passwd", "", Path::new("/"))
            .unwrap_err()
            .contains("not executable"));
        assert!(find_executable("/bin", "", Path::new("/"))
            .unwrap_err()
            .contains("directory"));
    }
}
