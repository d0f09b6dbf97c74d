//! Booting the whole system for a test: the staging image (boot-image index,
//! test guests with their scenarios, and optionally Linux) composed from the
//! images `cargo xtask test` built, and QEMU started with it.

use std::path::PathBuf;

use boards::qemu_virt;
use boards::test_guest::Scenario;
use thiserror::Error;

use crate::artifacts::Artifacts;
use crate::qemu::Qemu;

/// The variable naming the test guest's flat image.
pub const TEST_GUEST_VARIABLE: &str = "ELASTOS_TEST_GUEST_IMAGE";
/// The variable naming the Linux kernel Image.
pub const LINUX_KERNEL_VARIABLE: &str = "ELASTOS_LINUX_KERNEL";
/// The variable naming the default initramfs.
pub const LINUX_INITRAMFS_VARIABLE: &str = "ELASTOS_LINUX_INITRAMFS";
/// The command line the tests boot Linux with.
pub const LINUX_COMMAND_LINE: &str = "console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init";

/// What went wrong preparing a system.
#[derive(Debug, Error)]
pub enum SystemError {
    /// A variable `cargo xtask test` sets is missing.
    #[error("the environment variable {0} is not set: run the suite with `cargo xtask test`")]
    MissingVariable(&'static str),
    /// An image could not be read or the staging file written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The images do not fit the staging region.
    #[error("the images do not fit the staging region: {0:?}")]
    Staging(boards::boot_image::IndexError),
}

/// How to boot the system.
#[derive(Clone, Debug, Default)]
pub struct SystemOptions {
    /// Scenario of each test VM not named here: greet.
    pub scenarios: Vec<(&'static str, Scenario)>,
    /// Boot Linux too, with this command line (`None`: no Linux VM).
    pub linux_command_line: Option<String>,
    /// Boot these bytes as the Linux kernel instead of the built one.
    pub linux_kernel: Option<Vec<u8>>,
    /// Start QEMU stopped at the first instruction.
    pub paused: bool,
    /// A name for the console echo.
    pub name: String,
    /// More QEMU arguments.
    pub arguments: Vec<String>,
    /// Another CPU model than the suite's (`-cpu`).
    pub cpu: Option<String>,
}

fn variable(name: &'static str) -> Result<PathBuf, SystemError> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .ok_or(SystemError::MissingVariable(name))
}

fn read(path: PathBuf) -> Result<Vec<u8>, SystemError> {
    std::fs::read(&path).map_err(|source| SystemError::File { path, source })
}

/// A booted system: QEMU and the staging file it loaded.
pub struct System {
    /// The machine.
    pub qemu: Qemu,
    _staging: tempfile::TempDir,
}

/// Composes the staging image for `options` and starts QEMU.
pub fn boot(artifacts: &Artifacts, options: &SystemOptions) -> Result<System, crate::Error> {
    let guest = read(variable(TEST_GUEST_VARIABLE)?)?;
    let linux = match &options.linux_command_line {
        Some(command_line) => Some((
            match &options.linux_kernel {
                Some(kernel) => kernel.clone(),
                None => read(variable(LINUX_KERNEL_VARIABLE)?)?,
            },
            read(variable(LINUX_INITRAMFS_VARIABLE)?)?,
            command_line.as_str(),
        )),
        None => None,
    };
    let linux = linux.as_ref().map(|(kernel, initramfs, command_line)| qemu_virt::LinuxImages {
        kernel,
        initramfs: Some(initramfs),
        command_line,
    });
    let scenario_of = |name: &str| {
        options
            .scenarios
            .iter()
            .find(|(wanted, _)| *wanted == name)
            .map_or(Scenario::Greet, |(_, scenario)| *scenario)
    };
    let staging = qemu_virt::staging_image(&guest, scenario_of, linux.as_ref())
        .map_err(SystemError::Staging)?;
    let folder = tempfile::tempdir()
        .map_err(|source| SystemError::File { path: std::env::temp_dir(), source })?;
    let path = folder.path().join("staging.bin");
    std::fs::write(&path, staging)
        .map_err(|source| SystemError::File { path: path.clone(), source })?;
    let mut artifacts = artifacts.clone();
    if let Some(cpu) = &options.cpu {
        let position = artifacts.qemu_command.iter().position(|argument| argument == "-cpu");
        if let Some(position) = position {
            artifacts.qemu_command[position + 1] = cpu.clone();
        }
    }
    let qemu = artifacts
        .qemu()?
        .name(options.name.clone())
        .start_paused(options.paused)
        .argument("-device")
        .argument(format!(
            "loader,file={},addr={:#x},force-raw=on",
            path.display(),
            qemu_virt::STAGING.base
        ))
        .arguments(options.arguments.iter().cloned())
        .spawn()?;
    Ok(System { qemu, _staging: folder })
}
