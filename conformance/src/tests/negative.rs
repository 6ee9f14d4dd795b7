//! Invalid configs: create MUST fail and leave nothing behind. Some come from
//! the spec's schema/test/config/bad, adapted (given a rootfs and a process).

use serde_json::{json, Value};

use super::{t, Test};
use crate::config::{probe_report, set};
use crate::harness::{Ctx, Failure, TResult};

pub fn tests() -> Vec<Test> {
    vec![
        t(
            "negative.invalid-json",
            "runtime.md#create",
            "If the runtime is unable to create the environment specified in the config.json, it MUST generate an \
           error (schema/test/config/bad/invalid-json.json).",
            invalid_json,
        ),
        t(
            "negative.bad-linux-rdma",
            "runtime.md#errors",
            "schema/test/config/bad/linux-rdma.json (hcaHandles not a uint32) is rejected by create.",
            bad_rdma,
        ),
        t(
            "negative.bad-linux-hugepage",
            "runtime.md#errors",
            "schema/test/config/bad/linux-hugepage.json (pageSize 64kB, not a valid size): no error is required; pass if \
             create fails cleanly, skip if the runtime accepts it.",
            bad_hugepage,
        ),
        t(
            "negative.bad-linux-netdevice",
            "runtime.md#errors",
            "schema/test/config/bad/linux-netdevice.json (name is a number): no error is required (runc 1.1.5 does not \
             know netDevices and accepts it); pass if create fails cleanly, skip if accepted.",
            bad_netdevice,
        ),
        t(
            "negative.cwd-relative",
            "config.md#process",
            "cwd ... This value MUST be an absolute path (a relative one is rejected).",
            cwd_relative,
        ),
        t(
            "negative.args-empty",
            "config.md#process",
            "args ... at least one entry is REQUIRED (an empty args is rejected at create or start).",
            args_empty,
        ),
        t(
            "negative.namespace-unknown",
            "runtime.md#create",
            "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error \
           (unknown namespace type).",
            namespace_unknown,
        ),
        t(
            "negative.mount-unknown-type",
            "runtime.md#create",
            "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and \
           a new container MUST NOT be created (mount of an unknown filesystem type).",
            mount_unknown,
        ),
    ]
}

fn invalid_json(ctx: &mut Ctx) -> TResult {
    let b = ctx.bundle(&probe_report(&[]))?;
    std::fs::write(b.config_path(), "{]\n")?;
    ctx.expect_create_error_in(&b)
}

fn merged(path: &str, value: Value) -> Value {
    let mut cfg = probe_report(&[]);
    set(&mut cfg, path, value);
    cfg
}

fn bad_rdma(ctx: &mut Ctx) -> TResult {
    ctx.expect_create_error(&merged(
        "linux/resources/rdma",
        json!({"mlx5_1": {"hcaHandles": "not a uint32"}}),
    ))
}

/// For schema-invalid configs the spec requires no error: pass when create
/// fails cleanly, skip (saying so) when the runtime accepts the config.
fn rejected_or_accepted(ctx: &mut Ctx, cfg: &Value, what: &str) -> TResult {
    match ctx.expect_create_error(cfg) {
        Err(Failure::Fail(m)) if m.starts_with("create succeeded") => Err(Failure::Skip(format!(
            "the runtime accepts {what} (schema-invalid, but no error is required)"
        ))),
        r => r,
    }
}

fn bad_hugepage(ctx: &mut Ctx) -> TResult {
    let cfg = merged(
        "linux/resources/hugepageLimits",
        json!([{"limit": 1234123, "pageSize": "64kB"}]),
    );
    rejected_or_accepted(ctx, &cfg, "hugepageLimits pageSize \"64kB\"")
}

fn bad_netdevice(ctx: &mut Ctx) -> TResult {
    let cfg = merged("linux/netDevices", json!({"eth0": {"name": 23}}));
    rejected_or_accepted(ctx, &cfg, "netDevices eth0 name 23")
}

fn cwd_relative(ctx: &mut Ctx) -> TResult {
    ctx.expect_create_error(&merged("process/cwd", json!("tmp")))
}

fn args_empty(ctx: &mut Ctx) -> TResult {
    let cfg = merged("process/args", json!([]));
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let o = ctx.create(&b, &id)?;
    if o.ok() {
        let s = ctx.start(&id)?;
        crate::ensure!(!s.ok(), "an empty process.args was accepted by create and start");
        return Ok(());
    }
    ctx.expect_no_container(&id, &crate::harness::descendants())
}

fn namespace_unknown(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    if let Some(a) = cfg["linux"]["namespaces"].as_array_mut() {
        a.push(json!({"type": "no-such-namespace"}));
    }
    ctx.expect_create_error(&cfg)
}

fn mount_unknown(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    crate::config::add_mount(
        &mut cfg,
        json!({"destination": "/x", "type": "no-such-fs", "source": "none"}),
    );
    ctx.expect_create_error(&cfg)
}
