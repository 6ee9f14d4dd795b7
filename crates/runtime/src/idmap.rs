//! Id-mapped mounts (config.md "Mounts": `uidMappings`/`gidMappings` of a
//! bind mount): file owners seen through the mount are shifted by the
//! mapping, without chown-ing anything on disk.
//!
//! The kernel only lets a process privileged over the filesystem's own
//! user namespace make one, so the runtime (host root) prepares each before
//! the init exists: a throw-away user namespace holding the mapping, a
//! detached copy of the source (`open_tree`), the mapping set on it
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`). The init inherits the detached
//! mount and only attaches it (`move_mount`) where the mount goes.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, Spec};

use crate::sys::{self, CloneResult};

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// The environment variable naming the detached mount for mounts[index].
pub fn env_name(index: usize) -> String {
    format!("_MINI_CONTAINERD_IDMAP_{index}")
}

/// Does this mount ask for an id mapping?
pub fn wants_idmap(m: &oci_spec::runtime::Mount) -> bool {
    m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty()) || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty())
}

/// Prepare every id-mapped mount of the config: (index in `mounts`, fd).
pub fn prepare_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<(usize, OwnedFd)>, String> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !wants_idmap(m) {
            continue;
        }
        let what = format!("mounts[{i}] ({})", m.destination().display());
        let options = m.options().clone().unwrap_or_default();
        let is_bind = m.typ().as_deref() == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind");
        if !is_bind {
            return Err(format!("{what}: uidMappings/gidMappings need a bind mount"));
        }
        let (uids, gids) = (
            m.uid_mappings().clone().unwrap_or_default(),
            m.gid_mappings().clone().unwrap_or_default(),
        );
        if uids.is_empty() || gids.is_empty() {
            return Err(format!(
                "{what}: an id-mapped mount needs both uidMappings and gidMappings"
            ));
        }
        let source = m
            .source()
            .as_deref()
            .ok_or_else(|| format!("{what}: bind mount without a source"))?;
        let source = if source.is_absolute() {
            source.to_path_buf()
        } else {
            bundle.join(source)
        };
        let recursive = options.iter().any(|o| o == "rbind" || o == "ridmap");
        let userns = userns_with(&uids, &gids).map_err(|e| format!("{what}: {e}"))?;
        let tree = sys::open_tree_clone(&source, recursive)
            .map_err(|e| format!("{what}: open_tree {}: {}", source.display(), e.desc()))?;
        let attr = sys::MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        };
        sys::mount_setattr(tree.as_raw_fd(), &attr, recursive).map_err(|e| {
            format!(
                "{what}: mapping ids on {} (mount_setattr): {}",
                source.display(),
                e.desc()
            )
        })?;
        out.push((i, tree));
    }
    Ok(out)
}

/// A user namespace holding the mapping, as an fd: a child is cloned into
/// a new one, the maps are written, its namespace is kept, and it exits.
fn userns_with(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, String> {
    let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let child =
        match sys::clone_process(CloneFlags::CLONE_NEWUSER.bits()).map_err(|e| format!("clone: {}", e.desc()))? {
            CloneResult::Child => {
                // Wait until the parent is done with us (EOF), then leave.
                drop(ours);
                let mut byte = [0u8; 1];
                let _ = (&theirs).read(&mut byte);
                sys::write_stderr_and_exit(b"", 0)
            }
            CloneResult::Parent(pid) => pid,
        };
    drop(theirs);
    let result = (|| {
        let proc = Path::new("/proc").join(child.as_raw().to_string());
        for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
            let text = crate::userns::map_text(maps);
            std::fs::write(proc.join(file), text.as_bytes())
                .map_err(|e| format!("writing {}/{file} ({:?}): {e}", proc.display(), text.trim()))?;
        }
        let ns = std::fs::File::open(proc.join("ns/user")).map_err(|e| format!("opening the user namespace: {e}"))?;
        Ok(OwnedFd::from(ns))
    })();
    drop(ours);
    let _ = nix::sys::wait::waitpid(child, None);
    result
}
