//! The dapp runtime's benchmarks of `cargo xtask bench`, in guest
//! instructions under `-icount shift=0,sleep=off`:
//!
//! - `compute`: the compute dapp's workload (20,000 chained SHA-256 rounds
//!   in wasmi) in an app VM of the default system, started with `elastos
//!   start` in Linux, against the same module run by the same wasmi as a
//!   Linux program (`tools/wasm-run`) in Linux on bare QEMU, in the same run;
//! - `dapp-start`: `elastos start chat` to chat's first host call (chainvm's
//!   counter from the start request's arrival to the first-call state), and
//!   `elastos install` of a signed package of about 1 MiB;
//! - `host-call`: a host call's round trip in the app VM (its host call
//!   mode), and what the app VM's heap holds once chat is loaded.
//!
//! Linux boots from the default initramfs with a second cpio archive laid
//! over it (the kernel unpacks both, the second replacing `/init`): the
//! benchmark's `/init`, `wasm-run` and the packages.

use crate::bench::field;
use crate::build::{workspace_root, Images};
use crate::environment::{run_checked, step};
use crate::initramfs::CpioWriter;
use crate::linux::LinuxArtifacts;
use crate::machine::{machine_arguments, staging_arguments, write_file};
use crate::{Error, Result};
use boards::VirtualMachineKind;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Rounds of the compute workload: the compute dapp's own `ROUNDS`.
const ROUNDS: u32 = 20_000;
/// Bytes of the large package's data section.
const LARGE_DATA: usize = 1 << 20;
/// The most a benchmark's QEMU may run, in real time.
const PATIENCE: Duration = Duration::from_secs(600);
/// The app VM's parameter word for its host call mode
/// (`guest-runtime/app/src/benchmark.rs`).
const APP_HOST_CALL: u64 = 2;

/// The benchmark's `/init`. `elastos.bench=native` runs the workload with
/// wasm-run and powers off; otherwise Linux runs under the hypervisor and
/// installs and starts the dapps through chainvm.
const INIT_SCRIPT: &str = r#"#!/bin/sh
# /init of the dapp benchmarks, written by `cargo xtask bench` (tools/xtask/src/dapp_bench.rs).
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
case "$(cat /proc/cmdline)" in
*elastos.bench=native*)
    echo "bench: $(wasm-run workload /bench/compute.wasm compute_workload ROUNDS 2>&1)"
    echo "bench: done"
    poweroff -f
    ;;
esac
while read -r module; do
    [ -n "$module" ] || continue
    insmod "$module" || echo "bench: could not load $module"
done < /etc/modules-load
tries=0
until elastos status >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ $tries -lt 60 ] || { echo "bench: chainvm never answered"; echo "bench: done"; poweroff -f; }
    sleep 1
done
# Let every VM settle (idle app VMs reported) before measuring.
sleep 2
timed() {
    label=$1
    shift
    wasm-run time "$@" >/tmp/timed.out 2>&1
    echo "bench: $label $(tail -n 1 /tmp/timed.out)"
    grep -v '^wasm-run: time' /tmp/timed.out | head -n 5 | sed "s/^/bench: $label said: /"
}
timed install-chat elastos install /bench/chat.elastos
sleep 1
timed start-chat elastos start chat
sleep 2
timed install-large elastos install /bench/large.elastos
elastos stop chat >/dev/null 2>&1
sleep 1
elastos install /bench/compute.elastos >/dev/null 2>&1
elastos start compute >/dev/null 2>&1
tries=0
while [ $tries -lt 120 ]; do
    sleep 2
    line=$(elastos logs compute 2>&1 | grep 'compute: result=' | tail -n 1)
    if [ -n "$line" ]; then
        echo "bench: $line"
        break
    fi
    tries=$((tries + 1))
done
echo "bench: done"
poweroff -f
"#;

