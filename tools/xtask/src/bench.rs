//! `cargo xtask bench`: figures measured in guest instructions under
//! `-icount shift=0,sleep=off`, where one instruction is one nanosecond of
//! virtual time, so counter ticks convert to instruction counts.

use crate::build::{workspace_root, Images};
use crate::environment::step;
use crate::machine::{machine_arguments, staging_arguments, write_file};

use crate::{Error, Result};
use boards::test_guest::Scenario;
use std::process::{Command, Stdio};

/// One benchmark's figures.
struct NullHypercall {
    iterations: u64,
    ticks: u64,
    baseline_ticks: u64,
    frequency: u64,
}

impl NullHypercall {
    /// Instructions per counter tick under `-icount shift=0`.
    fn instructions_per_tick(&self) -> f64 {
        1e9 / self.frequency as f64
    }

    fn per_iteration(&self, ticks: u64) -> f64 {
        ticks as f64 * self.instructions_per_tick() / self.iterations as f64
    }
}

/// The value of `name=` in a benchmark's line, parsed; an error naming the
/// line when it has none or one that does not parse.
pub fn field<T: std::str::FromStr>(line: &str, name: &str) -> Result<T> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| Error::Benchmark(format!("no {name} in `{line}`")))
}

fn parse(console: &str) -> Result<NullHypercall> {
    let line = console.lines().find(|line| line.contains("benchmark null-hypercall")).ok_or_else(
        || Error::Benchmark(console.lines().rev().take(10).collect::<Vec<_>>().join(" | ")),
    )?;
    Ok(NullHypercall {
        iterations: field(line, "iterations")?,
        ticks: field(line, "ticks")?,
        baseline_ticks: field(line, "baseline_ticks")?,
        frequency: field(line, "frequency")?,
    })
}

/// The benchmarks, by name, in the order they run.
pub const NAMES: [&str; 9] = [
    "null-hypercall",
    "channels",
    "libp2p",
    "linux-download",
    "linux-boot",
    "compute",
    "dapp-start",
    "host-call",
    "signing",
];

/// Runs the benchmarks named in `names` (all of them if it is empty) on
/// `cpu` and prints (and with `write`, records) their tables.
pub fn run(images: &Images, cpu: &str, write: bool, names: &[String]) -> Result<()> {
    if let Some(unknown) = names.iter().find(|name| !NAMES.contains(&name.as_str())) {
        return Err(Error::Usage(format!("no benchmark {unknown}; use one of {NAMES:?}")));
    }
    let wanted = |name: &str| names.is_empty() || names.iter().any(|wanted| wanted == name);
    let show = |name: &str, table: String| -> Result<()> {
        println!("{table}");
        if write {
            record(name, &table)?;
        }
        Ok(())
    };
    if wanted("null-hypercall") {
        show("null-hypercall", null_hypercall(images, cpu)?)?;
    }
    if wanted("channels") {
        show("channels", channels(images, cpu)?)?;
    }
    if wanted("libp2p") {
        show("libp2p", crate::p2p_bench::p2p(images, cpu)?)?;
    }
    if wanted("linux-download") || wanted("linux-boot") {
        let linux = crate::linux::default_linux()?;
        if wanted("linux-download") {
            show("linux-download", linux_download(images, &linux, cpu)?)?;
        }
        if wanted("linux-boot") {
            show("linux-boot", linux_boot(images, &linux, cpu)?)?;
        }
    }
    if wanted("compute") {
        show("compute", crate::dapp_bench::compute(images, cpu)?)?;
    }
    if wanted("dapp-start") {
        show("dapp-start", crate::dapp_bench::dapp_start(images, cpu)?)?;
    }
    if wanted("host-call") {
        show("host-call", crate::dapp_bench::host_call(images, cpu)?)?;
    }
    if wanted("signing") {
        show("signing", crate::sign_bench::signing(images, cpu)?)?;
    }
    Ok(())
}

/// The null hypercall against an empty loop, in the test guest.
fn null_hypercall(images: &Images, cpu: &str) -> Result<String> {
    // Only alpha runs: the machine powers off when it is done.
    let test = crate::machine::system("test")?;
    let staging = only(test, images, &[("alpha", Some(Scenario::Benchmark as u64))])?;
    let staging_path = workspace_root().join("target/elastos/bench-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut line = machine_arguments(cpu, &images.test_hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(
        ["-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none"].map(String::from),
    );
    line.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("measuring the null hypercall on {cpu} (QEMU -icount shift=0)"));
    let output = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    let console = String::from_utf8_lossy(&output.stdout);
    let figures = parse(&console)?;
    let baseline = figures.per_iteration(figures.baseline_ticks);
    let round_trip = figures.per_iteration(figures.ticks);
    Ok(format!(
        "| measurement ({cpu}, {} iterations) | guest instructions per iteration |\n\
         |---|---|\n\
         | empty loop (baseline) | {baseline:.1} |\n\
         | null hypercall loop (HVC to EL2 and back) | {round_trip:.1} |\n\
         | null hypercall round trip, baseline subtracted | {:.1} |\n",
        figures.iterations,
        round_trip - baseline
    ))
}

