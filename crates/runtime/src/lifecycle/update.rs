//! `update` and `events` (runc's): change the limits of a live container,
//! and report its cgroup statistics.

use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::state::{StateRoot, Status};

/// Apply `resources` to the running container's cgroup and keep them in
/// its saved config, so later updates start from what is in force.
pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let dir = root.lock(id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    let status = dir.status(Some(&stored));
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(Error::WrongState {
            verb: "update",
            id: id.to_string(),
            status: status.to_string(),
            hint: "",
        });
    }
    if stored.cgroup.dirs.is_empty() {
        return Err(Error::Invalid(format!(
            "cannot update container {id}: it has no cgroup of its own (no cgroup hierarchy was found on this host)"
        )));
    }
    stored.cgroup.apply(resources, &[]).map_err(Error::Invalid)?;
    let mut spec = dir.load_config()?;
    if let Some(linux) = spec.linux_mut() {
        let mut merged = serde_json::to_value(linux.resources().clone().unwrap_or_default())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let new = serde_json::to_value(resources).map_err(|e| Error::Invalid(e.to_string()))?;
        merge(&mut merged, &new);
        linux.set_resources(serde_json::from_value(merged).ok());
    }
    dir.save_config(&spec)
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// One `{"type":"stats","id":…,"data":…}` event, as runc prints it.
pub fn stats_event(root: &StateRoot, id: &str) -> Result<Value> {
    let dir = root.open(id)?;
    let stored = dir.load()?.ok_or_else(|| Error::NotFound(id.to_string()))?;
    if dir.status(Some(&stored)) == Status::Stopped {
        return Err(Error::WrongState {
            verb: "get stats of",
            id: id.to_string(),
            status: "stopped".into(),
            hint: "",
        });
    }
    Ok(json!({"type": "stats", "id": id, "data": crate::cgroups::stats::stats(&stored.cgroup)}))
}

/// `events`: a stats event every `interval` until the container stops,
/// and an `{"type":"oom"}` event whenever the OOM killer acted in the
/// container's cgroup since the last look (its `oom_kill` counter grew).
/// `emit` writes each one.
pub fn events(root: &StateRoot, id: &str, interval: Duration, emit: &mut dyn FnMut(&Value)) -> Result<()> {
    let cgroup = root.open(id)?.load()?.map(|s| s.cgroup).unwrap_or_default();
    let mut kills = crate::cgroups::stats::oom_kills(&cgroup);
    loop {
        let now = crate::cgroups::stats::oom_kills(&cgroup);
        if now > kills {
            emit(&json!({"type": "oom", "id": id}));
            kills = now;
        }
        match stats_event(root, id) {
            Ok(event) => emit(&event),
            Err(Error::WrongState { .. }) | Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        std::thread::sleep(interval);
    }
}
