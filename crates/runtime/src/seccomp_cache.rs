//! Compiled seccomp profiles kept under the state root, so that the next
//! container with the same profile skips libseccomp.
//!
//! Compiling a profile is the costliest step of creating a container that
//! has one: about 8 ms for Debian's default profile (380 syscalls), against
//! about 4 ms for all the rest of `run`. Engines give most containers the
//! same profile (Kubernetes' `RuntimeDefault`, Docker's and podman's
//! default), so the runtime keeps each compiled program in
//! `<root>/.cache/seccomp/<hash>` (container ids start with a letter or a
//! digit, so `list` never sees the directory) and loads it next time.
//!
//! An entry is used only if everything the program was compiled from is
//! byte-for-byte the same. That is the profile (but for `listenerPath` and
//! `listenerMetadata`, which only say where the notify fd goes: whether
//! they are set is in the key), and the binary doing the compiling (its
//! device, inode, size and mtime, so a rebuilt or upgraded runtime starts
//! afresh). It also covers libseccomp: its version, the kernel API level it
//! found, and, when it is a shared library, that file's identity (a
//! distribution's patch to its syscall table keeps the version number). And
//! it covers the kernel release and the architecture. The whole of that is
//! stored in the entry and compared, not only its hash, so a hash collision
//! is a miss, not another profile's filter.
//!
//! A hash of the whole entry is stored too, so a damaged entry is also a
//! miss. At most 64 entries are kept, the oldest going first. Entries are written to a unique temporary name and renamed,
//! so a reader never sees half an entry, and only once the container exists
//! (a failed `create` leaves nothing behind, in the cache neither). Anything
//! wrong with the cache means compiling, as without it. Entries are small
//! (the program, 8 bytes an instruction, and the profile) and are not
//! removed: one per profile, until the binary or the kernel changes.

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use crate::init::seccomp::{self, Filter};

/// First line of every entry; a new layout gets a new number.
const MAGIC: &[u8] = b"mini-containerd seccomp cache 2\n";

/// An entry is no bigger than the kernel's limit on a program (4096
/// instructions of 8 bytes) and its key.
const MAX_ENTRY: u64 = 1 << 20;

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache of the state root `root`.
    pub fn under(root: &Path) -> Cache {
        Cache {
            dir: root.join(".cache").join("seccomp"),
        }
    }

    /// The profile's program: from the cache when an entry matches, else
    /// compiled, with the entry to [`Pending::store`] once the container
    /// exists. Errors are `seccomp::build`'s.
    pub fn build(&self, profile: &LinuxSeccomp) -> Result<(Filter, Option<Pending>), String> {
        let Some(key) = key(profile) else {
            return Ok((seccomp::build(profile)?, None));
        };
        let path = self.dir.join(format!("{:016x}", hash(key.as_bytes())));
        if let Some(filter) = read(&path, &key) {
            tracing::debug!("seccomp: compiled profile from {}", path.display());
            return Ok((filter, None));
        }
        let filter = seccomp::build(profile)?;
        Ok((filter, Some(Pending { path, key })))
    }
}

/// Where a compiled profile goes in the cache, and what it was compiled
/// from: the entry to write once the container exists.
#[derive(Debug, Clone)]
pub struct Pending {
    path: PathBuf,
    key: String,
}

impl Pending {
    /// Keep the program for the next container (best effort: a cache that
    /// cannot be written only costs the next one a compile).
    pub fn store(self, filter: &Filter) {
        if let Err(e) = self.write(filter) {
            tracing::debug!("seccomp: not cached: {}: {e}", self.path.display());
        }
    }

    fn write(&self, filter: &Filter) -> std::io::Result<()> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| std::io::Error::other("an entry has no directory"))?;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        prune(dir);
        let tmp = dir.join(format!(".tmp.{}", std::process::id()));
        // A stale one of ours (a crash between open and rename) goes first;
        // then O_EXCL: we write only a file we just made.
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        let written = f
            .write_all(&encode(&self.key, filter))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// At most this many entries are kept; the oldest go first.
const MAX_ENTRIES: usize = 64;

