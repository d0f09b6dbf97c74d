//! What can be wrong with a manifest, and where.

use std::fmt;

use thiserror::Error;

use crate::board::Region;
use crate::MultiaddrError;

/// A place in a manifest, 1-based, the column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (the end of the text if the
    /// offset is past it).
    pub fn of(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// What a problem is about: the part of the manifest it names in its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The manifest as a whole.
    System,
    /// A VM.
    Machine(String),
    /// A device of a VM.
    Device {
        /// The VM.
        machine: String,
        /// The device.
        device: String,
    },
    /// A channel.
    Channel(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::System => Ok(()),
            Self::Machine(machine) => write!(formatter, "vm \"{machine}\": "),
            Self::Device { machine, device } => {
                write!(formatter, "vm \"{machine}\" device \"{device}\": ")
            }
            Self::Channel(channel) => write!(formatter, "channel \"{channel}\": "),
        }
    }
}

/// A byte count, shown in the largest binary unit that divides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (unit, name) in UNITS {
            if self.0 != 0 && self.0.is_multiple_of(unit) {
                return write!(formatter, "{} {name}", self.0 / unit);
            }
        }
        if self.0 == 0 {
            return formatter.write_str("0 bytes");
        }
        write!(formatter, "{:#x} bytes", self.0)
    }
}

