//! config.md#mounts: order, bind mounts, types and options.

use serde_json::{json, Value};

use super::root::{has_opt, mount_at};
use super::{t, Test};
use crate::config::{add_mount, probe_report};
use crate::harness::{Ctx, Failure, TResult};
use crate::{ensure, fail};

pub fn tests() -> Vec<Test> {
    vec![
        t("mounts.order", "config.md#mounts", "The runtime MUST mount entries in the listed order.", order),
        t("mounts.order-default", "config.md#mounts",
          "The runtime MUST mount entries in the listed order (the default mounts: proc, tmpfs, devpts, shm, mqueue, \
           sysfs).", order_default),
        t("mounts.bind", "config.md#mounts",
          "bind (MUST): Bind mount; the host directory's content is visible at destination.", bind_dir),
        t("mounts.bind-file", "config.md#mounts", "bind (MUST): a single file can be bind mounted.", bind_file),
        t("mounts.bind-ro", "config.md#mounts",
          "ro (MUST): the bind mount is read-only inside the container.", bind_ro),
        t("mounts.relative-destination", "config.md#mounts",
          "destination ... MAY be a relative path, in which case it MUST be interpreted as relative to \"/\".",
          relative_destination),
        t("mounts.tmpfs-options", "config.md#mounts",
          "nosuid, nodev, noexec (MUST) and filesystem-specific options (mode=, size=) are applied.", tmpfs_options),
        t("mounts.atime-options", "config.md#mounts",
          "noatime, nodiratime, relatime, strictatime (MUST) are applied.", atime_options),
        t("mounts.sync-options", "config.md#mounts", "sync, dirsync (MUST) are applied.", sync_options),
        t("mounts.propagation", "config.md#mounts",
          "rshared, rprivate, unbindable (MUST): bind mount propagation is applied.", propagation),
        t("mounts.rro", "config.md#mounts",
          "rro (SHOULD): Recursive ro (an rbind with rro is read-only in its submounts too).", recursive_ro),
        t("mounts.idmap", "config.md#posix-platform-mounts",
          "uidMappings (array of type LinuxIDMapping, OPTIONAL) The mapping to convert UIDs from the source file \
           system to the destination mount point (gidMappings likewise; a file owned by 0:0 shows as the hostID).",
          idmap),
    ]
}

fn probe_with(mounts: Vec<Value>, paths: &[&str]) -> Value {
    let mut extra = Vec::new();
    for p in paths {
        extra.push("--path");
        extra.push(p);
    }
    let mut cfg = probe_report(&extra);
    for m in mounts {
        add_mount(&mut cfg, m);
    }
    cfg
}

fn host_dir(ctx: &Ctx, name: &str, file: &str, content: &str) -> Result<std::path::PathBuf, Failure> {
    let d = ctx.path().join(name);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(file), content)?;
    Ok(d)
}

fn order(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "marker", "bound")?;
    let bind = json!({"destination": "/m", "type": "bind", "source": src, "options": ["rbind"]});
    let tmpfs = json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]});
    // tmpfs then bind: the bind is on top, its file is visible.
    let r = ctx.run_probe(&probe_with(vec![tmpfs.clone(), bind.clone()], &["/m/marker"]))?;
    ensure!(
        r["paths"]["/m/marker"]["exists"] == true,
        "[tmpfs, bind] at /m: the bind (listed last) is not on top"
    );
    // bind then tmpfs: the tmpfs hides it.
    let r = ctx.run_probe(&probe_with(vec![bind, tmpfs], &["/m/marker"]))?;
    ensure!(
        r["paths"]["/m/marker"]["exists"] == false,
        "[bind, tmpfs] at /m: the tmpfs (listed last) is not on top"
    );
    Ok(())
}

fn order_default(ctx: &mut Ctx) -> TResult {
    let r = ctx.run_probe(&probe_report(&[]))?;
    let want = [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ];
    let mut last_id = 0;
    for (mp, fstype) in want {
        let Some(m) = mount_at(&r, mp) else {
            fail!("{mp} is not mounted")
        };
        ensure!(
            m["fstype"] == fstype,
            "{mp} has type {} instead of {fstype}",
            m["fstype"]
        );
        // Mount ids grow in the order mounts are made (or the parent is mounted first).
        let id = m["id"].as_u64().unwrap_or(0);
        ensure!(
            id > last_id,
            "{mp} (mount id {id}) was mounted before the entry listed ahead of it (id {last_id})"
        );
        last_id = id;
    }
    Ok(())
}

