//! config-linux.md (and runtime-linux.md): namespaces, devices, masked and
//! read-only paths, sysctl, cgroups, seccomp.

use std::time::Duration;

use serde_json::{json, Value};

use super::state::{created, sleeper};
use super::{t, Test};
use crate::config::{probe_report, set, set_namespaces};
use crate::harness::{host_ns, Ctx, Failure, TResult};
use crate::{ensure, fail};

const NEW_NS: &str = "If path is not specified, the runtime MUST create a new container namespace of type type.";

pub fn tests() -> Vec<Test> {
    vec![
        t("linux.namespaces.pid", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "pid", "pid")
        }),
        t("linux.namespaces.network", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "network", "net")
        }),
        t("linux.namespaces.ipc", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "ipc", "ipc")
        }),
        t("linux.namespaces.uts", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "uts", "uts")
        }),
        t("linux.namespaces.mount", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "mount", "mnt")
        }),
        t("linux.namespaces.cgroup", "config-linux.md#namespaces", NEW_NS, |c| {
            new_ns(c, "cgroup", "cgroup")
        }),
        t("linux.namespaces.user", "config-linux.md#namespaces", NEW_NS, user_ns),
        t(
            "linux.namespaces.inherit",
            "config-linux.md#namespaces",
            "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime \
           namespace of that type.",
            inherit,
        ),
        t(
            "linux.namespaces.path",
            "config-linux.md#namespaces",
            "The runtime MUST place the container process in the namespace associated with that path.",
            join_path,
        ),
        t(
            "linux.namespaces.path-wrong-type",
            "config-linux.md#namespaces",
            "The runtime MUST generate an error if path is not associated with a namespace of type type.",
            wrong_type,
        ),
        t(
            "linux.namespaces.duplicate",
            "config-linux.md#namespaces",
            "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an error.",
            duplicate,
        ),
        t(
            "linux.namespaces.pid-isolation",
            "config-linux.md#namespaces",
            "pid: processes inside the container will only be able to see other processes inside the same container.",
            pid_isolation,
        ),
        t(
            "linux.devices.default",
            "config-linux.md#default-devices",
            "the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty, \
           /dev/ptmx.",
            default_devices,
        ),
        t(
            "linux.devices.create",
            "config-linux.md#devices",
            "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.",
            create_device,
        ),
        t(
            "runtime-linux.dev-symlinks",
            "runtime-linux.md#dev-symbolic-links",
            "runtimes MUST create the following symlinks: /dev/fd -> /proc/self/fd, /dev/stdin -> /proc/self/fd/0, \
           /dev/stdout -> /proc/self/fd/1, /dev/stderr -> /proc/self/fd/2",
            dev_symlinks,
        ),
        t(
            "linux.maskedPaths",
            "config-linux.md#masked-paths",
            "maskedPaths will mask over the provided paths inside the container so that they cannot be read.",
            masked,
        ),
        t(
            "linux.readonlyPaths",
            "config-linux.md#readonly-paths",
            "readonlyPaths will set the provided paths as readonly inside the container.",
            readonly,
        ),
        t(
            "linux.sysctl",
            "config-linux.md#sysctl",
            "sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.",
            sysctl,
        ),
        t(
            "linux.cgroupsPath",
            "config-linux.md#cgroups-path",
            "In the case of an absolute path (starting with /), the runtime MUST take the path to be relative to the \
           cgroups mount point.",
            cgroups_path,
        ),
        t(
            "linux.resources.memory",
            "config-linux.md#memory",
            "limit (int64, OPTIONAL) - sets limit of memory usage in bytes.",
            memory,
        ),
        t(
            "linux.resources.pids",
            "config-linux.md#pids",
            "limit (int64, REQUIRED) - specifies the maximum number of tasks in the cgroup.",
            pids,
        ),
        t(
            "linux.personality",
            "config-linux.md#personality",
            "domain (string, REQUIRED) - the execution domain. ... LINUX32 will set the uname system call to show a \
           32 bit CPU type, such as i686.",
            personality,
        ),
        t(
            "linux.timeOffsets",
            "config-linux.md#offset-for-time-namespace",
            "timeOffsets (object, OPTIONAL) sets the offset for Time Namespace. The name of the clock is the entry key \
           (boottime +1000000 s: /proc/uptime inside is the host's plus the offset).",
            time_offsets,
        ),
        t(
            "linux.rootfsPropagation",
            "config-linux.md#rootfs-mount-propagation",
            "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount propagation. shared: the rootfs mount \
           belongs to a new peer group (private: in none).",
            rootfs_propagation,
        ),
        t(
            "linux.seccomp",
            "config-linux.md#seccomp",
            "Seccomp provides application sandboxing mechanism in the Linux kernel (a rule's action is applied).",
            seccomp,
        ),
    ]
}