/// The parameter word that makes the app VM measure its channels.
const APP_BENCHMARK: u64 = 1;

/// The channel figures of the app VM, in the default system without Linux:
/// 64-byte ping-pong with chainvm (same CPU) and netvm (another CPU), and
/// 4 KiB messages streamed to netvm against a plain 4 KiB copy.
fn channels(images: &Images, cpu: &str) -> Result<String> {
    let system = crate::machine::system("system")?;
    let staging = only(
        system,
        images,
        &[("netvm", None), ("chainvm", None), ("app-1", Some(APP_BENCHMARK))],
    )?;
    let staging_path = workspace_root().join("target/elastos/bench-channels-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut line = machine_arguments(cpu, &images.hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(
        ["-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none"].map(String::from),
    );
    line.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("measuring the channels on {cpu} (QEMU -icount shift=0)"));
    let console = console_until(&line, "benchmark channel done")?;
    let find = |name: &str| -> Result<&str> {
        console
            .lines()
            .find(|line| line.contains(&format!("benchmark channel {name} ")))
            .ok_or_else(|| Error::Benchmark(format!("no `benchmark channel {name}` line")))
    };
    let get = field::<u64>;
    let nanoseconds = |ticks: u64, frequency: u64| ticks as f64 * 1e9 / frequency as f64;
    let mut rows = String::new();
    for (name, what) in [
        (
            "round-trip-same-cpu",
            "64-byte ping-pong with chainvm, same CPU (app and chainvm share CPU 3)",
        ),
        ("round-trip-other-cpu", "64-byte ping-pong with netvm, other CPU (app on 3, netvm on 2)"),
    ] {
        let line = find(name)?;
        let per = nanoseconds(get(line, "ticks")?, get(line, "frequency")?)
            / get(line, "iterations")? as f64;
        rows.push_str(&format!("| {what} | {per:.0} instructions per round trip |\n"));
    }
    let line = find("throughput")?;
    let (frequency, bytes) = (get(line, "frequency")?, get(line, "bytes")?);
    let mebibytes = bytes as f64 / (1 << 20) as f64;
    let seconds = |ticks: u64| nanoseconds(ticks, frequency) / 1e9;
    let through = mebibytes / seconds(get(line, "ticks")?);
    let copy = mebibytes / seconds(get(line, "copy_ticks")?);
    rows.push_str(&format!(
        "| 4 KiB messages streamed to netvm (other CPU), {mebibytes:.0} MiB | {through:.0} MiB/s |\n\
         | plain copy of the same 4 KiB buffers in the app VM | {copy:.0} MiB/s |\n\
         | channel throughput against the copy | {:.2}x |\n",
        through / copy
    ));
    Ok(format!("| measurement ({cpu}, default system without Linux) | result |\n|---|---|\n{rows}"))
}

/// A staging image of `system` that starts only the VMs named in `machines`,
/// each with its flat image and an optional parameter word.
fn only(
    system: &boards::System,
    images: &Images,
    machines: &[(&str, Option<u64>)],
) -> Result<Vec<u8>> {
    boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
        let Some((_, parameter)) = machines.iter().find(|(name, _)| *name == machine.name) else {
            return Ok(Vec::new());
        };
        let path = images.guest(machine.image);
        let binary = std::fs::read(&path)
            .map_err(|source| Error::File { path: path.display().to_string(), source })?;
        // Verbose: the benchmark lines are information.
        crate::dapp_bench::verbose(match machine.kind {
            boards::VirtualMachineKind::NetVm => {
                boards::staging::netvm_images(system, machine, &binary, &[])?
            }
            _ => boards::staging::flat_images(&binary, *parameter),
        })
    })
}

