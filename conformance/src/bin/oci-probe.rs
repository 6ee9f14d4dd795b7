//! `oci-probe`: the conformance suite's eyes inside a container.
//!
//! Statically linked (`-C target-feature=+crt-static`) so that it runs in a
//! BusyBox rootfs with no libc, and placed at `/oci-probe` in each test's
//! rootfs. It never parses shell output: it reads the kernel's own view
//! (`/proc/self/*`, `getrlimit`, `stat`) and prints one JSON object.
//!
//! Modes (the first argument):
//!   report [--path P]... [--sysctl KEY]...   print what the process sees, exit 0
//!                                            (also uname's machine, scheduling
//!                                            policy, nice, I/O priority, CPU affinity)
//!   exit CODE                                exit with CODE
//!   sleep SECS                               sleep, then exit 0
//!   touch FILE [SECS]                        create FILE, then sleep SECS (default 0)
//!   wait-signal FILE                         block signals, write FILE.ready, wait for one
//!                                            signal, write its number to FILE, exit 0
//!
//! The suite compares what it reads here with the config it generated.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use nix::sys::resource::{getrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use serde_json::{json, Map, Value};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("report");
    let rest = args.get(2..).unwrap_or_default();
    match mode {
        "report" => {
            let report = report(rest);
            let mut out = std::io::stdout().lock();
            let text = serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            if writeln!(out, "{text}").is_err() {
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        "exit" => ExitCode::from(rest.first().and_then(|c| c.parse::<u8>().ok()).unwrap_or(0)),
        "sleep" => {
            sleep_secs(rest.first());
            ExitCode::SUCCESS
        }
        "touch" => {
            let Some(file) = rest.first() else {
                return usage();
            };
            if let Err(e) = fs::write(file, b"started\n") {
                eprintln!("oci-probe: touch {file}: {e}");
                return ExitCode::from(2);
            }
            sleep_secs(rest.get(1));
            ExitCode::SUCCESS
        }
        "wait-signal" => match rest.first() {
            Some(file) => wait_signal(file),
            None => usage(),
        },
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: oci-probe report|exit|sleep|touch|wait-signal ...");
    ExitCode::from(2)
}

fn sleep_secs(arg: Option<&String>) {
    let secs = arg.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
}

/// PID 1 of a PID namespace only receives signals it handles; a blocked
/// signal is never "ignored" by the kernel, so `sigwait` sees it even as init.
fn wait_signal(file: &str) -> ExitCode {
    let mut set = SigSet::empty();
    for sig in Signal::iterator() {
        if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            set.add(sig);
        }
    }
    if let Err(e) = set.thread_block() {
        eprintln!("oci-probe: sigprocmask: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = fs::write(format!("{file}.ready"), b"ready\n") {
        eprintln!("oci-probe: write {file}.ready: {e}");
        return ExitCode::from(2);
    }
    match set.wait() {
        Ok(sig) => {
            let _ = fs::write(file, format!("{}\n", sig as i32));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oci-probe: sigwait: {e}");
            ExitCode::from(2)
        }
    }
}

fn report(args: &[String]) -> Value {
    let mut paths = Vec::new();
    let mut sysctls = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--path" => paths.extend(it.next().cloned()),
            "--sysctl" => sysctls.extend(it.next().cloned()),
            _ => {}
        }
    }
    let status = read_status();
    let mut r = Map::new();
    r.insert("pid".into(), json!(std::process::id()));
    r.insert("args".into(), json!(std::env::args().collect::<Vec<_>>()));
    r.insert(
        "env".into(),
        json!(std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>()),
    );
    r.insert(
        "cwd".into(),
        json!(std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("error: {e}"))),
    );
    r.insert("uid".into(), ids(status.get("Uid")));
    r.insert("gid".into(), ids(status.get("Gid")));
    r.insert("groups".into(), ids(status.get("Groups")));
    r.insert("umask".into(), json!(status.get("Umask")));
    r.insert("no_new_privs".into(), json!(status.get("NoNewPrivs")));
    r.insert("seccomp".into(), json!(status.get("Seccomp")));
    let caps: BTreeMap<&str, Option<&String>> = [
        ("inheritable", "CapInh"),
        ("permitted", "CapPrm"),
        ("effective", "CapEff"),
        ("bounding", "CapBnd"),
        ("ambient", "CapAmb"),
    ]
    .into_iter()
    .map(|(k, line)| (k, status.get(line)))
    .collect();
    r.insert("capabilities".into(), json!(caps));
    r.insert("hostname".into(), json!(read_trim("/proc/sys/kernel/hostname")));
    r.insert("domainname".into(), json!(read_trim("/proc/sys/kernel/domainname")));
    r.insert("oom_score_adj".into(), json!(read_trim("/proc/self/oom_score_adj")));
    r.insert("namespaces".into(), namespaces());
    r.insert("uid_map".into(), json!(read_trim("/proc/self/uid_map")));
    r.insert("gid_map".into(), json!(read_trim("/proc/self/gid_map")));
    r.insert("mounts".into(), mounts());
    r.insert("rlimits".into(), rlimits());
    r.insert(
        "cgroup".into(),
        json!(read_trim("/proc/self/cgroup").map(|s| s.lines().map(String::from).collect::<Vec<_>>())),
    );
    r.insert("processes".into(), processes());
    r.insert("devices".into(), devices());
    r.insert("machine".into(), json!(uname_machine()));
    r.insert("cpus_allowed_list".into(), json!(status.get("Cpus_allowed_list")));
    r.insert("sched".into(), sched());
    r.insert("apparmor".into(), json!(read_trim("/proc/self/attr/apparmor/current")));
    r.insert(
        "paths".into(),
        Value::Object(paths.iter().map(|p| (p.clone(), path_access(p))).collect()),
    );
    r.insert(
        "sysctls".into(),
        Value::Object(
            sysctls
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        json!(read_trim(&format!("/proc/sys/{}", k.replace('.', "/")))),
                    )
                })
                .collect(),
        ),
    );
    Value::Object(r)
}

