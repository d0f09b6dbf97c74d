//! Composing the staging image of a system: which images each VM starts
//! with. Used by `cargo xtask` and the integration tests (host only).
//!
//! Every Elastos VM's parameter page (the last 4 KiB of its RAM) ends with
//! the host's flags word, 8 bytes little-endian at [`FLAGS_OFFSET`]: bit 0
//! ([`FLAG_VERBOSE`]) makes the VM print information on the console, not
//! only faults and warnings (`guest_runtime::parameters`). The bytes before
//! it, at most [`PARAMETERS_MAX`], are the VM's own parameters. Without
//! flags a VM gets no more than its own parameters (the hypervisor zeroes
//! the rest of the page): quiet.
//!
//! netvm's own parameters are UTF-8 text, at most [`PARAMETERS_MAX`] bytes,
//! one `KEY VALUE...` line each ending in '\n', in this order:
//!
//! ```text
//! listen-port 4001
//! bootstrap /ip4/10.0.2.2/tcp/4002/p2p/12D3KooW...
//! app-channel app-1-netvm
//! ```
//!
//! `listen-port` once; `bootstrap` once per peer to dial at start (none or
//! more); `app-channel CHANNEL` once per channel between netvm and an app VM
//! (whose app VM may register the dapp it runs).

use std::fmt;

use crate::boot_image::{builder, ImageKind, IndexError};
use crate::multiaddr::{check_bootstrap_address, MultiaddrError};
use crate::system::{System, VirtualMachine, VirtualMachineKind};
use crate::test_guest::PARAMETER_PAGE_FROM_END;

/// The bytes of a VM's parameter page.
pub const PARAMETER_PAGE_SIZE: usize = PARAMETER_PAGE_FROM_END as usize;
/// Where an Elastos VM's flags word sits in its parameter page: the last 8
/// bytes.
pub const FLAGS_OFFSET: usize = PARAMETER_PAGE_SIZE - 8;
/// The most bytes of an Elastos VM's own parameters: the page before the
/// flags word.
pub const PARAMETERS_MAX: usize = FLAGS_OFFSET;
/// Flag: the VM prints information, not only faults and warnings.
pub const FLAG_VERBOSE: u64 = 1;

/// What the host asks of every Elastos VM, in the flags word of its
/// parameter page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Print information on the console, not only faults and warnings.
    pub verbose: bool,
}

impl Flags {
    /// The flags word.
    pub fn word(self) -> u64 {
        if self.verbose {
            FLAG_VERBOSE
        } else {
            0
        }
    }
}

/// Whether VMs of `kind` run on the Elastos guest runtime, whose parameter
/// page ends with the flags word.
pub fn is_elastos(kind: VirtualMachineKind) -> bool {
    matches!(
        kind,
        VirtualMachineKind::NetVm | VirtualMachineKind::ChainVm | VirtualMachineKind::App
    )
}

/// An Elastos VM's `images` with `flags` at the end of its parameters
/// (which are added if it had none). Without any flag set the images are
/// returned as they are.
pub fn with_flags(
    mut images: Vec<(ImageKind, Vec<u8>)>,
    flags: Flags,
) -> Result<Vec<(ImageKind, Vec<u8>)>, ParameterError> {
    if flags.word() == 0 {
        return Ok(images);
    }
    let position = match images.iter().position(|(kind, _)| *kind == ImageKind::Parameters) {
        Some(position) => position,
        None => {
            images.push((ImageKind::Parameters, Vec::new()));
            images.len() - 1
        }
    };
    let page = &mut images[position].1;
    if page.len() > PARAMETERS_MAX {
        return Err(ParameterError::TooLong { length: page.len() });
    }
    page.resize(PARAMETER_PAGE_SIZE, 0);
    page[FLAGS_OFFSET..].copy_from_slice(&flags.word().to_le_bytes());
    Ok(images)
}