/// Runs QEMU until its console shows `marker` (or it exits), then stops it,
/// and returns the console.
fn console_until(line: &[String], marker: &str) -> Result<String> {
    use std::io::BufRead;
    let mut child = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut console = String::new();
    for text in std::io::BufReader::new(stdout).lines() {
        let Ok(text) = text else { break };
        console.push_str(&text);
        console.push('\n');
        if text.contains(marker) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(console)
}

/// Runs QEMU to completion and returns its console.
fn console_of(line: &[String]) -> Result<String> {
    let output = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The guest's uptime, in seconds, when its init printed `elastos: uptime`.
fn uptime(console: &str) -> Result<f64> {
    console
        .lines()
        .find_map(|line| line.split("elastos: uptime ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|seconds| seconds.parse().ok())
        .ok_or_else(|| {
            Error::Benchmark(console.lines().rev().take(10).collect::<Vec<_>>().join(" | "))
        })
}

/// Time for the same kernel and initramfs to reach userspace under the
/// hypervisor and on bare QEMU (the kernel entered at EL1 by QEMU itself),
/// both measured in virtual time under `-icount shift=0`.
fn linux_boot(images: &Images, linux: &crate::linux::LinuxArtifacts, cpu: &str) -> Result<String> {
    let command_line = format!("{} elastos.benchmark", crate::machine::DEFAULT_COMMAND_LINE);
    let icount = ["-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none"];
    let boot = crate::machine::LinuxBoot {
        kernel: linux.image.clone(),
        initramfs: Some(linux.initramfs.clone()),
        command_line: command_line.clone(),
    };
    // Linux alone: under -icount, what the other VMs execute would count
    // towards Linux's virtual time (QEMU runs the CPUs one after another).
    let system = crate::machine::system("system")?;
    let kernel = std::fs::read(&boot.kernel)
        .map_err(|source| Error::File { path: boot.kernel.display().to_string(), source })?;
    let initramfs = std::fs::read(&linux.initramfs)
        .map_err(|source| Error::File { path: linux.initramfs.display().to_string(), source })?;
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            Ok::<_, Error>(if machine.kind == boards::VirtualMachineKind::Linux {
                boards::staging::LinuxImages {
                    kernel: &kernel,
                    initramfs: Some(&initramfs),
                    command_line: &command_line,
                }
                .images()
            } else {
                Vec::new()
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-linux-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut hypervisor = machine_arguments(cpu, &images.hypervisor)?;
    hypervisor.extend(staging_arguments(&staging_path));
    hypervisor.extend(icount.map(String::from));
    hypervisor.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("booting Linux under the hypervisor on {cpu} (QEMU -icount shift=0)"));
    let under = uptime(&console_of(&hypervisor)?)?;
    let memory = system
        .machines
        .iter()
        .find(|machine| machine.kind == boards::VirtualMachineKind::Linux)
        .map_or(1 << 30, |machine| machine.memory.size);
    let mut bare: Vec<String> =
        ["qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", cpu].map(String::from).to_vec();
    bare.extend(["-smp".into(), "2".into(), "-m".into(), format!("{}M", memory >> 20)]);
    bare.extend(["-kernel".into(), linux.image.display().to_string()]);
    bare.extend(["-initrd".into(), linux.initramfs.display().to_string()]);
    bare.extend(["-append".into(), command_line]);
    bare.extend(icount.map(String::from));
    bare.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("booting Linux on bare QEMU on {cpu} (QEMU -icount shift=0)"));
    let alone = uptime(&console_of(&bare)?)?;
    Ok(format!(
        "| Linux {} to userspace ({cpu}, 2 vCPUs) | seconds of virtual time (= 10^9 guest instructions) |\n\
         |---|---|\n\
         | bare QEMU, kernel entered at EL1 | {alone:.2} |\n\
         | under the Elastos hypervisor | {under:.2} |\n\
         | ratio | {:.3}x |\n",
        linux.kernel_version,
        under / alone
    ))
}

/// The bytes Linux downloads in the download benchmark.
const DOWNLOAD_SIZE: usize = 32 << 20;

/// Linux's TCP download throughput from an HTTP server on the host through
/// QEMU's user-mode network: through netvm under the hypervisor, and with
/// Linux owning the virtio-net device on bare QEMU, in the same run.
/// `-icount shift=0,sleep=on`: instructions count as nanoseconds, and time
/// waiting for the host's network passes as real time, the same in both.
fn linux_download(
    images: &Images,
    linux: &crate::linux::LinuxArtifacts,
    cpu: &str,
) -> Result<String> {
    let server =
        file_server::FileServer::start([("/file", file_server::generated_file(DOWNLOAD_SIZE, 5))])
            .map_err(|source| Error::File { path: "127.0.0.1 (the file server)".into(), source })?;
    let command_line = format!(
        "{} elastos.download=http://10.0.2.2:{}/file",
        crate::machine::DEFAULT_COMMAND_LINE,
        server.port()
    );
    let icount = ["-icount", "shift=0,sleep=on", "-display", "none", "-monitor", "none"];
    let system = crate::machine::system("system")?;
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|source| Error::File { path: path.display().to_string(), source })
    };
    let (kernel, initramfs) = (read(&linux.image)?, read(&linux.initramfs)?);
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            Ok::<_, Error>(match machine.kind {
                boards::VirtualMachineKind::Linux => boards::staging::LinuxImages {
                    kernel: &kernel,
                    initramfs: Some(&initramfs),
                    command_line: &command_line,
                }
                .images(),
                boards::VirtualMachineKind::NetVm => boards::staging::netvm_images(
                    system,
                    machine,
                    &read(&images.guest(machine.image))?,
                    &[],
                )?,
                _ => Vec::new(),
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-download-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut hypervisor = machine_arguments(cpu, &images.hypervisor)?;
    hypervisor.extend(staging_arguments(&staging_path));
    hypervisor.extend(icount.map(String::from));
    hypervisor.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("Linux downloads {} MiB through netvm on {cpu}", DOWNLOAD_SIZE >> 20));
    let through = download_rate(&console_of(&hypervisor)?)?;
    let mut bare: Vec<String> =
        ["qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", cpu].map(String::from).to_vec();
    bare.extend(["-smp", "2", "-m", "1024M"].map(String::from));
    bare.extend(["-kernel".into(), linux.image.display().to_string()]);
    bare.extend(["-initrd".into(), linux.initramfs.display().to_string()]);
    bare.extend(["-append".into(), command_line]);
    bare.extend(
        [
            "-global",
            "virtio-mmio.force-legacy=false",
            "-netdev",
            "user,id=net0",
            "-device",
            "virtio-net-device,netdev=net0",
        ]
        .map(String::from),
    );
    bare.extend(icount.map(String::from));
    bare.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("Linux downloads {} MiB owning the NIC on bare QEMU", DOWNLOAD_SIZE >> 20));
    let alone = download_rate(&console_of(&bare)?)?;
    Ok(format!(
        "| Linux TCP download of {} MiB from the host ({cpu}) | MiB/s |\n\
         |---|---|\n\
         | bare QEMU, Linux owns the virtio-net device | {alone:.1} |\n\
         | under the Elastos hypervisor, through netvm | {through:.1} |\n\
         | ratio | {:.2}x |\n",
        DOWNLOAD_SIZE >> 20,
        through / alone
    ))
}

/// MiB/s from the `elastos: download` line of a console.
fn download_rate(console: &str) -> Result<f64> {
    let line =
        console.lines().find(|line| line.contains("elastos: download ")).ok_or_else(|| {
            Error::Benchmark(console.lines().rev().take(10).collect::<Vec<_>>().join(" | "))
        })?;
    let number = |name: &str| field::<f64>(line, name);
    let bytes = number("bytes")?;
    if bytes as usize != DOWNLOAD_SIZE {
        return Err(Error::Benchmark(format!("the download was cut short: `{line}`")));
    }
    let seconds = number("end")? - number("start")?;
    Ok(bytes / (1 << 20) as f64 / seconds.max(0.001))
}

/// Replaces the table between the `name` markers in docs/benchmarks.md.
fn record(name: &str, table: &str) -> Result<()> {
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let (begin, end) = (begin.as_str(), end.as_str());
    let path = workspace_root().join("docs/benchmarks.md");
    let file_error = |source| Error::File { path: path.display().to_string(), source };
    let text = std::fs::read_to_string(&path).map_err(file_error)?;
    let (Some(start), Some(end)) = (text.find(begin), text.find(end)) else {
        return Err(Error::Benchmark(format!(
            "{} lacks the markers {begin} and {end}",
            path.display()
        )));
    };
    let updated = format!("{}{begin}\n{table}{}", &text[..start], &text[end..]);
    std::fs::write(&path, updated).map_err(file_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_guest_line() {
        let console = "[alpha] test guest running scenario benchmark\n\
            [alpha] benchmark null-hypercall iterations=100 ticks=50 baseline_ticks=5 frequency=62500000\n";
        let figures = parse(console).unwrap();
        assert_eq!(figures.iterations, 100);
        assert_eq!(figures.ticks, 50);
        assert_eq!(figures.baseline_ticks, 5);
        assert!((figures.per_iteration(50) - 8.0).abs() < 1e-9);
        assert!(parse("nothing here").is_err());
    }
}
