//! The distributor's registers (`GICD_*`, IHI 0069 section 12.9) as the guest
//! sees them through trapped accesses.
//!
//! With affinity routing on, the distributor's words for INTIDs 0 to 31 (the
//! first `IGROUPR`, `ISENABLER` ... words, the first eight `IPRIORITYR` words
//! and the first two `ICFGR` words) read as zero and ignore writes: each
//! redistributor holds its vCPU's. So do `ITARGETSR`, `SGIR`, `CPENDSGIR` and
//! `SPENDSGIR` (legacy, without affinity routing) and `IGRPMODR` and `NSACR`
//! (only with two Security states). Fields of INTIDs this GIC does not
//! implement read as zero and ignore writes too.

use super::{
    check_access, identification_register, require_size, AccessError, Bank, BitRegister, Kick,
    Location, VirtualGic, INTERRUPT_LIMIT, PRIVATE_INTERRUPT_COUNT, SPI_COUNT,
};

/// `GICD_CTLR.EnableGrp0`.
pub(super) const ENABLE_GROUP0: u32 = 1 << 0;
/// `GICD_CTLR.EnableGrp1` (`EnableGrp1A` in the two-state view).
pub(super) const ENABLE_GROUP1: u32 = 1 << 1;
/// `GICD_CTLR.ARE`: affinity routing, always on here.
const AFFINITY_ROUTING: u32 = 1 << 4;
/// `GICD_CTLR.DS`: a single Security state, always here.
const DISABLE_SECURITY: u32 = 1 << 6;

/// `GICD_TYPER.No1N`: 1-of-N distribution of SPIs is not supported.
const NO_ONE_OF_N: u32 = 1 << 25;
/// `GICD_TYPER.IDbits`: the number of INTID bits, minus one (10 bits).
const IDENTIFIER_BITS: u32 = 9 << 19;
/// `GICD_TYPER.ITLinesNumber`: SPIs up to INTID `32 * (n + 1) - 1`.
const INTERRUPT_LINES: u32 = (INTERRUPT_LIMIT / 32 - 1) as u32;
/// `GICD_TYPER` as a whole: no LPIs, no message-based SPIs, no Security
/// extension, `CPUNumber` zero since affinity routing is on.
const TYPE: u32 = NO_ONE_OF_N | IDENTIFIER_BITS | INTERRUPT_LINES;
/// `GICD_IIDR`: implementer Arm (JEP106 0x43B), product 0, revision r0p0, as
/// QEMU's GICv3 reports.
pub(super) const IMPLEMENTER: u32 = 0x43b;

/// `GICD_IROUTER<n>.Interrupt_Routing_Mode`: route to any participating PE.
pub(super) const ROUTING_MODE_ANY: u64 = 1 << 31;
/// `GICD_IROUTER<n>` fields `Aff3`, `Aff2` and `Aff1`.
pub(super) const HIGHER_AFFINITY: u64 = 0xff_00ff_ff00;
/// The implemented bits of `GICD_IROUTER<n>`: `Aff3`, the routing mode,
/// `Aff2`, `Aff1` and `Aff0`.
const ROUTE_MASK: u64 = HIGHER_AFFINITY | ROUTING_MODE_ANY | 0xff;

/// The first `GICD_IROUTER<n>`, the one of INTID 32 (those of 0 to 31 are
/// reserved).
const ROUTER_FIRST: u64 = 0x6100;
/// One past the last `GICD_IROUTER<n>` (INTID 1019).
const ROUTER_END: u64 = 0x7fe0;

/// A distributor register, decoded from its offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `GICD_CTLR`.
    Control,
    /// `GICD_TYPER`.
    Type,
    /// `GICD_IIDR`.
    Implementer,
    /// A 32-bit register that reads as zero and ignores writes (`GICD_TYPER2`,
    /// `GICD_STATUSR`, `GICD_IGRPMODR<n>`, `GICD_NSACR<n>`, `GICD_SGIR`).
    ReadAsZero,
    /// A byte-accessible register that reads as zero and ignores writes
    /// (`GICD_ITARGETSR<n>`, `GICD_CPENDSGIR<n>`, `GICD_SPENDSGIR<n>`).
    ByteReadAsZero,
    /// Word `word` of a bitmap register: INTIDs `32 * word` to `32 * word + 31`.
    Bits(BitRegister, usize),
    /// `GICD_IPRIORITYR<n>`, by the INTID of the byte addressed.
    Priority(usize),
    /// `GICD_ICFGR<n>`: INTIDs `16 * n` to `16 * n + 15`.
    Configuration(usize),
    /// `GICD_IROUTER<n>` of INTID `n`; the flag selects the upper 32 bits.
    Router(usize, bool),
    /// A CoreSight identification register.
    Identification(u32),
}

impl Register {
    /// The register at `offset`, if any.
    fn at(offset: u64) -> Option<Self> {
        // Registers wider than a byte are found by the word that holds the
        // offset, so that a narrower access to them is refused for its size.
        let word = offset & !3;
        let register = match word {
            0x0000 => Self::Control,
            0x0004 => Self::Type,
            0x0008 => Self::Implementer,
            0x000c | 0x0010 => Self::ReadAsZero,
            0x0080..=0x03ff => {
                let kind = BitRegister::at(word & !0x7f)?;
                Self::Bits(kind, ((word & 0x7f) / 4) as usize)
            }
            0x0400..=0x07f8 => Self::Priority((offset - 0x0400) as usize),
            0x0800..=0x0bf8 => Self::ByteReadAsZero,
            0x0c00..=0x0cff => Self::Configuration(((word - 0x0c00) / 4) as usize),
            0x0d00..=0x0d7f | 0x0e00..=0x0eff | 0x0f00 => Self::ReadAsZero,
            0x0f10..=0x0f2f => Self::ByteReadAsZero,
            ROUTER_FIRST..ROUTER_END => {
                let intid = PRIVATE_INTERRUPT_COUNT + ((word - ROUTER_FIRST) / 8) as usize;
                Self::Router(intid, word & 4 != 0)
            }
            _ => Self::Identification(identification_register(word, 0x92)?),
        };
        Some(register)
    }

