//! User namespaces (config-linux.md "User namespace mappings"): the runtime,
//! still privileged on the host, writes the init's `uid_map` and `gid_map`
//! right after `clone`, before the init does anything that needs them.

use std::path::Path;

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::error::{Context, Error, Result};

/// `containerID hostID size` lines, as /proc/PID/uid_map wants them.
pub fn map_text(mappings: &[LinuxIdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub fn write_id_maps(pid: Pid, spec: &Spec) -> Result<()> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Invalid("linux: missing".into()))?;
    let proc = Path::new("/proc").join(pid.as_raw().to_string());
    if !nix::unistd::geteuid().is_root() {
        // Rootless: the kernel lets an unprivileged writer map only its own
        // ids, and a gid_map only once setgroups is denied for the namespace
        // (user_namespaces(7)); a mapping of more ids needs newuidmap.
        std::fs::write(proc.join("setgroups"), b"deny").context(|| format!("writing {}/setgroups", proc.display()))?;
    }
    for (file, maps) in [("uid_map", linux.uid_mappings()), ("gid_map", linux.gid_mappings())] {
        let text = map_text(maps.as_deref().unwrap_or(&[]));
        let path = Path::new("/proc").join(pid.as_raw().to_string()).join(file);
        // One write: the kernel accepts a map only once, whole.
        std::fs::write(&path, text.as_bytes()).context(|| format!("writing {} ({:?})", path.display(), text.trim()))?;
    }
    Ok(())
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

    #[test]
    fn map_lines() {
        let m = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(100000u32)
            .size(65536u32)
            .build()
            .unwrap();
        assert_eq!(map_text(&[m]), "0 100000 65536\n");
    }
}
