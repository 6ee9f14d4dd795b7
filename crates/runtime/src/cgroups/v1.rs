//! `linux.resources` as cgroup v1 files: [`writes`] is the pure part (which
//! file in which controller gets which value, in which order), unit-tested
//! without root; [`super::Cgroup`] applies it.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

/// One write: controller, file, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub file: String,
    pub value: String,
}

fn w(controller: &'static str, file: impl Into<String>, value: impl ToString) -> Write {
    Write {
        controller,
        file: file.into(),
        value: value.to_string(),
    }
}

/// Devices every container may use whatever its rules say, as runc adds
/// them: mknod of anything, and the default nodes and ptys.
const DEFAULT_ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",   // null
    "c 1:5 rwm",   // zero
    "c 1:7 rwm",   // full
    "c 1:8 rwm",   // random
    "c 1:9 rwm",   // urandom
    "c 5:0 rwm",   // tty
    "c 5:1 rwm",   // console
    "c 5:2 rwm",   // ptmx
    "c 136:* rwm", // pts
];

/// Every write `resources` asks for, in the order the kernel accepts them.
/// `extra_devices` are the `linux.devices` nodes, which are allowed too.
pub fn writes(r: &LinuxResources, extra_devices: &[String]) -> Result<Vec<Write>, String> {
    let mut out = Vec::new();
    if let Some(cpu) = r.cpu() {
        // cpuset first: a cgroup takes no task before it has cpus and mems.
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset", "cpuset.mems", mems));
        }
        if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
            out.push(w("cpu", "cpu.shares", shares));
        }
        // Period before quota: the kernel checks quota against the period.
        if let Some(period) = cpu.period().filter(|p| *p != 0) {
            out.push(w("cpu", "cpu.cfs_period_us", period));
        }
        if let Some(quota) = cpu.quota().filter(|q| *q != 0) {
            out.push(w("cpu", "cpu.cfs_quota_us", quota));
        }
        if let Some(burst) = cpu.burst() {
            out.push(w("cpu", "cpu.cfs_burst_us", burst));
        }
        if let Some(period) = cpu.realtime_period().filter(|p| *p != 0) {
            out.push(w("cpu", "cpu.rt_period_us", period));
        }
        if let Some(runtime) = cpu.realtime_runtime().filter(|r| *r != 0) {
            out.push(w("cpu", "cpu.rt_runtime_us", runtime));
        }
        if let Some(idle) = cpu.idle() {
            out.push(w("cpu", "cpu.idle", idle));
        }
    }
    if let Some(mem) = r.memory() {
        if let Some(limit) = mem.limit().filter(|l| *l != 0) {
            out.push(w("memory", "memory.limit_in_bytes", limit));
        }
        // memsw is memory+swap and must not be below the memory limit,
        // which is set just above.
        if let Some(swap) = mem.swap().filter(|s| *s != 0) {
            out.push(w("memory", "memory.memsw.limit_in_bytes", swap));
        }
        if let Some(res) = mem.reservation().filter(|r| *r != 0) {
            out.push(w("memory", "memory.soft_limit_in_bytes", res));
        }
        if let Some(kernel) = mem.kernel().filter(|k| *k != 0) {
            out.push(w("memory", "memory.kmem.limit_in_bytes", kernel));
        }
        if let Some(tcp) = mem.kernel_tcp().filter(|k| *k != 0) {
            out.push(w("memory", "memory.kmem.tcp.limit_in_bytes", tcp));
        }
        if let Some(swappiness) = mem.swappiness() {
            if swappiness > 100 {
                return Err(format!(
                    "linux.resources.memory.swappiness {swappiness}: must be 0..100"
                ));
            }
            out.push(w("memory", "memory.swappiness", swappiness));
        }
        if mem.disable_oom_killer() == Some(true) {
            out.push(w("memory", "memory.oom_control", 1));
        }
        if let Some(h) = mem.use_hierarchy() {
            out.push(w("memory", "memory.use_hierarchy", u8::from(h)));
        }
    }
    if let Some(limit) = r.pids().as_ref().map(|p| p.limit()) {
        let value = if limit <= 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        out.push(w("pids", "pids.max", value));
    }
    if let Some(bio) = r.block_io() {
        // 0 means "not set" (docker puts it in every config), as in runc.
        if let Some(weight) = bio.weight().filter(|w| *w != 0) {
            out.push(w("blkio", "blkio.weight", weight));
        }
        if let Some(weight) = bio.leaf_weight().filter(|w| *w != 0) {
            out.push(w("blkio", "blkio.leaf_weight", weight));
        }
        for d in bio.weight_device().iter().flatten() {
            if let Some(weight) = d.weight() {
                out.push(w(
                    "blkio",
                    "blkio.weight_device",
                    format!("{}:{} {weight}", d.major(), d.minor()),
                ));
            }
            if let Some(weight) = d.leaf_weight() {
                out.push(w(
                    "blkio",
                    "blkio.leaf_weight_device",
                    format!("{}:{} {weight}", d.major(), d.minor()),
                ));
            }
        }
        for (file, list) in [
            ("blkio.throttle.read_bps_device", bio.throttle_read_bps_device()),
            ("blkio.throttle.write_bps_device", bio.throttle_write_bps_device()),
            ("blkio.throttle.read_iops_device", bio.throttle_read_iops_device()),
            ("blkio.throttle.write_iops_device", bio.throttle_write_iops_device()),
        ] {
            for d in list.iter().flatten() {
                out.push(w("blkio", file, format!("{}:{} {}", d.major(), d.minor(), d.rate())));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            h.limit(),
        ));
    }
    if let Some(net) = r.network() {
        if let Some(id) = net.class_id() {
            out.push(w("net_cls", "net_cls.classid", id));
        }
        for p in net.priorities().iter().flatten() {
            out.push(w(
                "net_prio",
                "net_prio.ifpriomap",
                format!("{} {}", p.name(), p.priority()),
            ));
        }
    }
    for (_, line) in rdma_lines(r) {
        out.push(w("rdma", "rdma.max", line));
    }
    if let Some(unified) = r.unified() {
        if !unified.is_empty() {
            return Err("linux.resources.unified: cgroup v2 keys cannot be set on a cgroup v1 host".into());
        }
    }
    if let Some(rules) = r.devices() {
        for rule in rules {
            let (file, line) = device_rule(rule)?;
            out.push(w("devices", file, line));
        }
        // Only when the config sets device rules at all: then the default
        // nodes stay usable, as with runc.
        for allowed in DEFAULT_ALLOWED
            .iter()
            .map(|s| s.to_string())
            .chain(extra_devices.iter().cloned())
        {
            out.push(w("devices", "devices.allow", allowed));
        }
    }
    Ok(out)
}

