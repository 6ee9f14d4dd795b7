//! The base config.json of every test: the default spec that `runc spec`
//! writes (so that any runc-compatible runtime accepts it), with
//! `terminal: false` so that stdio passes straight through to the suite.
//! Each test then changes the one field it is about.

use serde_json::{json, Value};

/// The probe's path inside the container (see `harness::Ctx::bundle`).
pub const PROBE: &str = "/oci-probe";

pub fn default_config(args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// The probe's `report` mode with extra arguments (`--path P`, `--sysctl K`).
pub fn probe_report(extra: &[&str]) -> Value {
    let mut args = vec![PROBE, "report"];
    args.extend_from_slice(extra);
    default_config(&args)
}

/// Set `value` at a `/`-separated path of object keys, creating objects on the way.
pub fn set(cfg: &mut Value, path: &str, value: Value) {
    let mut cur = cfg;
    let keys: Vec<&str> = path.split('/').collect();
    for (i, k) in keys.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(obj) = cur.as_object_mut() else { return };
        if i + 1 == keys.len() {
            obj.insert((*k).to_string(), value);
            return;
        }
        cur = obj.entry((*k).to_string()).or_insert_with(|| json!({}));
    }
}

/// Remove the key at a `/`-separated path, if present.
pub fn remove(cfg: &mut Value, path: &str) {
    let (parent, key) = match path.rsplit_once('/') {
        Some((p, k)) => (cfg.pointer_mut(&format!("/{p}")), k),
        None => (Some(cfg), path),
    };
    if let Some(Value::Object(m)) = parent {
        m.remove(key);
    }
}

/// Append a mount entry.
pub fn add_mount(cfg: &mut Value, mount: Value) {
    if let Some(Value::Array(m)) = cfg.pointer_mut("/mounts") {
        m.push(mount);
    }
}

/// Replace `linux.namespaces` with the given types (each without a path).
pub fn set_namespaces(cfg: &mut Value, types: &[&str]) {
    let ns: Vec<Value> = types.iter().map(|t| json!({"type": t})).collect();
    set(cfg, "linux/namespaces", Value::Array(ns));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_remove_nested_keys() {
        let mut c = default_config(&["x"]);
        set(&mut c, "process/user/umask", json!(63));
        assert_eq!(c["process"]["user"]["umask"], 63);
        set(&mut c, "linux/sysctl/net.ipv4.ip_forward", json!("1"));
        assert_eq!(c["linux"]["sysctl"]["net.ipv4.ip_forward"], "1");
        remove(&mut c, "process/user/umask");
        assert!(c["process"]["user"].get("umask").is_none());
        remove(&mut c, "hostname");
        assert!(c.get("hostname").is_none());
    }
}
