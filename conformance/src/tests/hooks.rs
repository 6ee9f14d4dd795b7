//! config.md#posix-platform-hooks: each hook runs, gets the state on stdin,
//! in the listed order; a failing prestart hook fails create.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::{t, Test};
use crate::config::{add_mount, default_config, PROBE};
use crate::harness::{descendants, Ctx, Failure, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    let mut v: Vec<Test> = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ]
    .iter()
    .map(|h| {
        t(
            hook_test_name(h),
            "config.md#posix-platform-hooks",
            "Hooks MUST be called ... The state of the container MUST be passed to hooks over stdin.",
            HOOK_FNS[index(h)],
        )
    })
    .collect();
    v.push(t(
        "hooks.order",
        "config.md#posix-platform-hooks",
        "The prestart hooks MUST be called before the createRuntime hooks; the createContainer hooks MUST be called \
         after the createRuntime hooks; poststop hooks run at delete, after all others.",
        order,
    ));
    v.push(t(
        "hooks.poststart-after-startContainer",
        "config.md#poststart",
        "The poststart hooks MUST be called after the user-specified process is executed (so after the \
         startContainer hooks, which run before it).",
        poststart_after_start_container,
    ));
    v.push(t(
        "hooks.prestart-fails",
        "runtime.md#lifecycle",
        "If any prestart hook fails, the runtime MUST generate an error, stop the container, and continue the \
         lifecycle at step 12.",
        prestart_fails,
    ));
    v
}

const NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

fn index(h: &str) -> usize {
    NAMES.iter().position(|n| *n == h).unwrap_or(0)
}

fn hook_test_name(h: &str) -> &'static str {
    match h {
        "prestart" => "hooks.prestart",
        "createRuntime" => "hooks.createRuntime",
        "createContainer" => "hooks.createContainer",
        "startContainer" => "hooks.startContainer",
        "poststart" => "hooks.poststart",
        _ => "hooks.poststop",
    }
}

const HOOK_FNS: [fn(&mut Ctx) -> TResult; 6] = [
    |c| one(c, "prestart"),
    |c| one(c, "createRuntime"),
    |c| one(c, "createContainer"),
    |c| one(c, "startContainer"),
    |c| one(c, "poststart"),
    |c| one(c, "poststop"),
];

/// A hook that saves its stdin as NAME.json and appends NAME to `order`.
/// startContainer runs in the container: it writes to /hooks, a bind mount
/// of the same host directory, with the container's /bin/sh.
fn hook(dir: &str, name: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {dir}/{name}.json; echo {name} >> {dir}/order")]})
}

fn config_with_hooks(out: &Path, names: &[&str], args: &[&str]) -> Value {
    let mut cfg = default_config(args);
    let host = out.display().to_string();
    let mut hooks = serde_json::Map::new();
    for n in names {
        let dir = if *n == "startContainer" {
            "/hooks"
        } else {
            host.as_str()
        };
        hooks.insert((*n).to_string(), json!([hook(dir, n)]));
    }
    cfg["hooks"] = Value::Object(hooks);
    add_mount(
        &mut cfg,
        json!({"destination": "/hooks", "type": "bind", "source": host, "options": ["rbind", "rw"]}),
    );
    cfg
}

fn lifecycle(ctx: &mut Ctx, names: &[&str]) -> Result<(std::path::PathBuf, String), Failure> {
    let out = ctx.path().join("hooks-out");
    std::fs::create_dir_all(&out)?;
    let cfg = config_with_hooks(&out, names, &[PROBE, "exit", "0"]);
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    ctx.create_ok(&b, &id)?;
    ctx.start_ok(&id)?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(5))?;
    let o = ctx.delete(&id, false)?;
    ensure!(o.ok(), "delete failed: {}", o.brief());
    Ok((out, id))
}

fn one(ctx: &mut Ctx, name: &str) -> TResult {
    let (out, id) = lifecycle(ctx, &[name])?;
    let f = out.join(format!("{name}.json"));
    let Ok(text) = std::fs::read_to_string(&f) else {
        fail!("the {name} hook did not run")
    };
    let st: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => fail!("the {name} hook got no state JSON on stdin ({e}): {text:?}"),
    };
    ensure!(
        st["id"] == json!(id),
        "the {name} hook's state has id {} instead of {id:?}",
        st["id"]
    );
    ensure!(
        st["ociVersion"].is_string() && st["bundle"].is_string() && st["status"].is_string(),
        "the {name} hook's state lacks required fields: {st}"
    );
    Ok(())
}

fn ran_order(ctx: &mut Ctx) -> Result<Vec<String>, Failure> {
    let (out, _) = lifecycle(ctx, &NAMES)?;
    let got = std::fs::read_to_string(out.join("order")).unwrap_or_default();
    Ok(got.lines().map(String::from).collect())
}

fn order(ctx: &mut Ctx) -> TResult {
    let got = ran_order(ctx)?;
    let pos = |n: &str| got.iter().position(|g| g == n);
    for n in NAMES {
        ensure!(pos(n).is_some(), "the {n} hook did not run (ran: {got:?})");
    }
    ensure!(
        pos("prestart") < pos("createRuntime") && pos("createRuntime") < pos("createContainer"),
        "create-time hooks ran in the order {got:?}"
    );
    ensure!(
        got.last().map(String::as_str) == Some("poststop"),
        "poststop did not run last: {got:?}"
    );
    Ok(())
}

fn poststart_after_start_container(ctx: &mut Ctx) -> TResult {
    let got = ran_order(ctx)?;
    let pos = |n: &str| got.iter().position(|g| g == n);
    ensure!(
        pos("startContainer").is_some() && pos("poststart").is_some(),
        "hooks ran: {got:?}"
    );
    ensure!(
        pos("startContainer") < pos("poststart"),
        "poststart ran before startContainer (so before the user process was executed): {got:?}"
    );
    Ok(())
}

fn prestart_fails(ctx: &mut Ctx) -> TResult {
    let mut cfg = default_config(&[PROBE, "sleep", "600"]);
    cfg["hooks"] = json!({"prestart": [{"path": "/bin/false", "args": ["false"]}]});
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let before = descendants();
    let o = ctx.create(&b, &id)?;
    ensure!(!o.ok(), "create succeeded although the prestart hook failed");
    // "continue the lifecycle at step 12": the container is destroyed; its
    // state may remain as stopped until delete, but no process may remain.
    if let Some(s) = ctx.state(&id)? {
        ensure!(
            s["status"] == "stopped",
            "after a failed prestart hook the container is {}",
            s["status"]
        );
        let _ = ctx.delete(&id, true);
    }
    ctx.expect_no_container(&id, &before)
}