/// Make room for one more entry, and remove temporary files that a crash
/// left (older than a minute: a live writer renames within milliseconds).
fn prune(dir: &Path) {
    let Ok(listing) = fs::read_dir(dir) else { return };
    let now = std::time::SystemTime::now();
    let mut entries = Vec::new();
    for e in listing.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        let modified = meta.modified().unwrap_or(now);
        if e.file_name().to_string_lossy().starts_with(".tmp.") {
            if now.duration_since(modified).unwrap_or_default() > std::time::Duration::from_secs(60) {
                let _ = fs::remove_file(e.path());
            }
        } else {
            entries.push((modified, e.path()));
        }
    }
    if entries.len() >= MAX_ENTRIES {
        entries.sort();
        for (_, old) in &entries[..=entries.len() - MAX_ENTRIES] {
            let _ = fs::remove_file(old);
        }
    }
}

/// Everything the compiled program depends on, as text; `None` when part
/// of it cannot be known (then nothing is cached).
fn key(profile: &LinuxSeccomp) -> Option<String> {
    let exe = fs::metadata("/proc/self/exe").ok()?;
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let lib = libseccomp::ScmpVersion::current().ok()?;
    let api = libseccomp::get_api();
    // listenerPath and listenerMetadata do not change the program, only
    // where its notify fd goes: whether they are set does (validation).
    let mut profile = profile.clone();
    let listener = (profile.listener_path().is_some(), profile.listener_metadata().is_some());
    profile.set_listener_path(None);
    profile.set_listener_metadata(None);
    let json = serde_json::to_string(&profile).ok()?;
    Some(format!(
        "binary {}\nlibseccomp {}.{}.{} api {api} {}\nkernel {}\narch {}\nlistener {listener:?}\nprofile {json}\n",
        identity(&exe),
        lib.major,
        lib.minor,
        lib.micro,
        loaded_libseccomp()?,
        kernel.trim(),
        std::env::consts::ARCH,
    ))
}

/// A file as it is now: a replaced or rewritten one differs.
fn identity(meta: &fs::Metadata) -> String {
    format!(
        "{}:{}:{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    )
}

/// The shared libseccomp this process runs, if it is one (a debug build):
/// an update of the library that keeps its version number (a distribution's
/// patch to its syscall table) must not meet programs compiled by the old
/// one. `static` when libseccomp is inside the binary, whose identity is in
/// the key already.
fn loaded_libseccomp() -> Option<String> {
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    let Some(path) = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| {
        p.rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with("libseccomp.so"))
    }) else {
        return Some("static".into());
    };
    Some(format!("{path} {}", identity(&fs::metadata(path).ok()?)))
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// MAGIC, then the body: key length (u32 LE), key, flags (u32 LE), program
/// length (u32 LE), program; then the body's hash (u64 LE).
fn encode(key: &str, filter: &Filter) -> Vec<u8> {
    let mut body = Vec::with_capacity(key.len() + filter.program.len() + 12);
    body.extend_from_slice(&(key.len() as u32).to_le_bytes());
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(&filter.flags.to_le_bytes());
    body.extend_from_slice(&(filter.program.len() as u32).to_le_bytes());
    body.extend_from_slice(&filter.program);
    let mut out = Vec::with_capacity(MAGIC.len() + body.len() + 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&hash(&body).to_le_bytes());
    out
}

/// The entry at `path` if it is whole and was compiled from `key`.
fn read(path: &Path, key: &str) -> Option<Filter> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    // Ours alone: a regular file of this user's, not writable by others.
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
        return None;
    }
    let mut data = Vec::new();
    File::take(f, MAX_ENTRY).read_to_end(&mut data).ok()?;
    decode(&data, key)
}