fn ns_of(r: &Value, ns: &str) -> Option<u64> {
    r["namespaces"][ns].as_u64()
}

fn new_ns(ctx: &mut Ctx, typ: &str, file: &str) -> TResult {
    let mut cfg = probe_report(&[]);
    let mut types = vec!["pid", "network", "ipc", "uts", "mount"];
    if !types.contains(&typ) {
        types.push(typ);
    }
    set_namespaces(&mut cfg, &types);
    let r = ctx.run_probe(&cfg)?;
    let theirs = ns_of(&r, file);
    ensure!(theirs.is_some(), "the probe could not read /proc/self/ns/{file}");
    ensure!(
        theirs != host_ns(file),
        "the container shares the host's {typ} namespace"
    );
    Ok(())
}

fn user_ns(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    set_namespaces(&mut cfg, &["pid", "network", "ipc", "uts", "mount", "user"]);
    set(
        &mut cfg,
        "linux/uidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    set(
        &mut cfg,
        "linux/gidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    // sysfs and cgroup cannot be mounted from a user namespace without their
    // own network/cgroup namespace being owned by it; keep the test focused.
    if let Some(Value::Array(m)) = cfg.pointer_mut("/mounts") {
        m.retain(|x| x["type"] != "cgroup");
    }
    let r = ctx.run_probe(&cfg)?;
    ensure!(
        ns_of(&r, "user") != host_ns("user"),
        "the container shares the host's user namespace"
    );
    let map: Vec<String> = r["uid_map"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    ensure!(map == ["0", "100000", "65536"], "uid_map is {:?}", r["uid_map"]);
    Ok(())
}

fn inherit(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    set_namespaces(&mut cfg, &["pid", "mount"]);
    crate::config::remove(&mut cfg, "hostname");
    let r = ctx.run_probe(&cfg)?;
    for (typ, file) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        ensure!(
            ns_of(&r, file) == host_ns(file),
            "{typ} not listed, yet the container has its own"
        );
    }
    Ok(())
}

fn holder(ctx: &mut Ctx) -> Result<i64, Failure> {
    let (_, id) = created(ctx, &sleeper())?;
    let pid = ctx.state_ok(&id)?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid for the namespace-holding container");
    Ok(pid)
}

fn join_path(ctx: &mut Ctx) -> TResult {
    let pid = holder(ctx)?;
    let mut want = serde_json::Map::new();
    let mut ns = vec![json!({"type": "pid"}), json!({"type": "mount"})];
    for (typ, file) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        let p = format!("/proc/{pid}/ns/{file}");
        let ino = std::fs::metadata(&p).map(|m| std::os::unix::fs::MetadataExt::ino(&m))?;
        want.insert(file.to_string(), json!(ino));
        ns.push(json!({"type": typ, "path": p}));
    }
    let mut cfg = probe_report(&[]);
    cfg["linux"]["namespaces"] = Value::Array(ns);
    crate::config::remove(&mut cfg, "hostname");
    let r = ctx.run_probe(&cfg)?;
    for (file, ino) in want {
        ensure!(
            r["namespaces"][&file] == ino,
            "{file} namespace is {} instead of the joined {ino}",
            r["namespaces"][&file]
        );
    }
    Ok(())
}

fn wrong_type(ctx: &mut Ctx) -> TResult {
    let pid = holder(ctx)?;
    let mut cfg = probe_report(&[]);
    cfg["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
        {"type": "network", "path": format!("/proc/{pid}/ns/ipc")}
    ]);
    ctx.expect_create_error(&cfg)
}

fn duplicate(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    set_namespaces(&mut cfg, &["pid", "network", "ipc", "uts", "mount", "network"]);
    ctx.expect_create_error(&cfg)
}

fn pid_isolation(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&[]))?;
    ensure!(r["pid"] == 1, "the container process has pid {} instead of 1", r["pid"]);
    ensure!(
        r["processes"] == json!([1]),
        "the container sees processes {}",
        r["processes"]
    );
    Ok(())
}

fn default_devices(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&[]))?;
    let d = &r["devices"];
    for (p, maj, min) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let e = &d[format!("/dev/{p}")];
        ensure!(
            e["type"] == "c" && e["major"] == maj && e["minor"] == min,
            "/dev/{p} is {e} instead of char {maj}:{min}"
        );
    }
    let ptmx = &d["/dev/ptmx"];
    let ok = (ptmx["type"] == "l" && ptmx["link"].as_str().is_some_and(|l| l.ends_with("pts/ptmx")))
        || (ptmx["type"] == "c" && ptmx["major"] == 5 && ptmx["minor"] == 2);
    ensure!(ok, "/dev/ptmx is {ptmx} (want a symlink to pts/ptmx or a bind of it)");
    Ok(())
}

