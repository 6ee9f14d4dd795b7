//! `conformance`: an OCI runtime conformance suite that drives any runtime
//! through runc's command line and looks at the result from inside the
//! container with a static probe.
//!
//!   cargo run -p conformance -- --runtime /usr/sbin/runc [--filter NAME] [--format tap|table|json]
//!   cargo run -p conformance -- --report-markdown docs/conformance.md --runtime A --runtime B

mod config;
mod harness;
mod probe;
mod report;
mod tests;
mod xfail;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use harness::{Ctx, Env, Failure};
use report::{Record, Verdict};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Tap,
    Table,
    Json,
}

#[derive(Parser)]
#[command(
    name = "conformance",
    about = "OCI runtime conformance suite: drives a runc-compatible CLI and checks every effect from inside the \
             container",
    after_help = "Examples:\n  cargo run -p conformance -- --runtime /usr/sbin/runc\n  cargo run -p conformance -- \
                  --runtime target/debug/mini-containerd --filter process. --format table\n  cargo run -p \
                  conformance -- --report-markdown docs/conformance.md --runtime target/debug/mini-containerd \
                  --runtime /usr/sbin/runc"
)]
struct Cli {
    /// The runtime binary to test (repeat with --report-markdown to compare)
    #[arg(long, required = true, value_name = "PATH")]
    runtime: Vec<PathBuf>,
    /// Run only tests whose name contains this (repeatable)
    #[arg(long, value_name = "NAME")]
    filter: Vec<String>,
    #[arg(long, value_enum, default_value = "tap")]
    format: Format,
    /// The BusyBox rootfs copied into each bundle [default: <workspace>/bundles/busybox/rootfs]
    #[arg(long, value_name = "PATH")]
    rootfs: Option<PathBuf>,
    /// A statically linked oci-probe (default: $OCI_PROBE, else built with cargo)
    #[arg(long, value_name = "PATH")]
    probe: Option<PathBuf>,
    /// Apply the expected-failure list of this runtime (default: the basename of --runtime; `none` to disable)
    #[arg(long, value_name = "NAME")]
    xfail: Option<String>,
    /// Seconds before a test is stopped and its containers killed
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Add the runtime commands run to each failure's detail
    #[arg(short, long)]
    verbose: bool,
    /// List the tests and the sentence each checks, then exit
    #[arg(long)]
    list: bool,
    /// Run every --runtime and write a Markdown report with the results side by side
    #[arg(long, value_name = "FILE")]
    report_markdown: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let all = tests::all();
    let selected: Vec<&tests::Test> = all
        .iter()
        .filter(|t| cli.filter.is_empty() || cli.filter.iter().any(|f| t.name.contains(f.as_str())))
        .collect();
    if cli.list {
        for t in &selected {
            println!("{:<40} {:<32} {}", t.name, t.section, t.spec);
        }
        return ExitCode::SUCCESS;
    }
    if cli.runtime.len() > 1 && cli.report_markdown.is_none() {
        eprintln!("conformance: several --runtime only make sense with --report-markdown");
        return ExitCode::from(2);
    }
    match setup(&cli) {
        Ok((probe, rootfs)) => {
            if let Some(out) = &cli.report_markdown {
                return markdown_report(&cli, &selected, &probe, &rootfs, out);
            }
            let env = make_env(&cli, &cli.runtime[0], &probe, &rootfs);
            let records = run_all(&cli, &env, &selected, true);
            let c = report::count(&records);
            let mut out = std::io::stdout().lock();
            match cli.format {
                Format::Tap => {}
                Format::Table => {
                    let _ = write!(out, "{}", report::table(&records));
                }
                Format::Json => {
                    let _ = writeln!(out, "{}", serde_json::to_string_pretty(&records).unwrap_or_default());
                }
            }
            if matches!(cli.format, Format::Json) {
                // stdout stays one JSON document.
                eprintln!("{}", report::summary(&c));
            } else {
                let _ = writeln!(out, "{}", report::summary(&c));
            }
            if c.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn setup(cli: &Cli) -> Result<(PathBuf, PathBuf), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("must run as root: containers need it".into());
    }
    for rt in &cli.runtime {
        if !rt.is_file() {
            return Err(format!("runtime {} not found", rt.display()));
        }
    }
    let rootfs = cli
        .rootfs
        .clone()
        .unwrap_or_else(|| probe::workspace_root().join("bundles/busybox/rootfs"));
    if !rootfs.join("bin/busybox").exists() {
        return Err(format!(
            "rootfs {} has no bin/busybox: run `just bundle` or pass --rootfs",
            rootfs.display()
        ));
    }
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let probe = probe::locate(cli.probe.as_deref())?;
    // Container processes orphaned by the runtime are reparented to us and
    // reaped here, as containerd's shim does; PID 1 of this machine is slow.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    Ok((probe, rootfs))
}

fn make_env(cli: &Cli, runtime: &Path, probe: &Path, rootfs: &Path) -> Env {
    let runtime = std::fs::canonicalize(runtime).unwrap_or_else(|_| runtime.to_path_buf());
    Env {
        runtime,
        probe: probe.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        test_timeout: Duration::from_secs(cli.timeout),
        verbose: cli.verbose,
    }
}

fn xfail_name(cli: &Cli, runtime: &Path) -> String {
    cli.xfail.clone().unwrap_or_else(|| {
        runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

fn run_all(cli: &Cli, env: &Env, selected: &[&tests::Test], tap_to_stdout: bool) -> Vec<Record> {
    let xname = xfail_name(cli, &env.runtime);
    let tap = matches!(cli.format, Format::Tap) && tap_to_stdout;
    let mut records = Vec::new();
    if tap {
        println!("TAP version 13");
        println!("1..{}", selected.len());
        println!("# runtime: {} (expected failures of: {xname})", env.runtime.display());
    }
    let mut consecutive_timeouts = 0;
    for (i, t) in selected.iter().enumerate() {
        let r = if consecutive_timeouts >= GIVE_UP_AFTER_TIMEOUTS {
            not_run(
                t,
                format!("not run: the runtime timed out in {GIVE_UP_AFTER_TIMEOUTS} tests in a row"),
            )
        } else {
            let (r, timed_out) = run_one(env, t, &xname);
            consecutive_timeouts = if timed_out { consecutive_timeouts + 1 } else { 0 };
            r
        };
        if tap {
            println!("{}", report::tap_line(i + 1, &r));
        } else {
            eprint!("{}", if r.result == Verdict::Pass { "." } else { "x" });
        }
        records.push(r);
    }
    if !tap {
        eprintln!();
    }
    records
}

/// A runtime that hangs this often in a row is not worth waiting for.
const GIVE_UP_AFTER_TIMEOUTS: usize = 3;

fn not_run(t: &tests::Test, why: String) -> Record {
    Record {
        name: t.name.to_string(),
        section: t.section.to_string(),
        spec: t.spec.to_string(),
        result: Verdict::Fail,
        detail: why,
        expected: None,
        millis: 0,
    }
}

/// Run one test and its cleanup; also says whether the runtime timed out.
fn run_one(env: &Env, t: &tests::Test, xname: &str) -> (Record, bool) {
    let start = Instant::now();
    let mut timed_out = false;
    let outcome = match Ctx::new(env) {
        Err(e) => Err(Failure::Fail(format!("cannot make the test's temp dir: {e}"))),
        Ok(mut ctx) => {
            let res = std::panic::catch_unwind(AssertUnwindSafe(|| (t.run)(&mut ctx)))
                .unwrap_or_else(|_| Err(Failure::Fail("the test panicked (a suite bug)".into())));
            timed_out = ctx.timed_out;
            let problems = ctx.cleanup();
            let res = match (res, problems.is_empty()) {
                (Ok(()), false) => Err(Failure::Fail(format!("cleanup: {}", problems.join("; ")))),
                (Err(Failure::Fail(m)), _) if env.verbose => {
                    Err(Failure::Fail(format!("{m}\n{}", ctx.transcript.join("\n"))))
                }
                (r, _) => r,
            };
            if env.verbose {
                let _ = ctx.tmp.keep_path_on_failure(&res);
            }
            res
        }
    };
    let xfail = xfail::lookup(xname, t.name);
    let (result, detail) = match (outcome, xfail) {
        (Ok(()), None) => (Verdict::Pass, String::new()),
        (Ok(()), Some(why)) => (
            Verdict::Xpass,
            format!("listed as an expected failure ({why}); remove it from conformance/src/xfail.rs"),
        ),
        (Err(Failure::Skip(m)), _) => (Verdict::Skip, m),
        (Err(Failure::Fail(m)), None) => (Verdict::Fail, m),
        (Err(Failure::Fail(m)), Some(why)) => (Verdict::Xfail, format!("{why}: {m}")),
    };
    let r = Record {
        name: t.name.to_string(),
        section: t.section.to_string(),
        spec: t.spec.to_string(),
        result,
        detail,
        expected: xfail.map(String::from),
        millis: start.elapsed().as_millis(),
    };
    (r, timed_out)
}

trait KeepOnFailure {
    fn keep_path_on_failure(&mut self, res: &harness::TResult) -> Option<PathBuf>;
}

impl KeepOnFailure for tempfile::TempDir {
    /// With --verbose, a failed test's temp dir (bundles, outputs) is kept for a look.
    fn keep_path_on_failure(&mut self, res: &harness::TResult) -> Option<PathBuf> {
        if matches!(res, Err(Failure::Fail(_))) {
            self.disable_cleanup(true);
            eprintln!("# kept {}", self.path().display());
            return Some(self.path().to_path_buf());
        }
        None
    }
}

fn markdown_report(cli: &Cli, selected: &[&tests::Test], probe: &Path, rootfs: &Path, out: &Path) -> ExitCode {
    let mut runs = Vec::new();
    for rt in &cli.runtime {
        let env = make_env(cli, rt, probe, rootfs);
        eprintln!("# {}", env.runtime.display());
        let records = run_all(cli, &env, selected, false);
        eprintln!("{}", report::summary(&report::count(&records)));
        let name = rt
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        runs.push((name, records));
    }
    let mut doc = include_str!("../report-header.md").to_string();
    doc.push_str(&format!(
        "\n## Results\n\nGenerated by `just conformance-report` ({} tests, {} runtimes). \
         Details are cut at 160 characters; run the suite with `--format table` or `--verbose` for more.\n\n",
        selected.len(),
        runs.len()
    ));
    doc.push_str(&report::markdown(&runs));
    doc.push_str("\n## Expected failures\n\nFrom `conformance/src/xfail.rs`, applied when the runtime under test has that name. \
        For mini-containerd: features waiting for their issue. For runc 1.1.5: its deviations from the spec, with the sentence.\n\n");
    doc.push_str(&report::xfail_list());
    if let Some((_, first)) = runs.first() {
        doc.push_str("\n## What each test checks\n\n");
        doc.push_str(&report::spec_list(first));
    }
    if let Err(e) = std::fs::write(out, doc) {
        eprintln!("conformance: writing {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!("wrote {}", out.display());
    ExitCode::SUCCESS
}
