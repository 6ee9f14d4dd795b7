//! runtime.md#state: what `state` reports.

use std::time::Duration;

use serde_json::{json, Value};

use super::{t, Test};
use crate::config::{default_config, PROBE};
use crate::harness::{Ctx, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    vec![
        t(
            "state.fields",
            "runtime.md#state",
            "ociVersion, id, status, bundle are REQUIRED; pid is REQUIRED when status is created or running on Linux",
            fields,
        ),
        t(
            "state.schema",
            "runtime.md#state",
            "When serialized in JSON, the format MUST adhere to the JSON Schema schema/state-schema.json",
            schema,
        ),
        t(
            "state.bundle-absolute",
            "runtime.md#state",
            "bundle (string, REQUIRED) is the absolute path to the container's bundle directory",
            bundle_absolute,
        ),
        t(
            "state.pid",
            "runtime.md#state",
            "pid (int, REQUIRED when status is created or running on Linux) is the ID of the container process",
            pid_is_container_process,
        ),
        t(
            "state.annotations",
            "runtime.md#state",
            "annotations (map, OPTIONAL) contains the list of annotations associated with the container",
            annotations,
        ),
        t(
            "state.status-created",
            "runtime.md#state",
            "created: the runtime has finished the create operation, and the container process has neither exited nor \
             executed the user-specified program",
            status_created,
        ),
        t(
            "state.status-running",
            "runtime.md#state",
            "running: the container process has executed the user-specified program but has not exited",
            status_running,
        ),
        t(
            "state.status-stopped",
            "runtime.md#state",
            "stopped: the container process has exited",
            status_stopped,
        ),
    ]
}

pub fn sleeper() -> Value {
    default_config(&[PROBE, "sleep", "600"])
}

/// A created container running `cfg`; returns (bundle dir, id).
pub fn created(ctx: &mut Ctx, cfg: &Value) -> Result<(crate::harness::Bundle, String), crate::harness::Failure> {
    let b = ctx.bundle(cfg)?;
    let id = ctx.new_id();
    ctx.create_ok(&b, &id)?;
    Ok((b, id))
}

fn check_schema(s: &Value) -> Result<(), String> {
    let obj = s.as_object().ok_or("state is not a JSON object")?;
    for k in ["ociVersion", "id", "status", "bundle"] {
        if !obj.get(k).is_some_and(Value::is_string) {
            return Err(format!("{k} missing or not a string"));
        }
    }
    let v = s["ociVersion"].as_str().unwrap_or("");
    let core = v.split(['-', '+']).next().unwrap_or("");
    if core.split('.').count() != 3 || core.split('.').any(|p| p.parse::<u64>().is_err()) {
        return Err(format!("ociVersion {v:?} is not SemVer"));
    }
    if let Some(pid) = obj.get("pid") {
        if !pid.is_i64() {
            return Err(format!("pid {pid} is not an integer"));
        }
    }
    if let Some(a) = obj.get("annotations") {
        if !a.is_object() || a.as_object().is_some_and(|m| m.values().any(|v| !v.is_string())) {
            return Err(format!("annotations {a} is not a map of strings"));
        }
    }
    Ok(())
}

fn fields(ctx: &mut Ctx) -> TResult {
    let (b, id) = created(ctx, &sleeper())?;
    let s = ctx.state_ok(&id)?;
    check_schema(&s).map_err(crate::harness::Failure::Fail)?;
    ensure!(s["id"] == json!(id), "id is {} instead of {id:?}", s["id"]);
    ensure!(
        s["status"] == "created",
        "status is {} instead of \"created\"",
        s["status"]
    );
    ensure!(
        s["pid"].as_i64().is_some_and(|p| p > 0),
        "pid is {} (must be > 0 when created)",
        s["pid"]
    );
    let want = std::fs::canonicalize(&b.dir)?;
    ensure!(
        s["bundle"].as_str().map(std::path::PathBuf::from) == Some(want.clone()),
        "bundle is {} instead of {}",
        s["bundle"],
        want.display()
    );
    Ok(())
}

fn schema(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    for step in ["created", "running", "stopped"] {
        match step {
            "running" => ctx.start_ok(&id)?,
            "stopped" => {
                ctx.kill(&id, "KILL")?;
                ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
            }
            _ => {}
        }
        let s = ctx.state_ok(&id)?;
        if let Err(e) = check_schema(&s) {
            fail!("state of a {step} container: {e}: {s}");
        }
        let st = s["status"].as_str().unwrap_or("");
        ensure!(
            ["creating", "created", "running", "stopped"].contains(&st),
            "status {st:?} when {step}: only the four spec values are expected for these states"
        );
    }
    Ok(())
}

fn bundle_absolute(ctx: &mut Ctx) -> TResult {
    let b = ctx.bundle(&sleeper())?;
    let id = ctx.new_id();
    ctx.track(&id);
    // A relative --bundle, from the temp dir: the state must still be absolute.
    let rel = b
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (o, e) = (b.dir.join("stdout"), b.dir.join("stderr"));
    let cwd = ctx.path().to_path_buf();
    let out = ctx.rt_in(&["create", "--bundle", &rel, &id], Some((&o, &e)), Some(&cwd))?;
    ensure!(out.ok(), "create with a relative bundle path failed: {}", out.brief());
    let s = ctx.state_ok(&id)?;
    let bundle = s["bundle"].as_str().unwrap_or("");
    ensure!(bundle.starts_with('/'), "bundle {bundle:?} is not absolute");
    ensure!(
        std::fs::canonicalize(bundle).ok() == std::fs::canonicalize(&b.dir).ok(),
        "bundle {bundle:?} is not {}",
        b.dir.display()
    );
    Ok(())
}

fn pid_is_container_process(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    let pid = ctx.state_ok(&id)?["pid"].as_i64().unwrap_or(0);
    ensure!(pid > 0, "no pid in state");
    let host = crate::harness::host_ns("pid");
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    ensure!(theirs.is_ok(), "pid {pid} from state does not exist");
    ensure!(
        theirs.ok() != host,
        "pid {pid} is in the host's PID namespace, not the container's"
    );
    ctx.start_ok(&id)?;
    let s = ctx.state_ok(&id)?;
    ensure!(
        s["pid"].as_i64() == Some(pid),
        "pid changed from {pid} to {} after start",
        s["pid"]
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    ensure!(
        argv0 == PROBE.as_bytes(),
        "pid {pid} runs {:?}, not the container's process {PROBE}",
        String::from_utf8_lossy(argv0)
    );
    Ok(())
}

fn annotations(ctx: &mut Ctx) -> TResult {
    let mut cfg = sleeper();
    cfg["annotations"] = json!({"org.example.key": "value", "com.example.other": "x y"});
    let (_, id) = created(ctx, &cfg)?;
    let s = ctx.state_ok(&id)?;
    match s.get("annotations") {
        Some(a) if *a == cfg["annotations"] => Ok(()),
        Some(a) => fail!("state annotations {a} differ from the config's {}", cfg["annotations"]),
        None => fail!("state has no annotations although the config has some"),
    }
}

fn status_created(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    std::thread::sleep(Duration::from_millis(200));
    let st = ctx.status(&id)?;
    ensure!(
        st == "created",
        "status {st:?} after create (and before start) instead of \"created\""
    );
    Ok(())
}

fn status_running(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    ctx.start_ok(&id)?;
    let st = ctx.status(&id)?;
    ensure!(st == "running", "status {st:?} after start instead of \"running\"");
    Ok(())
}

fn status_stopped(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &default_config(&[PROBE, "exit", "0"]))?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))
}