/// What the dapp boots need, built once per benchmark.
struct Prepared {
    linux: LinuxArtifacts,
    /// The default initramfs with the benchmark's archive after it.
    initramfs: PathBuf,
    /// The compute module, as packed.
    compute_module: Vec<u8>,
    large_package_size: usize,
}

/// Builds the examples, wasm-run and the large package, and the initramfs.
fn prepare() -> Result<Prepared> {
    let linux = crate::linux::default_linux()?;
    let dapps = crate::dapp::build_examples()?;
    let wasm_run = build_wasm_run()?;
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|source| Error::File { path: path.display().to_string(), source })
    };
    let compute_package = read(&dapps.join("compute.elastos"))?;
    let compute_module = elastos_package::Package::parse(&compute_package)
        .map_err(|error| Error::Benchmark(format!("compute.elastos does not parse: {error:?}")))?
        .module()
        .to_vec();
    let large = large_package()?;
    let mut archive = CpioWriter::new(Vec::new());
    let file_error = |source| Error::File { path: "the benchmark initramfs".into(), source };
    archive.directory("bench", 0o755).map_err(file_error)?;
    let init = INIT_SCRIPT.replace("ROUNDS", &ROUNDS.to_string());
    archive.file("init", 0o755, init.as_bytes()).map_err(file_error)?;
    archive.file("usr/bin/wasm-run", 0o755, &read(&wasm_run)?).map_err(file_error)?;
    archive.file("bench/compute.wasm", 0o644, &compute_module).map_err(file_error)?;
    for name in ["chat", "compute"] {
        let package = read(&dapps.join(format!("{name}.elastos")))?;
        archive.file(&format!("bench/{name}.elastos"), 0o644, &package).map_err(file_error)?;
    }
    archive.file("bench/large.elastos", 0o644, &large).map_err(file_error)?;
    let overlay = archive.finish().map_err(file_error)?;
    let mut initramfs = read(&linux.initramfs)?;
    // The kernel reads the next archive from a 4-byte boundary; zeros
    // between archives are skipped.
    initramfs.resize(initramfs.len().next_multiple_of(512), 0);
    initramfs.extend_from_slice(&overlay);
    let path = workspace_root().join("target/elastos/bench-dapps-initramfs.cpio");
    write_file(&path, &initramfs)?;
    Ok(Prepared { linux, initramfs: path, compute_module, large_package_size: large.len() })
}

/// Builds `tools/wasm-run` for Linux (static, like the `elastos` command),
/// in release as the app VM's runtime is.
fn build_wasm_run() -> Result<PathBuf> {
    let target = crate::build::LINUX_COMMAND_TARGET;
    crate::environment::ensure_rust_target(target)?;
    step(&format!("building wasm-run for {target}"));
    run_checked(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(workspace_root())
            .args(["build", "--release", "--target", target, "--package", "wasm-run"]),
    )?;
    let target_folder = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target_folder.join(target).join("release").join("wasm-run"))
}

/// Appends `value` in unsigned LEB128.
fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends section `id` with `content`.
fn section(out: &mut Vec<u8>, id: u8, content: &[u8]) {
    out.push(id);
    leb128(out, content.len());
    out.extend_from_slice(content);
}

/// A module whose memory starts with `data` (one active data segment) and
/// whose `elastos_main` returns at once.
fn data_module(data: &[u8]) -> Vec<u8> {
    let pages = data.len().div_ceil(65536) + 1;
    let mut module = Vec::from(*b"\0asm\x01\0\0\0");
    section(&mut module, 1, &[1, 0x60, 0, 0]); // type 0: () -> ()
    section(&mut module, 3, &[1, 0]); // function 0 of type 0
    let mut memory = vec![1, 0x00];
    leb128(&mut memory, pages);
    section(&mut module, 5, &memory);
    let mut exports = vec![2];
    for (name, kind) in [("elastos_main", 0x00), ("memory", 0x02)] {
        leb128(&mut exports, name.len());
        exports.extend_from_slice(name.as_bytes());
        exports.extend_from_slice(&[kind, 0]);
    }
    section(&mut module, 7, &exports);
    section(&mut module, 10, &[1, 2, 0, 0x0b]); // no locals, end
                                                // Segment 0 of memory 0 at (i32.const 0).
    let mut segments = vec![1, 0, 0x41, 0, 0x0b];
    leb128(&mut segments, data.len());
    segments.extend_from_slice(data);
    section(&mut module, 11, &segments);
    module
}

