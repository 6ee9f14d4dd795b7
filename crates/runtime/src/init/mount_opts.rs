//! Mount options of config.json turned into mount(2) flags and data: a pure
//! function, unit-tested without root. (config.md "Mounts": options are the
//! ones of mount(8); those the kernel does not know as flags go to the
//! filesystem as data, e.g. `mode=755`, `size=65536k`.)

use nix::mount::MsFlags;

#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call itself.
    pub flags: MsFlags,
    /// Propagation to apply afterwards (MS_SHARED / MS_SLAVE / … [| MS_REC]).
    pub propagation: MsFlags,
    /// Comma-joined filesystem-specific options (`mode=755,size=64k`).
    pub data: String,
    /// Recursive attributes (`rro`, `rnosuid` …) for mount_setattr(2) with
    /// AT_RECURSIVE: MOUNT_ATTR_* bits to set and to clear.
    pub rec_set: u64,
    pub rec_clr: u64,
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of what it covers.
    pub tmpcopyup: bool,
}

/// MOUNT_ATTR_* of <linux/mount.h>.
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// The atime field: relatime is 0 within it.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// The recursive options runc accepts: (name, set, clear).
const RECURSIVE: &[(&str, u64, u64)] = &[
    ("rro", attr::RDONLY, 0),
    ("rrw", 0, attr::RDONLY),
    ("rnosuid", attr::NOSUID, 0),
    ("rsuid", 0, attr::NOSUID),
    ("rnodev", attr::NODEV, 0),
    ("rdev", 0, attr::NODEV),
    ("rnoexec", attr::NOEXEC, 0),
    ("rexec", 0, attr::NOEXEC),
    ("rnodiratime", attr::NODIRATIME, 0),
    ("rdiratime", 0, attr::NODIRATIME),
    ("rrelatime", attr::RELATIME, attr::ATIME_MASK),
    ("rnorelatime", 0, attr::ATIME_MASK),
    ("rnoatime", attr::NOATIME, attr::ATIME_MASK),
    ("ratime", 0, attr::ATIME_MASK),
    ("rstrictatime", attr::STRICTATIME, attr::ATIME_MASK),
    ("rnostrictatime", 0, attr::ATIME_MASK),
    ("rnosymfollow", attr::NOSYMFOLLOW, 0),
    ("rsymfollow", 0, attr::NOSYMFOLLOW),
];

/// Names of the recursive options, for `features`.
pub fn recursive_names() -> impl Iterator<Item = &'static str> {
    RECURSIVE.iter().map(|(n, _, _)| *n)
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
            rec_set: 0,
            rec_clr: 0,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    /// A bind mount (`bind`, `rbind`, or type "bind").
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
    /// Flags beyond the bind itself, which need a second, remounting call:
    /// the kernel ignores them on the first MS_BIND call.
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

/// Parse a mount's `options` list.
pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "iversion" => (MsFlags::MS_I_VERSION, MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MsFlags::MS_I_VERSION),
            "nosymfollow" => (MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW), MsFlags::empty()),
            "symfollow" => (MsFlags::empty(), MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                if other == "tmpcopyup" {
                    out.tmpcopyup = true;
                } else if let Some(p) = propagation(other) {
                    out.propagation = p;
                } else if let Some((_, set, clr)) = RECURSIVE.iter().find(|(n, _, _)| *n == other) {
                    out.rec_clr = (out.rec_clr | clr) & !set;
                    out.rec_set = (out.rec_set & !clr) | set;
                    // relatime is "0 in the atime field": clearing the field
                    // must stay requested even though nothing is set.
                    out.rec_clr |= clr;
                } else if !other.is_empty() {
                    data.push(other);
                }
                continue;
            }
        };
        out.flags = (out.flags | set) - clear;
    }
    out.data = data.join(",");
    out
}

/// `private`, `rslave`, … to their mount(2) flags.
pub fn propagation(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn runc_default_dev_mount() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.is_bind());
    }

    #[test]
    fn later_options_win() {
        assert_eq!(opts(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(opts(&["rw", "ro"]).flags, MsFlags::MS_RDONLY);
    }

    #[test]
    fn recursive_attributes() {
        let o = opts(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.rec_clr, attr::ATIME_MASK);
        assert!(o.data.is_empty());
        let o = opts(&["rro", "rrw"]);
        assert_eq!(o.rec_set, 0);
        assert_eq!(o.rec_clr, attr::RDONLY);
    }

    #[test]
    fn bind_and_propagation() {
        let o = opts(&["rbind", "ro", "rslave"]);
        assert!(o.is_bind());
        assert_eq!(o.bind_remount_flags(), MsFlags::MS_RDONLY);
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(propagation("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation("relatime"), None);
        assert_eq!(propagation("rw"), None);
    }
}
