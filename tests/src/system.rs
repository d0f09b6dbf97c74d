//! Booting the whole system for a test: the staging image (boot-image index,
//! test guests with their scenarios, the Elastos VMs and optionally Linux)
//! composed from the images `cargo xtask test` built, and QEMU started with it.

use std::path::{Path, PathBuf};

use boards::staging::{self, LinuxImages};
use boards::test_guest::Scenario;
use boards::{qemu_virt, VirtualMachineKind};
use thiserror::Error;

use crate::artifacts::Artifacts;
use crate::qemu::Qemu;

/// The variable naming the folder of the flat guest images (`<image>.bin`).
pub const GUEST_IMAGES_VARIABLE: &str = "ELASTOS_GUEST_IMAGES";
/// The variable naming the hypervisor built for the default system.
pub const DEFAULT_HYPERVISOR_VARIABLE: &str = "ELASTOS_DEFAULT_HYPERVISOR_ELF";
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
    /// netvm's parameters cannot be composed.
    #[error("{0}")]
    Parameters(#[from] staging::ParameterError),
}

impl From<boards::boot_image::IndexError> for SystemError {
    fn from(error: boards::boot_image::IndexError) -> Self {
        Self::Staging(error)
    }
}

/// How to boot the system.
#[derive(Clone, Debug, Default)]
pub struct SystemOptions {
    /// Boot the default system (`system.toml`) instead of the tests' one
    /// (`test.toml`).
    pub default_system: bool,
    /// The test VMs to start, with their scenarios; the others stay absent.
    pub scenarios: Vec<(&'static str, Scenario)>,
    /// Start the Elastos VMs (netvm, chainvm, app).
    pub elastos: bool,
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
    /// Another value for the NIC's `-netdev` (for instance with `hostfwd=`
    /// port forwards into the guests); it must keep `id=net0`.
    pub netdev: Option<String>,
    /// Peers netvm dials at start besides the manifest's
    /// (`/ip4/A.B.C.D/tcp/PORT/p2p/PEERID`), in its parameters.
    pub bootstrap: Vec<String>,
    /// The Elastos disk image (created if missing); `None`: a fresh one for
    /// this boot alone.
    pub disk: Option<PathBuf>,
    /// Let the Elastos VMs print information on the console, not only
    /// faults and warnings (`cargo xtask run --verbose`): for tests that
    /// read their lines.
    pub verbose: bool,
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
    /// The build products it runs (its hypervisor ELF, for symbols).
    pub artifacts: Artifacts,
    _staging: tempfile::TempDir,
}

/// Composes the staging image for `options` and starts QEMU.
pub fn boot(artifacts: &Artifacts, options: &SystemOptions) -> Result<System, crate::Error> {
    let guests = variable(GUEST_IMAGES_VARIABLE)?;
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
    let staging = staging_image(options, &guests, linux)?;
    let folder = tempfile::tempdir()
        .map_err(|source| SystemError::File { path: std::env::temp_dir(), source })?;
    let path = folder.path().join("staging.bin");
    std::fs::write(&path, staging)
        .map_err(|source| SystemError::File { path: path.clone(), source })?;
    let disk = match &options.disk {
        Some(disk) => disk.clone(),
        None => folder.path().join("elastos-disk.img"),
    };
    if !disk.exists() {
        let created =
            std::fs::File::create(&disk).and_then(|file| file.set_len(staging::DISK_SIZE));
        created.map_err(|source| SystemError::File { path: disk.clone(), source })?;
    }
    let mut artifacts = artifacts.clone();
    if options.default_system {
        let hypervisor = variable(DEFAULT_HYPERVISOR_VARIABLE)?;
        let position = artifacts.qemu_command.iter().position(|argument| argument == "-kernel");
        if let Some(position) = position {
            artifacts.qemu_command[position + 1] = hypervisor.display().to_string();
        }
        artifacts.hypervisor_elf = hypervisor;
    }
    if let Some(netdev) = &options.netdev {
        let position = artifacts.qemu_command.iter().position(|argument| argument == "-netdev");
        if let Some(position) = position {
            artifacts.qemu_command[position + 1] = netdev.clone();
        }
    }
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
        .arguments(staging::disk_arguments(&disk.display().to_string()))
        .arguments(options.arguments.iter().cloned())
        .spawn()?;
    Ok(System { qemu, artifacts, _staging: folder })
}

/// Linux's kernel, initramfs and command line.
type LinuxParts<'a> = (Vec<u8>, Vec<u8>, &'a str);

/// The staging image of the system `options` boot: the flat images from the
/// folder `guests` (netvm's with its parameters, `options.bootstrap` after
/// the manifest's peers), and `linux` for the Linux VM if given.
fn staging_image(
    options: &SystemOptions,
    guests: &Path,
    linux: Option<LinuxParts<'_>>,
) -> Result<Vec<u8>, SystemError> {
    let system = the_system(options);
    let flags = staging::Flags { verbose: options.verbose };
    staging::staging_image(system, qemu_virt::STAGING.size, |machine| {
        let binary = || read(guests.join(format!("{}.bin", machine.image)));
        let flat = |parameter| binary().map(|binary| staging::flat_images(&binary, parameter));
        let images = match machine.kind {
            VirtualMachineKind::Linux => linux
                .as_ref()
                .map(|(kernel, initramfs, command_line)| {
                    LinuxImages { kernel, initramfs: Some(initramfs), command_line }.images()
                })
                .unwrap_or_default(),
            VirtualMachineKind::Test => {
                match options.scenarios.iter().find(|(name, _)| *name == machine.name) {
                    Some((_, scenario)) => flat(Some(*scenario as u64))?,
                    None => Vec::new(),
                }
            }
            VirtualMachineKind::NetVm if options.elastos => {
                staging::netvm_images(system, machine, &binary()?, &options.bootstrap)?
            }
            _ if options.elastos => flat(None)?,
            _ => Vec::new(),
        };
        Ok::<_, SystemError>(if staging::is_elastos(machine.kind) && !images.is_empty() {
            staging::with_flags(images, flags)?
        } else {
            images
        })
    })
}