/// One thing wrong with a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Problem {
    /// The text is not TOML, or not of the manifest's shape (a missing or
    /// unknown key, a value of the wrong type); the message is the parser's.
    #[error("{0}")]
    Syntax(String),
    /// The file's stem cannot name a system.
    #[error(
        "the file name \"{0}\" cannot name a system: start with a lowercase ASCII letter, then use letters, digits and '-'"
    )]
    MalformedSystemName(String),
    /// A name that is empty or has characters other than lowercase ASCII
    /// letters, digits and '-'.
    #[error("\"{0}\" is not a valid name: use lowercase ASCII letters, digits and '-'")]
    MalformedName(String),
    /// A channel name longer than [`CHANNEL_NAME_MAX`](crate::CHANNEL_NAME_MAX).
    #[error("the name is {length} bytes long; channel names have at most {max}")]
    ChannelNameTooLong {
        /// Its length.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A name already used for another item of the same sort.
    #[error("the name \"{name}\" is already used on line {first_line}")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where it was first used.
        first_line: usize,
    },
    /// A system with more VMs than the hypervisor holds.
    #[error("a system has at most {max} VMs")]
    TooManyMachines {
        /// The limit.
        max: usize,
    },
    /// A `kind` no VM can be.
    #[error("unknown kind \"{0}\": use linux, netvm, chainvm, app or test")]
    UnknownKind(String),
    /// An empty `cpus` list.
    #[error("a VM needs at least one CPU")]
    NoCpus,
    /// A CPU the board does not have.
    #[error("CPU {cpu} is not on the board (CPUs 0 to {last})")]
    CpuNotOnBoard {
        /// The CPU named.
        cpu: u64,
        /// The board's last CPU.
        last: usize,
    },
    /// A CPU a VM lists twice.
    #[error("CPU {0} is listed twice")]
    CpuListedTwice(u64),
    /// A CPU given more vCPUs than it may run.
    #[error("CPU {cpu} would run more than {max} vCPUs")]
    TooManyVcpus {
        /// The CPU.
        cpu: u64,
        /// The limit.
        max: usize,
    },
    /// A second primary VM.
    #[error("only one VM can be primary, and \"{0}\" already is")]
    SecondPrimary(String),
    /// A `restart` that is neither "stop" nor "restart".
    #[error("unknown restart policy \"{0}\": use \"stop\" or \"restart\"")]
    UnknownRestart(String),
    /// A `restart_limit` on a VM that is never restarted.
    #[error("restart_limit needs restart = \"restart\"")]
    RestartLimitWithoutRestart,
    /// A size that is neither a number of bytes nor a string such as "16M".
    #[error(
        "\"{0}\" is not a size: write a number of bytes or a string such as \"16M\" or \"1G\""
    )]
    InvalidSize(String),
    /// A VM without memory.
    #[error("memory size is zero")]
    MemoryZero,
    /// A memory size stage 2 cannot map in blocks.
    #[error("memory size {0:#x} is not a multiple of 2 MiB")]
    MemoryNotAligned(u64),
    /// A `physical_base` stage 2 cannot map in blocks.
    #[error("physical_base {0:#x} is not a multiple of 2 MiB")]
    PhysicalBaseNotAligned(u64),
    /// Memory placed outside the board's RAM.
    #[error("memory {region} is outside the board's RAM {ram}")]
    MemoryOutsideRam {
        /// The VM's memory.
        region: Region,
        /// The board's RAM.
        ram: Region,
    },
    /// Memory placed over RAM the hypervisor keeps.
    #[error("memory {region} overlaps {reserved} at {reserved_region}")]
    MemoryOverlapsReserved {
        /// The VM's memory.
        region: Region,
        /// What the reserved region is.
        reserved: &'static str,
        /// Where it is.
        reserved_region: Region,
    },
    /// Memory placed over another VM's.
    #[error("memory {region} overlaps the memory of vm \"{other}\"")]
    MemoryOverlapsMachine {
        /// The VM's memory.
        region: Region,
        /// The other VM.
        other: String,
    },
    /// No free RAM left for a VM.
    #[error("{} of memory does not fit in the free RAM (the largest free block is {})", Bytes(*.size), Bytes(*.largest))]
    MemoryExhausted {
        /// What it asked for.
        size: u64,
        /// The largest aligned block left.
        largest: u64,
    },
    /// An MMIO window not on page boundaries.
    #[error("MMIO {0} is not page-aligned (base and size must be multiples of 4 KiB)")]
    MmioNotAligned(Region),
    /// An empty MMIO window.
    #[error("MMIO size is zero")]
    MmioEmpty,
    /// An MMIO window outside the board's device space.
    #[error("MMIO {region} is outside the board's device space {device_space}")]
    MmioOutsideDeviceSpace {
        /// The window.
        region: Region,
        /// The board's device space.
        device_space: Region,
    },
    /// An MMIO window over a device the hypervisor owns.
    #[error("MMIO {region} overlaps {device} at {device_region}, which the hypervisor owns")]
    MmioOverlapsHypervisorDevice {
        /// The window.
        region: Region,
        /// The hypervisor's device.
        device: &'static str,
        /// Where it is.
        device_region: Region,
    },
    /// An MMIO window over another device of the system.
    #[error("MMIO {region} overlaps device \"{device}\" of vm \"{machine}\"")]
    MmioOverlapsDevice {
        /// The window.
        region: Region,
        /// The VM owning the other device.
        machine: String,
        /// The other device.
        device: String,
    },
    /// An MMIO window over the guest-physical window of the VM's channels.
    #[error("MMIO {region} overlaps the VM's channel window {window}")]
    MmioOverlapsChannelWindow {
        /// The device's window.
        region: Region,
        /// Where the VM sees its channels.
        window: Region,
    },
    /// An interrupt a VM's device may not use.
    #[error("interrupt {interrupt} is outside the range devices may use ({first} to {last})")]
    InterruptOutOfRange {
        /// The INTID.
        interrupt: u32,
        /// The first allowed.
        first: u32,
        /// The last allowed.
        last: u32,
    },
    /// An interrupt the hypervisor keeps.
    #[error("interrupt {interrupt} belongs to {owner}, which the hypervisor owns")]
    InterruptReserved {
        /// The INTID.
        interrupt: u32,
        /// What raises it.
        owner: &'static str,
    },
    /// An interrupt already given to a device.
    #[error("interrupt {interrupt} is already owned by device \"{device}\" of vm \"{machine}\"")]
    InterruptOwnedTwice {
        /// The INTID.
        interrupt: u32,
        /// The VM owning it.
        machine: String,
        /// The device owning it.
        device: String,
    },
    /// A channel without exactly two ends.
    #[error("a channel has two ends, not {0}")]
    EndCount(usize),
    /// A channel end naming no VM.
    #[error("unknown vm \"{0}\"")]
    UnknownEnd(String),
    /// A channel from a VM to itself.
    #[error("both ends are vm \"{0}\"")]
    SameEnds(String),
    /// A ring size that is not a power of two.
    #[error("ring size {0:#x} is not a power of two")]
    RingSizeNotPowerOfTwo(u64),
    /// A ring size outside the allowed range.
    #[error("ring size {} is outside {} to {}", Bytes(*.size), Bytes(*.min), Bytes(*.max))]
    RingSizeOutOfRange {
        /// The size.
        size: u64,
        /// The smallest allowed.
        min: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A `direction` that is neither "both" nor "one-way".
    #[error("unknown direction \"{0}\": use \"both\" or \"one-way\"")]
    UnknownDirection(String),
    /// A `linux-device` that is neither "net" nor "vsock".
    #[error("unknown linux-device \"{0}\": use \"net\" or \"vsock\"")]
    UnknownLinuxDevice(String),
    /// A `linux-device` on a channel neither of whose ends is a Linux VM.
    #[error("linux-device is only for a channel with a VM of kind \"linux\" at one end")]
    LinuxDeviceWithoutLinux,
    /// A second vsock channel of one Linux VM.
    #[error("vm \"{0}\" already has a vsock device: a Linux VM gets at most one")]
    SecondVsock(String),
    /// A VM with more channels than it has doorbells.
    #[error("vm \"{machine}\" would have more than {max} channels")]
    TooManyChannels {
        /// The VM.
        machine: String,
        /// The limit.
        max: usize,
    },
    /// A `[vm.p2p]` table on a VM that is not a netvm.
    #[error("only a netvm may have a [vm.p2p] table, not a VM of kind \"{0}\"")]
    P2pNotNetVm(String),
    /// A `listen-port` that is not a TCP port.
    #[error("listen-port {0} is outside 1 to 65535")]
    ListenPortOutOfRange(i64),
    /// A `bootstrap` entry that does not look like a TCP multiaddr with a
    /// peer id.
    #[error(
        "bootstrap address \"{address}\" is not /ip4/A.B.C.D/tcp/PORT/p2p/PEERID or /dns4/NAME/tcp/PORT/p2p/PEERID: {reason}"
    )]
    MalformedBootstrap {
        /// The entry as written.
        address: String,
        /// What is wrong with it.
        reason: MultiaddrError,
    },
    /// No free RAM left for a channel's region.
    #[error("its {} region does not fit in the free RAM (the largest free block is {})", Bytes(*.size), Bytes(*.largest))]
    ChannelMemoryExhausted {
        /// The region's size.
        size: u64,
        /// The largest aligned block left.
        largest: u64,
    },
}

/// A problem with its place in a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{path}:{}:{}: {subject}{problem}", position.line, position.column)]
pub struct Diagnostic {
    /// The manifest's path.
    pub path: String,
    /// Where in it.
    pub position: Position,
    /// What the problem is about.
    pub subject: Subject,
    /// What is wrong.
    pub problem: Problem,
}

/// Every problem found in one manifest, in the order of the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(formatter)?;
            }
            write!(formatter, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Why a manifest could not be turned into a system.
#[derive(Debug, Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: cannot read the manifest: {source}")]
    Read {
        /// The manifest's path.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The manifest has problems.
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
}
