//! `state` and `list`: read-only, lock-free views of the state directory.

use crate::error::{Error, Result};
use crate::state::{OciState, StateRoot};

/// runtime.md "Query State".
pub fn state(root: &StateRoot, id: &str) -> Result<OciState> {
    let dir = root.open(id)?;
    let stored = dir.load()?;
    dir.oci_state(stored.as_ref())
}

/// Every container under the root; one vanishing mid-listing is skipped.
pub fn list(root: &StateRoot) -> Result<Vec<OciState>> {
    let mut out = Vec::new();
    for id in root.ids()? {
        match state(root, &id) {
            Ok(s) => out.push(s),
            Err(Error::NotFound(_)) => {}
            // One broken entry must not hide the others (runc warns too).
            Err(e) => tracing::warn!("list: skipping {id}: {e}"),
        }
    }
    Ok(out)
}
