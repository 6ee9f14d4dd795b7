//! runtime.md#operations: state, create, start, kill, delete and their errors.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::state::{created, sleeper};
use super::{t, Test};
use crate::config::{default_config, PROBE};
use crate::harness::{descendants, wait_file, Ctx, Failure, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    vec![
        t("op.state.no-id", "runtime.md#query-state",
          "This operation MUST generate an error if it is not provided the ID of a container.",
          |c| no_id(c, "state")),
        t("op.state.nonexistent", "runtime.md#query-state",
          "Attempting to query a container that does not exist MUST generate an error.", state_nonexistent),
        t("op.create.no-id", "runtime.md#create",
          "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to \
           associate with the container.", create_no_id),
        t("op.create.no-bundle", "runtime.md#create",
          "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to \
           associate with the container.", create_no_bundle),
        t("op.create.duplicate-id", "runtime.md#create",
          "If the ID provided is not unique across all containers within the scope of the runtime, the \
           implementation MUST generate an error and a new container MUST NOT be created.", create_duplicate),
        t("op.create.invalid-id", "runtime.md#create",
          "If the ID provided ... is not valid in any other way, the implementation MUST generate an error and a new \
           container MUST NOT be created.", create_invalid_id),
        t("op.start.no-id", "runtime.md#start",
          "This operation MUST generate an error if it is not provided the container ID.", |c| no_id(c, "start")),
        t("op.start.nonexistent", "runtime.md#start",
          "Attempting to start a container that is not created MUST ... generate an error.",
          |c| nonexistent(c, &["start"])),
        t("op.start.running", "runtime.md#start",
          "Attempting to start a container that is not created MUST have no effect on the container and MUST \
           generate an error.", start_running),
        t("op.start.stopped", "runtime.md#start",
          "Attempting to start a container that is not created MUST have no effect on the container and MUST \
           generate an error.", start_stopped),
        t("op.start.no-process", "runtime.md#start",
          "This operation MUST generate an error if process was not set.", start_no_process),
        t("op.kill.no-id", "runtime.md#kill",
          "This operation MUST generate an error if it is not provided the container ID.", |c| no_id(c, "kill")),
        t("op.kill.nonexistent", "runtime.md#kill",
          "Attempting to send a signal to a container that is neither created nor running MUST ... generate an \
           error.", |c| nonexistent(c, &["kill"])),
        t("op.kill.signal", "runtime.md#kill",
          "This operation MUST send the specified signal to the container process.", kill_signal),
        t("op.kill.signal-number", "runtime.md#kill",
          "This operation MUST send the specified signal to the container process (given by number, as runc \
           accepts).", kill_signal_number),
        t("op.kill.created", "runtime.md#kill",
          "Attempting to send a signal to a container that is neither created nor running MUST generate an error \
           (so a created one can be signalled).", kill_created),
        t("op.kill.stopped", "runtime.md#kill",
          "Attempting to send a signal to a container that is neither created nor running MUST have no effect on \
           the container and MUST generate an error.", kill_stopped),
        t("op.delete.no-id", "runtime.md#delete",
          "This operation MUST generate an error if it is not provided the container ID.", |c| no_id(c, "delete")),
        t("op.delete.nonexistent", "runtime.md#delete",
          "Attempting to delete a container that is not stopped MUST generate an error (here: no such container).",
          |c| nonexistent(c, &["delete"])),
        t("op.delete.running", "runtime.md#delete",
          "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST \
           generate an error.", delete_running),
        t("op.delete.created", "runtime.md#delete",
          "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST \
           generate an error.", delete_created),
        t("op.delete.stopped", "runtime.md#delete",
          "Deleting a container MUST delete the resources that were created during the create step.",
          delete_stopped),
        t("op.delete.keeps-foreign-resources", "runtime.md#delete",
          "Note that resources associated with the container, but not created by this container, MUST NOT be \
           deleted.", delete_keeps_foreign),
        t("cli.delete-force", "runc CLI: delete --force",
          "runc-compatible `delete --force` kills and deletes a running container (not a spec sentence: engines \
           rely on it)", delete_force),
    ]
}

fn no_id(ctx: &mut Ctx, op: &str) -> TResult {
    let o = ctx.rt(&[op])?;
    ensure!(!o.ok(), "`{op}` without a container id succeeded");
    Ok(())
}

fn nonexistent(ctx: &mut Ctx, op: &[&str]) -> TResult {
    let mut args = op.to_vec();
    args.push("no-such-container");
    if op == ["kill"] {
        args.push("KILL");
    }
    let o = ctx.rt(&args)?;
    ensure!(!o.ok(), "`{}` succeeded", args.join(" "));
    Ok(())
}

fn state_nonexistent(ctx: &mut Ctx) -> TResult {
    let o = ctx.rt(&["state", "no-such-container"])?;
    ensure!(
        !o.ok(),
        "state of a container that does not exist succeeded: {}",
        o.stdout.trim()
    );
    Ok(())
}

