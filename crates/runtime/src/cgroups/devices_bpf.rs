//! Device rules on cgroup v2: v2 has no devices.allow/deny files; the
//! kernel asks a BPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached
//! to the cgroup instead. This module writes that program (pure, unit
//! tested) — the rules of `linux.resources.devices`, last match wins as in
//! v1 — and `sys.rs` loads and attaches it.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32
//! major; u32 minor; }` (access_type = access << 16 | type) and returns 1
//! to allow, 0 to refuse.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One eBPF instruction, as the kernel reads it (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU_AND_K: u8 = 0x54; // dst &= imm (32-bit)
const ALU_RSH_K: u8 = 0x74; // dst >>= imm
const ALU_MOV_K: u8 = 0xb4; // dst = imm
const ALU_MOV_X: u8 = 0xbc; // dst = src
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto +off
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_*.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// A rule in the program's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// None: any type ("a").
    pub typ: Option<i32>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: i32,
}

pub fn rule(r: &LinuxDeviceCgroup) -> Result<Rule, String> {
    let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
        LinuxDeviceType::P => return Err("linux.resources.devices: type \"p\" has no cgroup rule".into()),
    };
    let mut access = 0;
    for c in r.access().as_deref().unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            other => return Err(format!("linux.resources.devices: access {other:?} must be r, w or m")),
        };
    }
    Ok(Rule {
        allow: r.allow(),
        typ,
        major: r.major().filter(|m| *m >= 0),
        minor: r.minor().filter(|m| *m >= 0),
        access,
    })
}

/// The program for `rules` (in config order; the last matching one
/// decides, as with v1's allow/deny sequence). No rule matches: refused.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = access, r4 = major, r5 = minor
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    // Last rule first: the first block that matches returns. A rule with
    // no condition ("a *:* rwm") matches everything: nothing after it could
    // run, and the verifier refuses unreachable instructions.
    let mut catch_all = false;
    for r in rules.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        // Each condition jumps past the rest of the block when it fails;
        // offsets are patched once the block's length is known.
        let mut jumps: Vec<usize> = Vec::new();
        if let Some(t) = r.typ {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 2, 0, 0, t));
        }
        if r.access != (ACC_READ | ACC_WRITE | ACC_MKNOD) {
            // the request must ask for nothing the rule does not name
            block.push(insn(ALU_MOV_X, 6, 3, 0, 0));
            block.push(insn(ALU_AND_K, 6, 0, 0, !r.access & 0x7));
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 6, 0, 0, 0));
        }
        if let Some(m) = r.major {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(ALU_MOV_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        catch_all = jumps.is_empty();
        for j in jumps {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        if catch_all {
            break;
        }
    }
    if !catch_all {
        p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    }
    p
}

/// runc's default allowed devices, in program terms (see v1.rs).
pub fn default_allowed() -> Vec<Rule> {
    let r = |typ, major: Option<i64>, minor: Option<i64>, access| Rule {
        allow: true,
        typ: Some(typ),
        major,
        minor,
        access,
    };
    let rwm = ACC_READ | ACC_WRITE | ACC_MKNOD;
    vec![
        r(DEV_CHAR, None, None, ACC_MKNOD),
        r(DEV_BLOCK, None, None, ACC_MKNOD),
        r(DEV_CHAR, Some(1), Some(3), rwm),
        r(DEV_CHAR, Some(1), Some(5), rwm),
        r(DEV_CHAR, Some(1), Some(7), rwm),
        r(DEV_CHAR, Some(1), Some(8), rwm),
        r(DEV_CHAR, Some(1), Some(9), rwm),
        r(DEV_CHAR, Some(5), Some(0), rwm),
        r(DEV_CHAR, Some(5), Some(1), rwm),
        r(DEV_CHAR, Some(5), Some(2), rwm),
        r(DEV_CHAR, Some(136), None, rwm),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter of the instructions we emit, to check the
    /// program's decisions without loading it into a kernel.
    fn run(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i32 {
        let mut r = [0i64; 11];
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => r[dst] = i64::from(ctx[(i.off / 4) as usize]),
                ALU_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as i64,
                ALU_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as i64,
                ALU_MOV_K => r[dst] = i64::from(i.imm),
                ALU_MOV_X => r[dst] = r[src],
                JMP_JNE_K => {
                    if r[dst] != i64::from(i.imm) {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0] as i32,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn deny_all_then_defaults_then_an_allowed_device() {
        let mut rules = vec![Rule {
            allow: false,
            typ: None,
            major: None,
            minor: None,
            access: 7,
        }];
        rules.extend(default_allowed());
        rules.push(Rule {
            allow: true,
            typ: Some(DEV_CHAR),
            major: Some(10),
            minor: Some(229),
            access: ACC_READ | ACC_WRITE,
        });
        let p = program(&rules);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1, "null readable");
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 136, 4), 1, "ptys");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0, "/dev/mem refused");
        assert_eq!(run(&p, DEV_BLOCK, ACC_READ, 254, 0), 0, "the disk refused");
        assert_eq!(run(&p, DEV_BLOCK, ACC_MKNOD, 254, 0), 1, "mknod allowed, as runc");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 10, 229), 1, "fuse rw");
        assert_eq!(
            run(&p, DEV_CHAR, ACC_MKNOD | ACC_READ, 10, 229),
            0,
            "fuse: no mknod in the rule"
        );
    }

    #[test]
    fn nothing_after_a_catch_all() {
        let deny_all = Rule {
            allow: false,
            typ: None,
            major: None,
            minor: None,
            access: 7,
        };
        let p = program(std::slice::from_ref(&deny_all));
        // the six loads, then "r0 = 0; exit" once: no unreachable default
        assert_eq!(p.len(), 8);
        assert_eq!(p.iter().filter(|i| i.code == JMP_EXIT).count(), 1);
    }

    #[test]
    fn later_rules_win() {
        let allow_all = Rule {
            allow: true,
            typ: None,
            major: None,
            minor: None,
            access: 7,
        };
        let deny_mem = Rule {
            allow: false,
            typ: Some(DEV_CHAR),
            major: Some(1),
            minor: Some(1),
            access: 7,
        };
        let p = program(&[allow_all.clone(), deny_mem.clone()]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        let p = program(&[deny_mem, allow_all]);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 1);
    }
}