/// `uname(2)`'s machine field: what `linux.personality` changes.
fn uname_machine() -> Option<String> {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = u.machine.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Scheduling as the kernel reports it for this process: the policy
/// number (`sched_getscheduler`), the nice value, the real-time priority,
/// and the I/O priority split into class and level (`ioprio_get`).
fn sched() -> Value {
    // SAFETY: plain syscalls on the calling process; no pointers but `param`.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    let prio_ok = unsafe { libc::sched_getparam(0, &mut param) } == 0;
    // getpriority may legitimately return -1: clear errno first.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        (*libc::__errno_location() == 0).then_some(n)
    };
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
    json!({
        "policy": (policy >= 0).then_some(policy),
        "priority": prio_ok.then_some(param.sched_priority),
        "nice": nice,
        "ioprio_class": (ioprio >= 0).then_some(ioprio >> 13),
        "ioprio_level": (ioprio >= 0).then_some(ioprio & 0x1fff),
    })
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim_end().to_string())
}

fn read_status() -> BTreeMap<String, String> {
    read_trim("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn ids(line: Option<&String>) -> Value {
    json!(line
        .map(|l| l
            .split_whitespace()
            .filter_map(|n| n.parse::<u64>().ok())
            .collect::<Vec<_>>())
        .unwrap_or_default())
}

fn namespaces() -> Value {
    let mut m = Map::new();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "user",
        "uts",
    ] {
        if let Ok(md) = fs::metadata(format!("/proc/self/ns/{ns}")) {
            m.insert(ns.into(), json!(md.ino()));
        }
    }
    Value::Object(m)
}