fn create_no_id(ctx: &mut Ctx) -> TResult {
    let b = ctx.bundle(&sleeper())?;
    let before = descendants();
    let bundle = b.dir.display().to_string();
    let o = ctx.rt(&["create", "--bundle", &bundle])?;
    ensure!(!o.ok(), "create without an id succeeded");
    let l = ctx.rt(&["list", "-q"])?;
    ensure!(l.stdout.trim().is_empty(), "a container appeared: {}", l.stdout.trim());
    ctx.expect_no_container("", &before)
}

fn create_no_bundle(ctx: &mut Ctx) -> TResult {
    // No --bundle: runc-compatible runtimes take the cwd, which has no config.json.
    let empty = ctx.path().join("empty");
    std::fs::create_dir(&empty)?;
    let id = ctx.new_id();
    let before = descendants();
    let o = ctx.rt_in(&["create", &id], None, Some(&empty))?;
    ensure!(!o.ok(), "create with no bundle (cwd without config.json) succeeded");
    ctx.expect_no_container(&id, &before)
}

fn create_duplicate(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    let pid = ctx.state_ok(&id)?["pid"].clone();
    let b2 = ctx.bundle(&sleeper())?;
    let before = descendants();
    let o = ctx.create(&b2, &id)?;
    ensure!(!o.ok(), "a second create with the same id succeeded");
    let s = ctx.state_ok(&id)?;
    ensure!(
        s["pid"] == pid && s["status"] == "created",
        "the first container changed: {s}"
    );
    ensure!(
        s["bundle"].as_str().map(Path::new) != Some(b2.dir.as_path()),
        "the state now points at the second bundle"
    );
    let left: Vec<i32> = descendants().into_iter().filter(|p| !before.contains(p)).collect();
    ensure!(left.is_empty(), "the failed create left processes: {left:?}");
    Ok(())
}

fn create_invalid_id(ctx: &mut Ctx) -> TResult {
    for bad in ["../escape", "a/b", ""] {
        let b = ctx.bundle(&sleeper())?;
        let before = descendants();
        let bundle = b.dir.display().to_string();
        let o = ctx.rt(&["create", "--bundle", &bundle, bad])?;
        if o.ok() {
            ctx.track(bad);
            fail!("create accepted the id {bad:?}");
        }
        ctx.expect_no_container(bad, &before)?;
    }
    let escaped = ctx.path().join("escape");
    ensure!(
        !escaped.exists(),
        "the id ../escape created {} outside the root",
        escaped.display()
    );
    Ok(())
}

fn running(ctx: &mut Ctx) -> Result<(String, Value), Failure> {
    let (_, id) = created(ctx, &sleeper())?;
    ctx.start_ok(&id)?;
    let s = ctx.state_ok(&id)?;
    ensure!(s["status"] == "running", "status {} after start", s["status"]);
    Ok((id, s))
}

fn same_state(ctx: &mut Ctx, id: &str, before: &Value) -> TResult {
    let now = ctx.state_ok(id)?;
    ensure!(
        now["status"] == before["status"] && now["pid"] == before["pid"],
        "the container changed: was {} pid {}, now {} pid {}",
        before["status"],
        before["pid"],
        now["status"],
        now["pid"]
    );
    Ok(())
}

fn start_running(ctx: &mut Ctx) -> TResult {
    let (id, s) = running(ctx)?;
    let o = ctx.start(&id)?;
    ensure!(!o.ok(), "start of a running container succeeded");
    same_state(ctx, &id, &s)
}

fn start_stopped(ctx: &mut Ctx) -> TResult {
    let (b, id) = created(ctx, &default_config(&[PROBE, "exit", "0"]))?;
    let _ = b;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let s = ctx.state_ok(&id)?;
    let o = ctx.start(&id)?;
    ensure!(!o.ok(), "start of a stopped container succeeded");
    let now = ctx.state_ok(&id)?;
    ensure!(
        now["status"] == s["status"],
        "status changed from {} to {}",
        s["status"],
        now["status"]
    );
    Ok(())
}

fn start_no_process(ctx: &mut Ctx) -> TResult {
    let mut cfg = sleeper();
    crate::config::remove(&mut cfg, "process");
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let o = ctx.create(&b, &id)?;
    if !o.ok() {
        // Refusing already at create is allowed: start cannot succeed either.
        return ctx.expect_no_container(&id, &descendants());
    }
    let o = ctx.start(&id)?;
    ensure!(!o.ok(), "start succeeded with no process in config.json");
    Ok(())
}

