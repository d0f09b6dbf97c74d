//! The QEMU command line of the system and the staging image it loads,
//! derived from the board's constants.

use crate::build::{workspace_root, Images};
use crate::environment::{run_checked, step};
use crate::{Error, Result};
use boards::boot_image::IndexError;
use boards::qemu_virt::{self, virtio_slots};
use boards::staging::{self, LinuxImages};
use boards::test_guest::Scenario;
use boards::{System, VirtualMachine, VirtualMachineKind};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel command line of the default Linux guest.
pub const DEFAULT_COMMAND_LINE: &str =
    "console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 rdinit=/init";

/// The host port `run` forwards to netvm's libp2p listen port unless told
/// otherwise.
pub const DEFAULT_P2P_PORT: u16 = 4001;

/// Options shared by `run` and `gdb`.
#[derive(clap::Args, Clone, Debug)]
pub struct MachineOptions {
    /// The CPU model (cortex-a53 or cortex-a72).
    #[arg(long, default_value = "cortex-a53")]
    pub cpu: String,
    /// The system to boot: a manifest in boards/qemu-virt/ (system, or test for the
    /// integration tests' configuration).
    #[arg(long, default_value = "system")]
    pub system: String,
    /// Start a test VM with a scenario: VM=SCENARIO (greet, escape, benchmark, heartbeat,
    /// hostile). Repeatable. Test VMs without one stay off.
    #[arg(long = "scenario", value_name = "VM=SCENARIO")]
    pub scenarios: Vec<String>,
    /// Boot this arm64 Linux Image instead of the default Debian kernel.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Boot with this initramfs instead of the default one.
    #[arg(long, value_name = "PATH")]
    pub initrd: Option<PathBuf>,
    /// The Linux kernel command line.
    #[arg(long, value_name = "TEXT")]
    pub cmdline: Option<String>,
    /// Start no Linux guest: only the Elastos VMs.
    #[arg(long, conflicts_with_all = ["kernel", "initrd", "cmdline"])]
    pub no_linux: bool,
    /// Extra arguments passed to QEMU as they are (e.g. -icount shift=0,sleep=off).
    #[arg(long = "qemu-argument", value_name = "ARGUMENT", allow_hyphen_values = true)]
    pub qemu_arguments: Vec<String>,
    /// The host TCP port (on 127.0.0.1) forwarded to netvm's libp2p listen port; 0 forwards
    /// none.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_P2P_PORT)]
    pub p2p_port: u16,
    /// The Elastos disk image (raw; created, 64 MiB, if missing). Default:
    /// target/elastos/elastos-disk.img.
    #[arg(long, value_name = "PATH")]
    pub disk: Option<PathBuf>,
    /// A peer netvm dials at start, after the manifest's: /ip4/A.B.C.D/tcp/PORT/p2p/PEERID or
    /// /dns4/NAME/tcp/PORT/p2p/PEERID. Repeatable.
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Let every Elastos VM print information on the console (what started, channels
    /// going up and down, the network's and the libp2p node's news), not only faults and
    /// warnings.
    #[arg(long)]
    pub verbose: bool,
}

impl Default for MachineOptions {
    /// What the command line gives without options.
    fn default() -> Self {
        Self {
            cpu: "cortex-a53".into(),
            system: "system".into(),
            scenarios: Vec::new(),
            kernel: None,
            initrd: None,
            cmdline: None,
            no_linux: false,
            qemu_arguments: Vec::new(),
            p2p_port: DEFAULT_P2P_PORT,
            disk: None,
            bootstrap: Vec::new(),
            verbose: false,
        }
    }
}

const SUPPORTED_CPUS: [&str; 2] = ["cortex-a53", "cortex-a72"];

/// What the Linux VM boots.
#[derive(Clone, Debug)]
pub struct LinuxBoot {
    /// An uncompressed arm64 Image.
    pub kernel: PathBuf,
    /// The initramfs, if any.
    pub initramfs: Option<PathBuf>,
    /// The kernel command line.
    pub command_line: String,
}

/// What the Linux VM boots for these options: the default Debian kernel and
/// initramfs unless the user gave others; nothing with `--no-linux`. A kernel
/// that is not an arm64 Image, or a missing file, is refused here, before QEMU
/// starts.
pub fn linux_boot(options: &MachineOptions) -> Result<Option<LinuxBoot>> {
    if options.no_linux {
        return Ok(None);
    }
    let command_line = options.cmdline.clone().unwrap_or_else(|| DEFAULT_COMMAND_LINE.to_string());
    if let Some(initrd) = &options.initrd {
        if !initrd.is_file() {
            return Err(Error::Usage(format!("--initrd {}: no such file", initrd.display())));
        }
    }
    let (kernel, initramfs) = match (&options.kernel, &options.initrd) {
        (Some(kernel), initrd) => (kernel.clone(), initrd.clone()),
        (None, initrd) => {
            let default = crate::linux::default_linux()?;
            (default.image, Some(initrd.clone().unwrap_or(default.initramfs)))
        }
    };
    crate::linux::check_arm64_image(&kernel)?;
    Ok(Some(LinuxBoot { kernel, initramfs, command_line }))
}

/// The machine and the hypervisor: everything but the staging image and the
/// console and display options.
pub fn machine_arguments(cpu: &str, hypervisor: &Path) -> Result<Vec<String>> {
    if !SUPPORTED_CPUS.contains(&cpu) {
        return Err(Error::Usage(format!(
            "unknown CPU model {cpu}; use one of {SUPPORTED_CPUS:?}"
        )));
    }
    Ok([
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
        &hypervisor.display().to_string(),
        // Modern (virtio 1.x) transports, each on the slot inside its owner's
        // device window (`qemu_virt::virtio_slots`).
        "-global",
        "virtio-mmio.force-legacy=false",
        "-netdev",
        "user,id=net0",
        "-device",
        &format!("virtio-net-device,netdev=net0,bus=virtio-mmio-bus.{}", virtio_slots::NETVM_NIC),
        "-device",
        &format!("virtio-rng-device,bus=virtio-mmio-bus.{}", virtio_slots::NETVM_ENTROPY),
        "-device",
        &format!("virtio-rng-device,bus=virtio-mmio-bus.{}", virtio_slots::CHAINVM_ENTROPY),
    ]
    .map(String::from)
    .to_vec())
}

/// The QEMU arguments that load a staging image file.
pub fn staging_arguments(staging: &Path) -> Vec<String> {
    vec![
        "-device".into(),
        format!(
            "loader,file={},addr={:#x},force-raw=on",
            staging.display(),
            qemu_virt::STAGING.base
        ),
    ]
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::File { path: path.display().to_string(), source })
}

