//! Debian's container seccomp profile (containers-common's
//! /usr/share/containers/seccomp.json, the moby format) in OCI form, for
//! `linux.seccomp`: the rules whose `includes` hold and `excludes` do not,
//! for this architecture and the config's bounding capabilities.

use serde_json::{json, Value};

pub const DEBIAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

/// The Go name of this machine's architecture, as `includes.arches` uses.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        _ => "",
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Convert the moby-format profile to an OCI `linux.seccomp` object.
pub fn to_oci(profile: &Value, caps: &[&str]) -> Value {
    let arch = go_arch();
    let mut architectures: Vec<Value> = Vec::new();
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == scmp_arch() {
            architectures.push(m["architecture"].clone());
            architectures.extend(m["subArchitectures"].as_array().into_iter().flatten().cloned());
        }
    }
    let mut syscalls = Vec::new();
    for s in profile["syscalls"].as_array().into_iter().flatten() {
        let (inc, exc) = (&s["includes"], &s["excludes"]);
        let inc_arches = strings(&inc["arches"]);
        let inc_caps = strings(&inc["caps"]);
        if !inc_arches.is_empty() && !inc_arches.contains(&arch) {
            continue;
        }
        if !inc_caps.iter().all(|c| caps.contains(c)) {
            continue;
        }
        if strings(&exc["arches"]).contains(&arch) || strings(&exc["caps"]).iter().any(|c| caps.contains(c)) {
            continue;
        }
        let mut rule = json!({ "names": s["names"], "action": s["action"] });
        if let Some(args) = s["args"].as_array().filter(|a| !a.is_empty()) {
            rule["args"] = Value::Array(args.clone());
        }
        if let Some(ret) = s["errnoRet"].as_u64() {
            rule["errnoRet"] = ret.into();
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(ret) = profile["defaultErrnoRet"].as_u64() {
        out["defaultErrnoRet"] = ret.into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_and_excludes() {
        let p = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [], "includes": {}, "excludes": {}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}, "excludes": {}},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": null,
                 "includes": {}, "excludes": {"caps": ["CAP_AUDIT_WRITE"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}], "includes": {}, "excludes": {}},
                {"names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}, "excludes": {}}
            ]
        });
        let o = to_oci(&p, &["CAP_AUDIT_WRITE", "CAP_KILL"]);
        let names: Vec<&str> = o["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["names"][0].as_str().unwrap())
            .collect();
        assert_eq!(names, ["read", "personality"]);
        assert_eq!(o["defaultErrnoRet"], 38);
        assert!(o["syscalls"][0].get("args").is_none());
        assert_eq!(o["syscalls"][1]["args"][0]["op"], "SCMP_CMP_EQ");
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                o["architectures"],
                json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }
    }
}
