//! Finding (or building) the static `oci-probe` binary.
//!
//! Order: `--probe PATH`, then `$OCI_PROBE`, then build it with cargo into
//! `<workspace>/target/oci-probe` (its own target dir, so that the
//! `crt-static` RUSTFLAGS never invalidate the normal build).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

pub fn host_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return checked(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("OCI_PROBE") {
        return checked(PathBuf::from(p));
    }
    build()
}

fn build() -> Result<PathBuf, String> {
    let ws = workspace_root();
    let triple = host_triple();
    let target_dir = ws.join("target").join("oci-probe");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&ws)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "conformance",
            "--bin",
            "oci-probe",
            "--target",
        ])
        .arg(&triple)
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    eprintln!(
        "# building the static probe: RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p conformance \
         --bin oci-probe --target {triple} --target-dir {}",
        target_dir.display()
    );
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build the probe ({e}); build it as above and pass --probe PATH"))?;
    if !st.success() {
        return Err(format!(
            "building the probe failed ({st}); is the {triple} target installed (rustup target add {triple})? \
             Or pass --probe PATH to a statically linked oci-probe"
        ));
    }
    checked(target_dir.join(&triple).join("release").join("oci-probe"))
}

/// The probe must exist and be static: a dynamically linked one would fail
/// inside a BusyBox rootfs with a confusing "not found".
fn checked(p: PathBuf) -> Result<PathBuf, String> {
    let bytes = fs::read(&p).map_err(|e| format!("probe {}: {e}", p.display()))?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(format!("probe {} is not an ELF executable", p.display()));
    }
    if has_interpreter(&bytes) {
        return Err(format!(
            "probe {} is dynamically linked (has PT_INTERP); build it with RUSTFLAGS='-C target-feature=+crt-static' \
             and --target {}",
            p.display(),
            host_triple()
        ));
    }
    fs::canonicalize(&p).map_err(|e| format!("probe {}: {e}", p.display()))
}

/// Whether a 64-bit little-endian ELF file asks for a dynamic loader.
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |o: usize| elf.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| u64::from_le_bytes(b) as usize)
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == Some(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_unless_built_static() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        // Test binaries are built without crt-static: they have PT_INTERP.
        assert!(has_interpreter(&me));
        assert!(!has_interpreter(b"not an elf"));
    }
}
