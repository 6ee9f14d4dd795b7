//! `process.capabilities` (config.md "Linux process"): the five sets.
//!
//! Order matters, because each step needs privileges the next one removes:
//! 1. shrink the bounding set (needs CAP_SETPCAP, which we still have);
//! 2. keep permitted caps across the switch to `process.user`
//!    (PR_SET_KEEPCAPS), then setuid;
//! 3. set inheritable, effective, then permitted (capset requires
//!    effective ⊆ permitted at every step);
//! 4. raise ambient caps, which the kernel allows only for caps that are
//!    both permitted and inheritable; like runc we skip those it refuses.
//!
//! The `caps` crate does the capget/capset and prctl plumbing; the policy
//! (which sets, in which order) is ours.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

/// The config's sets, converted and filtered to what this kernel knows:
/// a capability newer than the kernel is skipped, as runc does.
pub struct CapSets {
    bounding: Option<CapsHashSet>,
    effective: Option<CapsHashSet>,
    permitted: Option<CapsHashSet>,
    inheritable: Option<CapsHashSet>,
    ambient: Option<CapsHashSet>,
}

pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets, String> {
    let supported = caps::runtime::thread_all_supported();
    let convert = |set: &Option<Capabilities>, name: &str| -> Result<Option<CapsHashSet>, String> {
        let Some(set) = set else { return Ok(None) };
        let mut out = CapsHashSet::new();
        for cap in set {
            let full = format!("CAP_{cap}");
            let parsed: Capability = full
                .parse()
                .map_err(|_| format!("process.capabilities.{name}: unknown capability {full}"))?;
            if supported.contains(&parsed) {
                out.insert(parsed);
            }
        }
        Ok(Some(out))
    };
    Ok(CapSets {
        bounding: convert(c.bounding(), "bounding")?,
        effective: convert(c.effective(), "effective")?,
        permitted: convert(c.permitted(), "permitted")?,
        inheritable: convert(c.inheritable(), "inheritable")?,
        ambient: convert(c.ambient(), "ambient")?,
    })
}

/// Step 1, before setuid.
pub fn drop_bounding(sets: &CapSets) -> Result<(), String> {
    let Some(keep) = &sets.bounding else { return Ok(()) };
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
        }
    }
    Ok(())
}

/// Steps 3 and 4, after setuid (with keepcaps set).
pub fn apply(sets: &CapSets) -> Result<(), String> {
    let empty = CapsHashSet::new();
    for (set, name, value) in [
        (CapSet::Inheritable, "inheritable", &sets.inheritable),
        (CapSet::Effective, "effective", &sets.effective),
        (CapSet::Permitted, "permitted", &sets.permitted),
    ] {
        let value = value.as_ref().unwrap_or(&empty);
        caps::set(None, set, value).map_err(|e| format!("setting the {name} capabilities: {e}"))?;
    }
    for cap in sets.ambient.iter().flatten() {
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            tracing::debug!("ambient {cap} not raised: {e}");
        }
    }
    Ok(())
}