/// A signed package of about 1 MiB: [`data_module`] with [`LARGE_DATA`]
/// bytes that do not repeat, under a benchmark publisher key.
fn large_package() -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(LARGE_DATA);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    while data.len() < LARGE_DATA {
        // xorshift64: bytes that no compressor or deduplication shortens.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    let module = data_module(&data);
    let secret = [0x42u8; 32];
    let publisher = elastos_package::PublisherKey::from_secret_key(&secret);
    let manifest = crate::dapp::manifest_from_toml(
        "[dapp]\nname = \"large\"\nversion = \"1.0.0\"\ndescription = \"1 MiB of data, for the install benchmark\"\n\
         capabilities = []\n[limits]\nmemory-pages = 32\n",
        publisher,
    )
    .map_err(|error| Error::Benchmark(format!("the large dapp's manifest: {error}")))?;
    elastos_package::pack(&manifest, &module, &secret)
        .map_err(|error| Error::Benchmark(format!("the large package: {error:?}")))
}

/// `images` of an Elastos VM with the verbose flag in its parameter page:
/// the benchmark lines are information.
pub fn verbose(
    images: Vec<(boards::boot_image::ImageKind, Vec<u8>)>,
) -> Result<Vec<(boards::boot_image::ImageKind, Vec<u8>)>> {
    Ok(boards::staging::with_flags(images, boards::staging::Flags { verbose: true })?)
}

/// Runs QEMU until its console shows `marker`, QEMU exits or [`PATIENCE`]
/// runs out; returns the console, which is also left in `log`.
pub fn console_until(line: &[String], marker: &str, log: &str) -> Result<String> {
    let mut child = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stdout).lines() {
            let Ok(text) = text else { break };
            if sender.send(text).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut console = String::new();
    while let Ok(text) = receiver.recv_timeout(PATIENCE.saturating_sub(started.elapsed())) {
        console.push_str(&text);
        console.push('\n');
        if text.contains(marker) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let path = workspace_root().join("target/elastos").join(log);
    write_file(&path, console.as_bytes())?;
    if !console.contains(marker) {
        let tail: Vec<&str> = console.lines().rev().take(12).collect();
        return Err(Error::Benchmark(format!(
            "QEMU stopped before `{marker}` (the console is in {}); its last lines, newest first: {}",
            path.display(),
            tail.join(" | ")
        )));
    }
    Ok(console)
}

/// The first console line containing `text`.
fn line_with<'a>(console: &'a str, text: &str) -> Result<&'a str> {
    console
        .lines()
        .find(|line| line.contains(text))
        .ok_or_else(|| Error::Benchmark(format!("no `{text}` line on the console")))
}

/// `-icount` and console options of every dapp benchmark run. With
/// `ELASTOS_BENCH_MONITOR` set to a path, QEMU's monitor listens on that
/// Unix socket (to ask `info cpus` what each CPU is doing while a
/// benchmark runs).
fn quiet_icount() -> Vec<String> {
    let monitor = match std::env::var("ELASTOS_BENCH_MONITOR") {
        Ok(path) if !path.is_empty() => format!("unix:{path},server=on,wait=off"),
        _ => "none".into(),
    };
    ["-icount", "shift=0,sleep=off", "-display", "none", "-monitor", &monitor]
        .into_iter()
        .chain(["-serial", "stdio", "-no-reboot"])
        .map(String::from)
        .collect()
}