/// The system called `name` (a manifest in `boards/qemu-virt/`).
pub fn system(name: &str) -> Result<&'static System> {
    qemu_virt::systems::ALL.iter().copied().find(|system| system.name == name).ok_or_else(|| {
        let names: Vec<_> = qemu_virt::systems::ALL.iter().map(|system| system.name).collect();
        Error::Usage(format!("there is no system {name}; use one of {names:?}"))
    })
}

/// The staging image of `system`: Linux's images (if given) for the Linux
/// VM, the built flat image of every Elastos VM (netvm's with its
/// parameters, `bootstrap` after the manifest's peers), and the test guest
/// with its scenario for each test VM named in `scenarios` (the others stay
/// absent). Every Elastos VM gets `flags` in its parameter page.
pub fn staging_image(
    system: &System,
    images: &Images,
    scenarios: &[(String, Scenario)],
    linux: Option<&LinuxBoot>,
    bootstrap: &[String],
    flags: staging::Flags,
) -> Result<Vec<u8>> {
    for (name, _) in scenarios {
        let machine = system.machine_index(name).map(|index| &system.machines[index]);
        if !machine.is_some_and(|machine| machine.kind == VirtualMachineKind::Test) {
            return Err(Error::Usage(format!(
                "there is no test VM named {name} in system {}",
                system.name
            )));
        }
    }
    let linux_bytes = match linux {
        Some(linux) => {
            Some((read(&linux.kernel)?, linux.initramfs.as_deref().map(read).transpose()?))
        }
        None => None,
    };
    let staging = staging::staging_image(system, qemu_virt::STAGING.size, |machine| {
        let images = match machine.kind {
            VirtualMachineKind::Linux => match (linux, &linux_bytes) {
                (Some(linux), Some((kernel, initramfs))) => LinuxImages {
                    kernel,
                    initramfs: initramfs.as_deref(),
                    command_line: &linux.command_line,
                }
                .images(),
                _ => Vec::new(),
            },
            VirtualMachineKind::Test => {
                match scenarios.iter().rev().find(|(name, _)| name == machine.name) {
                    Some((_, scenario)) => staging::flat_images(
                        &read(&images.guest(machine.image))?,
                        Some(*scenario as u64),
                    ),
                    None => Vec::new(),
                }
            }
            VirtualMachineKind::NetVm => staging::netvm_images(
                system,
                machine,
                &read(&images.guest(machine.image))?,
                bootstrap,
            )?,
            _ => staging::flat_images(&read(&images.guest(machine.image))?, None),
        };
        Ok::<_, Error>(if staging::is_elastos(machine.kind) {
            staging::with_flags(images, flags)?
        } else {
            images
        })
    });
    staging.map_err(|error| match error {
        Error::Usage(_) | Error::File { .. } | Error::Parameters(_) => error,
        other => Error::Usage(format!(
            "the images do not fit the {} MiB staging region: {other}",
            qemu_virt::STAGING.size >> 20
        )),
    })
}