fn decode(data: &[u8], key: &str) -> Option<Filter> {
    let rest = data.strip_prefix(MAGIC)?;
    let (body, sum) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
    if hash(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let (len, rest) = take_u32(body)?;
    let (stored_key, rest) = rest.split_at_checked(len as usize)?;
    if stored_key != key.as_bytes() {
        return None;
    }
    let (flags, rest) = take_u32(rest)?;
    let (len, program) = take_u32(rest)?;
    if program.len() != len as usize || program.is_empty() || program.len() % 8 != 0 {
        return None;
    }
    Some(Filter {
        program: program.to_vec(),
        flags,
    })
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (n, rest) = b.split_at_checked(4)?;
    Some((u32::from_le_bytes(n.try_into().ok()?), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Filter {
        Filter {
            program: (0u8..64).collect(),
            flags: 2,
        }
    }

    #[test]
    fn an_entry_reads_back_only_with_its_own_key_and_whole() {
        let data = encode("key A", &filter());
        let back = decode(&data, "key A").expect("reads back");
        assert_eq!((back.program, back.flags), (filter().program, 2));
        assert!(decode(&data, "key B").is_none(), "another key");
        assert!(decode(&data, "key").is_none(), "a prefix of the key");
        for cut in [8, 16, data.len() - 8, data.len() - 1] {
            assert!(decode(&data[..cut], "key A").is_none(), "cut at {cut}");
        }
        let mut flipped = data.clone();
        *flipped.last_mut().expect("non-empty") ^= 1;
        assert!(decode(&flipped, "key A").is_none(), "a changed instruction");
        let mut longer = data.clone();
        longer.extend_from_slice(&[0; 8]);
        assert!(decode(&longer, "key A").is_none(), "an extra instruction");
        // The flags are covered too: a changed bit is a miss.
        let flags_at = MAGIC.len() + 4 + "key A".len();
        let mut flags = data;
        flags[flags_at] ^= 4;
        assert!(decode(&flags, "key A").is_none(), "a changed flag");
    }

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).expect("profile")
    }

    #[test]
    fn the_key_has_the_libraries_and_not_where_the_agent_listens() {
        let rule = serde_json::json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]);
        let at = |path: &str| {
            profile(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "syscalls": rule
            }))
        };
        let a = key(&at("/run/agent-1.sock")).expect("key");
        assert_eq!(
            a,
            key(&at("/run/agent-2.sock")).expect("key"),
            "another socket, the same program"
        );
        let without = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rule}));
        assert_ne!(
            a,
            key(&without).expect("key"),
            "with a listener or without is not the same"
        );
        // These tests link libseccomp dynamically: the key names the file.
        assert!(a.contains("libseccomp.so"), "{a}");
    }

    #[test]
    fn pruning_keeps_the_newest_entries_and_drops_stale_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..MAX_ENTRIES + 3 {
            let f = File::create(dir.path().join(format!("{i:016x}"))).expect("entry");
            f.set_modified(old + std::time::Duration::from_secs(i as u64))
                .expect("mtime");
        }
        let stale = File::create(dir.path().join(".tmp.1")).expect("tmp");
        stale.set_modified(old).expect("mtime");
        File::create(dir.path().join(".tmp.2")).expect("a live writer's");
        prune(dir.path());
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), MAX_ENTRIES, "room for one more: {left:?}");
        assert_eq!(left[0], ".tmp.2");
        assert_eq!(left[1], format!("{:016x}", 4), "the four oldest went");
    }

    #[test]
    fn compiles_once_then_reads_the_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::under(dir.path());
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .expect("profile");
        let (first, pending) = cache.build(&profile).expect("compiles");
        assert!(!dir.path().join(".cache").exists(), "nothing is stored before store()");
        pending.expect("a miss").store(&first);
        let entries: Vec<_> = fs::read_dir(dir.path().join(".cache/seccomp"))
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let key = key(&profile).expect("key");
        let stored = read(&entries[0], &key).expect("a whole entry");
        assert_eq!(stored.program, first.program);
        // A different profile has its own entry.
        let other: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .expect("profile");
        let (second, pending) = cache.build(&other).expect("compiles");
        assert_ne!(second.program, first.program);
        pending.expect("a miss").store(&second);
        assert!(read(&entries[0], &key).is_some());
        assert_eq!(fs::read_dir(dir.path().join(".cache/seccomp")).expect("dir").count(), 2);
        let (again, pending) = cache.build(&profile).expect("compiles");
        assert!(pending.is_none(), "a hit");
        assert_eq!(again.program, first.program);
        // An entry that lost its key's match is a miss, and is replaced.
        fs::write(&entries[0], encode("stale", &filter())).expect("overwrite");
        let (again, pending) = cache.build(&profile).expect("compiles");
        assert_eq!(again.program, first.program);
        pending.expect("a miss").store(&again);
        assert!(read(&entries[0], &key).is_some());
    }
}
