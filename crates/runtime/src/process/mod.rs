//! Everything about the processes the runtime starts: spawning the init,
//! the sync channel it talks over, and signals.

pub mod channel;
pub mod signal;
pub mod spawn;