fn create_device(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&["--path", "/dev/conf-null", "--path", "/conf-zero"]);
    set(
        &mut cfg,
        "linux/devices",
        json!([
            {"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 5},
            {"path": "/conf-zero", "type": "c", "major": 1, "minor": 5}
        ]),
    );
    cfg["root"]["readonly"] = json!(false);
    let r = ctx.run_probe(&cfg)?;
    let a = &r["paths"]["/dev/conf-null"];
    ensure!(
        a["type"] == "c" && a["major"] == 1 && a["minor"] == 3,
        "/dev/conf-null is {a}"
    );
    ensure!(
        a["mode"] == 0o640 && a["gid"] == 5,
        "/dev/conf-null has mode {:o} gid {} instead of 640 gid 5",
        a["mode"].as_u64().unwrap_or(0),
        a["gid"]
    );
    let b = &r["paths"]["/conf-zero"];
    ensure!(
        b["type"] == "c" && b["major"] == 1 && b["minor"] == 5,
        "/conf-zero (outside /dev) is {b}"
    );
    Ok(())
}

fn dev_symlinks(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&[]))?;
    for (p, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let e = &r["devices"][format!("/dev/{p}")];
        ensure!(
            e["type"] == "l" && e["link"] == target,
            "/dev/{p} is {e} instead of a symlink to {target}"
        );
    }
    Ok(())
}

fn masked(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[
        "--path",
        "/proc/kcore",
        "--path",
        "/proc/keys",
        "--path",
        "/sys/firmware",
        "--path",
        "/proc/cpuinfo",
    ]);
    cfg["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/keys", "/sys/firmware", "/no/such/path"]);
    let r = ctx.run_probe(&cfg)?;
    for f in ["/proc/kcore", "/proc/keys"] {
        let a = &r["paths"][f];
        ensure!(a["read"] != "ok" || a["len"] == 0, "masked {f} is readable: {a}");
    }
    let fw = &r["paths"]["/sys/firmware"];
    ensure!(
        fw["read"] != "ok" || fw["entries"] == 0,
        "masked /sys/firmware lists entries: {fw}"
    );
    let ci = &r["paths"]["/proc/cpuinfo"];
    ensure!(
        ci["len"].as_u64().unwrap_or(0) > 0,
        "an unmasked file (/proc/cpuinfo) is unreadable: {ci}"
    );
    Ok(())
}

fn readonly(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&["--path", "/proc/sys/kernel/hostname", "--path", "/tmp"]);
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["readonlyPaths"] = json!(["/proc/sys", "/tmp"]);
    let r = ctx.run_probe(&cfg)?;
    let h = &r["paths"]["/proc/sys/kernel/hostname"];
    ensure!(
        h["read"] == "ok",
        "read-only /proc/sys/kernel/hostname cannot be read: {h}"
    );
    ensure!(
        h["write"] == "EROFS",
        "/proc/sys/kernel/hostname opened for writing gave {} instead of EROFS",
        h["write"]
    );
    let t = &r["paths"]["/tmp"];
    ensure!(
        t["write"] == "EROFS",
        "creating a file in read-only /tmp gave {} instead of EROFS",
        t["write"]
    );
    Ok(())
}

fn sysctl(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&["--sysctl", "net.ipv4.ip_forward", "--sysctl", "kernel.msgmax"]);
    set(
        &mut cfg,
        "linux/sysctl",
        json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "4242"}),
    );
    let r = ctx.run_probe(&cfg)?;
    let s = &r["sysctls"];
    ensure!(
        s["net.ipv4.ip_forward"] == "1" && s["kernel.msgmax"] == "4242",
        "sysctls read {s}"
    );
    Ok(())
}

fn cgroup_line<'a>(r: &'a Value, controller: &str) -> Option<&'a str> {
    r["cgroup"].as_array()?.iter().filter_map(Value::as_str).find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls.split(',').any(|c| c == controller).then_some(path)
    })
}

fn cgroups_path(ctx: &mut Ctx) -> TResult {
    // One level under the root, so that deleting the container removes it all.
    let path = format!("/{}", ctx.new_id());
    let mut cfg = probe_report(&[]);
    set(&mut cfg, "linux/cgroupsPath", json!(path));
    let r = ctx.run_probe(&cfg)?;
    for c in ["memory", "pids"] {
        let got = cgroup_line(&r, c);
        ensure!(got == Some(path.as_str()), "{c} cgroup is {got:?} instead of {path}");
    }
    Ok(())
}

