//! `bench`: mini-containerd, runc and crun side by side on the same
//! config.json (runc's default spec, `true` in the BusyBox rootfs). Wall
//! times are medians over interleaved iterations; memory is read from
//! /proc and from `wait4`. It reports and never asserts: see
//! docs/performance.md for the method and the targets of issue 10.
//!
//! Run it as root through `just bench` (which installs the runtimes and
//! builds mini-containerd in release mode first).

mod proc;
mod seccomp;
mod stats;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

use proc::{check_interrupted, Runtime};
use stats::{format_ratio, format_value, median, ms, percentile, Row, Unit};

#[derive(Parser)]
#[command(about = "Time and measure mini-containerd against runc and crun (run as root)")]
struct Args {
    /// The mini-containerd binary (build it with --release)
    #[arg(long, default_value = "target/release/mini-containerd")]
    mini: PathBuf,
    /// runc: a path, or a name looked up in PATH
    #[arg(long, default_value = "runc")]
    runc: String,
    /// crun: a path, or a name looked up in PATH
    #[arg(long, default_value = "crun")]
    crun: String,
    /// The BusyBox rootfs (`just bundle`)
    #[arg(long, default_value = "bundles/busybox/rootfs")]
    rootfs: PathBuf,
    /// Where the markdown report goes (it is printed too)
    #[arg(long, default_value = "target/bench/latest.md")]
    out: PathBuf,
    /// Fewer iterations and containers: about a minute instead of several
    #[arg(long)]
    quick: bool,
    /// Timed iterations per runtime for run/create/start/delete/exec
    #[arg(long)]
    runs: Option<usize>,
    /// Containers created and started concurrently
    #[arg(long)]
    concurrent: Option<usize>,
    /// Containers in the state directory for `list` and `state`
    #[arg(long)]
    many: Option<usize>,
}

/// How much to do.
struct Plan {
    quick: bool,
    warmup: usize,
    runs: usize,
    concurrent: usize,
    many: usize,
    query_runs: usize,
    debug_runs: usize,
}

