//! The libp2p benchmark of `cargo xtask bench`: netvm's ping round trip to
//! the rust-libp2p host peer, against an ICMP echo measured in the same run.
//! (Messages now come from dapps, which are installed from Linux: their
//! throughput is for a dapp benchmark to measure.)
//! Times are guest time under `-icount shift=0,sleep=on` (instructions as
//! nanoseconds; waits for the host pass as real time).

use crate::build::{workspace_root, Images};
use crate::environment::step;
use crate::machine::{machine_arguments, staging_arguments, write_file};
use crate::{Error, Result};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Pings measured.
const PINGS: usize = 20;
/// The longest the whole run may take.
const PATIENCE: Duration = Duration::from_secs(300);

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's standard output, as they come.
fn lines_of(child: &mut Child, sender: mpsc::Sender<(bool, String)>, host: bool) {
    let stdout = child.stdout.take().expect("stdout is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send((host, line)).is_err() {
                break;
            }
        }
    });
}

/// Runs the libp2p benchmarks; returns the table.
pub fn p2p(images: &Images, cpu: &str) -> Result<String> {
    let peer_program = crate::build::p2p_peer(true)?;
    let (sender, receiver) = mpsc::channel();
    let mut host = Killed(
        Command::new(&peer_program)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--key-seed", "11"])
            .args(["--ping-interval-ms", "1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| Error::CouldNotStart {
                command: peer_program.display().to_string(),
                source,
            })?,
    );
    lines_of(&mut host.0, sender.clone(), true);
    let started = Instant::now();
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    let next = |wanted: &dyn Fn(bool, &str) -> bool| -> Result<String> {
        loop {
            let left = PATIENCE.saturating_sub(started.elapsed());
            match receiver.recv_timeout(left) {
                Ok((host, line)) => {
                    let found = wanted(host, &line);
                    seen.borrow_mut().push(line.clone());
                    if found {
                        return Ok(line);
                    }
                }
                Err(error) => {
                    let seen = seen.borrow();
                    let log = workspace_root().join("target/elastos/bench-p2p.log");
                    let _ = std::fs::write(&log, seen.join("\n"));
                    let tail = seen.iter().rev().take(15).rev().cloned().collect::<Vec<_>>();
                    return Err(Error::Benchmark(format!(
                        "the libp2p benchmark stopped ({error}); every line is in {}; the last:\n{}",
                        log.display(),
                        tail.join("\n")
                    )));
                }
            }
        }
    };
    let listening = next(&|host, line| host && line.starts_with("listening "))?;
    let address =
        listening.trim_start_matches("listening ").replace("/ip4/127.0.0.1/", "/ip4/10.0.2.2/");
    let host_id = address.rsplit('/').next().unwrap_or_default().to_string();

    let system = crate::machine::system("system")?;
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            let read = |name: &str| {
                let path = images.guest(name);
                std::fs::read(&path)
                    .map_err(|source| Error::File { path: path.display().to_string(), source })
            };
            Ok::<_, Error>(match machine.kind {
                boards::VirtualMachineKind::NetVm => {
                    let mut parameters = boards::staging::netvm_parameters(
                        system,
                        machine,
                        std::slice::from_ref(&address),
                    )?;
                    parameters.extend_from_slice(b"ping-interval-ms 1000\n");
                    crate::dapp_bench::verbose(boards::staging::flat_images_with_parameters(
                        &read(machine.image)?,
                        parameters,
                    ))?
                }
                boards::VirtualMachineKind::Linux => Vec::new(),
                // Verbose: the benchmark lines are information.
                _ => crate::dapp_bench::verbose(boards::staging::flat_images(
                    &read(machine.image)?,
                    None,
                ))?,
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-p2p-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut line = machine_arguments(cpu, &images.hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(
        ["-icount", "shift=0,sleep=on", "-display", "none", "-monitor", "none"].map(String::from),
    );
    line.extend(["-serial", "stdio", "-no-reboot"].map(String::from));
    step(&format!("libp2p ping between netvm and a rust-libp2p peer on {cpu}"));
    let mut qemu = Killed(
        Command::new(&line[0])
            .args(&line[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?,
    );
    lines_of(&mut qemu.0, sender, false);

    // netvm's lines come in an order of its own: take each as it comes.
    let ping_marker = format!("p2p: ping {host_id} rtt=");
    let mut baseline_microseconds = None;
    let mut rtts = Vec::new();
    while rtts.len() < PINGS || baseline_microseconds.is_none() {
        let line = next(&|host, _| !host)?;
        if let Some(rest) = line.split("gateway 10.0.2.2 answers ping in ").nth(1) {
            baseline_microseconds = rest
                .trim()
                .trim_end_matches(" ms")
                .parse::<f64>()
                .ok()
                .map(|milliseconds| milliseconds * 1000.0);
        } else if let Some(rest) = line.split(ping_marker.as_str()).nth(1) {
            if let Some(rtt) =
                rest.trim().strip_suffix("us").and_then(|value| value.parse::<u64>().ok())
            {
                rtts.push(rtt as f64);
            }
        }
    }
    let baseline_microseconds = baseline_microseconds.unwrap_or_default();
    drop(qemu);
    drop(host);
    rtts.sort_by(f64::total_cmp);
    let median = rtts[rtts.len() / 2];
    Ok(format!(
        "| measurement ({cpu}, default system without Linux) | result |\n\
         |---|---|\n\
         | libp2p ping, netvm to the rust-libp2p host peer (median of {PINGS}; fastest, slowest) | {median:.0} µs ({:.0}, {:.0}) |\n\
         | ICMP echo, netvm to QEMU's gateway (baseline, one sample) | {baseline_microseconds:.0} µs |\n\
         | ping against ICMP echo | {:.2}x |\n",
        rtts[0],
        rtts[rtts.len() - 1],
        median / baseline_microseconds,
    ))
}
