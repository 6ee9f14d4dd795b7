//! `mini-containerd`: the command line. Thin on purpose — it parses runc's
//! flags, sets up logging, calls the runtime library and maps errors to a
//! one-line message and exit status 1.

mod logging;

/// The allocator: dlmalloc, on every build. The runtime lives a few
/// milliseconds and allocates little, so what counts is the page faults and
/// system calls behind each allocation: musl's allocator (the release
/// build's libc) maps and unmaps small groups as they fill and empty, 130
/// mmap/munmap calls and 135 page faults in one `run`; dlmalloc grows a few
/// segments and reuses what is freed. `run` of `true`: 5.46 → 4.89 ms
/// (docs/performance.md).
#[global_allocator]
static GLOBAL: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use runtime::lifecycle::{self, Console, CreateOptions, RunOptions};
use runtime::state::StateRoot;

use logging::LogFormat;

#[derive(Parser)]
#[command(
    name = "mini-containerd",
    version = env!("CARGO_PKG_VERSION"),
    long_version = long_version(),
    about = "An OCI container runtime, command-line compatible with runc",
    after_help = "Example:\n  mini-containerd run -b bundles/busybox box1"
)]
struct Cli {
    /// Directory holding the containers' state
    /// (default: /run/mini-containerd; $XDG_RUNTIME_DIR/mini-containerd when rootless)
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Write log lines to FILE instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Log line format
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages too
    #[arg(long, global = true)]
    debug: bool,
    /// cgroupsPath is systemd's slice:prefix:name (the cgroup is made at
    /// systemd's path through cgroupfs; systemd is not asked over D-Bus)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto (the default: rootless when not
    /// run as root)
    #[arg(long, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The flags `create` and `run` share.
#[derive(Args)]
struct CreateArgs {
    /// Path to the bundle (the directory holding config.json)
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
    /// Write the container process's pid to FILE
    #[arg(long = "pid-file", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to (when process.terminal is set)
    #[arg(long = "console-socket", value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N of the caller to the container's process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    preserve_fds: u32,
    /// Use MS_MOVE + chroot instead of pivot_root (rootfs on ramfs)
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    id: String,
}

impl CreateArgs {
    /// Connects `--console-socket` now, so a bad path fails before anything
    /// is made.
    fn options(&self, systemd_cgroup: bool) -> runtime::Result<CreateOptions> {
        Ok(CreateOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console: connect(self.console_socket.as_deref())?,
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            systemd_cgroup,
            start_at_once: false,
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`
    #[command(after_help = "Example:\n  mini-containerd create -b bundles/busybox box1")]
    Create(CreateArgs),
    /// Run the user process of a created container
    #[command(after_help = "Example:\n  mini-containerd start box1")]
    Start { id: String },
    /// Print a container's state as JSON
    #[command(after_help = "Example:\n  mini-containerd state box1")]
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
    #[command(after_help = "Example:\n  mini-containerd delete box1\n  mini-containerd delete --force box1")]
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, wait for it, and delete it
    #[command(after_help = "Example:\n  mini-containerd run -b bundles/busybox box1")]
    Run {
        /// Return once started, leaving the container running
        #[arg(short, long)]
        detach: bool,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Write a default config.json (runc's) into the bundle directory
    #[command(after_help = "Example:\n  mini-containerd spec\n  mini-containerd spec --rootless --bundle /tmp/b")]
    Spec {
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// A config for an unprivileged caller: a user namespace mapping
        /// root to your uid, no network namespace, /sys bound, no resources
        #[arg(long)]
        rootless: bool,
    },
    /// List containers
    #[command(after_help = "Example:\n  mini-containerd list\n  mini-containerd list --format json")]
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a new process inside a running container
    #[command(
        after_help = "Examples:\n  mini-containerd exec box1 ps\n  mini-containerd exec -e FOO=bar --user 1000:1000 box1 sh -c 'id'"
    )]
    Exec {
        /// A process.json (config.md "process") to run instead of ARGS
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Return once the process is started
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Set an environment variable (repeatable)
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Working directory in the container
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// UID[:GID] to run as
        #[arg(short, long)]
        user: Option<String>,
        /// Additional group ids (repeatable)
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Add a capability (repeatable)
        #[arg(short, long)]
        cap: Vec<String>,
        /// Set NoNewPrivileges for the process
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// AppArmor profile for the process
        #[arg(long)]
        apparmor: Option<String>,
        /// SELinux label for the process
        #[arg(long = "process-label")]
        process_label: Option<String>,
        /// Allocate a pseudo-terminal
        #[arg(short, long)]
        tty: bool,
        /// Unix socket to send the pty master to (when process.terminal is set)
        #[arg(long = "console-socket", value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Pass fds 3..3+N of the caller to the process
        #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
        preserve_fds: u32,
        id: String,
        /// The command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Freeze every process of a running container
    #[command(after_help = "Example:\n  mini-containerd pause box1")]
    Pause { id: String },
    /// Thaw a paused container
    #[command(after_help = "Example:\n  mini-containerd resume box1")]
    Resume { id: String },
    /// List the container's processes (host pids)
    #[command(
        after_help = "Examples:\n  mini-containerd ps box1\n  mini-containerd ps --format json box1\n  mini-containerd ps box1 -- -o pid,comm"
    )]
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Options for ps(1) (default -ef), after --
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a running container
    ///
    /// A limit of -1 means unlimited, as with runc (`--memory-swap -1`).
    #[command(
        allow_negative_numbers = true,
        after_help = "Examples:\n  mini-containerd update --memory 67108864 --pids-limit 100 box1\n  mini-containerd update --memory-swap -1 box1\n  echo '{\"cpu\":{\"shares\":512}}' | mini-containerd update --resources - box1"
    )]
    Update {
        /// linux.resources JSON from FILE, or - for stdin
        #[arg(short, long, value_name = "FILE")]
        resources: Option<PathBuf>,
        /// Memory limit in bytes
        #[arg(long, value_parser = memory_size)]
        memory: Option<i64>,
        #[arg(long = "memory-reservation", value_parser = memory_size)]
        memory_reservation: Option<i64>,
        /// Memory plus swap limit in bytes
        #[arg(long = "memory-swap", value_parser = memory_size)]
        memory_swap: Option<i64>,
        #[arg(long = "kernel-memory", value_parser = memory_size)]
        kernel_memory: Option<i64>,
        #[arg(long = "kernel-memory-tcp", value_parser = memory_size)]
        kernel_memory_tcp: Option<i64>,
        #[arg(long = "cpu-shares")]
        cpu_shares: Option<u64>,
        #[arg(long = "cpu-quota", value_parser = limit)]
        cpu_quota: Option<i64>,
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        #[arg(long = "cpu-rt-period")]
        cpu_rt_period: Option<u64>,
        #[arg(long = "cpu-rt-runtime", value_parser = limit)]
        cpu_rt_runtime: Option<i64>,
        #[arg(long = "cpuset-cpus")]
        cpuset_cpus: Option<String>,
        #[arg(long = "cpuset-mems")]
        cpuset_mems: Option<String>,
        #[arg(long = "pids-limit", value_parser = limit)]
        pids_limit: Option<i64>,
        #[arg(long = "blkio-weight")]
        blkio_weight: Option<u16>,
        id: String,
    },
    /// Print cgroup statistics as runc's JSON events
    #[command(
        after_help = "Example:\n  mini-containerd events --stats box1\n  mini-containerd events --interval 1s box1"
    )]
    Events {
        /// Print one stats event and exit
        #[arg(long)]
        stats: bool,
        /// Time between stats events (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print what this runtime supports (OCI features.md JSON)
    #[command(after_help = "Example:\n  mini-containerd features")]
    Features,
    /// Check a bundle against the spec and the runtime's rules, creating nothing
    #[command(after_help = "Example:\n  mini-containerd check --bundle bundles/busybox")]
    Check {
        #[arg(short, long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Example:\n  mini-containerd completion bash > /etc/bash_completion.d/mini-containerd")]
    Completion { shell: clap_complete::Shell },
    /// Write man pages (mini-containerd.1 and one per subcommand) into DIR
    #[command(hide = true)]
    Man { dir: PathBuf },
    /// Internal: the container's init (re-executed by `create`)
    #[command(hide = true)]
    Init,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// A resource limit given on the command line: a number, or -1 for
/// unlimited (runc's convention); anything below -1 is a mistake.
fn limit(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(v) if v >= -1 => Ok(v),
        Ok(_) => Err("a limit is a number >= 0, or -1 for unlimited".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A memory size on the command line, as runc takes it: bytes, or a number
/// with a binary unit (`64m`, `1.5G`, `512KiB`), or -1 for unlimited.
fn memory_size(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size: a number of bytes, with an optional unit (k, m, g, t, p), or -1"))?;
    let power = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (k, m, g, t or p)")),
    };
    let bytes = number * 1024f64.powi(power);
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(format!("{s:?} is too large"));
    }
    Ok(bytes as i64)
}

/// A usage error also goes to `--log`, if the command line names one:
/// containerd's shim reports a failed runtime call from that file.
fn log_usage_error(e: &clap::Error) {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{flag}="))
                .map(str::to_string)
                .or_else(|| (a == flag).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    let Some(path) = value("--log") else { return };
    let format = match value("--log-format").as_deref() {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    };
    if logging::init(Some(Path::new(&path)), format, false).is_ok() {
        // clap's message, up to its usage block, on one line.
        let rendered = e.render().to_string();
        let message: Vec<&str> = rendered
            .lines()
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        tracing::error!("{}", message.join(" ").trim_start_matches("error: "));
    }
}

fn main() -> ExitCode {
    // The container's init (spawn.rs execs us as exactly `mini-containerd
    // init`) skips building the whole command line parser: its start-up is
    // on every create's path.
    let mut args = std::env::args_os();
    if args.len() == 2 && args.nth(1).is_some_and(|a| a == "init") {
        runtime::init::main();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 1, as runc's do (clap's own choice is 2);
        // --help and --version print to stdout and exit 0, and so does no
        // command at all, which prints the help (runc does the same).
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            if e.use_stderr() {
                log_usage_error(&e);
            }
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
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
    // Commands that touch no container need no state root.
    let needs_root = !matches!(
        cli.command,
        Command::Spec { .. }
            | Command::Check { .. }
            | Command::Features
            | Command::Completion { .. }
            | Command::Man { .. }
    );
    let root = StateRoot::new(if needs_root { state_root(cli)? } else { PathBuf::new() });
    match &cli.command {
        Command::Create(args) => {
            lifecycle::create(&root, &args.options(cli.systemd_cgroup)?)?;
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
        Command::Run { detach, create } => {
            let code = lifecycle::run(
                &root,
                RunOptions {
                    create: create.options(cli.systemd_cgroup)?,
                    detach: *detach,
                },
            )?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Spec { bundle, rootless } => runtime::spec::write_default(bundle, *rootless)?,
        Command::List { format, quiet } => list(&root, *format, *quiet)?,
        Command::Exec {
            process,
            detach,
            pid_file,
            env,
            cwd,
            user,
            additional_gids,
            cap,
            no_new_privs,
            apparmor,
            process_label,
            tty,
            console_socket,
            preserve_fds,
            id,
            args,
        } => {
            let code = lifecycle::exec(
                &root,
                &lifecycle::ExecOptions {
                    id: id.clone(),
                    process: process.clone(),
                    args: args.clone(),
                    detach: *detach,
                    pid_file: pid_file.clone(),
                    env: env.clone(),
                    cwd: cwd.clone(),
                    user: user.clone(),
                    additional_gids: additional_gids.clone(),
                    caps: cap.clone(),
                    no_new_privs: *no_new_privs,
                    apparmor: apparmor.clone(),
                    process_label: process_label.clone(),
                    tty: *tty,
                    console_socket: console_socket.clone(),
                    preserve_fds: *preserve_fds,
                },
            )?;
            return Ok(u8::try_from(code).unwrap_or(255));
        }
        Command::Pause { id } => lifecycle::pause(&root, id)?,
        Command::Resume { id } => lifecycle::resume(&root, id)?,
        Command::Ps { format, id, ps_args } => ps(&root, *format, id, ps_args)?,
        Command::Update {
            resources,
            memory,
            memory_reservation,
            memory_swap,
            kernel_memory,
            kernel_memory_tcp,
            cpu_shares,
            cpu_quota,
            cpu_period,
            cpu_rt_period,
            cpu_rt_runtime,
            cpuset_cpus,
            cpuset_mems,
            pids_limit,
            blkio_weight,
            id,
        } => {
            let mut r = match resources {
                Some(path) => read_resources(path)?,
                None => serde_json::json!({}),
            };
            let mut set = |section: &str, key: &str, value: Option<serde_json::Value>| {
                if let Some(v) = value {
                    r[section][key] = v;
                }
            };
            let j = |v: Option<i64>| v.map(serde_json::Value::from);
            let u = |v: Option<u64>| v.map(serde_json::Value::from);
            set("memory", "limit", j(*memory));
            set("memory", "reservation", j(*memory_reservation));
            set("memory", "swap", j(*memory_swap));
            set("memory", "kernel", j(*kernel_memory));
            set("memory", "kernelTCP", j(*kernel_memory_tcp));
            set("cpu", "shares", u(*cpu_shares));
            set("cpu", "quota", j(*cpu_quota));
            set("cpu", "period", u(*cpu_period));
            set("cpu", "realtimePeriod", u(*cpu_rt_period));
            set("cpu", "realtimeRuntime", j(*cpu_rt_runtime));
            set("cpu", "cpus", cpuset_cpus.clone().map(serde_json::Value::from));
            set("cpu", "mems", cpuset_mems.clone().map(serde_json::Value::from));
            set("pids", "limit", j(*pids_limit));
            set("blockIO", "weight", blkio_weight.map(serde_json::Value::from));
            let resources = serde_json::from_value(r)
                .map_err(|e| runtime::Error::Invalid(format!("update: invalid resources: {e}")))?;
            lifecycle::update(&root, id, &resources)?;
        }
        Command::Events { stats, interval, id } => {
            if *stats {
                print_json(&lifecycle::stats_event(&root, id)?, false);
            } else {
                let every = parse_duration(interval)?;
                lifecycle::events(&root, id, every, &mut |e| print_json(e, false))?;
            }
        }
        Command::Check { bundle } => {
            let problems = runtime::bundle::check(bundle);
            let mut out = std::io::stdout().lock();
            for p in &problems {
                let _ = writeln!(out, "{p}");
            }
            if !problems.is_empty() {
                return Err(runtime::Error::Invalid(format!("{} problem(s) found", problems.len())));
            }
            let _ = writeln!(out, "{}: ok", bundle.join("config.json").display());
        }
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into a buffer first: the generator panics on a closed pipe.
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "mini-containerd", &mut buf);
            let _ = std::io::stdout().write_all(&buf);
        }
        Command::Man { dir } => write_man_pages(dir)?,
        Command::Features => print_json(&runtime::features::features(), true),
        Command::Init => unreachable!("handled before logging is set up"),
    }
    Ok(0)
}

/// `--resources FILE` or `-` (stdin): a linux.resources JSON object.
fn read_resources(path: &std::path::Path) -> runtime::Result<serde_json::Value> {
    let text = if path == std::path::Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| runtime::Error::Invalid(format!("reading resources from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| runtime::Error::Invalid(format!("reading {}: {e}", path.display())))?
    };
    serde_json::from_str(&text)
        .map_err(|e| runtime::Error::Invalid(format!("{}:{}:{}: {e}", path.display(), e.line(), e.column())))
}

/// Go-style durations as runc takes them: `5s`, `500ms`, `1m`.
fn parse_duration(s: &str) -> runtime::Result<std::time::Duration> {
    let bad = || runtime::Error::Invalid(format!("invalid duration {s:?} (try 5s or 500ms)"));
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    Ok(match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        "h" => std::time::Duration::from_secs(n * 3600),
        _ => return Err(bad()),
    })
}

/// One man page for the command and one per visible subcommand.
fn write_man_pages(dir: &std::path::Path) -> runtime::Result<()> {
    let io = |e: std::io::Error| runtime::Error::Invalid(format!("writing man pages into {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("mini-containerd".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mini-containerd-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out).map_err(io)?;
        std::fs::write(dir.join(format!("{name}.1")), out).map_err(io)?;
    }
    Ok(())
}

/// `--version`: like runc's, the version, commit, OCI spec version and the
/// libseccomp the binary runs with.
fn long_version() -> String {
    let seccomp = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "{}\ncommit: {}\nspec: {}\nlibseccomp: {seccomp}",
        env!("CARGO_PKG_VERSION"),
        env!("MINI_CONTAINERD_COMMIT"),
        runtime::OCI_SPEC_VERSION
    )
}

/// Rootless when asked, or (auto) when not root, as runc decides.
fn rootless(cli: &Cli) -> bool {
    match cli.rootless.as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => !nix::unistd::geteuid().is_root(),
    }
}

/// `--root`, or the default: /run/mini-containerd, or for a rootless
/// caller $XDG_RUNTIME_DIR/mini-containerd (a directory of the user's own).
fn state_root(cli: &Cli) -> runtime::Result<PathBuf> {
    if let Some(root) = &cli.root {
        return Ok(root.clone());
    }
    if !rootless(cli) {
        return Ok(PathBuf::from("/run/mini-containerd"));
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join("mini-containerd")),
        _ => Err(runtime::Error::Invalid(
            "rootless: XDG_RUNTIME_DIR is not set; pass --root DIR".into(),
        )),
    }
}

/// `--console-socket PATH` becomes a connected socket; no flag means no socket
/// (`run` may still decide to proxy the terminal itself).
fn connect(path: Option<&std::path::Path>) -> runtime::Result<Console> {
    Ok(match path {
        Some(path) => Console::Socket(runtime::console::connect(path)?),
        None => Console::None,
    })
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

/// runc's `ps`: JSON is the list of host pids; the table is ps(1)'s own
/// output (header kept) filtered to the container's processes.
fn ps(root: &StateRoot, format: ListFormat, id: &str, args: &[String]) -> runtime::Result<()> {
    let pids: Vec<i32> = lifecycle::pids(root, id)?.into_iter().map(|p| p.as_raw()).collect();
    if let ListFormat::Json = format {
        print_json(&pids, false);
        return Ok(());
    }
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| runtime::Error::Invalid(format!("running ps {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(runtime::Error::Invalid(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| runtime::Error::Invalid("ps output has no PID column".into()))?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{header}");
    for line in lines {
        let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            let _ = writeln!(stdout, "{line}");
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_as_runc_takes_them() {
        assert_eq!(memory_size("33554432"), Ok(33554432));
        assert_eq!(memory_size("64m"), Ok(64 << 20));
        assert_eq!(memory_size("1.5G"), Ok(3 << 29));
        assert_eq!(memory_size("512KiB"), Ok(512 << 10));
        assert_eq!(memory_size("-1"), Ok(-1));
        assert!(memory_size("-5").is_err());
        assert!(memory_size("12q").is_err());
        assert!(memory_size("abc").is_err());
        assert!(memory_size("99999p").is_err());
    }
}
