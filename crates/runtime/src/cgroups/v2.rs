//! `linux.resources` as cgroup v2 files: the pure part, unit-tested without
//! root. Conversions from the v1-shaped OCI fields follow runc's, so a
//! config means the same on either kind of host.

use oci_spec::runtime::LinuxResources;

/// (file, value) in the container's cgroup directory, in write order.
pub type Write = (String, String);

fn w(file: impl Into<String>, value: impl ToString) -> Write {
    (file.into(), value.to_string())
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), runc's formula.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// blkio.weight (10..1000) to io.weight (1..10000), runc's formula.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

/// `-1` (or 0 for "not set") as "max", else the number.
fn limit(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// Every write `resources` asks for. Fields v2 has no file for
/// (kernel memory, swappiness, OOM-killer switch) are returned as
/// `ignored` so the caller can say so.
pub fn writes(r: &LinuxResources) -> Result<(Vec<Write>, Vec<&'static str>), String> {
    let mut out = Vec::new();
    let mut ignored = Vec::new();
    if let Some(cpu) = r.cpu() {
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset.cpus", cpus));
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            out.push(w("cpuset.mems", mems));
        }
        if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
            out.push(w("cpu.weight", shares_to_weight(shares)));
        }
        let quota = cpu.quota().filter(|q| *q != 0);
        let period = cpu.period().filter(|p| *p != 0);
        if quota.is_some() || period.is_some() {
            // cpu.max is "QUOTA PERIOD"; an unset quota is "max".
            let q = quota.map_or("max".to_string(), limit);
            out.push(w("cpu.max", format!("{q} {}", period.unwrap_or(100_000))));
        }
        if let Some(burst) = cpu.burst() {
            out.push(w("cpu.max.burst", burst));
        }
        if let Some(idle) = cpu.idle() {
            out.push(w("cpu.idle", idle));
        }
        if cpu.realtime_runtime().is_some_and(|r| r != 0) || cpu.realtime_period().is_some_and(|p| p != 0) {
            return Err("linux.resources.cpu.realtime*: cgroup v2 has no realtime CPU controller".into());
        }
    }
    if let Some(mem) = r.memory() {
        let mem_limit = mem.limit().filter(|l| *l != 0);
        if let Some(l) = mem_limit {
            out.push(w("memory.max", limit(l)));
        }
        if let Some(res) = mem.reservation().filter(|r| *r != 0) {
            out.push(w("memory.low", limit(res)));
        }
        // OCI's swap is memory+swap (v1's memsw); v2's swap.max is swap alone.
        if let Some(swap) = mem.swap().filter(|s| *s != 0) {
            let value = match (swap, mem_limit) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => {
                    if s < l {
                        return Err(format!(
                            "linux.resources.memory.swap {s} is below the memory limit {l} (swap counts memory too)"
                        ));
                    }
                    (s - l).to_string()
                }
                _ => {
                    return Err("linux.resources.memory.swap needs a memory limit on cgroup v2".into());
                }
            };
            out.push(w("memory.swap.max", value));
        }
        if mem.kernel().is_some_and(|k| k != 0) || mem.kernel_tcp().is_some_and(|k| k != 0) {
            ignored.push("linux.resources.memory.kernel/kernelTCP");
        }
        if mem.swappiness().is_some() {
            ignored.push("linux.resources.memory.swappiness");
        }
        if mem.disable_oom_killer() == Some(true) {
            ignored.push("linux.resources.memory.disableOOMKiller");
        }
    }
    if let Some(pids) = r.pids() {
        out.push(w(
            "pids.max",
            if pids.limit() <= 0 {
                "max".into()
            } else {
                pids.limit().to_string()
            },
        ));
    }
    if let Some(bio) = r.block_io() {
        if let Some(weight) = bio.weight().filter(|w| *w != 0) {
            out.push(w("io.weight", format!("default {}", blkio_to_io_weight(weight))));
        }
        for d in bio.weight_device().iter().flatten() {
            if let Some(weight) = d.weight() {
                out.push(w(
                    "io.weight",
                    format!("{}:{} {}", d.major(), d.minor(), blkio_to_io_weight(weight)),
                ));
            }
        }
        for (key, list) in [
            ("rbps", bio.throttle_read_bps_device()),
            ("wbps", bio.throttle_write_bps_device()),
            ("riops", bio.throttle_read_iops_device()),
            ("wiops", bio.throttle_write_iops_device()),
        ] {
            for d in list.iter().flatten() {
                out.push(w("io.max", format!("{}:{} {key}={}", d.major(), d.minor(), d.rate())));
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        out.push(w(format!("hugetlb.{}.max", h.page_size()), h.limit()));
    }
    if r.network().is_some() {
        ignored.push("linux.resources.network (net_cls/net_prio are v1 only)");
    }
    for (_, line) in super::v1::rdma_lines(r) {
        out.push(w("rdma.max", line));
    }
    if let Some(unified) = r.unified() {
        let mut keys: Vec<_> = unified.keys().collect();
        keys.sort();
        for key in keys {
            if key.contains('/') || key.starts_with('.') {
                return Err(format!("linux.resources.unified: {key:?} is not a file name"));
            }
            out.push(w(key.clone(), &unified[key]));
        }
    }
    Ok((out, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).expect("resources")
    }

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn writes_for_a_typical_config() {
        let r = resources(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1048576},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": 32},
            "unified": {"memory.high": "50000000"}
        }));
        let (got, ignored) = writes(&r).unwrap();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            got,
            vec![
                s("cpu.weight", "39"),
                s("cpu.max", "50000 100000"),
                s("memory.max", "67108864"),
                s("memory.low", "1048576"),
                s("memory.swap.max", "67108864"),
                s("pids.max", "32"),
                s("memory.high", "50000000"),
            ]
        );
        assert!(ignored.is_empty());
    }

    #[test]
    fn unlimited_and_errors() {
        let (got, _) = writes(&resources(
            serde_json::json!({"memory": {"limit": -1, "swap": -1}, "cpu": {"period": 50000}}),
        ))
        .unwrap();
        assert!(got.contains(&("memory.max".into(), "max".into())));
        assert!(got.contains(&("memory.swap.max".into(), "max".into())));
        assert!(got.contains(&("cpu.max".into(), "max 50000".into())));
        assert!(writes(&resources(serde_json::json!({"memory": {"limit": 100, "swap": 50}}))).is_err());
        assert!(writes(&resources(serde_json::json!({"unified": {"../x": "1"}}))).is_err());
    }
}