/// The default system with Linux booting the benchmark initramfs, chainvm
/// on a blank disk and the app VMs, each Elastos VM verbose;
/// runs it through the benchmark script and returns the console.
fn system_run(images: &Images, prepared: &Prepared, cpu: &str) -> Result<String> {
    let system = crate::machine::system("system")?;
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|source| Error::File { path: path.display().to_string(), source })
    };
    let kernel = read(&prepared.linux.image)?;
    let initramfs = read(&prepared.initramfs)?;
    let command_line = crate::machine::DEFAULT_COMMAND_LINE;
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            Ok::<_, Error>(match machine.kind {
                VirtualMachineKind::Linux => boards::staging::LinuxImages {
                    kernel: &kernel,
                    initramfs: Some(&initramfs),
                    command_line,
                }
                .images(),
                VirtualMachineKind::NetVm => verbose(boards::staging::netvm_images(
                    system,
                    machine,
                    &read(&images.guest(machine.image))?,
                    &[],
                )?)?,
                VirtualMachineKind::ChainVm | VirtualMachineKind::App => verbose(
                    boards::staging::flat_images(&read(&images.guest(machine.image))?, None),
                )?,
                _ => Vec::new(),
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-dapps-staging.bin");
    write_file(&staging_path, &staging)?;
    // A blank disk every run: installs write to a fresh store.
    let disk = workspace_root().join("target/elastos/bench-dapps-disk.img");
    let _ = std::fs::remove_file(&disk);
    crate::machine::ensure_disk(&disk)?;
    let mut line = machine_arguments(cpu, &images.hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(boards::staging::disk_arguments(&disk.display().to_string()));
    line.extend(quiet_icount());
    step(&format!(
        "Linux installs and starts dapps under the hypervisor on {cpu} (QEMU -icount shift=0)"
    ));
    console_until(&line, "bench: done", "bench-dapps-system.log")
}

/// The console of the system's run through the benchmark script, run once
/// for all the dapp benchmarks of one command.
static SYSTEM_CONSOLE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// [`system_run`], once per command: `cargo xtask bench compute dapp-start
/// host-call` boots the system once.
fn system_console(images: &Images, prepared: &Prepared, cpu: &str) -> Result<String> {
    let mut kept = SYSTEM_CONSOLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(console) = kept.as_ref() {
        return Ok(console.clone());
    }
    let console = system_run(images, prepared, cpu)?;
    *kept = Some(console.clone());
    Ok(console)
}

/// Linux alone on bare QEMU running the workload with wasm-run.
fn native_run(prepared: &Prepared, cpu: &str) -> Result<String> {
    let system = crate::machine::system("system")?;
    let memory = system
        .machines
        .iter()
        .find(|machine| machine.kind == VirtualMachineKind::Linux)
        .map_or(1 << 30, |machine| machine.memory.size);
    let mut line: Vec<String> =
        ["qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", cpu].map(String::from).to_vec();
    line.extend(["-smp".into(), "2".into(), "-m".into(), format!("{}M", memory >> 20)]);
    // No network: the workload needs none (and QEMU's default NIC wants a ROM).
    line.extend(["-nic".into(), "none".into()]);
    line.extend(["-kernel".into(), prepared.linux.image.display().to_string()]);
    line.extend(["-initrd".into(), prepared.initramfs.display().to_string()]);
    line.extend([
        "-append".into(),
        format!("{} elastos.bench=native", crate::machine::DEFAULT_COMMAND_LINE),
    ]);
    line.extend(quiet_icount());
    step(&format!(
        "wasm-run runs the workload in Linux on bare QEMU on {cpu} (QEMU -icount shift=0)"
    ));
    console_until(&line, "bench: done", "bench-dapps-native.log")
}

/// Nanoseconds (= instructions under `-icount shift=0`) of `ticks` of a
/// line's counter.
fn nanoseconds(line: &str, ticks_name: &str) -> Result<f64> {
    Ok(field::<f64>(line, ticks_name)? * 1e9 / field::<f64>(line, "frequency")?)
}

/// The first 8 bytes of a hex digest, little-endian, as `compute_workload`
/// returns them.
fn first_word(hex: &str) -> Option<i64> {
    let mut bytes = [0u8; 8];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * index..2 * index + 2)?, 16).ok()?;
    }
    Some(i64::from_le_bytes(bytes))
}

