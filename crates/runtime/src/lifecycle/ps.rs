//! `ps`: the container's processes, as host pids (runc's `ps`).

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::state::StateRoot;

/// Host pids of every process of the container, sorted.
pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<Pid>> {
    let dir = root.open(id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    let mut pids = if stored.cgroup.dirs.is_empty() {
        let own_pid_ns = dir
            .load_config()
            .ok()
            .is_some_and(|spec| crate::init::namespaces::creates(&spec, oci_spec::runtime::LinuxNamespaceType::Pid));
        super::kill::container_processes(&stored, own_pid_ns)?
    } else {
        stored.cgroup.procs()
    };
    pids.sort();
    Ok(pids)
}
