//! `linux.seccomp` (config-linux.md "Seccomp"): compiled to a BPF filter
//! with libseccomp (the library engines' profiles are written for: its
//! syscall tables, argument comparisons and multi-arch handling are what
//! runc uses too), and loaded as the last step before exec.
//!
//! The runtime compiles (once, while it validates the config) and sends the
//! init the finished program, a [`Filter`]; the init loads it with
//! seccomp(2) itself.

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

/// The errno of `SCMP_ACT_ERRNO` when the config gives none (runc's).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

pub fn action(a: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction, String> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno_ret.unwrap_or(DEFAULT_ERRNO) as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno_ret.unwrap_or(0) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn arch(a: &Arch) -> Option<ScmpArch> {
    Some(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        _ => return None,
    })
}

fn compare(op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> (ScmpCompareOp, u64) {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        // config-linux.md: for SCMP_CMP_MASKED_EQ, `value` is the mask and
        // `valueTwo` the value the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)),
    }
}

/// Environment variable naming the connected `listenerPath` socket's fd.
pub const LISTENER_FD_ENV: &str = "_MINI_CONTAINERD_SECCOMP_LISTENER_FD";

/// Does the profile hand syscalls to a user-space agent?
pub fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// config-linux.md "Seccomp": the notify fd goes to the agent listening on
/// `listenerPath`, with the container process state, in one connection.
pub fn send_to_listener(
    notify: std::os::fd::OwnedFd,
    listener: std::os::fd::OwnedFd,
    state: &serde_json::Value,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let message = state.to_string();
    crate::console::send_fd_with(listener.as_raw_fd(), notify.as_raw_fd(), message.as_bytes())
        .map_err(|e| format!("linux.seccomp.listenerPath: sending the notify fd: {}", e.desc()))?;
    drop(listener);
    Ok(())
}

/// A compiled profile, as the init loads it: libseccomp's BPF program and
/// the flags for seccomp(SECCOMP_SET_MODE_FILTER).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// `struct sock_filter[]`: 8 bytes per instruction, native byte order.
    /// Hex on the channel: a quarter of the JSON of an array of numbers.
    #[serde(with = "hex")]
    pub program: Vec<u8>,
    /// SECCOMP_FILTER_FLAG_*: what `linux.seccomp.flags` asks, and
    /// NEW_LISTENER when a rule notifies an agent.
    pub flags: u32,
}

/// Bytes as a lowercase hex string.
mod hex {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(D::Error::custom("not a lowercase hex digit")),
        };
        text.as_bytes()
            .chunks(2)
            .map(|pair| match pair {
                [hi, lo] => Ok(digit(*hi)? << 4 | digit(*lo)?),
                _ => Err(D::Error::custom("an odd number of hex digits")),
            })
            .collect()
    }
}

/// Compile the profile (see [`compile`]) and take the finished program out
/// of libseccomp, with the flags its `seccomp_load` would use.
pub fn build(s: &LinuxSeccomp) -> Result<Filter, String> {
    use std::io::{Read, Seek};
    let ctx = compile(s)?;
    let mut out = crate::sys::memfd("seccomp-bpf").map_err(|e| format!("linux.seccomp: memfd: {}", e.desc()))?;
    ctx.export_bpf(&out)
        .map_err(|e| format!("linux.seccomp: exporting the program: {e}"))?;
    let mut program = Vec::new();
    out.rewind()
        .and_then(|_| out.read_to_end(&mut program))
        .map_err(|e| format!("linux.seccomp: reading the program back: {e}"))?;
    if program.is_empty() || program.len() % 8 != 0 {
        return Err(format!(
            "linux.seccomp: libseccomp exported {} bytes, not a program",
            program.len()
        ));
    }
    let mut flags = 0;
    for flag in s.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        } as u32;
    }
    if uses_notify(s) {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
        // The kernel refuses TSYNC with NEW_LISTENER unless told to report
        // a thread it cannot sync by ESRCH (libseccomp does the same).
        if flags & libc::SECCOMP_FILTER_FLAG_TSYNC as u32 != 0 {
            flags |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
        }
    }
    Ok(Filter { program, flags })
}

