//! The build products a test needs, found through environment variables that
//! `cargo xtask test` sets: the QEMU command line and the hypervisor ELF.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::{
    elf::{ElfError, Symbols},
    qemu::{QemuBuilder, QemuError},
};

/// The variable naming a file whose lines are the QEMU command line, program first.
pub const QEMU_ARGUMENTS_FILE_VARIABLE: &str = "ELASTOS_QEMU_ARGS_FILE";
/// The variable naming the hypervisor's ELF file.
pub const HYPERVISOR_ELF_VARIABLE: &str = "ELASTOS_HYPERVISOR_ELF";

/// What went wrong finding the build products.
#[derive(Debug, Error)]
pub enum ArtifactsError {
    /// A variable is not set.
    #[error(
        "the environment variable {variable} is not set: run the suite with `cargo xtask test`"
    )]
    MissingVariable {
        /// The variable.
        variable: &'static str,
    },
    /// The command-line file could not be read.
    #[error(
        "could not read the QEMU command line from {path} ({QEMU_ARGUMENTS_FILE_VARIABLE}): \
         {source}; run the suite with `cargo xtask test`"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The command-line file has no lines.
    #[error(
        "the QEMU command line in {path} ({QEMU_ARGUMENTS_FILE_VARIABLE}) is empty; it must \
         hold the program and its arguments, one a line"
    )]
    EmptyCommand {
        /// The file.
        path: PathBuf,
    },
}

/// The build products of `cargo xtask test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// The QEMU command line that boots the system, program first.
    pub qemu_command: Vec<String>,
    /// The hypervisor's ELF file, for symbols.
    pub hypervisor_elf: PathBuf,
}

impl Artifacts {
    /// Reads [`QEMU_ARGUMENTS_FILE_VARIABLE`] and [`HYPERVISOR_ELF_VARIABLE`].
    pub fn from_environment() -> Result<Self, ArtifactsError> {
        let variable = |variable: &'static str| {
            std::env::var_os(variable)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
                .ok_or(ArtifactsError::MissingVariable { variable })
        };
        let arguments_file = variable(QEMU_ARGUMENTS_FILE_VARIABLE)?;
        let hypervisor_elf = variable(HYPERVISOR_ELF_VARIABLE)?;
        let qemu_command = read_command_file(&arguments_file)?;
        Ok(Self { qemu_command, hypervisor_elf })
    }

    /// A QEMU configuration with the system's command line, to which a test adds its own.
    pub fn qemu(&self) -> Result<QemuBuilder, QemuError> {
        QemuBuilder::from_command(&self.qemu_command)
    }

    /// The hypervisor's symbols.
    pub fn hypervisor_symbols(&self) -> Result<Symbols, ElfError> {
        Symbols::load(&self.hypervisor_elf)
    }
}

/// Reads the build products from the environment; the same as [`Artifacts::from_environment`].
pub fn artifacts() -> Result<Artifacts, ArtifactsError> {
    Artifacts::from_environment()
}

/// Reads a command line stored one argument a line; empty lines are skipped.
fn read_command_file(path: &Path) -> Result<Vec<String>, ArtifactsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ArtifactsError::Read { path: path.to_owned(), source })?;
    let command = parse_command(&text);
    if command.is_empty() {
        return Err(ArtifactsError::EmptyCommand { path: path.to_owned() });
    }
    Ok(command)
}

fn parse_command(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_files_hold_one_argument_a_line() {
        let text =
            "qemu-system-aarch64\r\n-M\nvirt,virtualization=on\n\n-append\nconsole=ttyAMA0 quiet\n";
        assert_eq!(
            parse_command(text),
            [
                "qemu-system-aarch64",
                "-M",
                "virt,virtualization=on",
                "-append",
                "console=ttyAMA0 quiet"
            ]
        );
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let directory = tempfile::tempdir().unwrap();
        let empty = directory.path().join("empty");
        std::fs::write(&empty, "\n\n").unwrap();
        assert!(matches!(read_command_file(&empty), Err(ArtifactsError::EmptyCommand { .. })));
        let missing = directory.path().join("missing");
        assert!(matches!(read_command_file(&missing), Err(ArtifactsError::Read { .. })));
    }

    #[test]
    fn the_missing_variable_message_says_what_to_run() {
        let error = ArtifactsError::MissingVariable { variable: QEMU_ARGUMENTS_FILE_VARIABLE };
        assert_eq!(
            error.to_string(),
            "the environment variable ELASTOS_QEMU_ARGS_FILE is not set: run the suite with \
             `cargo xtask test`"
        );
    }
}