/// /proc/self/mountinfo, one object per line (proc(5) field names).
fn mounts() -> Value {
    let text = read_trim("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(json!({
            "id": l[0].parse::<u64>().unwrap_or(0),
            "parent": l[1].parse::<u64>().unwrap_or(0),
            "dev": l[2],
            "root": unescape(l[3]),
            "mount_point": unescape(l[4]),
            "options": l[5].split(',').collect::<Vec<_>>(),
            "optional": l[6..].to_vec(),
            "fstype": r[0],
            "source": unescape(r[1]),
            "super_options": r[2].split(',').collect::<Vec<_>>(),
        }));
    }
    Value::Array(out)
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rlimits() -> Value {
    let all = [
        ("RLIMIT_AS", Resource::RLIMIT_AS),
        ("RLIMIT_CORE", Resource::RLIMIT_CORE),
        ("RLIMIT_CPU", Resource::RLIMIT_CPU),
        ("RLIMIT_DATA", Resource::RLIMIT_DATA),
        ("RLIMIT_FSIZE", Resource::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", Resource::RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", Resource::RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", Resource::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", Resource::RLIMIT_NICE),
        ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", Resource::RLIMIT_NPROC),
        ("RLIMIT_RSS", Resource::RLIMIT_RSS),
        ("RLIMIT_RTPRIO", Resource::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", Resource::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", Resource::RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", Resource::RLIMIT_STACK),
    ];
    let mut m = Map::new();
    for (name, res) in all {
        if let Ok((soft, hard)) = getrlimit(res) {
            m.insert(name.into(), json!({"soft": soft, "hard": hard}));
        }
    }
    Value::Object(m)
}

fn processes() -> Value {
    let mut pids: Vec<u64> = fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    json!(pids)
}

fn file_kind(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "l"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else {
        "f"
    }
}

fn entry(path: &Path) -> Value {
    match fs::symlink_metadata(path) {
        Ok(md) => {
            let rdev = md.rdev();
            json!({
                "type": file_kind(md.file_type()),
                "major": nix::sys::stat::major(rdev),
                "minor": nix::sys::stat::minor(rdev),
                "mode": md.mode() & 0o7777,
                "uid": md.uid(),
                "gid": md.gid(),
                "link": fs::read_link(path).ok().map(|p| p.display().to_string()),
            })
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

fn devices() -> Value {
    let mut m = Map::new();
    for dir in ["/dev", "/dev/pts"] {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                m.insert(p.display().to_string(), entry(&p));
            }
        }
    }
    Value::Object(m)
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // The symbolic name only ("EROFS"): stable across libc message texts.
        Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// Can this path be read, and written? Writing is probed without changing
/// anything: files are opened for append and closed; in directories a
/// temporary file is created and removed at once.
fn path_access(p: &str) -> Value {
    let path = Path::new(p);
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) => return json!({"exists": false, "error": errno_name(&e)}),
    };
    let mut v = match entry(path) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    v.insert("exists".into(), json!(true));
    if md.is_dir() {
        match fs::read_dir(path) {
            Ok(rd) => {
                let names: Vec<String> = rd
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.insert("read".into(), json!("ok"));
                v.insert("entries".into(), json!(names.len()));
            }
            Err(e) => {
                v.insert("read".into(), json!(errno_name(&e)));
            }
        }
        let probe = path.join(format!(".oci-probe-{}", std::process::id()));
        let w = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&probe);
        v.insert(
            "write".into(),
            json!(match w {
                Ok(_) => {
                    let _ = fs::remove_file(&probe);
                    "ok".to_string()
                }
                Err(e) => errno_name(&e),
            }),
        );
    } else {
        match fs::File::open(path) {
            Ok(mut f) => {
                let mut buf = vec![0u8; 4096];
                match f.read(&mut buf) {
                    Ok(n) => {
                        v.insert("read".into(), json!("ok"));
                        v.insert("len".into(), json!(n));
                        v.insert(
                            "content".into(),
                            json!(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
                        );
                    }
                    Err(e) => {
                        v.insert("read".into(), json!(errno_name(&e)));
                    }
                }
            }
            Err(e) => {
                v.insert("read".into(), json!(errno_name(&e)));
            }
        }
        let w = fs::OpenOptions::new().append(true).open(path);
        v.insert(
            "write".into(),
            json!(w.map(|_| "ok".to_string()).unwrap_or_else(|e| errno_name(&e))),
        );
    }
    Value::Object(v)
}
