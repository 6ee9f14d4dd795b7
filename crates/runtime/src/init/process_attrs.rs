//! Scheduling and security attributes of the container's process
//! (config.md "Linux process"): `ioPriority`, `scheduler`,
//! `execCPUAffinity`, and the LSM labels `apparmorProfile`/`selinuxLabel`.
//! They are set on the init and inherited across its final `execve`.

use nix::sched::CpuSet;
use nix::unistd::Pid;
use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Spec};

use crate::sys;

/// Parse a Linux CPU list (`0-3,7`) as in cpuset.cpus.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad CPU list {list:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("empty CPU list {list:?}"));
    }
    Ok(cpus)
}

/// `sched_setaffinity` of `pid` (0 = ourselves) to a CPU list.
pub fn set_affinity(pid: Pid, list: &str, field: &str) -> Result<(), String> {
    let mut set = CpuSet::new();
    for cpu in parse_cpu_list(list).map_err(|e| format!("{field}: {e}"))? {
        set.set(cpu).map_err(|e| format!("{field}: CPU {cpu}: {}", e.desc()))?;
    }
    nix::sched::sched_setaffinity(pid, &set).map_err(|e| format!("{field} {list:?}: sched_setaffinity: {}", e.desc()))
}

/// Apply every attribute of this module, failing `create` with the field's
/// name when the kernel refuses one.
pub fn apply(spec: &Spec, process: &Process) -> Result<(), String> {
    check_lsm(spec, process)?;
    if let Some(io) = process.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => 1,
            IOPriorityClass::IoprioClassBe => 2,
            IOPriorityClass::IoprioClassIdle => 3,
        };
        let prio = io.priority();
        if !(0..=7).contains(&prio) {
            return Err(format!("process.ioPriority.priority {prio}: must be 0..7"));
        }
        sys::ioprio_set_self(class, prio as i32)
            .map_err(|e| format!("process.ioPriority: ioprio_set: {}", e.desc()))?;
    }
    if let Some(s) = process.scheduler() {
        let policy = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => 0,
            LinuxSchedulerPolicy::SchedFifo => 1,
            LinuxSchedulerPolicy::SchedRr => 2,
            LinuxSchedulerPolicy::SchedBatch => 3,
            LinuxSchedulerPolicy::SchedIso => 4,
            LinuxSchedulerPolicy::SchedIdle => 5,
            LinuxSchedulerPolicy::SchedDeadline => 6,
        };
        let mut flags = 0u64;
        for flag in s.flags().iter().flatten() {
            flags |= match flag {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            };
        }
        let attr = sys::SchedAttr {
            size: std::mem::size_of::<sys::SchedAttr>() as u32,
            sched_policy: policy,
            sched_flags: flags,
            sched_nice: s.nice().unwrap_or(0),
            sched_priority: s.priority().unwrap_or(0) as u32,
            sched_runtime: s.runtime().unwrap_or(0),
            sched_deadline: s.deadline().unwrap_or(0),
            sched_period: s.period().unwrap_or(0),
        };
        sys::sched_setattr_self(&attr).map_err(|e| format!("process.scheduler: sched_setattr: {}", e.desc()))?;
    }
    if let Some(list) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().clone())
    {
        set_affinity(Pid::from_raw(0), &list, "process.execCPUAffinity.final")?;
    }
    Ok(())
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// A label the host cannot enforce is an error, never silently dropped.
fn check_lsm(spec: &Spec, process: &Process) -> Result<(), String> {
    if process.apparmor_profile().as_deref().is_some_and(|p| !p.is_empty()) && !apparmor_enabled() {
        return Err("process.apparmorProfile is set but AppArmor is not enabled on this host".into());
    }
    if process.selinux_label().as_deref().is_some_and(|p| !p.is_empty()) && !selinux_enabled() {
        return Err("process.selinuxLabel is set but SELinux is not enabled on this host".into());
    }
    let mount_label = spec.linux().as_ref().and_then(|l| l.mount_label().clone());
    if mount_label.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err("linux.mountLabel is set but SELinux is not enabled on this host".into());
    }
    if spec.linux().as_ref().is_some_and(|l| l.intel_rdt().is_some()) {
        let mounted =
            std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.lines().any(|l| l.contains(" - resctrl ")));
        if !mounted {
            return Err("linux.intelRdt is set but this host has no resctrl filesystem (Intel RDT) mounted".into());
        }
        return Err("linux.intelRdt is not supported by mini-containerd yet".into());
    }
    Ok(())
}

/// Just before exec: ask the LSM to switch to the configured label on exec.
pub fn set_exec_labels(process: &Process) -> Result<(), String> {
    if let Some(profile) = process.apparmor_profile().as_deref().filter(|p| !p.is_empty()) {
        let path = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(path, format!("exec {profile}"))
            .map_err(|e| format!("process.apparmorProfile {profile:?}: writing {path}: {e}"))?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|p| !p.is_empty()) {
        std::fs::write("/proc/self/attr/exec", label)
            .map_err(|e| format!("process.selinuxLabel {label:?}: writing /proc/self/attr/exec: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,7"), Ok(vec![0, 1, 2, 3, 7]));
        assert_eq!(parse_cpu_list("1"), Ok(vec![1]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
