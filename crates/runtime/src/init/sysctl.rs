//! `linux.sysctl` (config-linux.md "Sysctl"): only keys that live in a
//! namespace the container has of its own may be set — anything else
//! would change the host.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Which namespace makes `key` the container's own, or why it never is.
pub fn namespace_of(key: &str) -> Result<LinuxNamespaceType, String> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(LinuxNamespaceType::Ipc);
    }
    if key.starts_with("net.") {
        return Ok(LinuxNamespaceType::Network);
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        return Ok(LinuxNamespaceType::Uts);
    }
    Err(format!("{key:?} is not namespaced: setting it would change the host"))
}

/// Check every key against the container's namespaces (before `create`
/// makes anything): a key needs a *new* namespace of its kind.
pub fn validate(spec: &Spec) -> Result<(), String> {
    let Some(linux) = spec.linux() else { return Ok(()) };
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        let needed = namespace_of(key)?;
        // A namespace of its own, new or joined by path; never the host's.
        let has = namespaces.iter().any(|n| n.typ() == needed);
        if !has {
            return Err(format!(
                "{key:?} needs a {needed} namespace of the container's own, and it has none"
            ));
        }
    }
    Ok(())
}

/// Write the values through the container's /proc (after pivot_root),
/// checking each file really is on procfs (CVE-2025-52881).
pub fn apply(spec: &Spec) -> Result<(), String> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().clone()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let value = &sysctl[key];
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        // O_NONBLOCK: were the file a FIFO planted in a fake /proc/sys, a
        // plain open would wait for a reader forever; O_NOFOLLOW: no link.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| format!("linux.sysctl {key}: opening {path}: {e}"))?;
        let fs = nix::sys::statfs::fstatfs(&f).map_err(|e| format!("linux.sysctl {key}: statfs: {}", e.desc()))?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            return Err(format!("linux.sysctl {key}: {path} is not on procfs"));
        }
        f.write_all(value.as_bytes())
            .map_err(|e| format!("linux.sysctl {key}={value:?}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_keys() {
        assert_eq!(namespace_of("net.ipv4.ip_forward"), Ok(LinuxNamespaceType::Network));
        assert_eq!(namespace_of("kernel.shmmax"), Ok(LinuxNamespaceType::Ipc));
        assert_eq!(namespace_of("fs.mqueue.queues_max"), Ok(LinuxNamespaceType::Ipc));
        assert!(namespace_of("kernel.panic").is_err());
        assert!(namespace_of("vm.swappiness").is_err());
    }
}
