//! Result records and the three output formats (TAP, table, JSON), plus the
//! side-by-side Markdown report of several runtimes.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
    /// Failed, and listed as an expected failure for this runtime.
    Xfail,
    /// Passed although listed as an expected failure: counted as a failure.
    Xpass,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
            Verdict::Xfail => "xfail",
            Verdict::Xpass => "XPASS",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub name: String,
    pub section: String,
    pub spec: String,
    pub result: Verdict,
    pub detail: String,
    /// The expected-failure reason, when the test is in the xfail list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    pub millis: u128,
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_strips_run_specific_text() {
        let d = r#"exit 1: time="2026-12-04T20:21:41Z" level=error msg="/tmp/oci-conformance.HnsTnr/bundle-1/x oci-conf-12-3 y""#;
        assert_eq!(super::stable(d), r#"exit 1: level=error msg="$TMP/bundle-1/x <id> y""#);
    }
}

#[derive(Default, Debug)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub xfail: usize,
    pub xpass: usize,
}

pub fn count(records: &[Record]) -> Counts {
    let mut c = Counts::default();
    for r in records {
        match r.result {
            Verdict::Pass => c.passed += 1,
            Verdict::Fail => c.failed += 1,
            Verdict::Skip => c.skipped += 1,
            Verdict::Xfail => c.xfail += 1,
            Verdict::Xpass => {
                c.xpass += 1;
                c.failed += 1;
            }
        }
    }
    c
}

/// The summary: expected failures on their own line, then the fixed-form line
/// that CI greps. Expected failures are in none of the three numbers; an
/// unexpected pass is counted as failed.
pub fn summary(c: &Counts) -> String {
    format!(
        "# expected failures: {}, unexpected passes: {}\nconformance: {} passed, {} failed, {} skipped",
        c.xfail, c.xpass, c.passed, c.failed, c.skipped
    )
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// One TAP line (plus a YAML block for failures), printed as tests finish.
pub fn tap_line(n: usize, r: &Record) -> String {
    let one_line = r.detail.replace('\n', " ");
    let mut s = match r.result {
        Verdict::Pass => format!("ok {n} - {}", r.name),
        Verdict::Skip => format!("ok {n} - {} # SKIP {one_line}", r.name),
        Verdict::Xfail => format!("not ok {n} - {} # TODO {one_line}", r.name),
        Verdict::Fail => format!("not ok {n} - {}", r.name),
        Verdict::Xpass => format!("not ok {n} - {} (unexpected pass: {one_line})", r.name),
    };
    if matches!(r.result, Verdict::Fail | Verdict::Xpass) {
        let _ = write!(
            s,
            "\n  ---\n  section: {}\n  spec: {}\n  detail: {}\n  ...",
            r.section,
            yaml_str(&r.spec),
            yaml_str(&r.detail)
        );
    }
    s
}

pub fn table(records: &[Record]) -> String {
    let w0 = records.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let w1 = records.iter().map(|r| r.section.len()).max().unwrap_or(7).max(7);
    let mut s = format!("{:<w0$}  {:<w1$}  {:<6}  DETAIL\n", "TEST", "SECTION", "RESULT");
    for r in records {
        let _ = writeln!(
            s,
            "{:<w0$}  {:<w1$}  {:<6}  {}",
            r.name,
            r.section,
            r.result.label(),
            crate::harness::truncate(&r.detail.replace('\n', " "), 150)
        );
    }
    s
}

fn md_cell(s: &str) -> String {
    crate::harness::truncate(&stable(s).replace('|', "\\|").replace('\n', " "), 160)
}

/// The detail without what changes from run to run (temp dir names,
/// container ids, log timestamps), so that a regenerated report only
/// differs where results do.
pub fn stable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("time=\"") {
            rest = r.split_once('"').map(|(_, after)| after.trim_start()).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("/tmp/oci-conformance.") {
            out.push_str("$TMP");
            rest = r.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
        } else if let Some(r) = rest.strip_prefix("oci-conf-") {
            out.push_str("<id>");
            rest = r.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The results of several runtimes side by side, one row per test.
pub fn markdown(runs: &[(String, Vec<Record>)]) -> String {
    let mut s = String::new();
    s.push_str(
        "| runtime | passed | failed | skipped | expected failures | unexpected passes |\n|---|---|---|---|---|---|\n",
    );
    for (name, recs) in runs {
        let c = count(recs);
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} |",
            c.passed, c.failed, c.skipped, c.xfail, c.xpass
        );
    }
    s.push_str("\n| test | spec section |");
    for (name, _) in runs {
        let _ = write!(s, " {name} |");
    }
    s.push_str("\n|---|---|");
    for _ in runs {
        s.push_str("---|");
    }
    s.push('\n');
    let Some((_, first)) = runs.first() else { return s };
    for (i, r) in first.iter().enumerate() {
        let _ = write!(s, "| `{}` | {} |", r.name, r.section);
        for (_, recs) in runs {
            match recs.get(i) {
                Some(x) if matches!(x.result, Verdict::Pass) => s.push_str(" pass |"),
                Some(x) if matches!(x.result, Verdict::Xfail) => {
                    let _ = write!(s, " xfail: {} |", md_cell(x.expected.as_deref().unwrap_or("")));
                }
                Some(x) => {
                    let _ = write!(s, " {}: {} |", x.result.label(), md_cell(&x.detail));
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }
    s
}

pub fn spec_list(records: &[Record]) -> String {
    let mut s = String::from("| test | section | checks |\n|---|---|---|\n");
    for r in records {
        let _ = writeln!(s, "| `{}` | {} | {} |", r.name, r.section, r.spec.replace('|', "\\|"));
    }
    s
}

pub fn xfail_list() -> String {
    let mut s = String::from("| runtime | test | reason |\n|---|---|---|\n");
    for e in crate::xfail::EXPECTED {
        let _ = writeln!(s, "| {} | `{}` | {} |", e.runtime, e.test, e.reason.replace('|', "\\|"));
    }
    s
}
