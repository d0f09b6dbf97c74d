//! `cargo xtask bench signing`: signatures per second through chainvm's
//! signing service from a dapp in an app VM, against ed25519-dalek signing
//! the same messages inside chainvm alone, in the same run, in guest
//! instructions under `-icount shift=0,sleep=off`.
//!
//! chainvm, started with its benchmark parameter word, first times 500
//! signatures of the service's messages on its own; then Linux installs
//! and starts a dapp that times 500 `sign` calls (under the system's 600 a
//! minute), each a round trip from the app VM to chainvm and back, the
//! policy check and the audit log's append included.

use crate::build::{workspace_root, Images};
use crate::dapp_bench::console_until;
use crate::environment::step;
use crate::initramfs::CpioWriter;
use crate::machine::{machine_arguments, staging_arguments, write_file};
use crate::{Error, Result};
use boards::VirtualMachineKind;
use elastos_package::{
    pack, Approval, Capabilities, Capability, Limits, Manifest, PublisherKey, RestartPolicy,
    SignKeys, SignPolicy, Version,
};
use std::path::Path;

/// chainvm's benchmark mode (`chainvm::signing::BENCHMARK_MODE`, "SIGN").
const CHAINVM_BENCHMARK: u64 = 0x4e47_4953;
/// Signatures in each run (`chainvm::signing::BENCHMARK_SIGNATURES`).
const SIGNATURES: u32 = 500;