fn kill_with(ctx: &mut Ctx, sig: &str, want: i32) -> TResult {
    let mut cfg = default_config(&[PROBE, "wait-signal", "/signal"]);
    cfg["root"]["readonly"] = json!(false);
    let (b, id) = created(ctx, &cfg)?;
    ctx.start_ok(&id)?;
    let out = b.rootfs.join("signal");
    ensure!(
        wait_file(&b.rootfs.join("signal.ready"), Duration::from_secs(5)),
        "the probe did not start waiting for signals"
    );
    let o = ctx.kill(&id, sig)?;
    ensure!(o.ok(), "kill {sig} failed: {}", o.brief());
    ensure!(
        wait_file(&out, Duration::from_secs(5)),
        "the container process received no signal"
    );
    std::thread::sleep(Duration::from_millis(20));
    let got = std::fs::read_to_string(&out)?;
    ensure!(
        got.trim() == want.to_string(),
        "the container process received signal {} instead of {want}",
        got.trim()
    );
    Ok(())
}

fn kill_signal(ctx: &mut Ctx) -> TResult {
    kill_with(ctx, "USR1", libc::SIGUSR1)?;
    Ok(())
}

fn kill_signal_number(ctx: &mut Ctx) -> TResult {
    kill_with(ctx, "15", libc::SIGTERM)
}

fn kill_created(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    let o = ctx.kill(&id, "KILL")?;
    ensure!(o.ok(), "kill of a created container failed: {}", o.brief());
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))
}

fn kill_stopped(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &default_config(&[PROBE, "exit", "0"]))?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let o = ctx.kill(&id, "KILL")?;
    ensure!(!o.ok(), "kill of a stopped container succeeded");
    let st = ctx.status(&id)?;
    ensure!(st == "stopped", "status became {st:?}");
    Ok(())
}

fn delete_running(ctx: &mut Ctx) -> TResult {
    let (id, s) = running(ctx)?;
    let o = ctx.delete(&id, false)?;
    ensure!(!o.ok(), "delete (without --force) of a running container succeeded");
    same_state(ctx, &id, &s)
}

fn delete_created(ctx: &mut Ctx) -> TResult {
    let (_, id) = created(ctx, &sleeper())?;
    let s = ctx.state_ok(&id)?;
    let o = ctx.delete(&id, false)?;
    ensure!(!o.ok(), "delete (without --force) of a created container succeeded");
    same_state(ctx, &id, &s)
}

fn delete_stopped(ctx: &mut Ctx) -> TResult {
    let before = descendants();
    let (_, id) = created(ctx, &default_config(&[PROBE, "exit", "0"]))?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let o = ctx.delete(&id, false)?;
    ensure!(o.ok(), "delete of a stopped container failed: {}", o.brief());
    ensure!(ctx.state(&id)?.is_none(), "state still works after delete");
    let l = ctx.rt(&["list", "-q"])?;
    ensure!(!l.stdout.lines().any(|x| x.trim() == id), "list still shows {id}");
    ctx.expect_no_container(&id, &before)
}

/// A container joins the network namespace of another; deleting it must
/// leave that namespace, its bundle and a bind-mount source alone.
fn delete_keeps_foreign(ctx: &mut Ctx) -> TResult {
    let (_, holder) = created(ctx, &sleeper())?;
    let hpid = ctx.state_ok(&holder)?["pid"].as_i64().unwrap_or(0);
    let netns = format!("/proc/{hpid}/ns/net");
    let ino = std::fs::metadata(&netns).map(|m| std::os::unix::fs::MetadataExt::ino(&m))?;
    let shared = ctx.path().join("shared");
    std::fs::create_dir(&shared)?;
    std::fs::write(shared.join("keep"), "x")?;
    let mut cfg = default_config(&[PROBE, "exit", "0"]);
    cfg["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "network", "path": netns}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ]);
    crate::config::add_mount(
        &mut cfg,
        json!({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]}),
    );
    let (b, id) = created(ctx, &cfg)?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let o = ctx.delete(&id, false)?;
    ensure!(o.ok(), "delete failed: {}", o.brief());
    ensure!(
        shared.join("keep").exists(),
        "the bind-mount source's content was deleted"
    );
    ensure!(
        b.dir.join("config.json").exists(),
        "the bundle's config.json was deleted"
    );
    ensure!(b.rootfs.join("bin/busybox").exists(), "the bundle's rootfs was deleted");
    let now = std::fs::metadata(&netns)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .ok();
    ensure!(
        now == Some(ino),
        "the joined network namespace of the other container is gone"
    );
    let st = ctx.status(&holder)?;
    ensure!(st == "created", "the other container is now {st:?}");
    Ok(())
}

fn delete_force(ctx: &mut Ctx) -> TResult {
    let before = descendants();
    let (id, s) = running(ctx)?;
    let pid = s["pid"].as_i64().unwrap_or(0);
    let o = ctx.delete(&id, true)?;
    ensure!(o.ok(), "delete --force of a running container failed: {}", o.brief());
    ensure!(ctx.state(&id)?.is_none(), "state still works after delete --force");
    crate::harness::reap_orphans(None);
    ensure!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container process {pid} survived"
    );
    ctx.expect_no_container(&id, &before)
}