impl Plan {
    fn new(a: &Args) -> Plan {
        let (warmup, runs, concurrent, many, query_runs, debug_runs) = if a.quick {
            (2, 10, 20, 100, 3, 5)
        } else {
            (3, 30, 100, 1000, 7, 10)
        };
        Plan {
            quick: a.quick,
            warmup,
            runs: a.runs.unwrap_or(runs).max(1),
            concurrent: a.concurrent.unwrap_or(concurrent).max(1),
            many: a.many.unwrap_or(many).max(1),
            query_runs,
            debug_runs,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: &Args) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("run as root: containers need it".into());
    }
    proc::install_signal_handlers();
    // Container inits orphaned by `create` come to us, not to the host's
    // slow init (DESIGN.md §8): we reap them, which also tells us exactly
    // when a container's process has exited.
    proc::set_child_subreaper()?;
    let plan = Plan::new(args);
    let rootfs = fs::canonicalize(&args.rootfs)
        .map_err(|e| format!("rootfs {}: {e} (run `just bundle`)", args.rootfs.display()))?;
    if !rootfs.join("bin/busybox").exists() {
        return Err(format!("{}: no bin/busybox (run `just bundle`)", rootfs.display()));
    }
    let mini = fs::canonicalize(&args.mini).map_err(|e| format!("{}: {e}", args.mini.display()))?;
    let runc = find_program(&args.runc).ok_or_else(|| format!("{}: not found (apt-get install runc)", args.runc))?;
    let crun = find_program(&args.crun);
    if let Some(dir) = args.out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }

    let tmp = tempfile::Builder::new()
        .prefix("mini-containerd-bench.")
        .tempdir_in("/tmp")
        .map_err(|e| format!("temp dir: {e}"))?;
    let dir = tmp.path().to_path_buf();
    let mut runtimes = vec![
        Runtime {
            name: "mini-containerd",
            tag: "mini",
            bin: mini,
            root: dir.join("root-mini"),
            mntns: None,
            stderr_log: dir.join("mini.stderr"),
        },
        Runtime {
            name: "runc",
            tag: "runc",
            bin: runc.clone(),
            root: dir.join("root-runc"),
            mntns: None,
            stderr_log: dir.join("runc.stderr"),
        },
    ];
    let mut notes = Vec::new();
    match crun {
        Some(bin) => runtimes.push(Runtime {
            name: "crun",
            tag: "crun",
            bin,
            root: dir.join("root-crun"),
            mntns: Some(proc::crun_mount_namespace()?),
            stderr_log: dir.join("crun.stderr"),
        }),
        None => notes.push(format!(
            "{} not found: its column is empty (apt-get install crun)",
            args.crun
        )),
    }
    let prefix = format!("mcb{}", std::process::id());
    let memcg = proc::MemCgroup::enter(&format!("{prefix}-bench"));
    if memcg.is_none() {
        notes.push("No cgroup-v1 memory hierarchy to account in: the memory rows of the scale tests are empty.".into());
    }
    let mut bench = Bench {
        runtimes,
        dir,
        prefix,
        seccomp: false,
        memcg,
        _tmp: tmp,
    };
    bench.seccomp = bench.make_bundles(&runc, &rootfs)?;
    if !bench.seccomp {
        notes.push(format!(
            "{} not found: no seccomp row (apt-get install golang-github-containers-common)",
            seccomp::DEBIAN_PROFILE
        ));
    }

    eprintln!(
        "bench: {} mode: {} runs after {} warm-up, {} concurrent, {} in the state directory",
        if plan.quick { "quick" } else { "full" },
        plan.runs,
        plan.warmup,
        plan.concurrent,
        plan.many
    );
    let started = Instant::now();
    let load_before = loadavg();
    let results = bench.measure(&plan)?;
    notes.push(format!(
        "Load average (1, 5, 15 min) before: {load_before}; after: {}. Other work on the machine shows up as spread.",
        loadavg()
    ));
    let report = bench.report(&plan, &results, &notes, started.elapsed());
    print!("{report}");
    fs::write(&args.out, &report).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!("bench: written to {}", args.out.display());
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return fs::canonicalize(name).ok();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Everything measured, per runtime slot (mini-containerd, runc, crun).
#[derive(Default)]
struct Results {
    run: [Vec<f64>; 3],
    run_seccomp: [Vec<f64>; 3],
    /// The same, each run after the state root's `.cache` was removed.
    run_seccomp_cold: [Vec<f64>; 3],
    create: [Vec<f64>; 3],
    start: [Vec<f64>; 3],
    delete: [Vec<f64>; 3],
    create_peak_rss: [Vec<f64>; 3],
    init_rss: [Vec<proc::Rss>; 3],
    exec: [Vec<f64>; 3],
    bare: Vec<f64>,
    concurrent_ms: [Option<f64>; 3],
    /// (outside the containers' cgroups, all), KiB.
    concurrent_mem_kib: [Option<(f64, f64)>; 3],
    many_create_ms: [Option<f64>; 3],
    many_mem_kib: [Option<(f64, f64)>; 3],
    version: [Vec<f64>; 3],
    list: [Vec<f64>; 3],
    list_quiet: [Vec<f64>; 3],
    state: [Vec<f64>; 3],
    /// mini-containerd's `--debug` phase timings: phase → samples (ms).
    phases: Vec<(String, Vec<f64>)>,
    debug_wall: Vec<f64>,
}

struct Bench {
    runtimes: Vec<Runtime>,
    dir: PathBuf,
    /// Every container id starts with it (and so does every cgroup the
    /// runtimes make for them: `/<id>` in each hierarchy).
    prefix: String,
    /// Bundle `seccomp` exists.
    seccomp: bool,
    /// Our own memory cgroup (after the containers' clean-up in drop).
    memcg: Option<proc::MemCgroup>,
    _tmp: tempfile::TempDir,
}

impl Drop for Bench {
    /// Whatever happened: every container of ours stopped and deleted, our
    /// orphans reaped, leftover cgroups removed; then the temp dir goes.
    fn drop(&mut self) {
        for rt in &self.runtimes {
            let ids: Vec<String> = rt
                .ids_on_disk()
                .into_iter()
                .filter(|i| i.starts_with(&self.prefix))
                .collect();
            if !ids.is_empty() {
                eprintln!("bench: cleaning up {} {} container(s)", ids.len(), rt.name);
                parallel(&ids, 8, |id| rt.remove(id));
            }
        }
        proc::reap_orphans();
        for hierarchy in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            for e in fs::read_dir(hierarchy.path()).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.prefix) {
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
    }
}