/// The dapp: 500 signatures of a 32-byte payload of kind "bench" with the
/// node key, between two monotonic clock readings; logs `S ` and, in hex,
/// the elapsed nanoseconds (8 bytes) and the failed calls (4 bytes), all
/// little-endian.
const DAPP: &str = r#"(module
  (import "elastos" "sign" (func $sign (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "elastos" "clock_monotonic" (func $clock (result i64)))
  (import "elastos" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "bench")
  (data (i32.const 32) "0123456789abcdef")
  (func (export "elastos_main") (local $i i32) (local $failed i32) (local $start i64)
    (local $at i32) (local $out i32) (local $byte i32)
    (local.set $start (call $clock))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const SIGNATURES)))
        (i32.store (i32.const 64) (local.get $i))
        (if (i32.le_s (call $sign (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 64)
                (i32.const 32) (i32.const 128) (i32.const 128)) (i32.const 0))
          (then (local.set $failed (i32.add (local.get $failed) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.store (i32.const 256) (i64.sub (call $clock) (local.get $start)))
    (i32.store (i32.const 264) (local.get $failed))
    (i32.store8 (i32.const 512) (i32.const 83))
    (i32.store8 (i32.const 513) (i32.const 32))
    (local.set $out (i32.const 514))
    (block $written
      (loop $hex
        (br_if $written (i32.ge_u (local.get $at) (i32.const 12)))
        (local.set $byte (i32.load8_u (i32.add (i32.const 256) (local.get $at))))
        (i32.store8 (local.get $out)
          (i32.load8_u (i32.add (i32.const 32) (i32.shr_u (local.get $byte) (i32.const 4)))))
        (i32.store8 (i32.add (local.get $out) (i32.const 1))
          (i32.load8_u (i32.add (i32.const 32) (i32.and (local.get $byte) (i32.const 15)))))
        (local.set $out (i32.add (local.get $out) (i32.const 2)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $hex)))
    (drop (call $log (i32.const 2) (i32.const 512) (i32.sub (local.get $out) (i32.const 512))))))"#;

/// The benchmark's `/init`: installs and starts the dapp through chainvm,
/// waits for its line, prints it and powers off.
const INIT_SCRIPT: &str = r#"#!/bin/sh
# /init of the signing benchmark, written by `cargo xtask bench` (tools/xtask/src/sign_bench.rs).
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
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
elastos install /bench/sign-bench.elastos >/dev/null 2>&1 || echo "bench: install failed"
elastos start sign-bench >/dev/null 2>&1 || echo "bench: start failed"
tries=0
while [ $tries -lt 120 ]; do
    sleep 2
    line=$(elastos logs sign-bench 2>&1 | grep 'info: S ' | tail -n 1)
    if [ -n "$line" ]; then
        echo "bench: $line"
        break
    fi
    tries=$((tries + 1))
done
echo "bench: done"
poweroff -f
"#;

/// The dapp's package: signs with the node key, kind "bench", 600 a minute.
fn package() -> Result<Vec<u8>> {
    // A fixed publisher: the benchmark's package is made fresh every run.
    let secret = [0x5b; 32];
    let manifest = Manifest {
        name: "sign-bench".into(),
        version: Version::new(1, 0, 0),
        description: "signs 500 payloads through chainvm, for cargo xtask bench".into(),
        publisher: PublisherKey::from_secret_key(&secret),
        entry: "elastos_main".into(),
        restart: RestartPolicy::Stop,
        capabilities: Capabilities::of(&[Capability::Log, Capability::Clock, Capability::Sign]),
        limits: Limits::DEFAULT,
        sign: Some(SignPolicy {
            keys: SignKeys { node: true, dapp: false },
            payload_kinds: vec!["bench".into()],
            per_minute: 600,
            approval: Approval::Never,
        }),
    };
    let text = DAPP.replace("SIGNATURES", &SIGNATURES.to_string());
    let module = wat::parse_str(&text)
        .map_err(|error| Error::Benchmark(format!("the benchmark dapp: {error}")))?;
    pack(&manifest, &module, &secret)
        .map_err(|error| Error::Benchmark(format!("the benchmark dapp does not pack: {error:?}")))
}

/// The default initramfs with the benchmark's `/init` and package laid over.
fn initramfs(linux: &crate::linux::LinuxArtifacts) -> Result<Vec<u8>> {
    let file_error =
        |source| Error::File { path: "the signing benchmark initramfs".into(), source };
    let mut archive = CpioWriter::new(Vec::new());
    archive.directory("bench", 0o755).map_err(file_error)?;
    archive.file("init", 0o755, INIT_SCRIPT.as_bytes()).map_err(file_error)?;
    archive.file("bench/sign-bench.elastos", 0o644, &package()?).map_err(file_error)?;
    let overlay = archive.finish().map_err(file_error)?;
    let mut initramfs = std::fs::read(&linux.initramfs)
        .map_err(|source| Error::File { path: linux.initramfs.display().to_string(), source })?;
    // The kernel reads the next archive from a 4-byte boundary; zeros
    // between archives are skipped.
    initramfs.resize(initramfs.len().next_multiple_of(512), 0);
    initramfs.extend_from_slice(&overlay);
    Ok(initramfs)
}

/// The figures of one run.
#[derive(Debug, PartialEq)]
struct Figures {
    /// Nanoseconds of 500 signatures in chainvm alone.
    alone_ns: f64,
    /// Nanoseconds of 500 signatures through the service.
    service_ns: f64,
    /// Calls through the service that did not sign.
    failed: u32,
}

/// Reads chainvm's and the dapp's lines.
fn parse(console: &str) -> Result<Figures> {
    let alone = console
        .lines()
        .find(|line| line.contains("benchmark sign-alone "))
        .ok_or_else(|| Error::Benchmark("chainvm printed no sign-alone line".into()))?;
    if !crate::bench::field::<bool>(alone, "valid")? {
        return Err(Error::Benchmark(format!("chainvm's own signatures do not verify: {alone}")));
    }
    let ticks: f64 = crate::bench::field(alone, "ticks")?;
    let frequency: f64 = crate::bench::field(alone, "frequency")?;
    let service = console
        .lines()
        .find_map(|line| line.split("info: S ").nth(1))
        .ok_or_else(|| Error::Benchmark("the dapp logged no figures".into()))?;
    let bytes: Vec<u8> = (0..service.trim().len() / 2)
        .filter_map(|index| u8::from_str_radix(service.get(2 * index..2 * index + 2)?, 16).ok())
        .collect();
    let (Some(elapsed), Some(failed)) = (bytes.get(..8), bytes.get(8..12)) else {
        return Err(Error::Benchmark(format!("the dapp's line is cut short: {service}")));
    };
    let elapsed = u64::from_le_bytes(elapsed.try_into().expect("8 bytes"));
    let failed = u32::from_le_bytes(failed.try_into().expect("4 bytes"));
    if elapsed == 0 || ticks <= 0.0 {
        return Err(Error::Benchmark(format!("a clock did not move: {service} and {alone}")));
    }
    Ok(Figures { alone_ns: ticks * 1e9 / frequency, service_ns: elapsed as f64, failed })
}

/// Runs the benchmark; returns its table.
pub fn signing(images: &Images, cpu: &str) -> Result<String> {
    let linux = crate::linux::default_linux()?;
    let initramfs = initramfs(&linux)?;
    let system = crate::machine::system("system")?;
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|source| Error::File { path: path.display().to_string(), source })
    };
    let kernel = read(&linux.image)?;
    let staging =
        boards::staging::staging_image(system, boards::qemu_virt::STAGING.size, |machine| {
            Ok::<_, Error>(match machine.kind {
                VirtualMachineKind::Linux => boards::staging::LinuxImages {
                    kernel: &kernel,
                    initramfs: Some(&initramfs),
                    command_line: crate::machine::DEFAULT_COMMAND_LINE,
                }
                .images(),
                VirtualMachineKind::NetVm => {
                    crate::dapp_bench::verbose(boards::staging::netvm_images(
                        system,
                        machine,
                        &read(&images.guest(machine.image))?,
                        &[],
                    )?)?
                }
                VirtualMachineKind::ChainVm => {
                    crate::dapp_bench::verbose(boards::staging::flat_images(
                        &read(&images.guest(machine.image))?,
                        Some(CHAINVM_BENCHMARK),
                    ))?
                }
                VirtualMachineKind::App => crate::dapp_bench::verbose(
                    boards::staging::flat_images(&read(&images.guest(machine.image))?, None),
                )?,
                _ => Vec::new(),
            })
        })?;
    let staging_path = workspace_root().join("target/elastos/bench-signing-staging.bin");
    write_file(&staging_path, &staging)?;
    let disk = workspace_root().join("target/elastos/bench-signing-disk.img");
    let _ = std::fs::remove_file(&disk);
    crate::machine::ensure_disk(&disk)?;
    let mut line = machine_arguments(cpu, &images.hypervisor)?;
    line.extend(staging_arguments(&staging_path));
    line.extend(boards::staging::disk_arguments(&disk.display().to_string()));
    line.extend(
        ["-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none"]
            .into_iter()
            .chain(["-serial", "stdio", "-no-reboot"])
            .map(String::from),
    );
    step(&format!("a dapp signs through chainvm on {cpu} (QEMU -icount shift=0)"));
    let console = console_until(&line, "bench: done", "bench-signing.log")?;
    let figures = parse(&console)?;
    if figures.failed > 0 {
        return Err(Error::Benchmark(format!(
            "{} of the dapp's {SIGNATURES} signatures were refused",
            figures.failed
        )));
    }
    let per_second = |nanoseconds: f64| f64::from(SIGNATURES) * 1e9 / nanoseconds;
    let (alone, service) = (per_second(figures.alone_ns), per_second(figures.service_ns));
    Ok(format!(
        "Signatures per second on {cpu}, {SIGNATURES} ed25519 signatures of a 32-byte payload, \
         guest instructions under `-icount shift=0` (one instruction a nanosecond):\n\n\
         | measurement | per signature | signatures per second | target |\n\
         |---|---|---|---|\n\
         | ed25519-dalek in chainvm alone | {:.1} µs | {alone:.0} | |\n\
         | a dapp's `sign` through chainvm's service | {:.1} µs | {service:.0} | |\n\
         | ratio, service to alone | | {:.2} | ≥ 0.5 |\n",
        figures.alone_ns / f64::from(SIGNATURES) / 1e3,
        figures.service_ns / f64::from(SIGNATURES) / 1e3,
        service / alone,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_packs_and_names_its_policy() {
        let bytes = package().unwrap();
        let package = elastos_package::Package::parse(&bytes).unwrap();
        let policy = package.manifest().sign.clone().unwrap();
        assert_eq!(policy.payload_kinds, ["bench"]);
        assert!(policy.per_minute >= SIGNATURES);
    }

    #[test]
    fn the_lines_are_read() {
        let console = "[chainvm] benchmark sign-alone signatures=500 ticks=62500 \
            frequency=62500000 valid=true\n[linux] bench: info: S 40420f000000000000000000\n";
        let figures = parse(console).unwrap();
        assert_eq!(figures.alone_ns, 1_000_000.0);
        assert_eq!(figures.service_ns, 1_000_000.0);
        assert_eq!(figures.failed, 0);
        assert!(parse("nothing").is_err());
    }
}
