//! User namespaces (config-linux.md "User namespace mappings"): the runtime
//! writes the init's `uid_map` and `gid_map` right after `clone`, before the
//! init does anything that needs them.
//!
//! Who may write which map (user_namespaces(7)):
//! - root (CAP_SETUID/CAP_SETGID on the host) writes any mapping itself;
//! - an unprivileged caller may write only a one-line map of its own euid
//!   (egid), and a gid_map only after denying setgroups in the namespace —
//!   otherwise dropping a group could grant access that a negative group
//!   permission forbids;
//! - anything more, rootless, goes through the setuid helpers newuidmap and
//!   newgidmap (shadow's `uidmap` package), which allow only the ranges
//!   /etc/subuid and /etc/subgid delegate to the caller. newgidmap leaves
//!   setgroups allowed when a range comes from /etc/subgid, so
//!   `process.user.additionalGids` works in such a container.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Context, Error, Result};

// Searched when the runtime has no `$PATH` of its own.
use crate::spec::DEFAULT_PATH;

/// `containerID hostID size` lines, as /proc/PID/uid_map wants them.
pub fn map_text(mappings: &[LinuxIdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// One of the two maps: where it goes and what may write it.
struct IdMap<'a> {
    field: &'static str,
    file: &'static str,
    helper: &'static str,
    maps: &'a [LinuxIdMapping],
}

/// How a map reaches the kernel.
#[derive(Debug, PartialEq, Eq)]
enum Writer {
    /// The runtime writes /proc/PID/{uid,gid}_map itself.
    Direct,
    /// Rootless with more than the caller's own id: newuidmap/newgidmap.
    Helper,
}

/// `own` is the caller's euid (egid); `None` when the caller is root.
fn writer(maps: &[LinuxIdMapping], own: Option<u32>) -> Writer {
    match (own, maps) {
        (None, _) => Writer::Direct,
        (Some(own), [m]) if m.host_id() == own && m.size() == 1 => Writer::Direct,
        _ => Writer::Helper,
    }
}

pub fn write_id_maps(pid: Pid, spec: &Spec) -> Result<()> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Invalid("linux: missing".into()))?;
    let proc = Path::new("/proc").join(pid.as_raw().to_string());
    let rootless = !nix::unistd::geteuid().is_root();
    let (euid, egid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let uid = IdMap {
        field: "linux.uidMappings",
        file: "uid_map",
        helper: "newuidmap",
        maps: linux.uid_mappings().as_deref().unwrap_or(&[]),
    };
    let gid = IdMap {
        field: "linux.gidMappings",
        file: "gid_map",
        helper: "newgidmap",
        maps: linux.gid_mappings().as_deref().unwrap_or(&[]),
    };
    let uid_writer = writer(uid.maps, rootless.then_some(euid));
    let gid_writer = writer(gid.maps, rootless.then_some(egid));
    if rootless && gid_writer == Writer::Direct {
        // The kernel takes an unprivileged gid_map only once setgroups is
        // denied. Not with newgidmap: it decides itself, and denying here
        // would make additionalGids fail for no reason.
        std::fs::write(proc.join("setgroups"), b"deny").context(|| format!("writing {}/setgroups", proc.display()))?;
    }
    for (ids, how) in [(uid, uid_writer), (gid, gid_writer)] {
        match how {
            Writer::Direct => {
                let text = map_text(ids.maps);
                let path = proc.join(ids.file);
                // One write: the kernel accepts a map only once, whole.
                std::fs::write(&path, text.as_bytes())
                    .context(|| format!("writing {} ({:?})", path.display(), text.trim()))?;
            }
            Writer::Helper => run_helper(pid, &ids)?,
        }
    }
    Ok(())
}

/// `<pid> <containerID> <hostID> <size> …`, newuidmap(1)'s arguments.
fn helper_args(pid: Pid, maps: &[LinuxIdMapping]) -> Vec<String> {
    std::iter::once(pid.as_raw().to_string())
        .chain(
            maps.iter()
                .flat_map(|m| [m.container_id(), m.host_id(), m.size()].map(|n| n.to_string())),
        )
        .collect()
}