/// Run `f` on each item with `workers` threads.
fn parallel<T: Send>(items: &[String], workers: usize, f: impl Fn(&str) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= items.len() {
                            return mine;
                        }
                        mine.push((i, f(&items[i])));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

impl Bench {
    fn bundle(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn id(&self, rt: &Runtime, what: &str, i: usize) -> String {
        format!("{}-{}-{what}-{i}", self.prefix, rt.tag)
    }

    /// runc's default spec (`runc spec`), with terminal off, the BusyBox
    /// rootfs and `true` (bundle `true`) or a long `sleep` (bundle `sleep`):
    /// one config.json for all three runtimes.
    fn make_bundles(&self, runc: &Path, rootfs: &Path) -> Result<bool, String> {
        let spec_dir = self.dir.join("spec");
        fs::create_dir_all(&spec_dir).map_err(|e| e.to_string())?;
        let out = std::process::Command::new(runc)
            .args(["spec", "--bundle"])
            .arg(&spec_dir)
            .output()
            .map_err(|e| format!("runc spec: {e}"))?;
        if !out.status.success() {
            return Err(format!("runc spec: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let text = fs::read_to_string(spec_dir.join("config.json")).map_err(|e| format!("runc spec: {e}"))?;
        let spec: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("runc spec: {e}"))?;
        for (name, argv) in [("true", vec!["true"]), ("sleep", vec!["sleep", "1000000"])] {
            let mut s = spec.clone();
            s["process"]["terminal"] = false.into();
            s["process"]["args"] = argv.into();
            s["root"]["path"] = rootfs.display().to_string().into();
            let d = self.dir.join(name);
            fs::create_dir_all(&d).map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?;
            fs::write(d.join("config.json"), json).map_err(|e| e.to_string())?;
        }
        // The same `true` config with Debian's seccomp profile, when installed.
        let Ok(text) = fs::read_to_string(seccomp::DEBIAN_PROFILE) else {
            return Ok(false);
        };
        let profile: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", seccomp::DEBIAN_PROFILE))?;
        let mut s = serde_json::from_str::<serde_json::Value>(
            &fs::read_to_string(self.dir.join("true/config.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let caps: Vec<String> = s["process"]["capabilities"]["bounding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
        s["linux"]["seccomp"] = seccomp::to_oci(&profile, &caps);
        let d = self.dir.join("seccomp");
        fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        let json = serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?;
        fs::write(d.join("config.json"), json).map_err(|e| e.to_string())?;
        Ok(true)
    }

    fn measure(&self, plan: &Plan) -> Result<Results, String> {
        let mut r = Results::default();
        let step = |s: &str| eprintln!("bench: {s}");
        step("bare kernel cost: unshare -fpmuin --mount-proc true");
        self.bare(plan, &mut r)?;
        step("--version: process start and exit");
        self.version(plan, &mut r)?;
        step("run of `true`");
        self.run(plan, "true", "run", false, &mut r.run)?;
        if self.seccomp {
            step("run of `true` with Debian's seccomp profile");
            self.run(plan, "seccomp", "seccomp", false, &mut r.run_seccomp)?;
            step("run of `true` with Debian's seccomp profile, no cached profile");
            self.run(plan, "seccomp", "seccold", true, &mut r.run_seccomp_cold)?;
        }
        step("create, start, delete; RSS of the waiting init and of create");
        self.lifecycle(plan, &mut r)?;
        step("exec of `true` into a running container");
        self.exec(plan, &mut r)?;
        step("mini-containerd --debug run: phase timings");
        self.debug_phases(plan, &mut r)?;
        step(&format!(
            "{} containers created and started concurrently",
            plan.concurrent
        ));
        self.concurrent(plan, &mut r)?;
        step(&format!("list and state with {} containers", plan.many));
        self.many(plan, &mut r)?;
        Ok(r)
    }

    /// `--version`: starting and exiting the runtime's binary, the floor
    /// under every command.
    fn version(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        for i in 0..plan.warmup + plan.runs {
            for (slot, rt) in self.turns(i) {
                check_interrupted()?;
                let out = rt.run(&["--version"])?;
                if i >= plan.warmup {
                    r.version[slot].push(ms(out.wall));
                }
            }
        }
        Ok(())
    }

    fn bare(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let args = ["-fpmuin", "--mount-proc", "true"];
        for i in 0..plan.warmup + plan.runs {
            check_interrupted()?;
            let (code, out) = proc::timed(&mut proc::plain_command("unshare", &args))?;
            if code != 0 {
                return Err(format!("unshare {}: exit status {code}", args.join(" ")));
            }
            if i >= plan.warmup {
                r.bare.push(ms(out.wall));
            }
        }
        Ok(())
    }

    /// The runtimes take turns, one iteration each, starting with a
    /// different one each time: drift and order effects fall on all alike.
    fn turns(&self, i: usize) -> impl Iterator<Item = (usize, &Runtime)> {
        let n = self.runtimes.len();
        (0..n).map(move |k| {
            let slot = (i + k) % n;
            (slot, &self.runtimes[slot])
        })
    }

    /// `run --bundle BUNDLE` to completion, timed: for the plain `true`
    /// bundle and the seccomp one alike. `cold`: remove `.cache` from the
    /// runtime's state root before each run (untimed), where mini-containerd
    /// keeps compiled seccomp profiles.
    fn run(&self, plan: &Plan, bundle: &str, tag: &str, cold: bool, times: &mut [Vec<f64>; 3]) -> Result<(), String> {
        let bundle = self.bundle(bundle);
        for i in 0..plan.warmup + plan.runs {
            for (slot, rt) in self.turns(i) {
                check_interrupted()?;
                if cold {
                    let _ = fs::remove_dir_all(rt.root.join(".cache"));
                }
                let id = self.id(rt, tag, i);
                let out = rt.run(&["run", "--bundle", &bundle, &id])?;
                if i >= plan.warmup {
                    times[slot].push(ms(out.wall));
                }
            }
        }
        proc::reap_orphans();
        Ok(())
    }

    fn lifecycle(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let bundle = self.bundle("true");
        for i in 0..plan.warmup + plan.runs {
            for (slot, rt) in self.turns(i) {
                check_interrupted()?;
                let id = self.id(rt, "life", i);
                let create = rt.run(&["create", "--bundle", &bundle, &id])?;
                let (pid, status) = rt.state(&id)?;
                if status != "created" || pid <= 0 {
                    return Err(format!("{} state {id} after create: {status}, pid {pid}", rt.name));
                }
                let rss = proc::rss_of(pid).ok_or_else(|| format!("{}: no /proc/{pid}/status", rt.name))?;
                let start = rt.run(&["start", &id])?;
                proc::wait_gone(pid);
                let delete = rt.run(&["delete", &id])?;
                if i >= plan.warmup {
                    r.create[slot].push(ms(create.wall));
                    r.start[slot].push(ms(start.wall));
                    r.delete[slot].push(ms(delete.wall));
                    r.create_peak_rss[slot].push(create.maxrss_kib as f64);
                    r.init_rss[slot].push(rss);
                }
            }
        }
        proc::reap_orphans();
        Ok(())
    }

    fn exec(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let bundle = self.bundle("sleep");
        let ids: Vec<String> = self.runtimes.iter().map(|rt| self.id(rt, "exec", 0)).collect();
        for (rt, id) in self.runtimes.iter().zip(&ids) {
            rt.run(&["create", "--bundle", &bundle, id])?;
            rt.run(&["start", id])?;
        }
        for i in 0..plan.warmup + plan.runs {
            for (slot, rt) in self.turns(i) {
                check_interrupted()?;
                let out = rt.run(&["exec", &ids[slot], "true"])?;
                if i >= plan.warmup {
                    r.exec[slot].push(ms(out.wall));
                }
            }
        }
        for (rt, id) in self.runtimes.iter().zip(&ids) {
            rt.remove(id);
        }
        proc::reap_orphans();
        Ok(())
    }

    /// `mini-containerd --debug run` logs "phase X took Y ms" lines.
    fn debug_phases(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let rt = &self.runtimes[0];
        let bundle = self.bundle("true");
        for i in 0..plan.debug_runs {
            check_interrupted()?;
            let log = self.dir.join(format!("debug-{i}.log"));
            let log_s = log.display().to_string();
            let id = self.id(rt, "debug", i);
            let out = rt.run(&["--debug", "--log", &log_s, "run", "--bundle", &bundle, &id])?;
            r.debug_wall.push(ms(out.wall));
            let text = fs::read_to_string(&log).unwrap_or_default();
            for (phase, took) in parse_phases(&text) {
                match r.phases.iter_mut().find(|(p, _)| *p == phase) {
                    Some((_, v)) => v.push(took),
                    None => r.phases.push((phase, vec![took])),
                }
            }
        }
        proc::reap_orphans();
        Ok(())
    }

    /// N threads, each `create` then `start` of a `sleep` container; the
    /// time until the last `start` returned, and the memory in use then
    /// compared to before.
    fn concurrent(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let bundle = self.bundle("sleep");
        for (slot, rt) in self.runtimes.iter().enumerate() {
            check_interrupted()?;
            let ids: Vec<String> = (0..plan.concurrent).map(|i| self.id(rt, "conc", i)).collect();
            settle();
            let before = self.memcg.as_ref().map(proc::MemCgroup::usage_kib);
            let t0 = Instant::now();
            let outcomes = parallel(&ids, ids.len(), |id| {
                rt.run(&["create", "--bundle", &bundle, id])
                    .and_then(|_| rt.run(&["start", id]))
            });
            let took = t0.elapsed();
            let failed: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
            if failed.is_empty() {
                r.concurrent_mem_kib[slot] = self.charged(rt, &ids, before);
            }
            parallel(&ids, 8, |id| rt.remove(id));
            proc::reap_orphans();
            if let Some(e) = failed.first() {
                return Err(format!(
                    "{} of {} concurrent create+start failed: {e}",
                    failed.len(),
                    ids.len()
                ));
            }
            r.concurrent_ms[slot] = Some(ms(took));
        }
        Ok(())
    }

    /// The memory a set of live containers holds: what our cgroup gained
    /// since `before` (the runtime's side: whatever its commands left
    /// behind outside the containers' cgroups), and the usage of each
    /// container's own memory cgroup, summed. Both are cgroup counters, so
    /// the rest of the machine does not leak in.
    fn charged(&self, rt: &Runtime, ids: &[String], before: Option<u64>) -> Option<(f64, f64)> {
        let cg = self.memcg.as_ref()?;
        let ours = cg.usage_kib().saturating_sub(before?);
        let pids = parallel(ids, 4, |id| rt.state(id).map_or(0, |(pid, _)| pid));
        let (mut nested, mut beside) = (0, 0);
        for (kib, below_ours) in pids.iter().filter(|p| **p > 0).map(|p| cg.container_kib(*p)) {
            if below_ours {
                nested += kib;
            } else {
                beside += kib;
            }
        }
        // Ours includes the cgroups below it (use_hierarchy).
        Some((ours.saturating_sub(nested) as f64, (ours + beside) as f64))
    }

    /// Fill the state directory with `created` containers, then time
    /// `list`, `list -q` and `state` of one of them.
    fn many(&self, plan: &Plan, r: &mut Results) -> Result<(), String> {
        let bundle = self.bundle("sleep");
        for (slot, rt) in self.runtimes.iter().enumerate() {
            check_interrupted()?;
            let ids: Vec<String> = (0..plan.many).map(|i| self.id(rt, "many", i)).collect();
            settle();
            let before = self.memcg.as_ref().map(proc::MemCgroup::usage_kib);
            let t0 = Instant::now();
            let outcomes = parallel(&ids, 4, |id| {
                check_interrupted().and_then(|()| rt.run(&["create", "--bundle", &bundle, id]))
            });
            let took = t0.elapsed();
            let result = (|| -> Result<(), String> {
                if let Some(Err(e)) = outcomes.iter().find(|o| o.is_err()) {
                    return Err(format!("create of {} containers: {e}", ids.len()));
                }
                r.many_create_ms[slot] = Some(ms(took));
                r.many_mem_kib[slot] = self.charged(rt, &ids, before);
                let probe = &ids[ids.len() / 2];
                for i in 0..1 + plan.query_runs {
                    check_interrupted()?;
                    let list = rt.output(&["list"])?;
                    let quiet = rt.output(&["list", "-q"])?;
                    let listed = String::from_utf8_lossy(&quiet.stdout).lines().count();
                    if listed != ids.len() {
                        return Err(format!(
                            "{} list -q: {listed} containers, expected {}",
                            rt.name,
                            ids.len()
                        ));
                    }
                    if i > 0 {
                        r.list[slot].push(ms(list.wall));
                        r.list_quiet[slot].push(ms(quiet.wall));
                    }
                }
                for i in 0..3 + plan.runs {
                    check_interrupted()?;
                    let out = rt.output(&["state", probe])?;
                    if i >= 3 {
                        r.state[slot].push(ms(out.wall));
                    }
                }
                Ok(())
            })();
            eprintln!("bench: removing {} {} containers", ids.len(), rt.name);
            parallel(&ids, 8, |id| rt.remove(id));
            proc::reap_orphans();
            result?;
        }
        Ok(())
    }

    fn report(&self, plan: &Plan, r: &Results, notes: &[String], took: Duration) -> String {
        let med = |v: &[Vec<f64>; 3]| -> [Option<f64>; 3] { [median(&v[0]), median(&v[1]), median(&v[2])] };
        let rss = |f: fn(&proc::Rss) -> u64| -> [Option<f64>; 3] {
            let m = |v: &Vec<proc::Rss>| median(&v.iter().map(|x| f(x) as f64).collect::<Vec<_>>());
            [m(&r.init_rss[0]), m(&r.init_rss[1]), m(&r.init_rss[2])]
        };
        let n = plan.runs;
        let mut rows = vec![
            Row {
                what: format!("`run` of `true`, whole lifecycle (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.run),
            },
            Row {
                what: format!("`create` (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.create),
            },
            Row {
                what: format!("`start` (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.start),
            },
            Row {
                what: format!("`delete` of a stopped container (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.delete),
            },
            Row {
                what: format!("`--version`: the binary's start and exit, the floor of every command (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.version),
            },
            Row {
                what: format!("`exec` of `true` (median of {n})"),
                unit: Unit::Ms,
                values: med(&r.exec),
            },
            Row {
                what: "RSS of the waiting init (state `created`, VmRSS)".into(),
                unit: Unit::KiB,
                values: rss(|x| x.total),
            },
            Row {
                what: "peak RSS of the `create` process (ru_maxrss)".into(),
                unit: Unit::KiB,
                values: med(&r.create_peak_rss),
            },
            Row {
                what: format!(
                    "{} containers created + started concurrently: time until all running",
                    plan.concurrent
                ),
                unit: Unit::Ms,
                values: r.concurrent_ms,
            },
            Row {
                what: format!(
                    "{} running containers: memory, all (the containers' memory cgroups + what the runtime left outside them)",
                    plan.concurrent
                ),
                unit: Unit::KiB,
                values: r.concurrent_mem_kib.map(|m| m.map(|(_, all)| all)),
            },
            Row {
                what: "… of which outside the containers' cgroups".into(),
                unit: Unit::KiB,
                values: r.concurrent_mem_kib.map(|m| m.map(|(a, _)| a)),
            },
            Row {
                what: format!("`list` with {} containers (median of {})", plan.many, plan.query_runs),
                unit: Unit::Ms,
                values: med(&r.list),
            },
            Row {
                what: format!(
                    "`list -q` with {} containers (median of {})",
                    plan.many, plan.query_runs
                ),
                unit: Unit::Ms,
                values: med(&r.list_quiet),
            },
            Row {
                what: format!("`state` with {} containers (median of {n})", plan.many),
                unit: Unit::Ms,
                values: med(&r.state),
            },
            Row {
                what: format!("`create` of {} containers, 4 at a time (total)", plan.many),
                unit: Unit::Ms,
                values: r.many_create_ms,
            },
            Row {
                what: format!("{} waiting inits (state `created`): memory, all", plan.many),
                unit: Unit::KiB,
                values: r.many_mem_kib.map(|m| m.map(|(_, all)| all)),
            },
            Row {
                what: "… of which outside the containers' cgroups".into(),
                unit: Unit::KiB,
                values: r.many_mem_kib.map(|m| m.map(|(a, _)| a)),
            },
        ];
        let run = med(&r.run);
        let bare = median(&r.bare);
        if self.seccomp {
            let sc = med(&r.run_seccomp);
            let cold = med(&r.run_seccomp_cold);
            let diff = |with: &[Option<f64>; 3], k: usize| with[k].zip(run[k]).map(|(a, b)| a - b);
            let seccomp_rows = [
                Row {
                    what: format!("`run` of `true` with Debian's seccomp profile (median of {n})"),
                    unit: Unit::Ms,
                    values: sc,
                },
                Row {
                    what: format!(
                        "… the same with no compiled profile kept (`<root>/.cache` removed before each run; median of {n})"
                    ),
                    unit: Unit::Ms,
                    values: cold,
                },
                Row {
                    what: "seccomp cost: `run` with the profile less `run` without".into(),
                    unit: Unit::Ms,
                    values: [diff(&sc, 0), diff(&sc, 1), diff(&sc, 2)],
                },
                Row {
                    what: "… with no compiled profile kept".into(),
                    unit: Unit::Ms,
                    values: [diff(&cold, 0), diff(&cold, 1), diff(&cold, 2)],
                },
            ];
            for (i, row) in seccomp_rows.into_iter().enumerate() {
                rows.insert(1 + i, row);
            }
        }

        let mut o = String::new();
        o.push_str("# mini-containerd vs runc vs crun\n\n");
        o.push_str(&format!(
            "{} mode, {} runs after {} warm-up per runtime, taking turns; {} concurrent; {} in the state directory; {} s in all. \
             Kernel {}, {} CPUs.\n\n",
            if plan.quick { "**Quick**" } else { "Full" },
            plan.runs,
            plan.warmup,
            plan.concurrent,
            plan.many,
            took.as_secs(),
            kernel(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        ));
        for rt in &self.runtimes {
            o.push_str(&format!("- {}: `{}` — {}\n", rt.name, rt.bin.display(), version(rt)));
        }
        if self.runtimes.iter().any(|rt| rt.mntns.is_some()) {
            o.push_str(
                "- crun refuses this hybrid-cgroup host (DESIGN.md §8), so every crun command runs in a private mount \
                 namespace with /sys/fs/cgroup/unified unmounted — as `unshare -m sh -c 'umount /sys/fs/cgroup/unified; \
                 exec crun …'` would, but made once and joined with one setns(2) per command, so crun's times carry no \
                 extra process.\n",
            );
        }
        for note in notes {
            o.push_str(&format!("- {note}\n"));
        }
        o.push_str(
            "- Config: `runc spec` with terminal=false, args [\"true\"] (a `sleep` for the containers that must keep \
             running), root = the BusyBox rootfs; the same config.json for all. Each runtime has its own --root in a temp \
             dir; ids are unique per iteration.\n",
        );
        o.push_str("\n## Results\n\n");
        o.push_str(&stats::table(&rows));
        o.push_str(&format!(
            "\nBare kernel cost, `unshare -fpmuin --mount-proc true` (median of {n}): **{}**. `run` of `true` / bare: \
             mini-containerd {}, runc {}, crun {}.\n",
            bare.map_or("–".into(), |b| format_value(b, Unit::Ms)),
            format_ratio(run[0], bare),
            format_ratio(run[1], bare),
            format_ratio(run[2], bare),
        ));
        o.push_str("\nSpread of `run` (p10 – p90): ");
        let spread: Vec<String> = self
            .runtimes
            .iter()
            .enumerate()
            .map(|(slot, rt)| {
                let p = |q| percentile(&r.run[slot], q).map_or("–".into(), |v| format_value(v, Unit::Ms));
                format!("{} {} – {}", rt.name, p(10.0), p(90.0))
            })
            .collect();
        o.push_str(&spread.join("; "));
        o.push_str(".\n\nWaiting init RSS by kind (anon / file / shmem, median): ");
        let (anon, file, shmem) = (rss(|x| x.anon), rss(|x| x.file), rss(|x| x.shmem));
        let kinds: Vec<String> = self
            .runtimes
            .iter()
            .enumerate()
            .map(|(slot, rt)| {
                let f = |v: Option<f64>| v.map_or("–".into(), |v| format_value(v, Unit::KiB));
                format!("{} {} / {} / {}", rt.name, f(anon[slot]), f(file[slot]), f(shmem[slot]))
            })
            .collect();
        o.push_str(&kinds.join("; "));
        o.push_str(".\n");
        o.push_str(
            "\nMemory of the scale tests: cgroup counters, so the rest of the machine does not leak in. *Outside the \
             containers' cgroups* is the increase of memory.usage_in_bytes of the bench's own memory cgroup, where every \
             runtime command runs: what the runtime leaves behind (a waiting init's pages charged before it joined its \
             cgroup, a memfd copy of the binary). *All* adds each container's own memory cgroup (from \
             /proc/PID/cgroup of its process).\n",
        );
        o.push_str("\n## Issue 10 targets (reported, not asserted)\n\n| target | measured | met |\n|---|---|---|\n");
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let mut target = |what: &str, value: Option<f64>, shown: String, ok: fn(f64) -> bool| {
            let met = value.map_or("–", |v| if ok(v) { "yes" } else { "no" });
            o.push_str(&format!("| {what} | {shown} | {met} |\n"));
        };
        let x = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}×"));
        let rr = ratio(run[0], run[2]);
        target("`run` of `true` ≤ 0.5× crun", rr, x(rr), |v| v <= 0.5);
        let rr = ratio(run[0], run[1]);
        target("`run` of `true` ≤ 0.3× runc", rr, x(rr), |v| v <= 0.3);
        let rr = ratio(run[0], bare);
        target("`run` of `true` ≤ 2.5× bare `unshare`", rr, x(rr), |v| v <= 2.5);
        let t = rss(|x| x.total);
        let rr = ratio(t[0], t[2]);
        target("waiting-init RSS ≤ crun's", rr, x(rr), |v| v <= 1.0);
        let peak = med(&r.create_peak_rss);
        let rr = ratio(peak[0], peak[1]);
        target("peak `create` RSS ≤ half runc's", rr, x(rr), |v| v <= 0.5);
        let rr = ratio(r.concurrent_ms[0], r.concurrent_ms[2]);
        target(
            &format!("{} concurrent no slower than crun", plan.concurrent),
            rr,
            x(rr),
            |v| v <= 1.0,
        );
        let l = median(&r.list[0]);
        let shown = l.map_or("–".into(), |v| {
            format!("{} (with {})", format_value(v, Unit::Ms), plan.many)
        });
        target(
            "`list` with 1000 containers < 100 ms",
            if plan.many >= 1000 { l } else { None },
            shown,
            |v| v < 100.0,
        );

        o.push_str(&format!(
            "\n## Where mini-containerd's time goes: `--debug run` phases (median of {})\n\n| phase | ms |\n|---|---:|\n",
            plan.debug_runs
        ));
        let mut sum = 0.0;
        for (phase, v) in &r.phases {
            let m = median(v).unwrap_or(0.0);
            // "init_setup.exec" and the like are steps inside a phase.
            match phase.split_once('.') {
                Some((_, step)) => o.push_str(&format!("| … {step} | {m:.3} |\n")),
                None => {
                    sum += m;
                    o.push_str(&format!("| {phase} | {m:.3} |\n"));
                }
            }
        }
        let wall = median(&r.debug_wall).unwrap_or(0.0);
        o.push_str(&format!(
            "| *phases, summed* | {sum:.3} |\n| *wall time of the same runs* | {wall:.3} |\n| *not in a phase (exec of the \
             runtime, argument parsing, waiting for `true` to exit, exit)* | {:.3} |\n",
            wall - sum
        ));
        o
    }
}

/// Give memory freed by the last phase time to show as available.
fn settle() {
    proc::reap_orphans();
    std::thread::sleep(Duration::from_millis(300));
}

/// "phase load_config took 0.018 ms" in the runtime's debug log.
fn parse_phases(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("phase ")? + "phase ".len()..];
            let (phase, rest) = rest.split_once(" took ")?;
            let took = rest.split_whitespace().next()?.parse().ok()?;
            Some((phase.to_string(), took))
        })
        .collect()
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".into(), |s| s.trim().to_string())
}

fn version(rt: &Runtime) -> String {
    std::process::Command::new(&rt.bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_from_the_debug_log() {
        let log = "time=\"2026-12-04T21:01:33Z\" level=debug msg=\"phase load_config took 0.018 ms\"\n\
                   time=\"2026-12-04T21:01:33Z\" level=debug msg=\"init spawned pid=17056\"\n\
                   time=\"2026-12-04T21:01:33Z\" level=debug msg=\"phase spawn_init took 1.836 ms\"\n";
        assert_eq!(
            parse_phases(log),
            vec![("load_config".to_string(), 0.018), ("spawn_init".to_string(), 1.836)]
        );
    }
}