/// The app VM's `compute: result=HEX in Nns` line: the digest and the
/// nanoseconds.
fn compute_line(console: &str) -> Result<(String, f64)> {
    let line = line_with(console, "compute: result=")?;
    let rest = line.split("compute: result=").nth(1).unwrap_or_default();
    let mut words = rest.split_whitespace();
    let digest = words.next().unwrap_or_default().to_string();
    let nanoseconds = words
        .nth(1)
        .and_then(|word| word.strip_suffix("ns"))
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| Error::Benchmark(format!("no time in `{line}`")))?;
    Ok((digest, nanoseconds))
}

/// `cargo xtask bench compute`.
pub fn compute(images: &Images, cpu: &str) -> Result<String> {
    let prepared = prepare()?;
    let native = native_run(&prepared, cpu)?;
    let system = system_console(images, &prepared, cpu)?;
    let native_line = line_with(&native, "wasm-run: workload ")?;
    let native_ns = nanoseconds(native_line, "ticks")?;
    let native_result: i64 = field(native_line, "result")?;
    let (digest, app_ns) = compute_line(&system)?;
    if first_word(&digest) != Some(native_result) {
        return Err(Error::Benchmark(format!(
            "the two sides computed different things: the app VM {digest}, Linux {native_result}"
        )));
    }
    Ok(format!(
        "| compute workload: {ROUNDS} chained SHA-256 rounds in wasmi ({cpu}, {} byte module) | guest instructions |\n\
         |---|---|\n\
         | Linux program (wasm-run) in Linux on bare QEMU, 2 vCPUs | {native_ns:.0} |\n\
         | app VM of the default system, started with `elastos start compute` | {app_ns:.0} |\n\
         | ratio (Linux / app VM; higher is better for the app VM) | {:.3}x |\n",
        prepared.compute_module.len(),
        native_ns / app_ns
    ))
}

/// `cargo xtask bench dapp-start`.
pub fn dapp_start(images: &Images, cpu: &str) -> Result<String> {
    let prepared = prepare()?;
    let console = system_console(images, &prepared, cpu)?;
    let timed = |label: &str| -> Result<f64> {
        let line = line_with(&console, &format!("bench: {label} wasm-run: time"))?;
        if field::<i32>(line, "status")? != 0 {
            let said = console
                .lines()
                .filter(|text| text.contains(&format!("bench: {label} said:")))
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(Error::Benchmark(format!("{label} failed: `{line}` {said}")));
        }
        nanoseconds(line, "ticks")
    };
    let first_call = nanoseconds(
        line_with(&console, "start_to_first_call_ticks=")?,
        "start_to_first_call_ticks",
    )?;
    let start = timed("start-chat")?;
    let install_chat = timed("install-chat")?;
    let install_large = timed("install-large")?;
    let milliseconds = |nanoseconds: f64| nanoseconds / 1e6;
    Ok(format!(
        "| measurement ({cpu}, default system with Linux, chainvm on a blank disk) | virtual time (ms = 10^6 instructions) | target |\n\
         |---|---|---|\n\
         | chat: start request's arrival in chainvm to chat's first host call | {:.2} ms | 20 ms |\n\
         | `elastos start chat` in Linux, process start to exit (answered once chat runs) | {:.2} ms | |\n\
         | `elastos install` of chat ({} KiB package) | {:.2} ms | |\n\
         | `elastos install` of a {:.2} MiB package (1 MiB data section) | {:.2} ms | 200 ms |\n",
        milliseconds(first_call),
        milliseconds(start),
        std::fs::metadata(workspace_root().join("target/elastos/dapps/chat.elastos"))
            .map_or(0, |metadata| metadata.len() >> 10),
        milliseconds(install_chat),
        prepared.large_package_size as f64 / (1 << 20) as f64,
        milliseconds(install_large),
    ))
}