/// The QEMU arguments that give chainvm the disk image at `path` as the
/// Elastos disk (a raw image; QEMU's default write-back cache honours the
/// flushes the store relies on).
pub fn disk_arguments(path: &str) -> Vec<String> {
    vec![
        "-drive".into(),
        format!("file={path},if=none,format=raw,id=elastos-disk"),
        "-device".into(),
        format!(
            "virtio-blk-device,drive=elastos-disk,bus=virtio-mmio-bus.{}",
            crate::qemu_virt::virtio_slots::ELASTOS_DISK
        ),
    ]
}

/// The size of a new Elastos disk image: 64 MiB.
pub const DISK_SIZE: u64 = 64 << 20;

/// What a Linux VM boots.
pub struct LinuxImages<'a> {
    /// An arm64 Linux `Image`.
    pub kernel: &'a [u8],
    /// The initramfs, if any.
    pub initramfs: Option<&'a [u8]>,
    /// The kernel command line.
    pub command_line: &'a str,
}

impl LinuxImages<'_> {
    /// The images of the boot-image index for this Linux.
    pub fn images(&self) -> Vec<(ImageKind, Vec<u8>)> {
        let mut images = vec![(ImageKind::LinuxKernel, self.kernel.to_vec())];
        if let Some(initramfs) = self.initramfs {
            images.push((ImageKind::Initramfs, initramfs.to_vec()));
        }
        images.push((ImageKind::CommandLine, self.command_line.as_bytes().to_vec()));
        images
    }
}

/// The images of a VM that boots a flat binary, with an optional parameter
/// word for its parameter page (the test guest's scenario).
pub fn flat_images(binary: &[u8], parameter: Option<u64>) -> Vec<(ImageKind, Vec<u8>)> {
    match parameter {
        Some(word) => flat_images_with_parameters(binary, word.to_le_bytes().to_vec()),
        None => vec![(ImageKind::FlatBinary, binary.to_vec())],
    }
}

/// The images of a VM that boots a flat binary, with `parameters` for its
/// parameter page.
pub fn flat_images_with_parameters(
    binary: &[u8],
    parameters: Vec<u8>,
) -> Vec<(ImageKind, Vec<u8>)> {
    vec![(ImageKind::FlatBinary, binary.to_vec()), (ImageKind::Parameters, parameters)]
}

/// Why netvm's parameters cannot be composed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParameterError {
    /// The VM has no libp2p settings: it is not a netvm.
    NotNetVm(&'static str),
    /// A bootstrap address given besides the manifest's is malformed.
    MalformedBootstrap {
        /// The address.
        address: String,
        /// What is wrong with it.
        reason: MultiaddrError,
    },
    /// The parameters are longer than the page holds before its flags
    /// word.
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
}

impl fmt::Display for ParameterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotNetVm(name) => {
                write!(formatter, "vm \"{name}\" is not a netvm, so it has no libp2p parameters")
            }
            Self::MalformedBootstrap { address, reason } => write!(
                formatter,
                "bootstrap address \"{address}\" is not /ip4/A.B.C.D/tcp/PORT/p2p/PEERID or \
                 /dns4/NAME/tcp/PORT/p2p/PEERID: {reason}"
            ),
            Self::TooLong { length } => write!(
                formatter,
                "netvm's parameters are {length} bytes, more than the {PARAMETERS_MAX} bytes its \
                 parameter page holds: give fewer bootstrap addresses"
            ),
        }
    }
}

impl std::error::Error for ParameterError {}

