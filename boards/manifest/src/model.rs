//! A checked system with its memory placed: what [`generate`](crate::generate)
//! turns into Rust source.
//!
//! The types mirror those of `boards::system`, which this crate cannot use
//! (the `boards` build runs this crate).

use crate::board::Region;

/// Where each VM sees its RAM (guest-physical address).
pub const GUEST_MEMORY_BASE: u64 = 0x4000_0000;
/// Alignment of a VM's RAM, physical and in size: one stage-2 block.
pub const MEMORY_ALIGNMENT: u64 = 0x20_0000;
/// Alignment of MMIO windows and channel regions.
pub const PAGE_SIZE: u64 = 0x1000;
/// Where the first channel of each VM appears in its guest-physical space
/// (`boards::CHANNEL_WINDOW_BASE`).
pub const CHANNEL_WINDOW_BASE: u64 = 0x2000_0000;
/// Alignment of each channel in the guest-physical window
/// (`boards::CHANNEL_WINDOW_ALIGNMENT`).
pub const CHANNEL_WINDOW_ALIGNMENT: u64 = 0x20_0000;
/// Bytes of a channel region before its first ring
/// (`boards::system::CHANNEL_STATUS_SIZE`).
pub const CHANNEL_STATUS_SIZE: u64 = 0x1000;
/// Bytes of each ring besides its data (`boards::system::RING_CONTROL_SIZE`).
pub const RING_CONTROL_SIZE: u64 = 0x2000;
/// The smallest ring a channel may have.
pub const RING_SIZE_MIN: u64 = 0x1000;
/// The largest ring a channel may have.
pub const RING_SIZE_MAX: u64 = 0x10_0000;
/// The most VMs a system may have.
pub const MAX_MACHINES: usize = 16;
/// The most vCPUs one physical CPU may run.
pub const MAX_VCPUS_PER_CPU: usize = 8;
/// The most channels one VM may have (its doorbells must fit below INTID 128).
pub const MAX_CHANNELS_PER_MACHINE: usize = hypercall_abi::MAX_CHANNELS_PER_MACHINE;
/// The INTID of a VM's first channel doorbell: its devices' interrupts must
/// stay below it.
pub const DOORBELL_INTERRUPT_BASE: u32 = hypercall_abi::DOORBELL_INTERRUPT_BASE;
/// The longest channel name.
pub const CHANNEL_NAME_MAX: usize = hypercall_abi::CHANNEL_NAME_MAX;
/// The TCP port a netvm listens on unless its `[vm.p2p]` names another
/// (`boards::P2pSettings::DEFAULT_LISTEN_PORT`).
pub const DEFAULT_LISTEN_PORT: u16 = 4001;

/// Bytes of a channel region: the status page, then one ring (two pages of
/// control and `ring_size` bytes of data) per direction. The same formula as
/// `boards::channel_region_size`.
pub const fn channel_region_size(direction: Direction, ring_size: u64) -> u64 {
    let rings = match direction {
        Direction::Both => 2,
        Direction::FirstToSecond => 1,
    };
    CHANNEL_STATUS_SIZE + rings * (RING_CONTROL_SIZE + ring_size)
}

/// `value` rounded up to a multiple of `alignment` (a power of two).
pub const fn align_up(value: u64, alignment: u64) -> u64 {
    (value + alignment - 1) & !(alignment - 1)
}

/// A system whose manifest passed every check, with its memory placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedSystem {
    /// The configuration's name (the manifest's file stem).
    pub name: String,
    /// The manifest's description, if it has one.
    pub description: Option<String>,
    /// The manifest's path, as given to the checks.
    pub source: String,
    /// The VMs, in manifest order.
    pub machines: Vec<Machine>,
    /// The channels, in manifest order.
    pub channels: Vec<Channel>,
}

impl CheckedSystem {
    /// The VM called `name`.
    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines.iter().find(|machine| machine.name == name)
    }

    /// The channel called `name`.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|channel| channel.name == name)
    }
}

/// What kind of software a VM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineKind {
    /// A Linux kernel.
    Linux,
    /// The network VM.
    NetVm,
    /// The chain VM.
    ChainVm,
    /// An app VM.
    App,
    /// The test guest.
    Test,
}

