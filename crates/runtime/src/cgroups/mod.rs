//! Control groups: the container's own cgroup, its limits
//! (`linux.resources`), its processes, freezing, and removal.
//!
//! On v1 and hybrid hosts (the development machine) the container gets a
//! directory in every v1 controller hierarchy; on a pure cgroup v2 host one
//! directory in the unified tree. Callers never ask which: the methods of
//! [`Cgroup`] do the right thing for the kind it was made on.

pub mod devices_bpf;
pub mod stats;
pub mod v1;
pub mod v2;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

/// v1 controllers we place the container in (named hierarchies such as
/// name=systemd belong to the init system, not to us).
const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
];

/// A v1 hierarchy: where it is mounted and which controllers it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    pub controllers: Vec<String>,
    /// The caller's cgroup in it (/proc/self/cgroup).
    pub own: String,
}

/// What this host offers.
pub enum Host {
    V1(Vec<Hierarchy>),
    /// Pure cgroup v2: the unified tree's mount point and our cgroup in it.
    V2 {
        mountpoint: PathBuf,
        own: String,
    },
    None,
}

pub fn detect() -> Host {
    let (Ok(mountinfo), Ok(own)) = (
        std::fs::read_to_string("/proc/self/mountinfo"),
        std::fs::read_to_string("/proc/self/cgroup"),
    ) else {
        return Host::None;
    };
    let v1 = hierarchies(&mountinfo, &own);
    if !v1.is_empty() {
        return Host::V1(v1);
    }
    let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    if unified {
        let own_path = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/")
            .to_string();
        Host::V2 {
            mountpoint: PathBuf::from("/sys/fs/cgroup"),
            own: own_path,
        }
    } else {
        Host::None
    }
}

/// A mounted cgroup v1 hierarchy, paired with our cgroup in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub mountpoint: PathBuf,
    /// The mount's root within the hierarchy (mountinfo field 4).
    pub mount_root: String,
    /// Our cgroup in the hierarchy (/proc/self/cgroup).
    pub cg_path: String,
    /// `cpu,cpuacct`, `name=systemd`: the names /proc/self/cgroup gives it.
    pub names: String,
}

/// Every v1 hierarchy mounted here, from `/proc/self/mountinfo` and
/// `/proc/self/cgroup` (`N:controllers:/path`), named ones included.
pub fn v1_mounts(mountinfo: &str, own: &str) -> Vec<V1Mount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split_whitespace();
        if post.next() != Some("cgroup") {
            continue;
        }
        let super_opts = post.nth(1).unwrap_or("");
        let mut pre = pre.split_whitespace();
        let (Some(mount_root), Some(mountpoint)) = (pre.nth(3), pre.next()) else {
            continue;
        };
        for entry in own.lines() {
            let mut parts = entry.splitn(3, ':');
            let (_, names, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            if names.is_empty() {
                continue;
            }
            if names.split(',').all(|c| super_opts.split(',').any(|o| o == c)) {
                // A hierarchy can be mounted more than once (an rbind of
                // /sys into a rootfs copies it): the first, the host's, counts.
                if out.iter().any(|m: &V1Mount| m.names == names) {
                    break;
                }
                out.push(V1Mount {
                    mountpoint: PathBuf::from(mountpoint),
                    mount_root: mount_root.to_string(),
                    cg_path: path.to_string(),
                    names: names.to_string(),
                });
                break;
            }
        }
    }
    out
}

/// The v1 hierarchies holding controllers we manage (each once).
pub fn hierarchies(mountinfo: &str, own: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for m in v1_mounts(mountinfo, own) {
        let controllers: Vec<String> = m
            .names
            .split(',')
            .filter(|c| CONTROLLERS.contains(c))
            .map(String::from)
            .collect();
        if controllers.is_empty() || out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy {
            mountpoint: m.mountpoint,
            controllers,
            own: m.cg_path,
        });
    }
    out
}