impl From<IndexError> for Error {
    fn from(error: IndexError) -> Self {
        Error::Usage(format!(
            "the images do not fit the {} MiB staging region: {error:?}",
            qemu_virt::STAGING.size >> 20
        ))
    }
}

/// Parses `VM=SCENARIO` options.
pub fn parse_scenarios(texts: &[String]) -> Result<Vec<(String, Scenario)>> {
    texts
        .iter()
        .map(|text| {
            let (name, scenario) = text
                .split_once('=')
                .ok_or_else(|| Error::Usage(format!("--scenario takes VM=SCENARIO, not {text}")))?;
            let scenario = Scenario::from_name(scenario).ok_or_else(|| {
                let names: Vec<_> = Scenario::ALL.iter().map(|scenario| scenario.name()).collect();
                Error::Usage(format!("unknown scenario {scenario}; use one of {names:?}"))
            })?;
            Ok((name.to_string(), scenario))
        })
        .collect()
}

/// The system's netvm, if it has one.
pub fn netvm(system: &System) -> Option<&VirtualMachine> {
    system.machines.iter().find(|machine| machine.kind == VirtualMachineKind::NetVm)
}

/// Checks that `bootstrap` can go into the system's netvm parameters: the
/// system has a netvm, each address is well-formed, and the text fits.
pub fn check_bootstrap(system: &System, bootstrap: &[String]) -> Result<()> {
    match netvm(system) {
        Some(netvm) => {
            staging::netvm_parameters(system, netvm, bootstrap)?;
            Ok(())
        }
        None if bootstrap.is_empty() => Ok(()),
        None => Err(Error::Usage(format!(
            "system {} has no netvm to dial the --bootstrap peers",
            system.name
        ))),
    }
}

/// The value of `-netdev` for QEMU's user network: with `p2p_port` not 0,
/// the host's `127.0.0.1:p2p_port` is forwarded to the libp2p listen port
/// of the system's netvm.
pub fn netdev(system: &System, p2p_port: u16) -> String {
    let listen_port = netvm(system).and_then(|netvm| netvm.p2p).map(|p2p| p2p.listen_port);
    match listen_port {
        Some(listen_port) if p2p_port != 0 => {
            format!("user,id=net0,hostfwd=tcp:127.0.0.1:{p2p_port}-:{listen_port}")
        }
        _ => "user,id=net0".into(),
    }
}

