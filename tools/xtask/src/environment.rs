//! What the machine must have, and running commands with visible progress.

use crate::{Error, Result};
use std::process::{Command, ExitStatus, Stdio};

/// The target the hypervisor and the guests are built for.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// Prints a progress line.
pub fn step(message: &str) {
    eprintln!("==> {message}");
}

/// A command as one line, for messages.
pub fn display(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for argument in command.get_args() {
        line.push(' ');
        line.push_str(&argument.to_string_lossy());
    }
    line
}

/// Runs a command with inherited output; fails unless it succeeds.
pub fn run_checked(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .map_err(|source| Error::CouldNotStart { command: display(command), source })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::CommandFailed { command: display(command), status })
    }
}

/// Runs a command line in the foreground and returns how it ended.
pub fn run_foreground(line: &[String]) -> Result<ExitStatus> {
    let mut command = Command::new(&line[0]);
    command.args(&line[1..]);
    command.status().map_err(|source| Error::CouldNotStart { command: line.join(" "), source })
}

fn output_of(program: &str, arguments: &[&str]) -> Option<String> {
    let output = Command::new(program).args(arguments).stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|user| user.trim() == "0")
}

/// Makes sure rustup has the target `target` (`wasm32-unknown-unknown`,
/// `aarch64-unknown-linux-musl`, ...).
pub fn ensure_rust_target(target: &str) -> Result<()> {
    let targets = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets.lines().any(|line| line.trim() == target) {
        step(&format!("installing the Rust target {target}"));
        run_checked(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// Makes sure rustup has the cross target and the components the checks use.
pub fn ensure_build_tools() -> Result<()> {
    ensure_rust_target(TARGET)?;
    let components = output_of("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    for component in ["rustfmt", "clippy"] {
        if !components.lines().any(|line| line.starts_with(component)) {
            step(&format!("installing the rustup component {component}"));
            run_checked(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

/// Makes sure `qemu-system-aarch64` is installed.
pub fn ensure_qemu() -> Result<()> {
    ensure_debian_package("qemu-system-aarch64", "qemu-system-arm")
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Makes sure `program` exists, installing Debian's `package` when root.
pub fn ensure_debian_package(program: &str, package: &str) -> Result<()> {
    if on_path(program) {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {package}");
    if !is_root() {
        return Err(Error::Missing {
            program: program.into(),
            install: format!("sudo sh -c '{install}'"),
        });
    }
    step(&format!("installing {package} (for {program})"));
    run_checked(Command::new("apt-get").arg("update").stdout(Stdio::null()))?;
    run_checked(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null()),
    )?;
    if on_path(program) {
        Ok(())
    } else {
        Err(Error::Missing { program: program.into(), install })
    }
}
