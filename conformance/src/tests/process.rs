//! config.md#process, #user, #hostname, #domainname.

use serde_json::{json, Value};

use super::{t, Test};
use crate::config::{probe_report, set};
use crate::ensure;
use crate::harness::{Ctx, Failure, TResult};

pub fn tests() -> Vec<Test> {
    vec![
        t("process.args-execvp", "config.md#process",
          "args ... at least one entry is REQUIRED, and that entry is used with the same semantics as execvp's file.",
          args_execvp),
        t("process.env", "config.md#process",
          "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.", env),
        t("process.cwd", "config.md#process",
          "cwd (string, REQUIRED) is the working directory that will be set for the executable.", cwd),
        t("process.user", "config.md#user",
          "uid (int, REQUIRED) specifies the user ID ... gid (int, REQUIRED) specifies the group ID in the container \
           namespace.", user),
        t("process.additionalGids", "config.md#user",
          "additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be \
           added to the process.", additional_gids),
        t("process.umask", "config.md#user", "umask (int, OPTIONAL) specifies the umask of the user.", umask),
        t("process.rlimits", "config.md#posix-process",
          "rlim.rlim_cur MUST match the configured value. rlim.rlim_max MUST match the configured value.", rlimits),
        t("process.rlimits-invalid-type", "config.md#posix-process",
          "The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.",
          rlimits_invalid),
        t("process.rlimits-duplicate", "config.md#posix-process",
          "If rlimits contains duplicated entries with same type, the runtime MUST generate an error.",
          rlimits_duplicate),
        t("process.rlimits-cannot-apply", "runtime.md#create",
          "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and \
           a new container MUST NOT be created (RLIMIT_NOFILE hard above the host's, no CAP_SYS_RESOURCE).",
          rlimits_too_high),
        t("process.noNewPrivileges", "config.md#linux-process",
          "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining \
           additional privileges.", no_new_privs),
        t("process.noNewPrivileges-false", "config.md#linux-process",
          "noNewPrivileges false (or unset) leaves the no_new_privs bit clear.", no_new_privs_false),
        t("process.capabilities", "config.md#linux-process",
          "capabilities: effective, bounding, inheritable, permitted, ambient ... capabilities that are kept for the \
           process.", capabilities),
        t("process.oomScoreAdj", "config.md#linux-process",
          "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.", oom_set),
        t("process.oomScoreAdj-unset", "config.md#linux-process",
          "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.", oom_unset),
        t("process.ioPriority", "config.md#linux-process",
          "ioPriority (object, OPTIONAL) configures the I/O priority settings for the container's processes within \
           the process group (class IOPRIO_CLASS_BE, priority 6: ioprio_get shows class 2, level 6).", io_priority),
        t("process.scheduler", "config.md#linux-process",
          "scheduler (object, OPTIONAL) is an object describing the scheduler properties for the process (policy \
           SCHED_BATCH, nice 3: sched_getscheduler gives 3, getpriority 3).", scheduler),
        t("process.consoleSize-ignored", "config.md#process",
          "Runtimes MUST ignore consoleSize if terminal is false or unset.", console_size_ignored),
        t("hostname.set", "config.md#hostname",
          "hostname specifies the container's hostname as seen by processes running inside the container.",
          hostname),
        t("hostname.domainname", "config.md#domainname",
          "domainname specifies the container's domainname as seen by processes running inside the container.",
          domainname),
        t("hostname.without-uts", "runtime.md#create",
          "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error \
           (hostname without a new UTS namespace would change the host's).", hostname_without_uts),
    ]
}

fn run(ctx: &mut Ctx, edit: impl FnOnce(&mut Value)) -> Result<Value, Failure> {
    let mut cfg = probe_report(&[]);
    edit(&mut cfg);
    ctx.run_probe(&cfg)
}

fn args_execvp(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["args"] = json!(["oci-probe", "report"]);
        c["process"]["env"] = json!(["PATH=/bin:/"]);
    })?;
    ensure!(r["args"] == json!(["oci-probe", "report"]), "argv is {}", r["args"]);
    Ok(())
}

