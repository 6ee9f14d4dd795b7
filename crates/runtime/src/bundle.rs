//! Loading and validating a bundle: `config.json` plus the root filesystem.
//!
//! The spec ("Filesystem Bundle", bundle.md) makes `config.json` the whole
//! contract between the caller and the runtime. Every check here runs before
//! `create` touches anything, so a bad bundle leaves nothing behind, and each
//! error names the file and field (with line:column for JSON syntax).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {msg}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("{path}: {field}: {why}")]
    Field { path: PathBuf, field: String, why: String },
}

/// A validated bundle. Paths are absolute, so the container keeps working
/// whatever the caller's working directory becomes.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// `linux.seccomp`, compiled while validating (for the init to load).
    pub seccomp: Option<crate::init::seccomp::Filter>,
    /// The compiled profile, for the cache once the container exists.
    pub seccomp_pending: Option<crate::seccomp_cache::Pending>,
}

impl Bundle {
    /// Read `<dir>/config.json`, parse it, resolve `root.path` and validate.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        Self::load_with(dir, None)
    }

    /// `load`, taking a compiled seccomp profile from `cache` when it has it.
    pub fn load_with(dir: &Path, cache: Option<&crate::seccomp_cache::Cache>) -> Result<Self, BundleError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| BundleError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let config = dir.join("config.json");
        let text = std::fs::read_to_string(&config).map_err(|source| BundleError::Read {
            path: config.clone(),
            source,
        })?;
        let spec = parse_config(&config, &text)?;
        let field = |field: &str, why: String| BundleError::Field {
            path: config.clone(),
            field: field.to_string(),
            why,
        };
        let (problems, compiled) = problems_and_filter(&spec, cache);
        let (seccomp, seccomp_pending) = compiled.map_or((None, None), |(f, p)| (Some(f), p));
        if let Some((f, why)) = problems.into_iter().next() {
            return Err(field(f, why));
        }
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| field("root", "missing (required on Linux)".into()))?;
        // Resolved once, here: the init mounts onto the real directory.
        let rootfs = dir.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs).unwrap_or(rootfs);
        let meta = std::fs::metadata(&rootfs)
            .map_err(|e| field("root.path", escape_controls(&format!("{}: {}", rootfs.display(), e))))?;
        if !meta.is_dir() {
            return Err(field(
                "root.path",
                escape_controls(&format!("{}: not a directory", rootfs.display())),
            ));
        }
        Ok(Bundle {
            dir,
            rootfs,
            spec,
            seccomp,
            seccomp_pending,
        })
    }
}

/// `check`: every problem of the bundle at `dir`, each as one line naming
/// the file and field, without creating anything. A config that does not
/// parse yields its one syntax error.
pub fn check(dir: &Path) -> Vec<String> {
    let config = dir.join("config.json");
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", config.display())],
    };
    let spec = match parse_config(&config, &text) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let mut out: Vec<String> = problems(&spec)
        .into_iter()
        .map(|(field, why)| format!("{}: {field}: {why}", config.display()))
        .collect();
    match spec.root() {
        None => out.push(format!("{}: root: missing (required on Linux)", config.display())),
        Some(root) if !dir.join(root.path()).is_dir() => out.push(format!(
            "{}: root.path: {} is not a directory",
            config.display(),
            escape_controls(&dir.join(root.path()).display().to_string())
        )),
        Some(_) => {}
    }
    out
}

/// Parse config.json text; syntax and type errors carry line:column.
pub fn parse_config(path: &Path, text: &str) -> Result<Spec, BundleError> {
    serde_json::from_str::<Spec>(text).map_err(|e| {
        // serde_json appends " at line L column C"; we lead with it instead.
        let full = e.to_string();
        let msg = match full.rfind(" at line ") {
            Some(i) => &full[..i],
            None => &full,
        };
        BundleError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            msg: escape_controls(msg),
        }
    })
}

