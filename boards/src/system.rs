//! The shape of a system: its VMs, the devices they own and the channels
//! between them.
//!
//! A system is declared in a TOML manifest (`boards/<board>/*.toml`, format in
//! `docs/manifest.md`). The build checks the manifest against the board and
//! turns it into a [`System`] constant; the hypervisor reads only these
//! tables and never parses text.

use crate::Region;

/// One configuration of a board: every VM and channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct System {
    /// The configuration's name (the manifest's file stem).
    pub name: &'static str,
    /// The VMs, in manifest order; a VM's index here is its identity.
    pub machines: &'static [VirtualMachine],
    /// The channels, in manifest order; a channel's index here is its id.
    pub channels: &'static [Channel],
}

impl System {
    /// The index of the VM called `name`.
    pub fn machine_index(&self, name: &str) -> Option<usize> {
        self.machines.iter().position(|machine| machine.name.as_bytes() == name.as_bytes())
    }

    /// The index of the channel called `name`.
    pub fn channel_index(&self, name: &str) -> Option<usize> {
        self.channels.iter().position(|channel| channel.name.as_bytes() == name.as_bytes())
    }

    /// The primary VM, if the manifest marks one.
    pub fn primary(&self) -> Option<usize> {
        self.machines.iter().position(|machine| machine.primary)
    }

    /// The most vCPUs any VM has.
    pub const fn max_vcpus(&self) -> usize {
        let mut most = 0;
        let mut index = 0;
        while index < self.machines.len() {
            if self.machines[index].cpus.len() > most {
                most = self.machines[index].cpus.len();
            }
            index += 1;
        }
        most
    }

    /// The most channels any VM has.
    pub const fn max_channels_per_machine(&self) -> usize {
        let mut most = 0;
        let mut index = 0;
        while index < self.machines.len() {
            if self.machines[index].channels.len() > most {
                most = self.machines[index].channels.len();
            }
            index += 1;
        }
        most
    }
}

/// What kind of software a virtual machine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtualMachineKind {
    /// A Linux kernel with an initramfs, booted with a generated device tree.
    Linux,
    /// The network VM.
    NetVm,
    /// The chain VM.
    ChainVm,
    /// An app VM (guest-runtime).
    App,
    /// The small EL1 test guest (`tests/test-guest`).
    Test,
}

impl VirtualMachineKind {
    /// The name the manifest uses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::NetVm => "netvm",
            Self::ChainVm => "chainvm",
            Self::App => "app",
            Self::Test => "test",
        }
    }

    /// Whether the VM boots a flat EL1 binary entered at the base of its RAM
    /// (every kind but Linux).
    pub const fn is_flat_binary(self) -> bool {
        !matches!(self, Self::Linux)
    }
}

/// What the hypervisor does when a VM faults (stage-2 abort, a trap it cannot
/// handle, a hypercall storm, or the guest reporting a failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Stop the VM and leave it stopped.
    Stop,
    /// Restart the VM from its pristine images, at most `limit` times over the
    /// life of the system (`u32::MAX`: without limit).
    Restart {
        /// The most restarts after faults.
        limit: u32,
    },
}

/// One virtual machine of the system, as the hypervisor builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualMachine {
    /// Name used on the console, in reports and in the manifest.
    pub name: &'static str,
    /// What it runs.
    pub kind: VirtualMachineKind,
    /// The image it boots: `linux`, or the name of a flat binary the host
    /// tools build (`netvm`, `chainvm`, `app`, `test-guest`).
    pub image: &'static str,
    /// Physical CPUs its vCPUs are pinned to: vCPU `n` runs on `cpus[n]`.
    pub cpus: &'static [usize],
    /// Physical memory backing the VM's RAM.
    pub memory: Region,
    /// Guest-physical address at which the VM sees its RAM.
    pub guest_memory_base: u64,
    /// Whether this is the primary VM: when it powers off, the system does.
    pub primary: bool,
    /// What happens when it faults.
    pub restart: RestartPolicy,
    /// Devices it owns, mapped at their physical addresses.
    pub devices: &'static [Device],
    /// Its ends of channels, in the order the discovery hypercall lists them.
    pub channels: &'static [ChannelEnd],
    /// Its libp2p settings: `Some` for every netvm (the manifest's
    /// `[vm.p2p]`, or the defaults), `None` for the other kinds.
    pub p2p: Option<P2pSettings>,
}