/// The system `options` boot.
pub fn the_system(options: &SystemOptions) -> &'static boards::System {
    if options.default_system {
        &qemu_virt::systems::SYSTEM
    } else {
        &qemu_virt::systems::TEST
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boards::boot_image::{ImageKind, Index};

    const PEER: &str = "/ip4/10.0.2.2/tcp/4002/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";

    /// A folder with a small image for every flat image the systems name.
    fn guests() -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        for (number, name) in ["netvm", "chainvm", "app", "test-guest"].iter().enumerate() {
            std::fs::write(folder.path().join(format!("{name}.bin")), [number as u8; 64]).unwrap();
        }
        folder
    }

    #[test]
    fn netvm_gets_its_parameters_with_the_extra_bootstrap_peers() {
        let folder = guests();
        let options = SystemOptions {
            default_system: true,
            elastos: true,
            bootstrap: vec![PEER.into()],
            ..SystemOptions::default()
        };
        let staging = staging_image(&options, folder.path(), None).unwrap();
        let index = Index::parse(&staging).unwrap();
        let system = the_system(&options);
        let netvm = system.machine_index("netvm").unwrap();
        let binary = index.find(netvm, ImageKind::FlatBinary).unwrap();
        assert_eq!(index.bytes(&binary), [0; 64]);
        let parameters = index.find(netvm, ImageKind::Parameters).unwrap();
        let expected = format!(
            "listen-port 4001\nbootstrap {PEER}\napp-channel app-1-netvm\n\
             app-channel app-2-netvm\napp-channel app-3-netvm\n"
        );
        assert_eq!(index.bytes(&parameters), expected.as_bytes());
        for name in ["app-1", "app-2", "app-3", "chainvm"] {
            let machine = system.machine_index(name).unwrap();
            assert!(index.find(machine, ImageKind::FlatBinary).is_some(), "{name}");
            assert!(index.find(machine, ImageKind::Parameters).is_none(), "{name} is quiet");
        }
    }

    #[test]
    fn verbose_elastos_vms_get_the_flag_and_test_guests_do_not() {
        let folder = guests();
        let options = SystemOptions {
            elastos: true,
            verbose: true,
            scenarios: vec![("alpha", Scenario::Heartbeat)],
            ..SystemOptions::default()
        };
        let staging = staging_image(&options, folder.path(), None).unwrap();
        let index = Index::parse(&staging).unwrap();
        let system = the_system(&options);
        for name in ["netvm", "chainvm", "app-1", "app-2", "app-3"] {
            let machine = system.machine_index(name).unwrap();
            let page = index.bytes(&index.find(machine, ImageKind::Parameters).unwrap());
            assert_eq!(page.len(), staging::PARAMETER_PAGE_SIZE, "{name}");
            assert_eq!(page[staging::FLAGS_OFFSET..], staging::FLAG_VERBOSE.to_le_bytes());
        }
        let netvm = system.machine_index("netvm").unwrap();
        let page = index.bytes(&index.find(netvm, ImageKind::Parameters).unwrap());
        assert!(page.starts_with(b"listen-port 4001\napp-channel app-1-netvm\n"));
        let alpha = system.machine_index("alpha").unwrap();
        let page = index.bytes(&index.find(alpha, ImageKind::Parameters).unwrap());
        assert_eq!(page, (Scenario::Heartbeat as u64).to_le_bytes());
        // Without the Elastos VMs there is nothing to flag.
        let options = SystemOptions { verbose: true, ..SystemOptions::default() };
        let staging = staging_image(&options, folder.path(), None).unwrap();
        let index = Index::parse(&staging).unwrap();
        assert!(index.find(netvm, ImageKind::Parameters).is_none());
    }

    #[test]
    fn without_the_elastos_vms_netvm_stays_absent_and_bad_peers_are_refused() {
        let folder = guests();
        let options = SystemOptions { bootstrap: vec![PEER.into()], ..SystemOptions::default() };
        let staging = staging_image(&options, folder.path(), None).unwrap();
        let index = Index::parse(&staging).unwrap();
        let netvm = the_system(&options).machine_index("netvm").unwrap();
        assert!(index.find(netvm, ImageKind::FlatBinary).is_none());

        let options = SystemOptions {
            elastos: true,
            bootstrap: vec!["/ip4/10.0.2.2/tcp/4002/p2p/Qm0".into()],
            ..SystemOptions::default()
        };
        let error = staging_image(&options, folder.path(), None).unwrap_err();
        assert!(matches!(error, SystemError::Parameters(_)), "{error}");
        assert!(error.to_string().contains("the peer id is empty or not base58"), "{error}");
    }
}