/// `cargo xtask bench host-call`.
pub fn host_call(images: &Images, cpu: &str) -> Result<String> {
    let system = crate::machine::system("system")?;
    let binary_path = images.guest("app");
    let binary = std::fs::read(&binary_path)
        .map_err(|source| Error::File { path: binary_path.display().to_string(), source })?;
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            Ok::<_, Error>(if machine.name == "app-1" {
                verbose(boards::staging::flat_images(&binary, Some(APP_HOST_CALL)))?
            } else {
                Vec::new()
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-host-call-staging.bin");
    write_file(&staging_path, &staging)?;
    let mut line = machine_arguments(cpu, &images.hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(quiet_icount());
    step(&format!("measuring a host call in the app VM on {cpu} (QEMU -icount shift=0)"));
    let console = console_until(&line, "benchmark host-call ", "bench-host-call.log")?;
    let figures = line_with(&console, "benchmark host-call ")?;
    let calls: f64 = field(figures, "calls")?;
    let per_call =
        (nanoseconds(figures, "ticks")? - nanoseconds(figures, "baseline_ticks")?) / calls;

    let prepared = prepare()?;
    let console = system_console(images, &prepared, cpu)?;
    let loaded = line_with(&console, "dapp chat loaded: ")?;
    let heap: f64 = field(loaded, "heap_used")?;
    let memory: f64 = field(loaded, "memory")?;
    let kibibytes = |bytes: f64| bytes / 1024.0;
    Ok(format!(
        "| measurement ({cpu}) | result | target |\n\
         |---|---|---|\n\
         | host call round trip (`clock_monotonic`, {calls:.0} calls, the same loop without calls subtracted) | {per_call:.0} instructions | 300 |\n\
         | app VM heap in use once chat is loaded (runtime, wasmi, the module's code and chat's memory) | {:.0} KiB | |\n\
         | of which chat's linear memory | {:.0} KiB | |\n\
         | the rest: the VM, the runtime and wasmi for chat | {:.0} KiB | 2048 KiB |\n\
         | the app VM's image (code and data) | {:.0} KiB | |\n",
        kibibytes(heap),
        kibibytes(memory),
        kibibytes(heap - memory),
        kibibytes(binary.len() as f64),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_module_holds_its_data_and_the_package_verifies() {
        let module = data_module(&[7u8; 70_000]);
        assert!(module.starts_with(b"\0asm\x01\0\0\0"));
        assert!(module.windows(70_000).any(|window| window.iter().all(|&byte| byte == 7)));
        let package = large_package().unwrap();
        let parsed = elastos_package::Package::parse(&package).unwrap();
        assert_eq!(parsed.manifest().name, "large");
        assert!(parsed.module().len() > LARGE_DATA);
        assert!(package.len() < LARGE_DATA + (64 << 10));
    }

    #[test]
    fn the_lines_are_read() {
        let console = "[linux] bench: compute: result=0102030405060708ff in 12345ns\n";
        let (digest, time) = compute_line(console).unwrap();
        assert_eq!(time, 12345.0);
        assert_eq!(first_word(&digest), Some(i64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8])));
        assert_eq!(first_word("01"), None);
        assert!(compute_line("nothing").is_err());
        let line = "wasm-run: time status=0 ticks=625 frequency=62500000";
        assert_eq!(nanoseconds(line, "ticks").unwrap(), 10_000.0);
    }
}