/// Where the container's cgroup goes inside a hierarchy, from
/// `linux.cgroupsPath`: absolute from the hierarchy's root, relative from the
/// caller's own cgroup (as runc), and `/<id>` when absent.
pub fn inner_path(cgroups_path: Option<&Path>, own: &str, id: &str) -> Result<PathBuf, String> {
    let p = match cgroups_path {
        None => PathBuf::from("/").join(id),
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => Path::new(own).join(p),
    };
    if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(format!("linux.cgroupsPath {p:?}: must not contain \"..\""));
    }
    if p == Path::new("/") {
        return Err("linux.cgroupsPath: the root cgroup cannot be the container's".into());
    }
    Ok(p)
}

/// One directory of the container's cgroup.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Dir {
    /// The hierarchy's controllers, comma-joined.
    pub controllers: String,
    pub path: PathBuf,
    /// Made by this container (and so removed with it); a cgroup that
    /// existed before is used but left in place (runtime.md "Delete").
    pub created: bool,
    /// An ancestor `mkdir -p` had to make: removed, never used.
    #[serde(default)]
    pub parent_only: bool,
}

/// The container's cgroup: one directory per managed hierarchy.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    pub dirs: Vec<Dir>,
    #[serde(default)]
    pub v2: bool,
}

/// Controllers we ask a v2 parent to hand down to its children.
const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "misc", "rdma"];

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cgroup: writing {value:?} to {}: {e}", path.display()))
}

impl Cgroup {
    /// Make the directories (`mkdir -p`), cpusets filled from their parents.
    /// Each is recorded in `self` before it is made, so that on failure the
    /// caller can remove what exists.
    pub fn create(&mut self, hierarchies: &[Hierarchy], cgroups_path: Option<&Path>, id: &str) -> Result<(), String> {
        self.plan(hierarchies, cgroups_path, id)?;
        self.make(hierarchies)
    }

    /// Record the directories the container's cgroup will have, making
    /// nothing yet: the caller saves the plan first, so that a runtime
    /// killed while making them leaves paths `delete` can find.
    pub fn plan(&mut self, hierarchies: &[Hierarchy], cgroups_path: Option<&Path>, id: &str) -> Result<(), String> {
        for h in hierarchies {
            let inner = inner_path(cgroups_path, &h.own, id)?;
            let dir = h.mountpoint.join(inner.strip_prefix("/").unwrap_or(&inner));
            let existed = dir.is_dir();
            // Recorded before creating, so a failure part-way still undoes
            // it: the leaf first (it is what the others look up), then each
            // missing ancestor, deepest first, which is the removal order.
            self.dirs.push(Dir {
                controllers: h.controllers.join(","),
                path: dir.clone(),
                created: !existed,
                parent_only: false,
            });
            for ancestor in dir
                .ancestors()
                .skip(1)
                .take_while(|a| a.starts_with(&h.mountpoint) && !a.is_dir())
            {
                self.dirs.push(Dir {
                    controllers: h.controllers.join(","),
                    path: ancestor.to_path_buf(),
                    created: true,
                    parent_only: true,
                });
            }
        }
        Ok(())
    }

    /// Make the planned directories (`mkdir -p`), cpusets filled from
    /// their parents.
    pub fn make(&self, hierarchies: &[Hierarchy]) -> Result<(), String> {
        for h in hierarchies {
            let ctrls = h.controllers.join(",");
            let Some(d) = self.dirs.iter().find(|d| !d.parent_only && d.controllers == ctrls) else {
                continue;
            };
            std::fs::create_dir_all(&d.path).map_err(|e| format!("cgroup: creating {}: {e}", d.path.display()))?;
            if h.controllers.iter().any(|c| c == "cpuset") {
                fill_cpuset(&h.mountpoint, &d.path)?;
            }
        }
        Ok(())
    }

