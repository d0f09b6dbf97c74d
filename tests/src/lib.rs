//! The test harness of Elastos: it starts QEMU with the hypervisor, watches the serial console,
//! and reads and changes the machine's state through QEMU's gdbstub, so integration tests in
//! `tests/tests/` can check what the hypervisor did without a person watching.
//!
//! - [`qemu`] starts one QEMU per test ([`QemuBuilder`], [`Qemu`]) with a private gdbstub
//!   socket, captures the console and kills QEMU when the handle is dropped.
//! - [`gdb`] is a GDB Remote Serial Protocol client ([`GdbClient`]): threads are CPUs,
//!   registers are read by name (including system registers such as `HCR_EL2`), memory,
//!   breakpoints, watchpoints and stepping.
//! - [`elf`] reads symbol addresses from the hypervisor image ([`Symbols`]).
//! - [`artifacts`](mod@artifacts) finds the QEMU command line and the hypervisor image that `cargo xtask test`
//!   built ([`Artifacts`]).
//!
//! A typical test:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use elastos_tests::{artifacts, Error};
//!
//! # fn main() -> Result<(), Error> {
//! let artifacts = artifacts()?;
//! let symbols = artifacts.hypervisor_symbols()?;
//! let qemu = artifacts.qemu()?.start_paused(true).spawn()?;
//! let mut gdb = qemu.gdb()?;
//! let cpu = gdb.continue_until(symbols.address("hypervisor_main")?, Duration::from_secs(30))?;
//! assert_eq!((gdb.read_register("cpsr")? >> 2) & 0b11, 2, "CPU {cpu} is not at EL2");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod artifacts;
pub mod dapps;
pub mod elf;
pub mod gdb;
pub mod hostile;
pub mod peer;
pub mod qemu;
pub mod shell;
pub mod stage2;
pub mod system;

use std::fmt;

use thiserror::Error;

pub use crate::{
    artifacts::{artifacts, Artifacts, ArtifactsError},
    elf::{ElfError, Symbol, Symbols},
    gdb::{GdbClient, GdbError, RegisterDescription, StopEvent, ThreadId, WatchKind},
    qemu::{Qemu, QemuBuilder, QemuError},
    system::{boot, System, SystemError, SystemOptions},
};

/// Any error of the harness, so a test can return `Result<(), elastos_tests::Error>` and use
/// `?` throughout. Its `Debug` form, which the test runner prints when a test returns an error,
/// is the readable message.
#[derive(Error)]
pub enum Error {
    /// From the gdbstub client.
    #[error(transparent)]
    Gdb(#[from] GdbError),
    /// From running QEMU.
    #[error(transparent)]
    Qemu(#[from] QemuError),
    /// From reading an ELF file.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// From finding the build products.
    #[error(transparent)]
    Artifacts(#[from] ArtifactsError),
    /// From preparing a system to boot.
    #[error(transparent)]
    System(#[from] SystemError),
    /// From the host libp2p peer.
    #[error(transparent)]
    Peer(#[from] crate::peer::PeerError),
}

impl fmt::Debug for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every message of the harness already includes its cause.
        write!(formatter, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_is_the_message() {
        let error = Error::from(ArtifactsError::MissingVariable {
            variable: artifacts::HYPERVISOR_ELF_VARIABLE,
        });
        assert_eq!(
            format!("{error:?}"),
            "the environment variable ELASTOS_HYPERVISOR_ELF is not set: run the suite with \
             `cargo xtask test`"
        );
    }
}