/// The value of a cgroup v1 file of a created container's process.
fn cgroup_file(ctx: &mut Ctx, cfg: &Value, controller: &str, file: &str) -> Result<String, Failure> {
    let (_, id) = created(ctx, cfg)?;
    let pid = ctx.state_ok(&id)?["pid"].as_i64().unwrap_or(0);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let r = json!({"cgroup": cg.lines().collect::<Vec<_>>()});
    let Some(rel) = cgroup_line(&r, controller) else {
        fail!("no {controller} line in /proc/{pid}/cgroup")
    };
    let p = format!("/sys/fs/cgroup/{controller}{rel}/{file}");
    if !std::path::Path::new(&format!("/sys/fs/cgroup/{controller}")).exists() {
        return Err(Failure::Skip(format!(
            "no cgroup v1 {controller} hierarchy on this host"
        )));
    }
    Ok(std::fs::read_to_string(&p)
        .map_err(|e| Failure::Fail(format!("{p}: {e}")))?
        .trim()
        .to_string())
}

fn memory(ctx: &mut Ctx) -> TResult {
    let mut cfg = sleeper();
    set(&mut cfg, "linux/resources/memory", json!({"limit": 64 << 20}));
    let v = cgroup_file(ctx, &cfg, "memory", "memory.limit_in_bytes")?;
    ensure!(
        v == (64u64 << 20).to_string(),
        "memory.limit_in_bytes is {v} instead of {}",
        64u64 << 20
    );
    Ok(())
}

fn pids(ctx: &mut Ctx) -> TResult {
    let mut cfg = sleeper();
    set(&mut cfg, "linux/resources/pids", json!({"limit": 42}));
    let v = cgroup_file(ctx, &cfg, "pids", "pids.max")?;
    ensure!(v == "42", "pids.max is {v} instead of 42");
    Ok(())
}

fn seccomp(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    set(
        &mut cfg,
        "linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        }),
    );
    let r = ctx.run_probe(&cfg)?;
    ensure!(
        r["seccomp"] == "2",
        "Seccomp mode is {} instead of 2 (filter)",
        r["seccomp"]
    );
    let cwd = r["cwd"].as_str().unwrap_or("");
    ensure!(
        cwd.starts_with("error"),
        "getcwd was not blocked by the filter (cwd {cwd:?})"
    );
    let _ = Duration::ZERO;
    Ok(())
}

fn personality(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&[]))?;
    let native = r["machine"].clone();
    let mut cfg = probe_report(&[]);
    set(&mut cfg, "linux/personality", json!({"domain": "LINUX32"}));
    let r = ctx.run_probe(&cfg)?;
    let m = r["machine"].as_str().unwrap_or("");
    ensure!(
        matches!(
            m,
            "i386" | "i486" | "i586" | "i686" | "armv7l" | "armv8l" | "ppc" | "s390" | "mips"
        ),
        "uname machine is {:?} with LINUX32 (without: {native})",
        r["machine"]
    );
    Ok(())
}

fn uptime(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

fn time_offsets(ctx: &mut Ctx) -> TResult {
    const OFFSET: f64 = 1_000_000.0;
    let mut cfg = probe_report(&["--path", "/proc/uptime"]);
    set_namespaces(&mut cfg, &["pid", "network", "ipc", "uts", "mount", "time"]);
    set(
        &mut cfg,
        "linux/timeOffsets",
        json!({"boottime": {"secs": OFFSET as i64, "nanosecs": 0}}),
    );
    let before = uptime(&std::fs::read_to_string("/proc/uptime")?);
    let r = ctx.run_probe(&cfg)?;
    let after = uptime(&std::fs::read_to_string("/proc/uptime")?);
    ensure!(
        ns_of(&r, "time").is_some() && ns_of(&r, "time") != host_ns("time"),
        "the container shares the host's time namespace"
    );
    let inside = r["paths"]["/proc/uptime"]["content"].as_str().and_then(uptime);
    let (Some(before), Some(after), Some(inside)) = (before, after, inside) else {
        fail!("cannot read /proc/uptime: inside {}", r["paths"]["/proc/uptime"])
    };
    ensure!(
        inside >= before + OFFSET - 1.0 && inside <= after + OFFSET + 1.0,
        "/proc/uptime inside is {inside}, the host's was {before}..{after}: not offset by {OFFSET} s"
    );
    Ok(())
}

fn root_propagation(r: &Value) -> Vec<String> {
    super::root::mount_at(r, "/")
        .and_then(|m| m["optional"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

fn rootfs_propagation(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    set(&mut cfg, "linux/rootfsPropagation", json!("shared"));
    let r = ctx.run_probe(&cfg)?;
    let p = root_propagation(&r);
    ensure!(
        p.iter().any(|o| o.starts_with("shared:")),
        "rootfsPropagation shared: / has propagation {p:?}"
    );
    let mut cfg = probe_report(&[]);
    set(&mut cfg, "linux/rootfsPropagation", json!("private"));
    let r = ctx.run_probe(&cfg)?;
    let p = root_propagation(&r);
    ensure!(
        p.iter().all(|o| !o.starts_with("shared:") && !o.starts_with("master:")),
        "rootfsPropagation private: / has propagation {p:?}"
    );
    Ok(())
}