/// The disk image `options` boot with.
pub fn disk_path(options: &MachineOptions) -> PathBuf {
    options.disk.clone().unwrap_or_else(|| workspace_root().join("target/elastos/elastos-disk.img"))
}

/// Creates the disk image at `path` (sparse, [`staging::DISK_SIZE`]) unless
/// it exists.
pub fn ensure_disk(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let file_error = |source| Error::File { path: path.display().to_string(), source };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(file_error)?;
    }
    step(&format!("creating the Elastos disk {}", path.display()));
    let file = std::fs::File::create(path).map_err(file_error)?;
    file.set_len(staging::DISK_SIZE).map_err(file_error)
}

/// Where `run` writes its staging image.
pub fn staging_path() -> PathBuf {
    workspace_root().join("target/elastos/staging.bin")
}

/// Writes the staging image for `options` and returns the full command line
/// of `cargo xtask run`: console on this terminal.
pub fn prepare(
    options: &MachineOptions,
    images: &Images,
    linux: Option<&LinuxBoot>,
) -> Result<Vec<String>> {
    let scenarios = parse_scenarios(&options.scenarios)?;
    let flags = staging::Flags { verbose: options.verbose };
    let staging = staging_image(
        system(&options.system)?,
        images,
        &scenarios,
        linux,
        &options.bootstrap,
        flags,
    )?;
    let path = staging_path();
    write_file(&path, &staging)?;
    ensure_disk(&disk_path(options))?;
    command_line(options, images)
}

/// The command line of `cargo xtask run` (the staging image at [`staging_path`]).
pub fn command_line(options: &MachineOptions, images: &Images) -> Result<Vec<String>> {
    parse_scenarios(&options.scenarios)?;
    let system = system(&options.system)?;
    check_bootstrap(system, &options.bootstrap)?;
    let mut line = machine_arguments(&options.cpu, images.hypervisor_for(&options.system)?)?;
    if let Some(position) = line.iter().position(|argument| argument == "-netdev") {
        line[position + 1] = netdev(system, options.p2p_port);
    }
    line.extend(staging_arguments(&staging_path()));
    line.extend(staging::disk_arguments(&disk_path(options).display().to_string()));
    line.extend(options.qemu_arguments.iter().cloned());
    line.push("-nographic".into());
    Ok(line)
}

/// Writes `bytes` to `path`, creating its folder.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_error = |source| Error::File { path: path.display().to_string(), source };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(file_error)?;
    }
    std::fs::write(path, bytes).map_err(file_error)
}

