//! System manifests: one TOML file per board configuration, checked at build
//! time and turned into `boards::System` constants, so the hypervisor never
//! parses text.
//!
//! [`check`] reads a manifest (format in `docs/manifest.md`), checks it
//! against a [`Board`] and places every VM's and channel's memory, giving a
//! [`CheckedSystem`]; [`generate`] writes that as Rust source. Every problem
//! is reported as `path:line:column: what is wrong`.
//!
//! `boards/build.rs` runs both over `boards/<board>/*.toml`. This crate
//! cannot depend on `boards` (that would be a cycle), so it has its own
//! [`Region`] and model types of the same shape.

mod board;
mod check;
mod error;
mod generate;
mod model;
// The same file as `boards::multiaddr`, so that the build and the host tools
// check bootstrap addresses alike (this crate cannot depend on `boards`).
#[path = "../../src/multiaddr.rs"]
mod multiaddr;
mod raw;

use std::path::Path;

pub use board::{Board, NamedInterrupt, NamedRegion, Region};
pub use check::{check, is_valid_name};
pub use error::{Bytes, Diagnostic, Diagnostics, Error, Position, Problem, Subject};
pub use generate::{generate, hex};
pub use model::{
    align_up, channel_region_size, Channel, ChannelEnd, CheckedSystem, Device, Direction,
    LinuxDevice, Machine, MachineKind, P2pSettings, RestartPolicy, CHANNEL_NAME_MAX,
    CHANNEL_STATUS_SIZE, CHANNEL_WINDOW_ALIGNMENT, CHANNEL_WINDOW_BASE, DEFAULT_LISTEN_PORT,
    DOORBELL_INTERRUPT_BASE, GUEST_MEMORY_BASE, MAX_CHANNELS_PER_MACHINE, MAX_MACHINES,
    MAX_VCPUS_PER_CPU, MEMORY_ALIGNMENT, PAGE_SIZE, RING_CONTROL_SIZE, RING_SIZE_MAX,
    RING_SIZE_MIN,
};
pub use multiaddr::{check_bootstrap_address, MultiaddrError};

/// Reads the manifest at `path` and [`check`]s it against `board`.
pub fn check_file(path: &Path, board: &Board) -> Result<CheckedSystem, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| Error::Read { path: path.display().to_string(), source })?;
    Ok(check(path, &text, board)?)
}

/// The name of the constant [`generate`] gives the system called `name`:
/// upper case, '-' turned into '_'.
pub fn constant_name(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}