/// `linux.resources.rdma` as rdma.max lines (same format on v1 and v2):
/// `mlx5_1 hca_handle=3 hca_object=10000`, `max` where a field is unset.
pub fn rdma_lines(r: &LinuxResources) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .rdma()
        .iter()
        .flatten()
        .map(|(device, limits)| {
            let n = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
            (
                device.clone(),
                format!(
                    "{device} hca_handle={} hca_object={}",
                    n(limits.hca_handles()),
                    n(limits.hca_objects())
                ),
            )
        })
        .collect();
    out.sort();
    out
}

/// A device rule as a line for devices.allow or devices.deny.
pub fn device_rule(rule: &LinuxDeviceCgroup) -> Result<(&'static str, String), String> {
    let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => return Err("linux.resources.devices: type \"p\" has no cgroup rule".into()),
    };
    let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(format!(
            "linux.resources.devices: access {access:?} must be made of r, w and m"
        ));
    }
    if typ == "a" {
        return Ok((file, format!("a *:* {access}")));
    }
    Ok((
        file,
        format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).expect("resources")
    }

    #[test]
    fn memory_cpu_pids() {
        let r = resources(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 32}
        }));
        let got: Vec<(String, String)> = writes(&r, &[])
            .unwrap()
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            got,
            vec![
                s("cpuset.cpus", "0"),
                s("cpu.shares", "512"),
                s("cpu.cfs_period_us", "100000"),
                s("cpu.cfs_quota_us", "50000"),
                s("memory.limit_in_bytes", "67108864"),
                s("memory.memsw.limit_in_bytes", "134217728"),
                s("memory.swappiness", "10"),
                s("pids.max", "32"),
            ]
        );
    }

    #[test]
    fn device_rules_then_defaults() {
        let r = resources(serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]
        }));
        let got = writes(&r, &[]).unwrap();
        assert_eq!(got[0].file, "devices.deny");
        assert_eq!(got[0].value, "a *:* rwm");
        assert_eq!(got[1].value, "c 10:229 rw");
        assert!(got.iter().any(|w| w.value == "c 1:3 rwm"));
        assert!(
            device_rule(&serde_json::from_value(serde_json::json!({"allow": true, "access": "x"})).unwrap()).is_err()
        );
    }

    #[test]
    fn rdma_lines() {
        let r = resources(
            serde_json::json!({"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaHandles": 2}}}),
        );
        let got: Vec<String> = writes(&r, &[]).unwrap().into_iter().map(|w| w.value).collect();
        assert_eq!(
            got,
            [
                "mlx4_0 hca_handle=2 hca_object=max",
                "mlx5_1 hca_handle=3 hca_object=10000"
            ]
        );
    }

    #[test]
    fn zero_weights_are_unset() {
        let r = resources(serde_json::json!({"blockIO": {"weight": 0, "leafWeight": 0}}));
        assert!(writes(&r, &[]).unwrap().is_empty());
    }

    #[test]
    fn unified_is_refused_on_v1() {
        let r = resources(serde_json::json!({"unified": {"memory.max": "1"}}));
        assert!(writes(&r, &[]).is_err());
    }
}
