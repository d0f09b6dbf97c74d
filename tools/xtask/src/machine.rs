//! The QEMU command line of the system, derived from the board's constants.

use crate::build::Images;
use crate::environment::{step, run_checked};
use crate::{Error, Result};
use boards::qemu_virt;
use boards::test_guest::{self, Scenario};
use std::path::Path;
use std::process::Command;

/// Options shared by `run` and `gdb`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MachineOptions {
    /// The CPU model (cortex-a53 or cortex-a72).
    #[arg(long, default_value = "cortex-a53")]
    pub cpu: String,
    /// Give a test VM a scenario: VM=SCENARIO (greet, escape, benchmark, heartbeat). Repeatable.
    #[arg(long = "scenario", value_name = "VM=SCENARIO")]
    pub scenarios: Vec<String>,
    /// Extra arguments passed to QEMU as they are (e.g. -icount shift=0,sleep=off).
    #[arg(long = "qemu-argument", value_name = "ARGUMENT", allow_hyphen_values = true)]
    pub qemu_arguments: Vec<String>,
}

const SUPPORTED_CPUS: [&str; 2] = ["cortex-a53", "cortex-a72"];

/// The machine, the hypervisor and the guest images: everything but the
/// console and display options.
pub fn machine_arguments(cpu: &str, images: &Images) -> Result<Vec<String>> {
    if !SUPPORTED_CPUS.contains(&cpu) {
        return Err(Error::Usage(format!("unknown CPU model {cpu}; use one of {SUPPORTED_CPUS:?}")));
    }
    let mut line: Vec<String> = [
        "qemu-system-aarch64",
        "-M",
        "virt,virtualization=on,gic-version=3",
        "-cpu",
        cpu,
        "-smp",
        &qemu_virt::CPU_COUNT.to_string(),
        "-m",
        &format!("{}M", qemu_virt::RAM.size >> 20),
        "-kernel",
        &images.hypervisor.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    for machine in qemu_virt::VIRTUAL_MACHINES {
        line.push("-device".into());
        line.push(format!(
            "loader,file={},addr={:#x},force-raw=on",
            images.test_guest.display(),
            machine.memory.base
        ));
    }
    Ok(line)
}

/// The QEMU arguments that give VM `name` the scenario `scenario`.
pub fn scenario_arguments(name: &str, scenario: Scenario) -> Result<Vec<String>> {
    let machine = qemu_virt::VIRTUAL_MACHINES
        .iter()
        .find(|machine| machine.name == name)
        .ok_or_else(|| Error::Usage(format!("there is no VM named {name}")))?;
    let guest = test_guest::parameter_address(machine.guest_memory());
    let physical = machine.memory.base + (guest - machine.guest_memory_base);
    Ok(vec![
        "-device".into(),
        format!("loader,addr={physical:#x},data={},data-len=8", scenario as u64),
    ])
}

fn parse_scenario(text: &str) -> Result<(String, Scenario)> {
    let (name, scenario) = text
        .split_once('=')
        .ok_or_else(|| Error::Usage(format!("--scenario takes VM=SCENARIO, not {text}")))?;
    let scenario = Scenario::from_name(scenario).ok_or_else(|| {
        let names: Vec<_> = Scenario::ALL.iter().map(|scenario| scenario.name()).collect();
        Error::Usage(format!("unknown scenario {scenario}; use one of {names:?}"))
    })?;
    Ok((name.to_string(), scenario))
}

/// The full command line of `cargo xtask run`: console on this terminal.
pub fn command_line(options: &MachineOptions, images: &Images) -> Result<Vec<String>> {
    let mut line = machine_arguments(&options.cpu, images)?;
    for text in &options.scenarios {
        let (name, scenario) = parse_scenario(text)?;
        line.extend(scenario_arguments(&name, scenario)?);
    }
    line.extend(options.qemu_arguments.iter().cloned());
    line.push("-nographic".into());
    Ok(line)
}

/// Quotes a command line for a POSIX shell.
pub fn shell_line(line: &[String]) -> String {
    line.iter()
        .map(|word| {
            if !word.is_empty()
                && word.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_=,./:+@".contains(&byte))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the machine arguments for the integration tests, one per line.
pub fn write_arguments_file(images: &Images, path: &Path) -> Result<()> {
    let file_error = |source| Error::File { path: path.display().to_string(), source };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(file_error)?;
    }
    let mut text = machine_arguments("cortex-a53", images)?.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(file_error)
}

/// `cargo xtask gdb`: QEMU stopped at the first instruction with a gdbstub on
/// `port`, and gdb-multiarch attached with the hypervisor's symbols.
pub fn debug(options: &MachineOptions, images: &Images, port: u16) -> Result<()> {
    let mut line = command_line(options, images)?;
    line.pop();
    line.extend(["-S", "-gdb", &format!("tcp:127.0.0.1:{port}"), "-display", "none"].map(String::from));
    line.extend(["-serial", "file:target/elastos/console.log", "-monitor", "none"].map(String::from));
    std::fs::create_dir_all(crate::build::workspace_root().join("target/elastos"))
        .map_err(|source| Error::File { path: "target/elastos".into(), source })?;
    step(&format!("starting QEMU (console in target/elastos/console.log): {}", shell_line(&line)));
    let mut qemu = Command::new(&line[0])
        .args(&line[1..])
        .current_dir(crate::build::workspace_root())
        .spawn()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    let result = run_checked(
        Command::new("gdb-multiarch")
            .arg(&images.hypervisor)
            .args(["-ex", "set architecture aarch64"])
            .args(["-ex", &format!("target remote 127.0.0.1:{port}")]),
    );
    // gdb has exited: the session is over, so QEMU goes too.
    let _ = qemu.kill();
    let _ = qemu.wait();
    result
}