/// Load a [`Filter`] into this process. With NEW_LISTENER, returns the
/// notify fd for the agent.
pub fn load(filter: &Filter) -> Result<Option<std::os::fd::OwnedFd>, String> {
    let insns: Vec<libc::sock_filter> = filter
        .program
        .chunks_exact(8)
        .map(|b| libc::sock_filter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect();
    crate::sys::seccomp_set_filter(&insns, filter.flags)
        .map_err(|e| format!("linux.seccomp: loading the filter: {}", e.desc()))
}

/// Compile the profile. Names this libseccomp does not know are skipped,
/// as runc does: a profile may list syscalls newer than the host.
pub fn compile(s: &LinuxSeccomp) -> Result<ScmpFilterContext, String> {
    if uses_notify(s) && s.listener_path().is_none() {
        return Err("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath (where the agent listens)".into());
    }
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err("linux.seccomp.listenerMetadata: set without listenerPath".into());
    }
    let default = action(s.default_action(), s.default_errno_ret())?;
    fn err(what: &'static str) -> impl Fn(libseccomp::error::SeccompError) -> String {
        move |e| format!("linux.seccomp: {what}: {e}")
    }
    let mut ctx = ScmpFilterContext::new(default).map_err(err("creating the filter"))?;
    // NoNewPrivileges is the config's own setting, applied separately.
    ctx.set_ctl_nnp(false).map_err(err("clearing the NNP attribute"))?;
    for a in s.architectures().iter().flatten() {
        let arch = arch(a).ok_or_else(|| format!("linux.seccomp.architectures: {a:?} is not supported"))?;
        match ctx.add_arch(arch) {
            Ok(_) => {}
            // The native architecture is in the filter already.
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(format!("linux.seccomp.architectures: adding {a:?}: {e}")),
        }
    }
    for flag in s.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            // Needs libseccomp 2.6 and kernel 6.0; the attribute reports
            // which one is missing.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                ctx.set_filter_attr(libseccomp::ScmpFilterAttr::CtlWaitkill, 1)
            }
        }
        .map_err(|e| format!("linux.seccomp.flags: {flag:?}: {e}"))?;
    }
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            // libseccomp refuses a rule equal to the default; it changes nothing.
            continue;
        }
        let args: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let (op, datum) = compare(a.op(), a.value(), a.value_two());
                ScmpArgCompare::new(a.index() as u32, op, datum)
            })
            .collect();
        // libseccomp cannot AND two conditions on one argument: then each
        // condition becomes a rule of its own (as runc does).
        let mut indices: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indices.sort_unstable();
        let distinct = indices.windows(2).all(|w| w[0] != w[1]);
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: skipping unknown syscall {name}");
                continue;
            };
            let added = if args.is_empty() {
                ctx.add_rule(act, sc).map(drop)
            } else if distinct {
                ctx.add_rule_conditional(act, sc, &args).map(drop)
            } else {
                args.iter()
                    .try_for_each(|a| ctx.add_rule_conditional(act, sc, std::slice::from_ref(a)).map(drop))
            };
            added.map_err(|e| format!("linux.seccomp.syscalls[{i}] {name}: {e}"))?;
        }
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("profile")
    }

    #[test]
    fn compiles_names_args_and_skips_unknown() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat", "no_such_syscall_in_any_kernel"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 65535, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let ctx = compile(&p).expect("compiles");
        let out = tempfile::tempfile().expect("tempfile");
        ctx.export_bpf(&out).expect("bpf");
        assert!(out.metadata().expect("meta").len() > 0);
    }

    #[test]
    fn a_filter_crosses_the_channel_as_hex() {
        let f = Filter {
            program: vec![0x00, 0x0f, 0xa0, 0xff, 0x12, 0x34, 0x56, 0x78],
            flags: 8,
        };
        let json = serde_json::to_string(&f).expect("encodes");
        assert_eq!(json, r#"{"program":"000fa0ff12345678","flags":8}"#);
        let back: Filter = serde_json::from_str(&json).expect("decodes");
        assert_eq!((back.program, back.flags), (f.program, 8));
        for bad in ["000", "0g", "0A"] {
            let json = format!(r#"{{"program":"{bad}","flags":0}}"#);
            assert!(serde_json::from_str::<Filter>(&json).is_err(), "{bad}");
        }
    }

    #[test]
    fn notify_needs_a_listener() {
        let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(compile(&p).is_err());
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(uses_notify(&p));
        assert!(compile(&p).is_ok());
    }
}