    pub fn dir(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.iter().find(|d| !d.parent_only).map(|d| d.path.as_path());
        }
        self.dirs
            .iter()
            .find(|d| !d.parent_only && d.controllers.split(',').any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// The v2 counterpart of [`Cgroup::create`]: one directory, and each
    /// ancestor told to enable our controllers for its children
    /// (cgroup.subtree_control), from the top down.
    pub fn create_v2(
        &mut self,
        mountpoint: &Path,
        own: &str,
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<(), String> {
        self.plan_v2(mountpoint, own, cgroups_path, id)?;
        self.make_v2(mountpoint)
    }

    /// The v2 counterpart of [`Cgroup::plan`].
    pub fn plan_v2(
        &mut self,
        mountpoint: &Path,
        own: &str,
        cgroups_path: Option<&Path>,
        id: &str,
    ) -> Result<(), String> {
        self.v2 = true;
        let inner = inner_path(cgroups_path, own, id)?;
        let dir = mountpoint.join(inner.strip_prefix("/").unwrap_or(&inner));
        self.dirs.push(Dir {
            controllers: "unified".into(),
            path: dir.clone(),
            created: !dir.is_dir(),
            parent_only: false,
        });
        for ancestor in dir
            .ancestors()
            .skip(1)
            .take_while(|a| a.starts_with(mountpoint) && !a.is_dir())
        {
            self.dirs.push(Dir {
                controllers: "unified".into(),
                path: ancestor.to_path_buf(),
                created: true,
                parent_only: true,
            });
        }
        Ok(())
    }

    /// The v2 counterpart of [`Cgroup::make`].
    pub fn make_v2(&self, mountpoint: &Path) -> Result<(), String> {
        let dir = self.dir("").ok_or("cgroup: nothing planned")?.to_path_buf();
        let mut levels: Vec<&Path> = dir.ancestors().take_while(|a| a.starts_with(mountpoint)).collect();
        levels.reverse();
        for pair in levels.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            let available = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
            let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
            let missing: Vec<String> = available
                .split_whitespace()
                .filter(|c| V2_CONTROLLERS.contains(c) && !enabled.split_whitespace().any(|e| e == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty() {
                write(&parent.join("cgroup.subtree_control"), &missing.join(" "))?;
            }
            if !child.is_dir() {
                std::fs::create_dir(child).map_err(|e| format!("cgroup: creating {}: {e}", child.display()))?;
            }
        }
        Ok(())
    }

    /// Apply `linux.resources`; each refusal names the file and value.
    pub fn apply(&self, resources: &LinuxResources, extra_devices: &[String]) -> Result<(), String> {
        self.check_before_update(resources)?;
        if self.v2 {
            let dir = self.dir("").ok_or("cgroup: no directory")?;
            let (writes, ignored) = v2::writes(resources)?;
            for field in ignored {
                tracing::warn!("{field} has no cgroup v2 equivalent here and is not applied");
            }
            for (file, value) in writes {
                write(&dir.join(&file), &value)?;
            }
            if let Some(rules) = resources.devices().as_ref().filter(|r| !r.is_empty()) {
                attach_device_program(dir, rules, extra_devices)?;
            }
            return Ok(());
        }
        // Consecutive lines for one file (devices.allow: one rule per
        // write, a dozen by default) share one open.
        let mut open: Option<(PathBuf, std::fs::File)> = None;
        for w in v1::writes(resources, extra_devices)? {
            let Some(dir) = self.dir(w.controller) else {
                return Err(format!(
                    "cgroup: {} needs the {} controller, which this host has not mounted",
                    w.file, w.controller
                ));
            };
            let path = dir.join(&w.file);
            let failed = |e: std::io::Error| format!("cgroup: writing {:?} to {}: {e}", w.value, path.display());
            let file = match open.take() {
                Some((p, f)) if p == path => f,
                _ => std::fs::OpenOptions::new().write(true).open(&path).map_err(failed)?,
            };
            let file = open.insert((path.clone(), file));
            std::io::Write::write_all(&mut file.1, w.value.as_bytes()).map_err(failed)?;
        }
        Ok(())
    }

    /// `memory.checkBeforeUpdate`: refuse a memory limit below what the
    /// cgroup already uses, instead of letting the kernel reclaim or OOM-kill.
    fn check_before_update(&self, resources: &LinuxResources) -> Result<(), String> {
        let Some(mem) = resources.memory() else { return Ok(()) };
        let (Some(true), Some(limit)) = (mem.check_before_update(), mem.limit().filter(|l| *l > 0)) else {
            return Ok(());
        };
        let Some(dir) = self.dir("memory") else { return Ok(()) };
        let file = if self.v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        let usage: i64 = std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if limit < usage {
            return Err(format!(
                "linux.resources.memory.checkBeforeUpdate: the new limit {limit} is below the current usage {usage}"
            ));
        }
        Ok(())
    }

    /// The files through which a process moves itself in: `tasks` in each
    /// v1 hierarchy, `cgroup.procs` on v2. The process to move (the init
    /// before its exec, exec's helper) writes "0" to each.
    ///
    /// Why not write its pid from the runtime: in cgroup v1, a write of
    /// another process's pid (to `cgroup.procs` or `tasks`) takes the
    /// threadgroup rwsem for writing, which waits for an RCU grace period
    /// whenever no such write happened just before: 7-15 ms on this VM, in
    /// every `create` on a quiet host. A thread moving itself ("0" to
    /// `tasks`) skips that lock: 0.1 ms for two hierarchies. (On v2 the
    /// kernel checks some permissions only at the write, against the
    /// opener's credentials: rootless callers use [`Cgroup::add`], whose
    /// refusal they can still survive.)
    pub fn join_fds(&self) -> Result<Vec<OwnedFd>, String> {
        let dirs: Vec<&Path> = self
            .dirs
            .iter()
            .filter(|d| !d.parent_only)
            .map(|d| d.path.as_path())
            .collect();
        Self::open_join_files(&dirs, self.v2)
    }

    /// For `exec`: on v2, the cgroup the container's init is in now. That
    /// is the container's own unless the container made sub-cgroups, which
    /// leaves its own refusing members (no internal processes: EBUSY); runc
    /// joins the init's then too. On v1, the container's directories.
    pub fn exec_join_fds(&self, init: Pid) -> Result<Vec<OwnedFd>, String> {
        if !self.v2 || self.dirs.is_empty() {
            return self.join_fds();
        }
        let Host::V2 { mountpoint, .. } = detect() else {
            return self.join_fds();
        };
        let own = std::fs::read_to_string(format!("/proc/{init}/cgroup"))
            .map_err(|e| format!("cgroup: reading /proc/{init}/cgroup: {e}"))?;
        match own.lines().find_map(|l| l.strip_prefix("0::")) {
            Some(path) => Self::open_join_files(&[&mountpoint.join(path.trim_start_matches('/'))], true),
            None => self.join_fds(),
        }
    }

    /// Move `pid` (and its future children) in from here: for rootless
    /// callers, where a refusal must come to the runtime, which then goes
    /// on without a cgroup (as runc does).
    pub fn add(&self, pid: Pid) -> Result<(), String> {
        for d in self.dirs.iter().filter(|d| !d.parent_only) {
            write(&d.path.join("cgroup.procs"), &pid.as_raw().to_string())?;
        }
        Ok(())
    }

    fn open_join_files(dirs: &[&Path], v2: bool) -> Result<Vec<OwnedFd>, String> {
        let file = if v2 { "cgroup.procs" } else { "tasks" };
        dirs.iter()
            .map(|d| {
                let path = d.join(file);
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|e| format!("cgroup: opening {}: {e}", path.display()))
            })
            .collect()
    }

    /// Every process in the cgroup.
    pub fn procs(&self) -> Vec<Pid> {
        let dir = self.dir("pids").or_else(|| self.dirs.first().map(|d| d.path.as_path()));
        let Some(dir) = dir else { return Vec::new() };
        std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .map(Pid::from_raw)
            .collect()
    }

    /// Freeze (pause) or thaw (resume) every process, and wait until the
    /// kernel reports the new state.
    pub fn freeze(&self, frozen: bool) -> Result<(), String> {
        if self.v2 {
            return self.freeze_v2(frozen);
        }
        let dir = self
            .dir("freezer")
            .ok_or("cgroup: the freezer controller is not mounted")?;
        let state = dir.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            write(&state, want)?;
            let now = std::fs::read_to_string(&state).unwrap_or_default();
            if now.trim() == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "cgroup: {} stayed {} instead of {want}",
                    state.display(),
                    now.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// v2: cgroup.freeze, confirmed by "frozen 1" in cgroup.events.
    fn freeze_v2(&self, frozen: bool) -> Result<(), String> {
        let dir = self.dir("").ok_or("cgroup: no directory")?;
        write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(dir.join("cgroup.events"))
            .unwrap_or_default()
            .lines()
            .any(|l| l == want)
        {
            if Instant::now() > deadline {
                return Err(format!("cgroup: {} never reported {want}", dir.display()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Is the cgroup frozen?
    pub fn is_frozen(&self) -> bool {
        if self.v2 {
            return self
                .dir("")
                .and_then(|d| std::fs::read_to_string(d.join("cgroup.events")).ok())
                .is_some_and(|e| e.lines().any(|l| l == "frozen 1"));
        }
        self.dir("freezer")
            .and_then(|d| std::fs::read_to_string(d.join("freezer.state")).ok())
            .is_some_and(|s| s.trim() == "FROZEN")
    }

    /// Kill what is left, then remove the directories; retried with a
    /// bounded backoff while the kernel still counts exiting tasks.
    pub fn remove(&self) -> Result<(), String> {
        if self.is_frozen() {
            // SIGKILL is not delivered to frozen tasks until they thaw.
            let _ = self.freeze(false);
        }
        // v2's cgroup.kill takes every process at once, newcomers included.
        let killed_all = self.v2
            && self
                .dir("")
                .is_some_and(|d| d.join("cgroup.kill").exists() && write(&d.join("cgroup.kill"), "1").is_ok());
        if !killed_all {
            for pid in self.procs() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        for dir in self.dirs.iter().filter(|d| d.created).map(|d| &d.path) {
            let mut delay = Duration::from_millis(1);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if Instant::now() < deadline => {
                        tracing::debug!("cgroup {} not removable yet: {e}", dir.display());
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(Duration::from_millis(100));
                    }
                    Err(e) => return Err(format!("cgroup: removing {}: {e}", dir.display())),
                }
            }
        }
        Ok(())
    }
}

/// Device rules on v2: build the program for the config's rules plus the
/// default nodes and `linux.devices`, load it and attach it to the cgroup.
fn attach_device_program(
    dir: &Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    extra: &[String],
) -> Result<(), String> {
    let mut program_rules = rules.iter().map(devices_bpf::rule).collect::<Result<Vec<_>, _>>()?;
    program_rules.extend(devices_bpf::default_allowed());
    for line in extra {
        // "c MAJ:MIN rwm" lines, as built for v1
        let mut parts = line.split_whitespace();
        let (Some(t), Some(nums)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (major, minor) = nums.split_once(':').unwrap_or((nums, "*"));
        program_rules.push(devices_bpf::Rule {
            allow: true,
            typ: Some(if t == "b" { 1 } else { 2 }),
            major: major.parse().ok(),
            minor: minor.parse().ok(),
            access: 7,
        });
    }
    let program = devices_bpf::program(&program_rules);
    let prog = crate::sys::bpf_load_cgroup_device_program(&program).map_err(|e| {
        format!(
            "cgroup: loading the device program ({} instructions): {}",
            program.len(),
            e.desc()
        )
    })?;
    let cgroup = crate::sys::openat2(libc::AT_FDCWD, dir, libc::O_RDONLY | libc::O_DIRECTORY, 0, 0)
        .map_err(|e| format!("cgroup: opening {}: {}", dir.display(), e.desc()))?;
    crate::sys::bpf_attach_cgroup_device(&cgroup, &prog).map_err(|e| {
        format!(
            "cgroup: attaching the device program to {}: {}",
            dir.display(),
            e.desc()
        )
    })
}

/// A new cpuset cgroup has empty cpus/mems and refuses tasks: copy them
/// down from the nearest ancestor that has them, level by level.
fn fill_cpuset(mountpoint: &Path, leaf: &Path) -> Result<(), String> {
    let mut chain: Vec<&Path> = leaf
        .ancestors()
        .take_while(|p| p.starts_with(mountpoint) && *p != mountpoint)
        .collect();
    chain.reverse();
    for dir in chain {
        let parent = dir.parent().unwrap_or(mountpoint);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if mine.trim().is_empty() {
                let theirs = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
                write(&dir.join(file), theirs.trim())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_mounts_pair_names_with_paths() {
        let own = "12:pids:/user.slice\n3:cpu:/a\n1:name=systemd:/init.scope\n0::/x\n";
        let mi = "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n\
                  31 25 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
                  32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let got: Vec<(PathBuf, String, String)> = v1_mounts(mi, own)
            .into_iter()
            .map(|h| (h.mountpoint, h.cg_path, h.names))
            .collect();
        let h = |m: &str, p: &str, c: &str| (PathBuf::from(m), p.to_string(), c.to_string());
        assert_eq!(
            got,
            vec![
                h("/sys/fs/cgroup/cpu", "/a", "cpu"),
                h("/sys/fs/cgroup/pids", "/user.slice", "pids"),
                h("/sys/fs/cgroup/systemd", "/init.scope", "name=systemd"),
            ]
        );
        // The same hierarchy mounted again (an rbind copy) is not listed twice.
        let twice = format!("{mi}50 25 0:26 / /rootfs/sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
        assert_eq!(v1_mounts(&twice, own).len(), 3);
        // A mount that shows only a subtree: its root is in field 4.
        let nested = "40 25 0:26 /a /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n";
        assert_eq!(v1_mounts(nested, own)[0].mount_root, "/a");
    }

    #[test]
    fn hierarchies_of_a_hybrid_host() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
                  31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  32 25 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  33 25 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let own = "4:memory:/session/1\n1:cpu:/\n9:name=systemd:/\n0::/\n";
        let h = hierarchies(mi, own);
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].controllers, vec!["memory"]);
        assert_eq!(h[1].own, "/session/1");
    }

    #[test]
    fn cgroups_path_forms() {
        assert_eq!(inner_path(None, "/a", "c1").unwrap(), PathBuf::from("/c1"));
        assert_eq!(
            inner_path(Some(Path::new("/x/y")), "/a", "c1").unwrap(),
            PathBuf::from("/x/y")
        );
        assert_eq!(
            inner_path(Some(Path::new("x")), "/a", "c1").unwrap(),
            PathBuf::from("/a/x")
        );
        assert!(inner_path(Some(Path::new("/x/../..")), "/", "c1").is_err());
        assert!(inner_path(Some(Path::new("/")), "/", "c1").is_err());
    }
}

/// systemd's `slice:prefix:name` form of `linux.cgroupsPath` (used with
/// `--systemd-cgroup`), as the cgroupfs path systemd would give it:
/// `system.slice:docker:abc` → `/system.slice/docker-abc.scope`, and a
/// slice name expands through its parents (`a-b.slice` →
/// `/a.slice/a-b.slice`), as runc does.
pub fn systemd_path(spec: &str, id: &str) -> Result<PathBuf, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (slice, prefix, name) = match parts.as_slice() {
        [slice, prefix, name] => (*slice, *prefix, *name),
        _ if spec.is_empty() => ("", "", id),
        _ => {
            return Err(format!(
                "linux.cgroupsPath {spec:?}: expected \"slice:prefix:name\" with --systemd-cgroup"
            ))
        }
    };
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let mut path = expand_slice(slice)?;
    let name = if name.is_empty() { id } else { name };
    if name.ends_with(".slice") {
        // the container's cgroup is a slice of its own, under `slice`
        path.push(expand_slice(name)?.file_name().map(PathBuf::from).unwrap_or_default());
    } else {
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        if unit.contains('/') {
            return Err(format!("linux.cgroupsPath {spec:?}: a unit name cannot contain '/'"));
        }
        path.push(unit);
    }
    Ok(path)
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Result<PathBuf, String> {
    let bad = || format!("linux.cgroupsPath: {slice:?} is not a valid systemd slice name");
    let stem = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if stem == "-" {
        return Ok(PathBuf::from("/"));
    }
    if stem.is_empty() || stem.contains('/') || stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(bad());
    }
    let mut path = PathBuf::from("/");
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

#[cfg(test)]
mod systemd_tests {
    use super::*;

    #[test]
    fn slices_and_scopes() {
        assert_eq!(
            systemd_path("system.slice:docker:abc", "x").unwrap(),
            PathBuf::from("/system.slice/docker-abc.scope")
        );
        assert_eq!(
            systemd_path("machine-qemu.slice:libpod:c1", "x").unwrap(),
            PathBuf::from("/machine.slice/machine-qemu.slice/libpod-c1.scope")
        );
        assert_eq!(
            systemd_path(":mc:", "c7").unwrap(),
            PathBuf::from("/system.slice/mc-c7.scope")
        );
        assert_eq!(systemd_path("-.slice::c1", "x").unwrap(), PathBuf::from("/c1.scope"));
        assert!(systemd_path("nodots:a:b", "x").is_err());
        assert!(systemd_path("/abs/path", "x").is_err());
    }
}