impl MachineKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [MachineKind; 5] =
        [Self::Linux, Self::NetVm, Self::ChainVm, Self::App, Self::Test];

    /// The kind a manifest names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The name manifests use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::NetVm => "netvm",
            Self::ChainVm => "chainvm",
            Self::App => "app",
            Self::Test => "test",
        }
    }

    /// The variant of `boards::VirtualMachineKind`.
    pub const fn variant(self) -> &'static str {
        match self {
            Self::Linux => "Linux",
            Self::NetVm => "NetVm",
            Self::ChainVm => "ChainVm",
            Self::App => "App",
            Self::Test => "Test",
        }
    }

    /// The image a VM of this kind boots unless its manifest names another.
    pub const fn default_image(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::NetVm => "netvm",
            Self::ChainVm => "chainvm",
            Self::App => "app",
            Self::Test => "test-guest",
        }
    }
}

/// What the hypervisor does when a VM faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Leave it stopped.
    Stop,
    /// Restart it, at most `limit` times (`u32::MAX`: without limit).
    Restart {
        /// The most restarts.
        limit: u32,
    },
}

/// Which way messages travel on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Both ends send.
    Both,
    /// Only the first end sends.
    FirstToSecond,
}

impl Direction {
    /// The variant of `boards::Direction`.
    pub const fn variant(self) -> &'static str {
        match self {
            Self::Both => "Both",
            Self::FirstToSecond => "FirstToSecond",
        }
    }
}

/// The device the hypervisor serves a Linux VM's end of a channel as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinuxDevice {
    /// A virtio-net card (the default).
    #[default]
    Net,
    /// A virtio-vsock device.
    Vsock,
}

impl LinuxDevice {
    /// The variant of `boards::LinuxDevice`.
    pub const fn variant(self) -> &'static str {
        match self {
            Self::Net => "Net",
            Self::Vsock => "Vsock",
        }
    }
}

/// A checked VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Its name.
    pub name: String,
    /// What it runs.
    pub kind: MachineKind,
    /// The image it boots.
    pub image: String,
    /// The physical CPU of each vCPU.
    pub cpus: Vec<usize>,
    /// The physical memory of its RAM.
    pub memory: Region,
    /// Where it sees its RAM.
    pub guest_memory_base: u64,
    /// Whether its power-off ends the system.
    pub primary: bool,
    /// What happens when it faults.
    pub restart: RestartPolicy,
    /// The devices it owns.
    pub devices: Vec<Device>,
    /// Its channel ends, in manifest order.
    pub channels: Vec<ChannelEnd>,
    /// Its libp2p settings: `Some` for every netvm (its `[vm.p2p]`, or the
    /// defaults), `None` for the other kinds.
    pub p2p: Option<P2pSettings>,
}

/// A netvm's checked libp2p settings (`boards::P2pSettings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P2pSettings {
    /// The TCP port it listens on.
    pub listen_port: u16,
    /// The multiaddrs of the peers it dials at start, in manifest order.
    pub bootstrap: Vec<String>,
}

impl Default for P2pSettings {
    /// The settings of a netvm without a `[vm.p2p]` table.
    fn default() -> Self {
        Self { listen_port: DEFAULT_LISTEN_PORT, bootstrap: Vec::new() }
    }
}

/// A checked device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name.
    pub name: String,
    /// Its MMIO window.
    pub mmio: Region,
    /// Its interrupts (INTIDs).
    pub interrupts: Vec<u32>,
}

/// A checked channel with its memory placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its name.
    pub name: String,
    /// The indices of the VMs at its two ends.
    pub ends: [usize; 2],
    /// Which way messages travel.
    pub direction: Direction,
    /// Bytes of message data in each ring.
    pub ring_size: u64,
    /// What a Linux VM at either end sees the channel as (`Net` on a
    /// channel without a Linux end).
    pub linux_device: LinuxDevice,
    /// The physical memory of the whole region.
    pub memory: Region,
}

/// One VM's end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelEnd {
    /// The channel's index.
    pub channel: usize,
    /// 0 for the first end the manifest names, 1 for the second.
    pub end: u8,
    /// Where the VM sees the channel's region.
    pub guest_address: u64,
}