impl VirtualMachine {
    /// The guest-physical range of the VM's RAM.
    pub const fn guest_memory(&self) -> Region {
        Region { base: self.guest_memory_base, size: self.memory.size }
    }
}

/// How netvm takes part in the libp2p network: the host writes these into
/// its parameter page (`staging::netvm_parameters`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P2pSettings {
    /// The TCP port it listens on.
    pub listen_port: u16,
    /// The multiaddrs of the peers it dials at start
    /// (`/ip4/A.B.C.D/tcp/PORT/p2p/PEERID` or `/dns4/NAME/tcp/PORT/p2p/PEERID`).
    pub bootstrap: &'static [&'static str],
}

impl P2pSettings {
    /// The TCP port netvm listens on unless the manifest names another.
    pub const DEFAULT_LISTEN_PORT: u16 = 4001;

    /// The settings of a netvm whose manifest has no `[vm.p2p]` table.
    pub const DEFAULT: Self = Self { listen_port: Self::DEFAULT_LISTEN_PORT, bootstrap: &[] };
}

/// A physical device given to one VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name in the manifest.
    pub name: &'static str,
    /// Its MMIO window, page-aligned; the VM sees it at the same address.
    pub mmio: Region,
    /// Its shared peripheral interrupts (INTIDs), routed to the owner only.
    pub interrupts: &'static [u32],
}

/// Which way messages may travel on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both ends send: two rings.
    Both,
    /// Only the first end sends: one ring.
    FirstToSecond,
}

/// What the hypervisor serves a Linux VM's end of a channel as: a
/// virtio-mmio device in slot `k` for the VM's channel number `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxDevice {
    /// A virtio-net card: one Ethernet frame per message.
    Net,
    /// A virtio-vsock device: one virtio-vsock packet per message.
    Vsock,
}

/// A channel between two VMs: a shared-memory region of rings (layout in
/// the `channel-ring` crate) and a doorbell each way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its name (at most [`CHANNEL_NAME_MAX`] bytes).
    pub name: &'static str,
    /// The VMs at its two ends (indices into [`System::machines`]).
    pub ends: [usize; 2],
    /// Which way messages travel.
    pub direction: Direction,
    /// Bytes of message data in each ring (a power of two, at least 4 KiB).
    pub ring_size: u64,
    /// What a Linux VM at either end sees it as (`Net` when neither end is
    /// a Linux VM).
    pub linux_device: LinuxDevice,
    /// The physical memory of the whole region (see [`channel_region_size`]).
    pub memory: Region,
}

/// One VM's end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelEnd {
    /// The channel (index into [`System::channels`]).
    pub channel: usize,
    /// Which end: 0 for the first VM the manifest names, 1 for the second.
    pub end: u8,
    /// Where the VM sees the channel's region.
    pub guest_address: u64,
}

/// The longest channel name.
pub const CHANNEL_NAME_MAX: usize = 16;
/// Where the first channel of each VM appears in its guest-physical space;
/// the others follow, each aligned to 2 MiB.
pub const CHANNEL_WINDOW_BASE: u64 = 0x2000_0000;
/// Alignment of each channel in the guest-physical window.
pub const CHANNEL_WINDOW_ALIGNMENT: u64 = 0x20_0000;
/// Bytes of a channel region before its first ring: the status page, written
/// by the hypervisor only.
pub const CHANNEL_STATUS_SIZE: u64 = 0x1000;
/// Bytes of each ring besides its data: the consumer's control page, then the
/// producer's.
pub const RING_CONTROL_SIZE: u64 = 0x2000;

/// Bytes of a channel region: the status page, then one ring (two pages of
/// control and `ring_size` bytes of data) per direction.
pub const fn channel_region_size(direction: Direction, ring_size: u64) -> u64 {
    let rings = match direction {
        Direction::Both => 2,
        Direction::FirstToSecond => 1,
    };
    CHANNEL_STATUS_SIZE + rings * (RING_CONTROL_SIZE + ring_size)
}

/// Offset within a channel region of the ring that end `sender` sends on.
pub const fn ring_offset(sender: u8, ring_size: u64) -> u64 {
    CHANNEL_STATUS_SIZE + sender as u64 * (RING_CONTROL_SIZE + ring_size)
}