/// serde and oci-spec quote the offending value as decoded, so a JSON
/// `"\n"` in an enum value (a capability, a namespace type) would split the
/// one-line error, and an escape sequence would reach the terminal. Found by
/// the fuzz target (crates/runtime/fuzz).
fn escape_controls(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One rule's verdict: the field and why, on the first problem it finds.
type Verdict = Result<(), (&'static str, String)>;

/// The runtime's own rules on a parsed config, beyond what the types enforce.
/// Returns the first offending field and why.
pub fn validate(spec: &Spec) -> Verdict {
    match problems(spec).into_iter().next() {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// Every problem the rules find (`check`): each rule reports its first.
pub fn problems(spec: &Spec) -> Vec<(&'static str, String)> {
    problems_and_filter(spec, None).0
}

/// A compiled `linux.seccomp`, and its cache entry when it was not cached.
type Compiled = (crate::init::seccomp::Filter, Option<crate::seccomp_cache::Pending>);

/// The problems, and `linux.seccomp` compiled (the one compile there is:
/// validating a profile means compiling it).
fn problems_and_filter(
    spec: &Spec,
    cache: Option<&crate::seccomp_cache::Cache>,
) -> (Vec<(&'static str, String)>, Option<Compiled>) {
    let rules: [&dyn Fn(&Spec) -> Verdict; 9] = [
        &|s| check_version(s.version()),
        &check_process,
        &|s| crate::hooks::validate(s).map_err(|why| ("hooks", why)),
        &check_namespaces,
        &check_uts,
        &|s| crate::init::sysctl::validate(s).map_err(|why| ("linux.sysctl", why)),
        &crate::userns::validate,
        &check_time_offsets,
        &check_devices,
    ];
    let mut out: Vec<(&'static str, String)> = rules.iter().filter_map(|rule| rule(spec).err()).collect();
    let mut filter = None;
    if let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        let built = match cache {
            Some(cache) => cache.build(seccomp),
            None => crate::init::seccomp::build(seccomp).map(|f| (f, None)),
        };
        match built {
            Ok(f) => filter = Some(f),
            Err(why) => {
                // build names the field itself ("linux.seccomp.flags: ...");
                // here the field leads already.
                let why = match why.strip_prefix("linux.seccomp") {
                    Some(rest) => rest.trim_start_matches(['.', ':', ' ']).to_string(),
                    None => why,
                };
                out.push(("linux.seccomp", why));
            }
        }
    }
    (out, filter)
}

fn namespaces_of(spec: &Spec) -> Vec<oci_spec::runtime::LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
}

fn check_process(spec: &Spec) -> Verdict {
    let process = spec
        .process()
        .as_ref()
        .ok_or(("process", "missing: there is nothing to run".to_string()))?;
    validate_process(process)?;
    let mut seen_rlimits = HashSet::new();
    for rl in process.rlimits().iter().flatten() {
        if !seen_rlimits.insert(format!("{:?}", rl.typ())) {
            return Err((
                "process.rlimits",
                format!(
                    "{:?} is listed twice (config.md: duplicated entries MUST be an error)",
                    rl.typ()
                ),
            ));
        }
        if rl.soft() > rl.hard() {
            return Err((
                "process.rlimits",
                format!(
                    "{:?}: soft limit {} is above the hard limit {}",
                    rl.typ(),
                    rl.soft(),
                    rl.hard()
                ),
            ));
        }
    }
    Ok(())
}

fn check_namespaces(spec: &Spec) -> Verdict {
    let namespaces = namespaces_of(spec);
    let mut seen = HashSet::new();
    for ns in &namespaces {
        if !seen.insert(ns.typ()) {
            return Err((
                "linux.namespaces",
                format!("namespace type {} is listed twice", ns.typ()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err((
                    "linux.namespaces",
                    format!("path of the {} namespace must be absolute, got {path:?}", ns.typ()),
                ));
            }
        }
    }
    if !namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        return Err((
            "linux.namespaces",
            "a mount namespace is required: without one the container's mounts would land on the host".into(),
        ));
    }
    Ok(())
}

fn check_uts(spec: &Spec) -> Verdict {
    let uts = namespaces_of(spec).iter().any(|n| n.typ() == LinuxNamespaceType::Uts);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !uts {
        return Err((
            "hostname",
            "set without a UTS namespace: it would change the host's hostname (config.md: hostname)".into(),
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !uts {
        return Err((
            "domainname",
            "set without a UTS namespace: it would change the host's domain name (config.md: domainname)".into(),
        ));
    }
    Ok(())
}

fn check_time_offsets(spec: &Spec) -> Verdict {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().as_ref()) else {
        return Ok(());
    };
    let new_time = namespaces_of(spec)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none());
    if !offsets.is_empty() && !new_time {
        return Err(("linux.timeOffsets", "set without a new time namespace".into()));
    }
    if let Some(clock) = offsets.keys().find(|k| *k != "monotonic" && *k != "boottime") {
        return Err((
            "linux.timeOffsets",
            format!("unknown clock {clock:?} (only monotonic and boottime have offsets)"),
        ));
    }
    Ok(())
}

fn check_devices(spec: &Spec) -> Verdict {
    for (i, d) in spec
        .linux()
        .iter()
        .flat_map(|l| l.devices().iter().flatten())
        .enumerate()
    {
        if !d.path().is_absolute() {
            return Err((
                "linux.devices",
                format!("devices[{i}].path must be absolute, got {:?}", d.path()),
            ));
        }
        crate::init::devices::kind(d.typ()).map_err(|why| ("linux.devices", format!("devices[{i}]: {why}")))?;
    }
    Ok(())
}

/// The rules for a process, shared by `create` and `exec`.
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), (&'static str, String)> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return Err(("process.args", "must name a program to run".into())),
    }
    if !process.cwd().is_absolute() {
        return Err((
            "process.cwd",
            format!("must be an absolute path, got {:?}", process.cwd()),
        ));
    }
    Ok(())
}

/// config.md: ociVersion is SemVer. Every 1.x is accepted (unknown fields are
/// ignored, as the spec allows); another major is a different contract.
pub fn check_version(version: &str) -> Result<(), (&'static str, String)> {
    let major = version.split('.').next().unwrap_or("");
    match major {
        "1" => Ok(()),
        "" => Err(("ociVersion", "missing".into())),
        _ => Err((
            "ociVersion",
            format!("unsupported version {version:?}: this runtime implements 1.x"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_path_with_a_newline_gives_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::spec::default_config();
        config["root"]["path"] = serde_json::json!("no\nsuch");
        let config = config.to_string();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let err = Bundle::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("root.path") && !err.contains('\n'), "{err}");
        let problems = check(dir.path());
        assert!(problems.iter().all(|p| !p.contains('\n')), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("root.path")), "{problems:?}");
    }

    #[test]
    fn json_errors_carry_line_and_column() {
        let err = parse_config(Path::new("c.json"), "{\n  \"ociVersion\": \"1.0.0\",\n  oops\n}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.json:3:3: "), "{err}");
    }

    #[test]
    fn json_errors_are_one_line_whatever_the_value() {
        // The fuzzer's input: a carriage return as a capability name.
        let capability = r#"{"process": {"capabilities": {"effective": ["\r"]}}}"#;
        let namespace = r#"{"ociVersion": "1.0.0", "linux": {"namespaces": [{"type": "a\nb\u001b[2J"}]}}"#;
        for text in [capability, namespace] {
            let err = parse_config(Path::new("c.json"), text).unwrap_err().to_string();
            assert!(!err.chars().any(char::is_control), "{err:?}");
            assert!(err.starts_with("c.json:1:"), "{err}");
        }
        let err = parse_config(Path::new("c.json"), namespace).unwrap_err().to_string();
        assert!(err.contains(r"a\nb\u{1b}[2J"), "{err}");
    }

    #[test]
    fn seccomp_errors_name_the_field_once() {
        // The fuzzer's input, then a notify rule without a listener.
        let metadata = r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "listenerMetadata": ""}}}"#;
        let notify = r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}}"#;
        for (text, want) in [
            (metadata, "listenerMetadata: set without listenerPath"),
            (notify, "SCMP_ACT_NOTIFY needs listenerPath (where the agent listens)"),
        ] {
            let spec = parse_config(Path::new("c.json"), text).unwrap();
            let seccomp: Vec<_> = problems(&spec)
                .into_iter()
                .filter(|(f, _)| *f == "linux.seccomp")
                .collect();
            assert_eq!(seccomp, [("linux.seccomp", want.to_string())]);
        }
    }

    #[test]
    fn versions() {
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("1.3.0").is_ok());
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("").is_err());
        assert!(check_version("0.2.0").is_err());
    }
}