    /// The access sizes the register supports.
    fn sizes(self) -> &'static [u8] {
        match self {
            Self::ByteReadAsZero | Self::Priority(_) => &[1, 4],
            Self::Router(..) => &[4, 8],
            _ => &[4],
        }
    }
}

/// The bank of SPIs that word `word` of a bitmap register covers, if it
/// covers implemented SPIs.
fn shared_bank(word: usize) -> Option<Bank> {
    (1..=SPI_COUNT / 32).contains(&word).then(|| Bank::Shared(word - 1))
}

/// The SPI of INTID `intid`, if implemented.
fn shared_location(intid: usize) -> Option<Location> {
    (PRIVATE_INTERRUPT_COUNT..INTERRUPT_LIMIT)
        .contains(&intid)
        .then(|| Location::Shared { index: intid - PRIVATE_INTERRUPT_COUNT })
}

impl VirtualGic {
    /// Reads `size` bytes (1, 2, 4 or 8) at `offset` in the distributor's window.
    pub fn distributor_read(&mut self, offset: u64, size: u8) -> Result<u64, AccessError> {
        check_access(offset, size)?;
        let register = Register::at(offset).ok_or(AccessError::UnknownRegister)?;
        require_size(size, register.sizes())?;
        let value = match register {
            Register::Control => u64::from(self.control | AFFINITY_ROUTING | DISABLE_SECURITY),
            Register::Type => u64::from(TYPE),
            Register::Implementer => u64::from(IMPLEMENTER),
            Register::ReadAsZero | Register::ByteReadAsZero => 0,
            Register::Bits(kind, word) => {
                shared_bank(word).map_or(0, |bank| u64::from(self.read_bits(bank, kind)))
            }
            Register::Priority(first) => (0..usize::from(size)).fold(0, |value, byte| {
                let priority = shared_location(first + byte).map_or(0, |at| self.priority(at));
                value | u64::from(priority) << (8 * byte)
            }),
            Register::Configuration(word) => configuration_bank(word)
                .map_or(0, |(bank, first)| u64::from(self.read_configuration(bank, first))),
            Register::Router(intid, upper) => {
                let route = shared_location(intid).map_or(0, |location| match location {
                    Location::Shared { index } => self.routes[index],
                    Location::Private { .. } => 0,
                });
                match (size, upper) {
                    (8, _) => route,
                    (_, false) => route & 0xffff_ffff,
                    (_, true) => route >> 32,
                }
            }
            Register::Identification(value) => u64::from(value),
        };
        Ok(value)
    }

    /// Writes the low `size` bytes (1, 2, 4 or 8) of `value` at `offset` in
    /// the distributor's window.
    pub fn distributor_write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
    ) -> Result<Kick, AccessError> {
        check_access(offset, size)?;
        let register = Register::at(offset).ok_or(AccessError::UnknownRegister)?;
        require_size(size, register.sizes())?;
        let kick = match register {
            Register::Control => {
                let control = value as u32 & (ENABLE_GROUP0 | ENABLE_GROUP1);
                if control == self.control {
                    Kick::NONE
                } else {
                    // Disabling must pull listed interrupts back, enabling may
                    // release pending ones: look at everyone.
                    let before = self.notify_all();
                    self.control = control;
                    self.mark_all();
                    before | self.notify_all()
                }
            }
            Register::Type
            | Register::Implementer
            | Register::ReadAsZero
            | Register::ByteReadAsZero
            | Register::Identification(_) => Kick::NONE,
            Register::Bits(kind, word) => shared_bank(word)
                .map_or(Kick::NONE, |bank| self.write_bits(bank, kind, value as u32)),
            Register::Priority(first) => {
                let mut kick = Kick::NONE;
                for byte in 0..usize::from(size) {
                    if let Some(location) = shared_location(first + byte) {
                        kick |= self.set_priority(location, (value >> (8 * byte)) as u8);
                    }
                }
                kick
            }
            Register::Configuration(word) => configuration_bank(word)
                .map_or(Kick::NONE, |(bank, first)| {
                    self.write_configuration(bank, first, value as u32)
                }),
            Register::Router(intid, upper) => match shared_location(intid) {
                Some(location @ Location::Shared { index }) => {
                    let old = self.routes[index];
                    let new = match (size, upper) {
                        (8, _) => value,
                        (_, false) => (old & !0xffff_ffff) | (value & 0xffff_ffff),
                        (_, true) => (old & 0xffff_ffff) | (value << 32),
                    } & ROUTE_MASK;
                    self.routes[index] = new;
                    self.mark(location);
                    if new == old {
                        Kick::NONE
                    } else {
                        self.notify(location)
                    }
                }
                _ => Kick::NONE,
            },
        };
        Ok(kick)
    }
}

/// The SPIs that `GICD_ICFGR<word>` covers: their bank and first bit in it.
fn configuration_bank(word: usize) -> Option<(Bank, usize)> {
    let first_intid = word * 16;
    shared_location(first_intid).map(|_| {
        let index = first_intid - PRIVATE_INTERRUPT_COUNT;
        (Bank::Shared(index / 32), index % 32)
    })
}
