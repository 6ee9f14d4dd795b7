//! `pause` / `resume` (runc's): freeze and thaw every process of the
//! container through its cgroup's freezer; `state` reports `paused`.

use crate::error::{Error, Result};
use crate::state::{StateRoot, Status};

pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    set_frozen(root, id, true)
}

pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    set_frozen(root, id, false)
}

fn set_frozen(root: &StateRoot, id: &str, frozen: bool) -> Result<()> {
    let dir = root.lock(id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    let status = dir.status(Some(&stored));
    let (verb, wanted) = if frozen {
        ("pause", Status::Running)
    } else {
        ("resume", Status::Paused)
    };
    if status != wanted {
        return Err(Error::WrongState {
            verb,
            id: id.to_string(),
            status: status.to_string(),
            hint: if frozen {
                " (only a running container can be paused)"
            } else {
                " (it is not paused)"
            },
        });
    }
    if stored.cgroup.dirs.is_empty() {
        return Err(Error::Invalid(format!(
            "cannot {verb} container {id}: it has no cgroup of its own (no cgroup hierarchy was found on this host)"
        )));
    }
    stored.cgroup.freeze(frozen).map_err(Error::Invalid)
}