fn run_helper(pid: Pid, ids: &IdMap) -> Result<()> {
    let path_var = std::env::var_os("PATH");
    let helper = look_path(ids.helper, path_var.as_deref().unwrap_or(OsStr::new(DEFAULT_PATH))).ok_or_else(|| {
        Error::Invalid(format!(
            "{}: maps more than the caller's own id, which needs {}, and {} was not found in $PATH (install the uidmap package)",
            ids.field, ids.helper, ids.helper
        ))
    })?;
    let args = helper_args(pid, ids.maps);
    let shown = format!("{} {}", helper.display(), args.join(" "));
    // A setuid program: give it nothing of ours but the arguments — no
    // environment but a plain PATH and LC_ALL=C (its message in the words
    // the error reports), no fd but its stderr.
    let mut cmd = Command::new(&helper);
    cmd.args(&args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    crate::sys::exec_without_stray_fds(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| Error::Invalid(format!("{}: running {shown}: {e}", ids.field)))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let why = if why.is_empty() { "no message".into() } else { why };
    Err(Error::Invalid(format!(
        "{}: {shown} failed ({}): {why}",
        ids.field, out.status
    )))
}

/// The first executable file called `name` in the absolute entries of
/// `path_var`, as runc finds the helpers with Go's exec.LookPath. Relative
/// entries are skipped: a setuid helper is not looked for in the cwd.
fn look_path(name: &str, path_var: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The mapping rules the kernel would enforce, checked before anything is
/// created so the error names the field.
pub fn validate(spec: &Spec) -> std::result::Result<(), (&'static str, String)> {
    let Some(linux) = spec.linux() else { return Ok(()) };
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User && n.path().is_none());
    for (field, maps) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        let maps = maps.as_deref().unwrap_or(&[]);
        if new_userns && maps.is_empty() {
            return Err((field, "a new user namespace needs at least one mapping".into()));
        }
        if !new_userns && !maps.is_empty() {
            return Err((field, "mappings given without a new user namespace".into()));
        }
        if maps.len() > 340 {
            return Err((field, format!("{} mappings; the kernel allows 340", maps.len())));
        }
        for (i, m) in maps.iter().enumerate() {
            if m.size() == 0 {
                return Err((field, format!("[{i}].size must not be 0")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(container: u32, host: u32, size: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(container)
            .host_id(host)
            .size(size)
            .build()
            .unwrap()
    }

    #[test]
    fn map_lines() {
        assert_eq!(map_text(&[map(0, 100000, 65536)]), "0 100000 65536\n");
    }

    #[test]
    fn only_more_than_the_callers_own_id_needs_the_helper() {
        // root writes anything itself
        assert_eq!(writer(&[map(0, 100000, 65536)], None), Writer::Direct);
        // rootless: its own id, size 1, at any container id
        assert_eq!(writer(&[map(0, 1000, 1)], Some(1000)), Writer::Direct);
        assert_eq!(writer(&[map(5, 1000, 1)], Some(1000)), Writer::Direct);
        // anything else: another id, a range, or more than one line
        assert_eq!(writer(&[map(0, 1001, 1)], Some(1000)), Writer::Helper);
        assert_eq!(writer(&[map(0, 1000, 2)], Some(1000)), Writer::Helper);
        assert_eq!(
            writer(&[map(0, 1000, 1), map(1, 100000, 65536)], Some(1000)),
            Writer::Helper
        );
    }

    #[test]
    fn helper_gets_pid_then_triples() {
        let args = helper_args(Pid::from_raw(42), &[map(0, 1000, 1), map(1, 100000, 65536)]);
        assert_eq!(args, ["42", "0", "1000", "1", "1", "100000", "65536"]);
    }

    #[test]
    fn helper_is_found_in_absolute_path_entries_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // not executable in a, executable in b
        std::fs::write(a.join("newuidmap"), "").unwrap();
        std::fs::write(b.join("newuidmap"), "").unwrap();
        std::fs::set_permissions(b.join("newuidmap"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(look_path("newuidmap", &path), Some(b.join("newuidmap")));
        assert_eq!(look_path("newgidmap", &path), None);
        // a relative entry is not searched, even when it leads to b
        let cwd = std::env::current_dir().unwrap();
        let up: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        let relative = up.join(b.strip_prefix("/").unwrap());
        assert!(relative.join("newuidmap").is_file());
        assert_eq!(look_path("newuidmap", relative.as_os_str()), None);
    }
}