fn env(ctx: &mut Ctx) -> TResult {
    let want = ["PATH=/bin", "A=1", "WITH_SPACES=a b  c", "EMPTY=", "EQ=x=y"];
    let r = run(ctx, |c| c["process"]["env"] = json!(want))?;
    let got: Vec<&str> = r["env"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for w in want {
        ensure!(got.contains(&w), "{w:?} missing from the environment {got:?}");
    }
    Ok(())
}

fn cwd(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["process"]["cwd"] = json!("/tmp"))?;
    ensure!(r["cwd"] == "/tmp", "cwd is {} instead of /tmp", r["cwd"]);
    Ok(())
}

fn user(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["process"]["user"] = json!({"uid": 1000, "gid": 1001}))?;
    ensure!(
        r["uid"] == json!([1000, 1000, 1000, 1000]),
        "uids (real, effective, saved, fs) are {}",
        r["uid"]
    );
    ensure!(
        r["gid"] == json!([1001, 1001, 1001, 1001]),
        "gids (real, effective, saved, fs) are {}",
        r["gid"]
    );
    Ok(())
}

fn additional_gids(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 6, 4242]})
    })?;
    let mut g: Vec<u64> = r["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    g.retain(|x| *x != 1000);
    ensure!(
        g == vec![5, 6, 4242],
        "supplementary groups are {} instead of [5, 6, 4242]",
        r["groups"]
    );
    Ok(())
}

fn umask(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| set(c, "process/user/umask", json!(0o077)))?;
    ensure!(r["umask"] == "0077", "umask is {} instead of 0077", r["umask"]);
    Ok(())
}

fn rlimits(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_CORE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_MSGQUEUE", "soft": 4000, "hard": 8000}
        ]);
    })?;
    for (k, s, h) in [
        ("RLIMIT_NOFILE", 512, 1000),
        ("RLIMIT_CORE", 1024, 4096),
        ("RLIMIT_MSGQUEUE", 4000, 8000),
    ] {
        let got = &r["rlimits"][k];
        ensure!(
            got["soft"] == s && got["hard"] == h,
            "{k} is {got} instead of soft {s} hard {h}"
        );
    }
    Ok(())
}

fn rlimits_invalid(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NO_SUCH_THING", "soft": 1, "hard": 1}]);
    ctx.expect_create_error(&cfg)
}

fn rlimits_duplicate(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    cfg["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 900}
    ]);
    ctx.expect_create_error(&cfg)
}

fn rlimits_too_high(ctx: &mut Ctx) -> TResult {
    let (_, host_hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| Failure::Fail(format!("getrlimit: {e}")))?;
    let caps = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = caps
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(str::trim)
        .unwrap_or("0");
    let bnd = u64::from_str_radix(bnd, 16).unwrap_or(0);
    if bnd & (1 << 24) != 0 {
        return Err(Failure::Skip(
            "this host has CAP_SYS_RESOURCE: a higher hard limit can be set".into(),
        ));
    }
    let mut cfg = probe_report(&[]);
    let want = host_hard.saturating_mul(2).min(1 << 20);
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}]);
    let b = ctx.bundle(&cfg)?;
    let id = ctx.new_id();
    let before = crate::harness::descendants();
    let o = ctx.create(&b, &id)?;
    if o.ok() {
        // Some runtimes apply rlimits only at start: then start must fail.
        let s = ctx.start(&id)?;
        ensure!(
            !s.ok(),
            "RLIMIT_NOFILE {want} above the host's hard limit {host_hard} was accepted"
        );
        return Ok(());
    }
    ctx.expect_no_container(&id, &before)
}

fn nnp_of(r: &Value) -> String {
    r["no_new_privs"].as_str().unwrap_or("?").to_string()
}

fn no_new_privs(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["process"]["noNewPrivileges"] = json!(true))?;
    ensure!(nnp_of(&r) == "1", "NoNewPrivs is {}", nnp_of(&r));
    Ok(())
}

