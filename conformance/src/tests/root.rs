//! config.md#root: the root filesystem.

use serde_json::{json, Value};

use super::{t, Test};
use crate::config::probe_report;
use crate::harness::{Ctx, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    vec![
        t(
            "root.path-relative",
            "config.md#root",
            "On POSIX platforms, path is either an absolute path or a relative path to the bundle.",
            path_relative,
        ),
        t(
            "root.path-absolute",
            "config.md#root",
            "On POSIX platforms, path is either an absolute path or a relative path to the bundle.",
            path_absolute,
        ),
        t(
            "root.path-missing",
            "config.md#root",
            "A directory MUST exist at the path declared by the field.",
            path_missing,
        ),
        t(
            "root.readonly",
            "config.md#root",
            "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container.",
            readonly_true,
        ),
        t(
            "root.readonly-default",
            "config.md#root",
            "readonly (bool, OPTIONAL) ... defaults to false.",
            readonly_false,
        ),
    ]
}

/// The mount at `/` in the probe's mountinfo (the last one, if stacked).
pub fn mount_at<'a>(r: &'a Value, mp: &str) -> Option<&'a Value> {
    r["mounts"].as_array()?.iter().rev().find(|m| m["mount_point"] == mp)
}

pub fn has_opt(m: &Value, key: &str, opt: &str) -> bool {
    m[key].as_array().is_some_and(|a| a.iter().any(|o| o == opt))
}

fn path_relative(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&["--path", "/bin/busybox"]))?;
    ensure!(
        r["paths"]["/bin/busybox"]["exists"] == true,
        "the rootfs (root.path \"rootfs\") is not the container's /"
    );
    Ok(())
}

fn path_absolute(ctx: &mut Ctx) -> TResult {
    // A rootfs outside the bundle, named by its absolute path.
    let mut cfg = probe_report(&["--path", "/elsewhere-marker"]);
    let other = ctx.bundle(&cfg)?;
    std::fs::write(other.rootfs.join("elsewhere-marker"), "x")?;
    cfg["root"]["path"] = json!(other.rootfs);
    let r = ctx.run_probe(&cfg)?;
    ensure!(
        r["paths"]["/elsewhere-marker"]["exists"] == true,
        "root.path {} (absolute) is not the container's /",
        other.rootfs.display()
    );
    Ok(())
}

fn path_missing(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    cfg["root"]["path"] = json!("no-such-rootfs");
    ctx.expect_create_error(&cfg)
}

fn readonly_true(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&["--path", "/", "--path", "/bin"]);
    cfg["root"]["readonly"] = json!(true);
    let r = ctx.run_probe(&cfg)?;
    for p in ["/", "/bin"] {
        let w = &r["paths"][p]["write"];
        ensure!(*w == "EROFS", "creating a file in {p} gave {w} instead of EROFS");
    }
    match mount_at(&r, "/") {
        Some(m) => ensure!(has_opt(m, "options", "ro"), "/ is mounted {} (no ro)", m["options"]),
        None => fail!("no mount at / in mountinfo"),
    }
    Ok(())
}

fn readonly_false(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&["--path", "/"]);
    crate::config::remove(&mut cfg, "root/readonly");
    let r = ctx.run_probe(&cfg)?;
    let w = &r["paths"]["/"]["write"];
    ensure!(*w == "ok", "creating a file in / of a root without readonly gave {w}");
    Ok(())
}
