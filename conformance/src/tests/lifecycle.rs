//! runtime.md#lifecycle: what happens when, from create to delete.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::state::{created, sleeper};
use super::{t, Test};
use crate::config::{default_config, probe_report, PROBE};
use crate::harness::{descendants, host_ns, wait_file, Ctx, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    vec![
        t(
            "lifecycle.create-does-not-run-process",
            "runtime.md#lifecycle",
            "While the resources requested in the config.json MUST be created, the user-specified program (from \
             process) MUST NOT be run at this time.",
            create_does_not_run,
        ),
        t(
            "lifecycle.create-applies-config",
            "runtime.md#create",
            "All of the properties configured in config.json except for process MUST be applied.",
            create_applies_config,
        ),
        t(
            "lifecycle.config-updates-ignored",
            "runtime.md#lifecycle",
            "Any updates to config.json after this step MUST NOT affect the container.",
            config_updates_ignored,
        ),
        t(
            "lifecycle.start-runs-process",
            "runtime.md#lifecycle",
            "The runtime MUST run the user-specified program, as specified by process.",
            start_runs_process,
        ),
        t(
            "lifecycle.create-error",
            "runtime.md#lifecycle",
            "If the runtime is unable to create the environment specified in the config.json, it MUST generate an \
             error.",
            create_error,
        ),
        t(
            "lifecycle.delete-destroys",
            "runtime.md#lifecycle",
            "The container MUST be destroyed by undoing the steps performed during create phase (step 2).",
            delete_destroys,
        ),
        t(
            "cli.run-exit-code",
            "runc CLI: run",
            "runc-compatible `run` creates, starts and waits for the container and exits with its exit code (not a \
             spec sentence: the CLI engines rely on)",
            run_exit_code,
        ),
    ]
}

fn create_does_not_run(ctx: &mut Ctx) -> TResult {
    let mut cfg = default_config(&[PROBE, "touch", "/started", "600"]);
    cfg["root"]["readonly"] = json!(false);
    let (b, id) = created(ctx, &cfg)?;
    let marker = b.rootfs.join("started");
    std::thread::sleep(Duration::from_millis(300));
    ensure!(
        !marker.exists(),
        "process.args ran before start: /started exists after create"
    );
    ctx.start_ok(&id)?;
    ensure!(
        wait_file(&marker, Duration::from_secs(5)),
        "process.args did not run after start"
    );
    Ok(())
}

fn create_applies_config(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    let pid = ctx.state_ok(&id)?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in the state of a created container");
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{ns}")).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        ensure!(theirs.is_ok(), "cannot read /proc/{pid}/ns/{ns}");
        ensure!(
            theirs.ok() != host_ns(ns),
            "{ns} namespace not created yet after create"
        );
    }
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    let has = |mp: &str, fstype: &str| {
        mountinfo.lines().any(|l| {
            let (left, right) = l.split_once(" - ").unwrap_or(("", ""));
            left.split(' ').nth(4) == Some(mp) && right.split(' ').next() == Some(fstype)
        })
    };
    ensure!(
        has("/proc", "proc"),
        "/proc is not mounted in the container after create"
    );
    ensure!(
        has("/dev", "tmpfs"),
        "/dev (tmpfs) is not mounted in the container after create"
    );
    let hostname = hostname_in_uts_of(pid)?;
    ensure!(
        hostname == "runc",
        "hostname is {hostname:?} after create, not \"runc\""
    );
    Ok(())
}

/// The hostname seen in the UTS namespace of `pid`: a helper thread joins
/// it (setns of a UTS namespace only affects the calling thread).
fn hostname_in_uts_of(pid: i64) -> Result<String, crate::harness::Failure> {
    let f = std::fs::File::open(format!("/proc/{pid}/ns/uts"))?;
    let t = std::thread::spawn(move || -> Result<String, String> {
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWUTS).map_err(|e| format!("setns: {e}"))?;
        let h = nix::unistd::gethostname().map_err(|e| format!("gethostname: {e}"))?;
        Ok(h.to_string_lossy().into_owned())
    });
    match t.join() {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => fail!("reading the container's hostname: {e}"),
        Err(_) => fail!("reading the container's hostname: the helper thread panicked"),
    }
}

fn config_updates_ignored(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    cfg["hostname"] = json!("before");
    let (b, id) = created(ctx, &cfg)?;
    let mut changed = cfg.clone();
    changed["hostname"] = json!("after");
    changed["process"]["args"] = json!([PROBE, "exit", "3"]);
    b.write_config(&changed)?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let out = std::fs::read_to_string(b.dir.join("stdout"))?;
    let Some(Ok(r)) = out.lines().next().map(serde_json::from_str::<serde_json::Value>) else {
        fail!("the container did not run the original process.args (stdout: {out:?})");
    };
    ensure!(
        r["hostname"] == "before",
        "hostname {} comes from the updated config",
        r["hostname"]
    );
    Ok(())
}

fn start_runs_process(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&["--path", "/"]))?;
    let want = json!([PROBE, "report", "--path", "/"]);
    ensure!(r["args"] == want, "argv is {} instead of {want}", r["args"]);
    Ok(())
}

fn create_error(ctx: &mut Ctx) -> TResult {
    let mut cfg = sleeper();
    crate::config::add_mount(
        &mut cfg,
        json!({"destination": "/mnt", "type": "bind", "source": "/no/such/source/dir", "options": ["rbind"]}),
    );
    ctx.expect_create_error(&cfg)
}

fn delete_destroys(ctx: &mut Ctx) -> TResult {
    let before = descendants();
    let (_, id) = created(ctx, &sleeper())?;
    let pid = ctx.state_ok(&id)?["pid"].as_i64().unwrap_or(0);
    ctx.start_ok(&id)?;
    ctx.kill(&id, "KILL")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let o = ctx.delete(&id, false)?;
    ensure!(o.ok(), "delete of a stopped container failed: {}", o.brief());
    ensure!(ctx.state(&id)?.is_none(), "state still works after delete");
    ensure!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container process {pid} still exists"
    );
    ctx.expect_no_container(&id, &before)
}

fn run_exit_code(ctx: &mut Ctx) -> TResult {
    let b = ctx.bundle(&default_config(&[PROBE, "exit", "7"]))?;
    let id = ctx.new_id();
    let bundle = b.dir.display().to_string();
    let o = ctx.rt(&["run", "--bundle", &bundle, &id])?;
    ensure!(
        o.code == Some(7),
        "run exited with {} instead of the container's 7",
        o.brief()
    );
    ensure!(ctx.state(&id)?.is_none(), "run left the container behind");
    Ok(())
}
