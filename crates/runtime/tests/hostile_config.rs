//! Hostile config.json: thousands of mutations of a real config, and every
//! input of the fuzz corpus, go through the load-and-validate path; each
//! must come back as a value or as an error naming where it went wrong —
//! never a panic (the contract is in tests/contract).
//!
//! The coverage-guided fuzzer is `just fuzz` (crates/runtime/fuzz; it runs
//! on stable with `cargo fuzz run -s none`). It needs cargo-fuzz and minutes
//! to be useful, so it stays out of `just test`; these two tests are its
//! quick, deterministic part: the mutations reproduce from a fixed seed, and
//! the corpus replay keeps what the fuzzer once found fixed.
#![allow(clippy::unwrap_used)]

mod contract;

use std::path::Path;

/// xorshift: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const NASTY: &[&str] = &[
    "-1",
    "0",
    "4294967296",
    "18446744073709551616",
    "-9223372036854775809",
    "1e309",
    "null",
    "true",
    "\"\"",
    "\"../../..\"",
    "\"/\"",
    "[]",
    "{}",
    "[[[[[[[[]]]]]]]]",
    "\"\\u0000\"",
    "\"SCMP_ACT_BOGUS\"",
    "\"CAP_BOGUS\"",
    "\"RLIMIT_BOGUS\"",
    "\"bogus\"",
    "\"\\ud800\"",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(3) {
        match rng.below(4) {
            // replace a JSON value (after a colon) with something nasty
            0 => {
                let colons: Vec<usize> = s.match_indices(": ").map(|(i, _)| i + 2).collect();
                if let Some(&at) = colons.get(rng.below(colons.len().max(1))) {
                    let end = s[at..].find([',', '\n', '}', ']']).map_or(s.len(), |e| at + e);
                    s.replace_range(at..end, NASTY[rng.below(NASTY.len())]);
                }
            }
            // delete a random span
            1 if s.len() > 2 => {
                let a = rng.below(s.len() - 1);
                let b = (a + 1 + rng.below(20)).min(s.len());
                if s.is_char_boundary(a) && s.is_char_boundary(b) {
                    s.replace_range(a..b, "");
                }
            }
            // duplicate a line (duplicated keys, entries)
            2 => {
                let lines: Vec<&str> = s.lines().collect();
                let i = rng.below(lines.len());
                let mut out: Vec<&str> = lines.clone();
                out.insert(i, lines[i]);
                s = out.join("\n");
            }
            // flip a byte to another printable one
            _ => {
                let i = rng.below(s.len());
                if s.is_char_boundary(i) && s.is_char_boundary(i + 1) {
                    let c = (b' ' + rng.below(95) as u8) as char;
                    s.replace_range(i..i + 1, &c.to_string());
                }
            }
        }
    }
    s
}

#[test]
fn mutated_configs_never_panic() {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles/busybox/config.json"))
        .unwrap();
    let text = {
        // with every feature in, so the validators have something to chew
        let mut v: serde_json::Value = serde_json::from_str(&base).unwrap();
        v["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]});
        v["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 1000000}, "cpu": {"shares": 2}, "pids": {"limit": 3}});
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        v["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true", "timeout": 1}]});
        serde_json::to_string_pretty(&v).unwrap()
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..3000 {
        let input = mutate(&text, &mut rng);
        contract::check_config(&input);
        match runtime::bundle::parse_config(Path::new("config.json"), &input) {
            Ok(_) => parsed += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        parsed > 100 && refused > 100,
        "parsed {parsed}, refused {refused}: the mutations are too mild or too wild"
    );
}

#[test]
fn fuzz_corpus_keeps_the_contract() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/config");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // As the fuzz target does: bytes that are not UTF-8 stop at the read.
        if let Ok(text) = std::fs::read_to_string(&path) {
            eprintln!("{}", path.display());
            contract::check_config(&text);
            replayed += 1;
        }
    }
    assert!(replayed >= 10, "only {replayed} inputs in {}", dir.display());
}
