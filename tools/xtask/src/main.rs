//! `cargo xtask`: the one entry point for building, running, testing and
//! benchmarking Elastos.
//!
//! Every command first makes sure the machine has what it needs (rustup
//! targets and components, QEMU), installing it when running as root and
//! otherwise saying exactly what to run.

mod bench;
mod build;
mod chain;
mod dapp;
mod dapp_bench;
mod environment;
mod initramfs;
mod linux;
mod machine;
mod p2p_bench;
mod sign_bench;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Errors a user of `cargo xtask` can see.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the task needs is missing and could not be installed.
    #[error("{program} is missing; install it with: {install}")]
    Missing {
        /// What is missing.
        program: String,
        /// The command that installs it.
        install: String,
    },
    /// A command the task ran failed.
    #[error("`{command}` failed with {status}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// A command could not be started.
    #[error("could not start `{command}`: {source}")]
    CouldNotStart {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A built image is not what it should be.
    #[error("{path} is not a usable ELF image: {reason}")]
    BadImage {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The command line asked for something that does not exist.
    #[error("{0}")]
    Usage(String),
    /// netvm's parameters cannot be composed (a malformed `--bootstrap`, or
    /// too many of them).
    #[error("{0}")]
    Parameters(#[from] boards::staging::ParameterError),
    /// A benchmark run did not print its figures.
    #[error("benchmark output not found: {0}")]
    Benchmark(String),
    /// A dapp key or package could not be made.
    #[error(transparent)]
    Dapp(#[from] dapp::DappError),
}

/// Result of the tasks.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and benchmark Elastos")]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the hypervisor and the guest images.
    Build,
    /// Build everything and boot the system in QEMU, console on this terminal.
    Run {
        /// Print the QEMU command line instead of running it.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        machine: machine::MachineOptions,
    },
    /// Run every check: formatting, clippy, unit tests and the QEMU tests.
    Test {
        /// Pass to the test runner to select tests by name.
        filter: Option<String>,
    },
    /// Measure the hypervisor (QEMU with -icount) and print the figures.
    Bench {
        /// Run only these benchmarks (null-hypercall, channels, libp2p,
        /// linux-download, linux-boot); all of them when none is named.
        names: Vec<String>,
        /// Also write the figures into docs/benchmarks.md.
        #[arg(long)]
        write: bool,
        /// The CPU model to measure on.
        #[arg(long, default_value = "cortex-a53")]
        cpu: String,
    },
    /// Chain verification on the host: `chain check DIR...`.
    Chain {
        #[command(subcommand)]
        command: ChainCommand,
    },
    /// Dapp packages: `dapp keygen --out KEY`, `dapp build DIR --key KEY --out FILE`.
    Dapp {
        #[command(subcommand)]
        command: dapp::DappCommand,
    },
    /// Boot the system stopped at its first instruction and attach gdb-multiarch.
    Gdb {
        #[command(flatten)]
        machine: machine::MachineOptions,
        /// TCP port for QEMU's gdbstub.
        #[arg(long, default_value_t = 1234)]
        port: u16,
    },
}

#[derive(Subcommand)]
enum ChainCommand {
    /// Run the verification crate over every test-vector file under the
    /// folders given: one line per case, then `N passed, M failed`.
    Check {
        /// Folders (or files) of vectors.
        #[arg(required = true)]
        folders: Vec<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match run(arguments.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Build => {
            environment::ensure_build_tools()?;
            build::build()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { dry_run, machine } => {
            if dry_run {
                let images = build::Images::expected();
                println!("{}", machine::shell_line(&machine::command_line(&machine, &images)?));
                return Ok(ExitCode::SUCCESS);
            }
            environment::ensure_build_tools()?;
            environment::ensure_qemu()?;
            let images = build::build()?;
            let linux = machine::linux_boot(&machine)?;
            let line = machine::prepare(&machine, &images, linux.as_ref())?;
            environment::step(&format!("booting: {}", machine::shell_line(&line)));
            let status = environment::run_foreground(&line)?;
            Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
        }
        Command::Test { filter } => {
            environment::ensure_build_tools()?;
            environment::ensure_qemu()?;
            build::test(filter.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { names, write, cpu } => {
            environment::ensure_build_tools()?;
            environment::ensure_qemu()?;
            let images = build::build()?;
            bench::run(&images, &cpu, write, &names)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chain { command: ChainCommand::Check { folders } } => {
            Ok(if chain::check(&folders)? { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Dapp { command } => {
            dapp::run(command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gdb { machine, port } => {
            environment::ensure_build_tools()?;
            environment::ensure_qemu()?;
            environment::ensure_debian_package("gdb-multiarch", "gdb-multiarch")?;
            let images = build::build()?;
            let linux = machine::linux_boot(&machine)?;
            machine::debug(&machine, &images, linux.as_ref(), port)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