/// Quotes a command line for a POSIX shell.
pub fn shell_line(line: &[String]) -> String {
    line.iter()
        .map(|word| {
            if !word.is_empty()
                && word
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_=,./:+@".contains(&byte))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `cargo xtask gdb`: QEMU stopped at the first instruction with a gdbstub on
/// `port`, and gdb-multiarch attached with the hypervisor's symbols.
pub fn debug(
    options: &MachineOptions,
    images: &Images,
    linux: Option<&LinuxBoot>,
    port: u16,
) -> Result<()> {
    let mut line = prepare(options, images, linux)?;
    line.pop();
    let console = workspace_root().join("target/elastos/console.log");
    line.extend(
        ["-S", "-gdb", &format!("tcp:127.0.0.1:{port}"), "-display", "none"].map(String::from),
    );
    line.extend(
        ["-serial", &format!("file:{}", console.display()), "-monitor", "none"].map(String::from),
    );
    step(&format!("starting QEMU (console in {}): {}", console.display(), shell_line(&line)));
    let mut qemu = Command::new(&line[0])
        .args(&line[1..])
        .spawn()
        .map_err(|source| Error::CouldNotStart { command: line.join(" "), source })?;
    let result = run_checked(
        Command::new("gdb-multiarch")
            .arg(images.hypervisor_for(&options.system)?)
            .args(["-ex", "set architecture aarch64"])
            .args(["-ex", &format!("target remote 127.0.0.1:{port}")]),
    );
    // gdb has exited: the session is over, so QEMU goes too.
    let _ = qemu.kill();
    let _ = qemu.wait();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use boards::boot_image::{ImageKind, Index};

    #[test]
    fn staging_image_holds_every_vm_image() {
        let folder = std::env::temp_dir().join(format!("xtask-staging-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let images = Images {
            hypervisor: folder.join("hypervisor"),
            test_hypervisor: folder.join("test-hypervisor"),
            guests: folder.clone(),
        };
        for (number, name) in crate::build::GUEST_IMAGES.iter().enumerate() {
            std::fs::write(images.guest(name), [number as u8; 100]).unwrap();
        }
        let kernel = folder.join("Image");
        std::fs::write(&kernel, [9u8; 300]).unwrap();
        let linux = LinuxBoot { kernel, initramfs: None, command_line: "console=ttyAMA0".into() };
        let test = system("test").unwrap();
        let scenarios = parse_scenarios(&["beta=escape".to_string()]).unwrap();
        let peer = "/dns4/peer.example/tcp/4002/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
        let quiet = staging::Flags::default();
        let staging =
            staging_image(test, &images, &scenarios, Some(&linux), &[peer.into()], quiet).unwrap();
        let index = Index::parse(&staging).unwrap();
        let beta = test.machine_index("beta").unwrap();
        let alpha = test.machine_index("alpha").unwrap();
        let parameters = index.find(beta, ImageKind::Parameters).unwrap();
        assert_eq!(index.bytes(&parameters), (Scenario::Escape as u64).to_le_bytes());
        assert!(index.find(alpha, ImageKind::FlatBinary).is_none(), "alpha has no scenario");
        let netvm = test.machine_index("netvm").unwrap();
        let binary = index.find(netvm, ImageKind::FlatBinary).unwrap();
        assert_eq!(index.bytes(&binary), [1u8; 100]);
        let parameters = index.find(netvm, ImageKind::Parameters).unwrap();
        let expected = format!(
            "listen-port 4001\nbootstrap {peer}\napp-channel app-1-netvm\n\
             app-channel app-2-netvm\napp-channel app-3-netvm\n"
        );
        assert_eq!(index.bytes(&parameters), expected.as_bytes());
        let chainvm = test.machine_index("chainvm").unwrap();
        assert!(index.find(chainvm, ImageKind::Parameters).is_none(), "quiet by default");

        // --verbose: every Elastos VM's page ends with the flag, the test
        // guests' pages do not.
        let verbose = staging::Flags { verbose: true };
        let verbose_staging = staging_image(test, &images, &scenarios, None, &[], verbose).unwrap();
        let verbose_index = Index::parse(&verbose_staging).unwrap();
        for name in ["netvm", "chainvm", "app-1", "app-2", "app-3"] {
            let machine = test.machine_index(name).unwrap();
            let page = verbose_index
                .bytes(&verbose_index.find(machine, ImageKind::Parameters).unwrap())
                .to_vec();
            assert_eq!(page.len(), staging::PARAMETER_PAGE_SIZE, "{name}");
            assert_eq!(page[staging::FLAGS_OFFSET..], staging::FLAG_VERBOSE.to_le_bytes());
        }
        let parameters = verbose_index.find(beta, ImageKind::Parameters).unwrap();
        assert_eq!(verbose_index.bytes(&parameters), (Scenario::Escape as u64).to_le_bytes());

        let error =
            staging_image(test, &images, &[], None, &["/ip4/1.2.3.4".into()], quiet).unwrap_err();
        assert!(error.to_string().contains("bootstrap address \"/ip4/1.2.3.4\""), "{error}");
        let linux_index = test.machine_index("linux").unwrap();
        let command_line = index.find(linux_index, ImageKind::CommandLine).unwrap();
        assert_eq!(index.bytes(&command_line), b"console=ttyAMA0");
        assert_eq!(
            index.bytes(&index.find(linux_index, ImageKind::LinuxKernel).unwrap()),
            [9u8; 300]
        );
        assert!(index.find(linux_index, ImageKind::Initramfs).is_none());
        assert!(parse_scenarios(&["nobody".to_string()]).is_err());
        let nobody = [("nobody".to_string(), Scenario::Greet)];
        assert!(staging_image(test, &images, &nobody, None, &[], quiet).is_err());
        let not_a_test_vm = [("netvm".to_string(), Scenario::Greet)];
        assert!(staging_image(test, &images, &not_a_test_vm, None, &[], quiet).is_err());
        assert!(system("nonsense").is_err());
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn a_bad_kernel_or_a_missing_initrd_is_refused_before_qemu_starts() {
        let folder = std::env::temp_dir().join(format!("xtask-linux-boot-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let not_a_kernel = folder.join("not-a-kernel");
        std::fs::write(&not_a_kernel, b"just some text, not an arm64 Image").unwrap();
        let options =
            MachineOptions { kernel: Some(not_a_kernel.clone()), ..MachineOptions::default() };
        let error = linux_boot(&options).unwrap_err().to_string();
        assert!(error.contains("not an arm64 Linux Image"), "{error}");
        let options = MachineOptions {
            kernel: Some(not_a_kernel),
            initrd: Some(folder.join("missing.cpio")),
            ..MachineOptions::default()
        };
        let error = linux_boot(&options).unwrap_err().to_string();
        assert!(error.contains("missing.cpio: no such file"), "{error}");
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn the_p2p_port_is_forwarded_to_netvms_listen_port() {
        let images = Images::expected();
        let netdev_of = |options: &MachineOptions| {
            let line = command_line(options, &images).unwrap();
            let position = line.iter().position(|argument| argument == "-netdev").unwrap();
            line[position + 1].clone()
        };
        let options = MachineOptions::default();
        assert_eq!(netdev_of(&options), "user,id=net0,hostfwd=tcp:127.0.0.1:4001-:4001");
        let options = MachineOptions { p2p_port: 14001, ..MachineOptions::default() };
        assert_eq!(netdev_of(&options), "user,id=net0,hostfwd=tcp:127.0.0.1:14001-:4001");
        let options = MachineOptions { p2p_port: 0, ..MachineOptions::default() };
        assert_eq!(netdev_of(&options), "user,id=net0");
        let options = MachineOptions { system: "test".into(), ..MachineOptions::default() };
        assert_eq!(netdev_of(&options), "user,id=net0,hostfwd=tcp:127.0.0.1:4001-:4001");

        // The forward follows the manifest's listen port.
        let mut netvm = *netvm(system("system").unwrap()).unwrap();
        netvm.p2p = Some(boards::P2pSettings { listen_port: 4101, bootstrap: &[] });
        let machines: &'static [VirtualMachine] = Box::leak(Box::new([netvm]));
        let alone = System { name: "alone", machines, channels: &[] };
        assert_eq!(netdev(&alone, 4001), "user,id=net0,hostfwd=tcp:127.0.0.1:4001-:4101");
        let nobody = System { name: "nobody", machines: &[], channels: &[] };
        assert_eq!(netdev(&nobody, 4001), "user,id=net0");
    }

    #[test]
    fn bootstrap_options_are_checked_before_qemu_starts() {
        let images = Images::expected();
        let peer = "/ip4/10.0.2.2/tcp/4002/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
        let options = MachineOptions {
            bootstrap: vec![peer.into(), peer.into()],
            ..MachineOptions::default()
        };
        command_line(&options, &images).unwrap();
        let options = MachineOptions {
            bootstrap: vec![peer.into(), "/ip4/10.0.2.2/tcp/4002/p2p/".into()],
            ..MachineOptions::default()
        };
        let error = command_line(&options, &images).unwrap_err().to_string();
        assert!(error.contains("the peer id is empty or not base58"), "{error}");
        let nobody = System { name: "nobody", machines: &[], channels: &[] };
        assert!(check_bootstrap(&nobody, &[]).is_ok());
        let error = check_bootstrap(&nobody, &[peer.into()]).unwrap_err().to_string();
        assert_eq!(error, "system nobody has no netvm to dial the --bootstrap peers");
    }
}