/// The text of netvm's parameter page (format in the module's
/// documentation): `machine`'s listen port, the manifest's bootstrap
/// addresses then `extra_bootstrap`, and its channels to app VMs.
pub fn netvm_parameters(
    system: &System,
    machine: &VirtualMachine,
    extra_bootstrap: &[String],
) -> Result<Vec<u8>, ParameterError> {
    let p2p = machine.p2p.ok_or(ParameterError::NotNetVm(machine.name))?;
    for address in extra_bootstrap {
        check_bootstrap_address(address).map_err(|reason| ParameterError::MalformedBootstrap {
            address: address.clone(),
            reason,
        })?;
    }
    let mut text = format!("listen-port {}\n", p2p.listen_port);
    let bootstrap = p2p.bootstrap.iter().copied().chain(extra_bootstrap.iter().map(String::as_str));
    for address in bootstrap {
        text.push_str(&format!("bootstrap {address}\n"));
    }
    for end in machine.channels {
        let channel = &system.channels[end.channel];
        let other = &system.machines[channel.ends[usize::from(end.end == 0)]];
        if other.kind == VirtualMachineKind::App {
            text.push_str(&format!("app-channel {}\n", channel.name));
        }
    }
    if text.len() > PARAMETERS_MAX {
        return Err(ParameterError::TooLong { length: text.len() });
    }
    Ok(text.into_bytes())
}

/// netvm's images: its flat `binary` and its parameters
/// ([`netvm_parameters`]).
pub fn netvm_images(
    system: &System,
    machine: &VirtualMachine,
    binary: &[u8],
    extra_bootstrap: &[String],
) -> Result<Vec<(ImageKind, Vec<u8>)>, ParameterError> {
    let parameters = netvm_parameters(system, machine, extra_bootstrap)?;
    Ok(flat_images_with_parameters(binary, parameters))
}

