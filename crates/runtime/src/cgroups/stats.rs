//! Cgroup statistics in the shape of runc's `events` data (its `types.Stats`
//! JSON): cpu, memory, pids, read from the container's v1 cgroup.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::Cgroup;

fn read_u64(dir: &Path, file: &str) -> u64 {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat) as a map.
pub fn key_values(text: &str) -> Map<String, Value> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

/// Clock ticks (cpuacct.stat's unit) to nanoseconds.
fn ticks_to_ns(ticks: u64) -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    ticks.saturating_mul(1_000_000_000 / hz.max(1))
}

pub fn stats(cg: &Cgroup) -> Value {
    if cg.v2 {
        return stats_v2(cg);
    }
    let mut data = Map::new();
    if let Some(dir) = cg.dir("cpuacct") {
        let percpu: Vec<u64> = std::fs::read_to_string(dir.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let stat = key_values(&std::fs::read_to_string(dir.join("cpuacct.stat")).unwrap_or_default());
        let field = |k: &str| ticks_to_ns(stat.get(k).and_then(Value::as_u64).unwrap_or(0));
        let throttling = cg
            .dir("cpu")
            .map(|d| key_values(&std::fs::read_to_string(d.join("cpu.stat")).unwrap_or_default()))
            .unwrap_or_default();
        let t = |k: &str| throttling.get(k).and_then(Value::as_u64).unwrap_or(0);
        data.insert(
            "cpu".into(),
            json!({
                "usage": {
                    "total": read_u64(dir, "cpuacct.usage"),
                    "percpu": percpu,
                    "kernel": field("system"),
                    "user": field("user"),
                },
                "throttling": {
                    "periods": t("nr_periods"),
                    "throttled_periods": t("nr_throttled"),
                    "throttled_time": t("throttled_time"),
                }
            }),
        );
    }
    if let Some(dir) = cg.dir("memory") {
        let entry = |prefix: &str| {
            json!({
                "usage": read_u64(dir, &format!("{prefix}usage_in_bytes")),
                "max": read_u64(dir, &format!("{prefix}max_usage_in_bytes")),
                "failcnt": read_u64(dir, &format!("{prefix}failcnt")),
                "limit": read_u64(dir, &format!("{prefix}limit_in_bytes")),
            })
        };
        let raw = key_values(&std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default());
        data.insert(
            "memory".into(),
            json!({
                "cache": raw.get("total_cache").and_then(Value::as_u64).unwrap_or(0),
                "usage": entry("memory."),
                "swap": entry("memory.memsw."),
                "kernel": entry("memory.kmem."),
                "kernelTCP": entry("memory.kmem.tcp."),
                "raw": raw,
            }),
        );
    }
    if let Some(dir) = cg.dir("pids") {
        let limit = std::fs::read_to_string(dir.join("pids.max")).unwrap_or_default();
        data.insert(
            "pids".into(),
            json!({
                "current": read_u64(dir, "pids.current"),
                "limit": limit.trim().parse::<u64>().unwrap_or(0),
            }),
        );
    }
    data.insert("blkio".into(), json!({}));
    data.insert("hugetlb".into(), json!({}));
    Value::Object(data)
}

/// How many times the kernel's OOM killer acted in the cgroup: v1's
/// memory.oom_control and v2's memory.events both carry `oom_kill N`.
pub fn oom_kills(cg: &Cgroup) -> u64 {
    let file = if cg.v2 { "memory.events" } else { "memory.oom_control" };
    cg.dir("memory")
        .and_then(|d| std::fs::read_to_string(d.join(file)).ok())
        .map(|t| key_values(&t))
        .and_then(|m| m.get("oom_kill").and_then(Value::as_u64))
        .unwrap_or(0)
}

/// A "max"-or-number file of cgroup v2 ("max" reads as 0, no limit).
fn read_limit(dir: &Path, file: &str) -> u64 {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The same shape from cgroup v2's files (cpu.stat is in microseconds).
fn stats_v2(cg: &Cgroup) -> Value {
    let Some(dir) = cg.dir("") else {
        return json!({});
    };
    let cpu = key_values(&std::fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default());
    let us = |k: &str| cpu.get(k).and_then(Value::as_u64).unwrap_or(0);
    let raw = key_values(&std::fs::read_to_string(dir.join("memory.stat")).unwrap_or_default());
    json!({
        "cpu": {
            "usage": {
                "total": us("usage_usec") * 1000,
                "kernel": us("system_usec") * 1000,
                "user": us("user_usec") * 1000,
                "percpu": [],
            },
            "throttling": {
                "periods": us("nr_periods"),
                "throttled_periods": us("nr_throttled"),
                "throttled_time": us("throttled_usec") * 1000,
            }
        },
        "memory": {
            "cache": raw.get("file").and_then(Value::as_u64).unwrap_or(0),
            "usage": {
                "usage": read_u64(dir, "memory.current"),
                "max": read_u64(dir, "memory.peak"),
                "limit": read_limit(dir, "memory.max"),
                "failcnt": 0,
            },
            "swap": {
                "usage": read_u64(dir, "memory.swap.current"),
                "limit": read_limit(dir, "memory.swap.max"),
            },
            "raw": raw,
        },
        "pids": {
            "current": read_u64(dir, "pids.current"),
            "limit": read_limit(dir, "pids.max"),
        },
        "blkio": {},
        "hugetlb": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_files() {
        let m = key_values("cache 4096\nrss 8192\nbad line x\n");
        assert_eq!(m["cache"], 4096);
        assert_eq!(m["rss"], 8192);
        assert!(!m.contains_key("bad"));
    }
}