fn no_new_privs_false(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["process"]["noNewPrivileges"] = json!(false))?;
    ensure!(nnp_of(&r) == "0", "NoNewPrivs is {}", nnp_of(&r));
    Ok(())
}

fn capabilities(ctx: &mut Ctx) -> TResult {
    // CAP_CHOWN(0), CAP_KILL(5), CAP_NET_BIND_SERVICE(10)
    let set3 = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let r = run(ctx, |c| {
        c["process"]["capabilities"] = json!({
            "bounding": set3, "effective": set3, "permitted": set3, "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
        });
    })?;
    let want = format!("{:016x}", (1u64 << 0) | (1 << 5) | (1 << 10));
    let kill = format!("{:016x}", 1u64 << 5);
    for (set_name, w) in [
        ("bounding", &want),
        ("effective", &want),
        ("permitted", &want),
        ("inheritable", &kill),
        ("ambient", &kill),
    ] {
        let got = r["capabilities"][set_name].as_str().unwrap_or("?");
        ensure!(got == w.as_str(), "{set_name} set is {got} instead of {w}");
    }
    Ok(())
}

fn oom_set(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["process"]["oomScoreAdj"] = json!(123))?;
    ensure!(
        r["oom_score_adj"] == "123",
        "oom_score_adj is {} instead of 123",
        r["oom_score_adj"]
    );
    Ok(())
}

fn oom_unset(ctx: &mut Ctx) -> TResult {
    let mine = std::fs::read_to_string("/proc/self/oom_score_adj")?.trim().to_string();
    let r = run(ctx, |c| crate::config::remove(c, "process/oomScoreAdj"))?;
    ensure!(
        r["oom_score_adj"] == mine.as_str(),
        "oom_score_adj is {} but the runtime's caller has {mine}",
        r["oom_score_adj"]
    );
    Ok(())
}

fn io_priority(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6})
    })?;
    let s = &r["sched"];
    // <linux/ioprio.h>: IOPRIO_CLASS_BE is 2.
    ensure!(
        s["ioprio_class"] == 2 && s["ioprio_level"] == 6,
        "ioprio_get gives class {} level {} instead of 2 (BE) and 6",
        s["ioprio_class"],
        s["ioprio_level"]
    );
    Ok(())
}

fn scheduler(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3})
    })?;
    let s = &r["sched"];
    // <linux/sched.h>: SCHED_BATCH is 3.
    ensure!(
        s["policy"] == 3,
        "sched_getscheduler gives policy {} instead of 3 (SCHED_BATCH)",
        s["policy"]
    );
    ensure!(s["nice"] == 3, "the nice value is {} instead of 3", s["nice"]);
    Ok(())
}

fn console_size_ignored(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| {
        c["process"]["consoleSize"] = json!({"height": 25, "width": 80})
    })?;
    ensure!(r["pid"] == 1, "the container did not run normally");
    Ok(())
}

fn hostname(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["hostname"] = json!("conformance-host"))?;
    ensure!(r["hostname"] == "conformance-host", "hostname is {}", r["hostname"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    ensure!(host.trim() != "conformance-host", "the host's hostname was changed");
    Ok(())
}

fn domainname(ctx: &mut Ctx) -> TResult {
    let r = run(ctx, |c| c["domainname"] = json!("conformance.test"))?;
    ensure!(
        r["domainname"] == "conformance.test",
        "domainname is {}",
        r["domainname"]
    );
    Ok(())
}

fn hostname_without_uts(ctx: &mut Ctx) -> TResult {
    let mut cfg = probe_report(&[]);
    cfg["hostname"] = json!("must-not-leak");
    crate::config::set_namespaces(&mut cfg, &["pid", "network", "ipc", "mount"]);
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    let res = ctx.expect_create_error(&cfg);
    let after = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    if after != before {
        let _ = std::fs::write("/proc/sys/kernel/hostname", before.trim());
        return Err(Failure::Fail(format!(
            "the runtime changed the HOST's hostname to {after:?} (restored)"
        )));
    }
    res
}