/// The staging image of `system`: `images_of` gives each VM's images (none:
/// the VM stays absent).
pub fn staging_image<E: From<IndexError>>(
    system: &System,
    staging_size: u64,
    mut images_of: impl FnMut(&VirtualMachine) -> Result<Vec<(ImageKind, Vec<u8>)>, E>,
) -> Result<Vec<u8>, E> {
    let mut images: Vec<(ImageKind, u32, Vec<u8>)> = Vec::new();
    for (index, machine) in system.machines.iter().enumerate() {
        for (kind, bytes) in images_of(machine)? {
            images.push((kind, index as u32, bytes));
        }
    }
    let borrowed: Vec<_> =
        images.iter().map(|(kind, machine, bytes)| (*kind, *machine, bytes.as_slice())).collect();
    Ok(builder::compose(&borrowed, staging_size)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot_image::Index;
    use crate::qemu_virt::systems::{SYSTEM, TEST};
    use crate::{Channel, ChannelEnd, Direction, LinuxDevice, P2pSettings, Region, RestartPolicy};

    const PEER: &str =
        "/ip4/10.0.2.2/tcp/4002/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    fn netvm(system: &System) -> &VirtualMachine {
        system.machines.iter().find(|machine| machine.kind == VirtualMachineKind::NetVm).unwrap()
    }

    fn text(system: &System, extra: &[String]) -> String {
        String::from_utf8(netvm_parameters(system, netvm(system), extra).unwrap()).unwrap()
    }

    #[test]
    fn the_default_and_test_systems_give_netvm_its_port_and_app_channel() {
        assert_eq!(text(&SYSTEM, &[]), "listen-port 4001\napp-channel app-1-netvm\napp-channel app-2-netvm\napp-channel app-3-netvm\n");
        // The test system's extra channels do not end at netvm.
        assert_eq!(text(&TEST, &[]), "listen-port 4001\napp-channel app-1-netvm\napp-channel app-2-netvm\napp-channel app-3-netvm\n");
    }

    #[test]
    fn extra_bootstrap_addresses_follow_the_manifests() {
        let dns = "/dns4/peer.example/tcp/4003/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
        let machine = VirtualMachine {
            p2p: Some(P2pSettings { listen_port: 4101, bootstrap: &[PEER] }),
            ..*netvm(&SYSTEM)
        };
        let parameters = netvm_parameters(&SYSTEM, &machine, &[dns.to_string()]).unwrap();
        assert_eq!(
            String::from_utf8(parameters).unwrap(),
            format!(
                "listen-port 4101\nbootstrap {PEER}\nbootstrap {dns}\napp-channel app-1-netvm\n\
                 app-channel app-2-netvm\napp-channel app-3-netvm\n"
            )
        );
    }

    /// A VM of `kind` with `channels`, for [`FOUR`].
    const fn machine(
        name: &'static str,
        kind: VirtualMachineKind,
        channels: &'static [ChannelEnd],
    ) -> VirtualMachine {
        VirtualMachine {
            name,
            kind,
            image: name,
            cpus: &[2],
            memory: Region { base: 0x5000_0000, size: 0x20_0000 },
            guest_memory_base: 0x4000_0000,
            primary: false,
            restart: RestartPolicy::Stop,
            devices: &[],
            channels,
            p2p: match kind {
                VirtualMachineKind::NetVm => Some(P2pSettings::DEFAULT),
                _ => None,
            },
        }
    }

    /// End `end` of channel `channel`, for [`FOUR`].
    const fn end(channel: usize, end: u8) -> ChannelEnd {
        ChannelEnd { channel, end, guest_address: 0x2000_0000 }
    }

    /// A channel between `ends`, for [`FOUR`].
    const fn channel(name: &'static str, ends: [usize; 2]) -> Channel {
        Channel {
            name,
            ends,
            direction: Direction::Both,
            ring_size: 0x1000,
            linux_device: LinuxDevice::Net,
            memory: Region { base: 0x7000_0000, size: 0x7000 },
        }
    }

    /// netvm, two app VMs and chainvm; netvm is the first end of some
    /// channels and the second of others.
    const FOUR: System = System {
        name: "four",
        machines: &[
            machine("net", VirtualMachineKind::NetVm, &[end(0, 0), end(1, 1), end(2, 0)]),
            machine("wallet", VirtualMachineKind::App, &[end(0, 1)]),
            machine("chain", VirtualMachineKind::ChainVm, &[end(1, 0), end(3, 0)]),
            machine("chat", VirtualMachineKind::App, &[end(2, 1), end(3, 1)]),
        ],
        channels: &[
            channel("to-wallet", [0, 1]),
            channel("chain-net", [2, 0]),
            channel("net-chat", [0, 3]),
            channel("chain-chat", [2, 3]),
        ],
    };

    #[test]
    fn every_channel_to_an_app_vm_is_an_app_channel_line() {
        assert_eq!(
            text(&FOUR, &[]),
            "listen-port 4001\napp-channel to-wallet\napp-channel net-chat\n"
        );
    }

    #[test]
    fn malformed_addresses_long_texts_and_other_vms_are_refused() {
        let netvm = netvm(&SYSTEM);
        let error =
            netvm_parameters(&SYSTEM, netvm, &["/ip4/10.0.2.2/tcp/4002".into()]).unwrap_err();
        assert_eq!(
            error,
            ParameterError::MalformedBootstrap {
                address: "/ip4/10.0.2.2/tcp/4002".into(),
                reason: MultiaddrError::WrongComponentCount,
            }
        );
        assert!(error.to_string().contains("exactly the six components"), "{error}");
        // A line break would forge a line of its own.
        let forged = format!("{PEER}\napp-channel linux-net");
        assert!(netvm_parameters(&SYSTEM, netvm, &[forged]).is_err());

        // Each line is "bootstrap " (10 bytes), the address and '\n'; the
        // text starts with 17 bytes of listen-port and ends with 3 * 24 of
        // app channels.
        let line = 10 + PEER.len() + 1;
        let fitting = (PARAMETERS_MAX - 17 - 72) / line;
        let many = vec![PEER.to_string(); fitting];
        let parameters = netvm_parameters(&SYSTEM, netvm, &many).unwrap();
        assert_eq!(parameters.len(), 17 + 72 + fitting * line);
        let more = vec![PEER.to_string(); fitting + 1];
        let error = netvm_parameters(&SYSTEM, netvm, &more).unwrap_err();
        assert_eq!(error, ParameterError::TooLong { length: 17 + 72 + (fitting + 1) * line });
        assert!(error.to_string().contains("more than the 4088 bytes its parameter"), "{error}");

        let app = &SYSTEM.machines[SYSTEM.machine_index("app-1").unwrap()];
        assert_eq!(netvm_parameters(&SYSTEM, app, &[]), Err(ParameterError::NotNetVm("app-1")));
    }

    #[test]
    fn netvm_images_hold_the_binary_and_the_text() {
        let netvm = netvm(&SYSTEM);
        let images = netvm_images(&SYSTEM, netvm, &[7; 64], &[]).unwrap();
        assert_eq!(images[0], (ImageKind::FlatBinary, vec![7; 64]));
        assert_eq!(images[1], (ImageKind::Parameters, text(&SYSTEM, &[]).into_bytes()));
        let index = SYSTEM.machine_index("netvm").unwrap();
        let staging = staging_image(&SYSTEM, 1 << 20, |machine| {
            Ok::<_, IndexError>(if machine.kind == VirtualMachineKind::NetVm {
                images.clone()
            } else {
                Vec::new()
            })
        })
        .unwrap();
        let parsed = Index::parse(&staging).unwrap();
        let parameters = parsed.find(index, ImageKind::Parameters).unwrap();
        assert_eq!(parsed.bytes(&parameters), b"listen-port 4001\napp-channel app-1-netvm\napp-channel app-2-netvm\napp-channel app-3-netvm\n");
    }

    #[test]
    fn flags_end_the_parameter_page_of_a_verbose_vm() {
        let verbose = Flags { verbose: true };
        // No parameters yet: a page of zeroes with the flags at its end.
        let images = with_flags(flat_images(&[7; 16], None), verbose).unwrap();
        assert_eq!(images[0], (ImageKind::FlatBinary, vec![7; 16]));
        let (kind, page) = &images[1];
        assert_eq!(*kind, ImageKind::Parameters);
        assert_eq!(page.len(), PARAMETER_PAGE_SIZE);
        assert!(page[..FLAGS_OFFSET].iter().all(|&byte| byte == 0));
        assert_eq!(page[FLAGS_OFFSET..], FLAG_VERBOSE.to_le_bytes());

        // The VM's own parameters stay at the start of the page.
        let images = with_flags(flat_images(&[7; 16], Some(0x0102)), verbose).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[1].1[..8], 0x0102u64.to_le_bytes());
        assert_eq!(images[1].1[FLAGS_OFFSET..], 1u64.to_le_bytes());
        let netvm = netvm(&SYSTEM);
        let text = netvm_parameters(&SYSTEM, netvm, &[]).unwrap();
        let images = with_flags(netvm_images(&SYSTEM, netvm, &[7; 16], &[]).unwrap(), verbose);
        let images = images.unwrap();
        assert_eq!(images[1].1[..text.len()], text[..]);
        assert_eq!(images[1].1[text.len()], 0, "the text ends at the first zero byte");

        // Quiet: nothing changes.
        let quiet = with_flags(flat_images(&[7; 16], None), Flags::default()).unwrap();
        assert_eq!(quiet, flat_images(&[7; 16], None));

        // Parameters that reach into the flags word are refused.
        let full = flat_images_with_parameters(&[7; 16], vec![1; PARAMETERS_MAX + 1]);
        let error = with_flags(full, verbose).unwrap_err();
        assert_eq!(error, ParameterError::TooLong { length: PARAMETERS_MAX + 1 });
        let fitting = flat_images_with_parameters(&[7; 16], vec![1; PARAMETERS_MAX]);
        assert_eq!(with_flags(fitting, verbose).unwrap()[1].1.len(), PARAMETER_PAGE_SIZE);
    }

    #[test]
    fn the_elastos_vms_are_netvm_chainvm_and_the_app_vms() {
        let kinds: Vec<bool> = [
            VirtualMachineKind::Linux,
            VirtualMachineKind::NetVm,
            VirtualMachineKind::ChainVm,
            VirtualMachineKind::App,
            VirtualMachineKind::Test,
        ]
        .into_iter()
        .map(is_elastos)
        .collect();
        assert_eq!(kinds, [false, true, true, true, false]);
    }
}