fn bind_dir(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "hello", "world")?;
    let m = json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "rw"]});
    let r = ctx.run_probe(&probe_with(vec![m], &["/data/hello", "/data"]))?;
    let f = &r["paths"]["/data/hello"];
    ensure!(
        f["content"] == "world",
        "/data/hello reads {} instead of \"world\"",
        f["content"]
    );
    ensure!(
        r["paths"]["/data"]["write"] == "ok",
        "rw bind mount not writable: {}",
        r["paths"]["/data"]["write"]
    );
    Ok(())
}

fn bind_file(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "file", "one file")?;
    let m = json!({"destination": "/etc/bound", "type": "bind", "source": src.join("file"), "options": ["bind"]});
    let r = ctx.run_probe(&probe_with(vec![m], &["/etc/bound"]))?;
    let f = &r["paths"]["/etc/bound"];
    ensure!(f["type"] == "f" && f["content"] == "one file", "/etc/bound is {f}");
    Ok(())
}

fn bind_ro(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "f", "x")?;
    let m = json!({"destination": "/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]});
    let r = ctx.run_probe(&probe_with(vec![m], &["/ro", "/ro/f"]))?;
    ensure!(
        r["paths"]["/ro"]["write"] == "EROFS",
        "creating a file in /ro gave {}",
        r["paths"]["/ro"]["write"]
    );
    ensure!(
        r["paths"]["/ro/f"]["write"] == "EROFS",
        "opening /ro/f for writing gave {}",
        r["paths"]["/ro/f"]["write"]
    );
    let Some(mi) = mount_at(&r, "/ro") else {
        fail!("/ro is not a mount point")
    };
    ensure!(has_opt(mi, "options", "ro"), "/ro mount options are {}", mi["options"]);
    Ok(())
}

fn relative_destination(ctx: &mut Ctx) -> TResult {
    let m = json!({"destination": "reltmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]});
    let r = ctx.run_probe(&probe_with(vec![m], &[]))?;
    let Some(mi) = mount_at(&r, "/reltmp") else {
        fail!("destination \"reltmp\" was not mounted at /reltmp")
    };
    ensure!(mi["fstype"] == "tmpfs", "/reltmp has type {}", mi["fstype"]);
    Ok(())
}

fn tmpfs_options(ctx: &mut Ctx) -> TResult {
    let m = json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=710", "size=2m"]});
    let r = ctx.run_probe(&probe_with(vec![m], &["/t"]))?;
    let Some(mi) = mount_at(&r, "/t") else {
        fail!("/t is not mounted")
    };
    for o in ["nosuid", "nodev", "noexec", "rw"] {
        ensure!(has_opt(mi, "options", o), "/t options {} lack {o}", mi["options"]);
    }
    ensure!(
        has_opt(mi, "super_options", "size=2048k"),
        "/t superblock options {} lack size=2048k",
        mi["super_options"]
    );
    ensure!(
        r["paths"]["/t"]["mode"] == 0o710,
        "/t has mode {:o} instead of 710",
        r["paths"]["/t"]["mode"].as_u64().unwrap_or(0)
    );
    Ok(())
}

fn atime_options(ctx: &mut Ctx) -> TResult {
    let mk = |d: &str, o: &[&str]| json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": o});
    let r = ctx.run_probe(&probe_with(
        vec![
            mk("/a1", &["noatime"]),
            mk("/a2", &["nodiratime", "relatime"]),
            mk("/a3", &["strictatime"]),
        ],
        &[],
    ))?;
    let get = |mp: &str| mount_at(&r, mp).cloned().unwrap_or(Value::Null);
    let (a1, a2, a3) = (get("/a1"), get("/a2"), get("/a3"));
    ensure!(
        has_opt(&a1, "options", "noatime"),
        "/a1 (noatime) has {}",
        a1["options"]
    );
    ensure!(
        has_opt(&a2, "options", "nodiratime") && has_opt(&a2, "options", "relatime"),
        "/a2 (nodiratime,relatime) has {}",
        a2["options"]
    );
    ensure!(
        !a3.is_null() && !has_opt(&a3, "options", "relatime") && !has_opt(&a3, "options", "noatime"),
        "/a3 (strictatime) has {}",
        a3["options"]
    );
    Ok(())
}

fn sync_options(ctx: &mut Ctx) -> TResult {
    let m = json!({"destination": "/s", "type": "tmpfs", "source": "tmpfs", "options": ["sync", "dirsync"]});
    let r = ctx.run_probe(&probe_with(vec![m], &[]))?;
    let Some(mi) = mount_at(&r, "/s") else {
        fail!("/s is not mounted")
    };
    ensure!(
        has_opt(mi, "super_options", "sync") && has_opt(mi, "super_options", "dirsync"),
        "/s superblock options {} lack sync,dirsync",
        mi["super_options"]
    );
    Ok(())
}

fn propagation(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "f", "x")?;
    let mk = |d: &str, p: &str| json!({"destination": d, "type": "bind", "source": src, "options": ["rbind", p]});
    let r = ctx.run_probe(&probe_with(
        vec![
            mk("/p-shared", "rshared"),
            mk("/p-private", "rprivate"),
            mk("/p-unbindable", "unbindable"),
        ],
        &[],
    ))?;
    let opt = |mp: &str| -> Vec<String> {
        mount_at(&r, mp)
            .and_then(|m| m["optional"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    let (s, p, u) = (opt("/p-shared"), opt("/p-private"), opt("/p-unbindable"));
    ensure!(
        s.iter().any(|o| o.starts_with("shared:")),
        "/p-shared (rshared) has propagation {s:?}"
    );
    ensure!(
        p.iter().all(|o| !o.starts_with("shared:") && !o.starts_with("master:")),
        "/p-private (rprivate) has propagation {p:?}"
    );
    ensure!(
        u.iter().any(|o| o == "unbindable"),
        "/p-unbindable has propagation {u:?}"
    );
    Ok(())
}

/// A tmpfs mounted on the host for one test, detached when dropped (even
/// when the test fails), before the harness removes the temp dir.
struct HostTmpfs(std::path::PathBuf);

impl HostTmpfs {
    fn mount(at: std::path::PathBuf) -> Result<Self, Failure> {
        std::fs::create_dir_all(&at)?;
        nix::mount::mount(
            Some("tmpfs"),
            &at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .map_err(|e| Failure::Fail(format!("mount tmpfs on {}: {e}", at.display())))?;
        Ok(HostTmpfs(at))
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn recursive_ro(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "f", "x")?;
    let sub = HostTmpfs::mount(src.join("sub"))?;
    std::fs::write(sub.0.join("g"), "y")?;
    let m = json!({"destination": "/r", "type": "bind", "source": src, "options": ["rbind", "rro"]});
    let r = ctx.run_probe(&probe_with(vec![m], &["/r", "/r/sub", "/r/sub/g"]))?;
    drop(sub);
    ensure!(
        r["paths"]["/r/sub/g"]["content"] == "y",
        "the submount is not visible through the rbind: /r/sub/g is {}",
        r["paths"]["/r/sub/g"]
    );
    for p in ["/r", "/r/sub"] {
        ensure!(
            r["paths"][p]["write"] == "EROFS",
            "creating a file in {p} gave {} (rbind with rro)",
            r["paths"][p]["write"]
        );
    }
    let Some(mi) = mount_at(&r, "/r/sub") else {
        fail!("/r/sub is not a mount point in the container")
    };
    ensure!(
        has_opt(mi, "options", "ro"),
        "/r/sub mount options are {}",
        mi["options"]
    );
    Ok(())
}

fn idmap(ctx: &mut Ctx) -> TResult {
    let src = host_dir(ctx, "src", "f", "x")?;
    std::os::unix::fs::chown(src.join("f"), Some(0), Some(0))?;
    let map = json!([{"containerID": 0, "hostID": 300000, "size": 65536}]);
    let m = json!({"destination": "/idm", "type": "bind", "source": src, "options": ["rbind", "idmap"],
        "uidMappings": map, "gidMappings": map});
    let r = ctx.run_probe(&probe_with(vec![m], &["/idm/f"]))?;
    let f = &r["paths"]["/idm/f"];
    ensure!(
        f["uid"] == 300000 && f["gid"] == 300000,
        "/idm/f (0:0 on the host) shows as {}:{} instead of 300000:300000",
        f["uid"],
        f["gid"]
    );
    let md = std::fs::metadata(src.join("f"))?;
    use std::os::unix::fs::MetadataExt;
    ensure!(
        md.uid() == 0 && md.gid() == 0,
        "the source file was chowned on the host to {}:{}",
        md.uid(),
        md.gid()
    );
    Ok(())
}
