//! `mini-containerd`: the command line. Thin on purpose — it parses runc's
//! flags, sets up logging, calls the runtime library and maps errors to a
//! one-line message and exit status 1.

mod logging;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runtime::lifecycle::{self, CreateOptions, RunOptions};
use runtime::state::StateRoot;

use logging::LogFormat;

#[derive(Parser)]
#[command(
    name = "mini-containerd",
    version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.2.0"),
    about = "An OCI container runtime, command-line compatible with runc",
    after_help = "Example:\n  mini-containerd run -b bundles/busybox box1"
)]
struct Cli {
    /// Directory holding the containers' state
    #[arg(long, global = true, default_value = "/run/mini-containerd", value_name = "DIR")]
    root: PathBuf,
    /// Write log lines to FILE instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log line format
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages too
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`
    #[command(after_help = "Example:\n  mini-containerd create -b bundles/busybox box1")]
    Create {
        /// Path to the bundle (the directory holding config.json)
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Write the container process's pid to FILE
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Run the user process of a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default TERM) to a container
    #[command(after_help = "Example:\n  mini-containerd kill box1 KILL")]
    Kill {
        /// Signal every process of the container
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Name (KILL, SIGKILL) or number (9)
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (with --force, also a running one)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, wait for it, and delete it
    #[command(after_help = "Example:\n  mini-containerd run -b bundles/busybox box1")]
    Run {
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Return once started, leaving the container running
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        id: String,
    },
    /// Write a default config.json (runc's) into the bundle directory
    Spec {
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
    },
    /// List containers
    #[command(alias = "ps-all")]
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what this runtime supports (OCI features.md JSON)
    Features,
    /// Internal: the container's init (re-executed by `create`)
    #[command(hide = true)]
    Init,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Init) {
        runtime::init::main();
    }
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("opening log file: {e}");
        return ExitCode::FAILURE;
    }
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            tracing::error!("{e}");
            // With --log the line went to the file; say it on stderr too,
            // as runc does, for the person or engine that called us.
            if cli.log.is_some() {
                eprintln!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: &Cli) -> runtime::Result<u8> {
    let root = StateRoot::new(&cli.root);
    match &cli.command {
        Command::Create { bundle, pid_file, id } => {
            lifecycle::create(
                &root,
                &CreateOptions {
                    id: id.clone(),
                    bundle: bundle.clone(),
                    pid_file: pid_file.clone(),
                },
            )?;
        }
        Command::Start { id } => lifecycle::start(&root, id)?,
        Command::State { id } => {
            let state = lifecycle::state(&root, id)?;
            print_json(&state, true);
        }
        Command::Kill { all, id, signal } => {
            let sig = runtime::process::signal::parse_signal(signal).map_err(runtime::Error::Invalid)?;
            lifecycle::kill(&root, id, sig, *all)?;
        }
        Command::Delete { force, id } => lifecycle::delete(&root, id, *force)?,
        Command::Run {
            bundle,
            detach,
            pid_file,
            id,
        } => {
            let code = lifecycle::run(
                &root,
                &RunOptions {
                    create: CreateOptions {
                        id: id.clone(),
                        bundle: bundle.clone(),
                        pid_file: pid_file.clone(),
                    },
                    detach: *detach,
                },
            )?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Spec { bundle } => runtime::spec::write_default(bundle)?,
        Command::List { format, quiet } => list(&root, *format, *quiet)?,
        Command::Features => print_json(&runtime::features::features(), true),
        Command::Init => unreachable!("handled before logging is set up"),
    }
    Ok(0)
}

fn print_json<T: serde::Serialize>(value: &T, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    if let Ok(text) = text {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }
}

/// runc's `list`: a tab-aligned table (min width 12, padding 3), `-q` for
/// ids only, or a JSON array (`null` when empty, as runc prints).
fn list(root: &StateRoot, format: ListFormat, quiet: bool) -> runtime::Result<()> {
    let states = lifecycle::list(root)?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for s in &states {
            let _ = writeln!(out, "{}", s.id);
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            if states.is_empty() {
                let _ = writeln!(out, "null");
            } else {
                drop(out);
                print_json(&states, false);
            }
        }
        ListFormat::Table => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for s in &states {
                rows.push(vec![
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.clone(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            let mut widths = [0usize; 6];
            for row in &rows {
                for (i, cell) in row.iter().enumerate() {
                    widths[i] = widths[i].max(cell.len() + 3).max(12);
                }
            }
            for row in &rows {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    if i + 1 == row.len() {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<w$}", w = widths[i]));
                    }
                }
                let _ = writeln!(out, "{line}");
            }
        }
    }
    Ok(())
}
