//! The redistributors' registers (`GICR_*`, IHI 0069 sections 12.10 and 12.11)
//! as the guest sees them through trapped accesses.
//!
//! vCPU `v` owns the two 64 KiB frames at `v * REDISTRIBUTOR_STRIDE` in the
//! window: RD_base (control, identification, power) and SGI_base (its SGIs'
//! and PPIs' enable, pending, active, priority and configuration state).
//! Without LPIs, `GICR_CTLR` has no writable bit, and the LPI registers
//! (`GICR_PROPBASER`, `GICR_PENDBASER` ...) are reserved.

use super::{
    check_access, distributor::IMPLEMENTER, identification_register, require_size, AccessError,
    Bank, BitRegister, Kick, Location, VirtualGic, REDISTRIBUTOR_STRIDE,
};

/// The offset of the SGI_base frame within a vCPU's pair of frames.
const SGI_FRAME: u64 = 0x1_0000;
/// `GICR_TYPER.Last`: the last redistributor of the window.
const LAST: u64 = 1 << 4;
/// `GICR_WAKER.ProcessorSleep`.
const PROCESSOR_SLEEP: u32 = 1 << 1;
/// `GICR_WAKER.ChildrenAsleep`.
const CHILDREN_ASLEEP: u32 = 1 << 2;
/// `GICR_ICFGR0`: every SGI edge-triggered, read-only.
const SGI_CONFIGURATION: u32 = 0xaaaa_aaaa;

/// A redistributor register, decoded from its offset within a frame pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `GICR_CTLR`: reads as zero, no writable bit.
    Control,
    /// `GICR_IIDR`.
    Implementer,
    /// `GICR_TYPER`; the flag selects the upper 32 bits.
    Type(bool),
    /// `GICR_STATUSR`, `GICR_IGRPMODR0`, `GICR_NSACR`: read as zero, ignore writes.
    ReadAsZero,
    /// `GICR_WAKER`.
    Waker,
    /// A CoreSight identification register.
    Identification(u32),
    /// A bitmap register of the SGI_base frame.
    Bits(BitRegister),
    /// `GICR_IPRIORITYR<n>`, by the INTID of the byte addressed.
    Priority(usize),
    /// `GICR_ICFGR0` (SGIs).
    SgiConfiguration,
    /// `GICR_ICFGR1` (PPIs).
    PpiConfiguration,
}

impl Register {
    /// The register at `offset` within a frame pair, if any.
    fn at(offset: u64) -> Option<Self> {
        // Registers wider than a byte are found by the word that holds the
        // offset, so that a narrower access to them is refused for its size.
        let word = offset & !3;
        let register = match word {
            0x0000 => Self::Control,
            0x0004 => Self::Implementer,
            0x0008 => Self::Type(false),
            0x000c => Self::Type(true),
            0x0010 => Self::ReadAsZero,
            0x0014 => Self::Waker,
            _ if word < SGI_FRAME => Self::Identification(identification_register(word, 0x93)?),
            _ => match word - SGI_FRAME {
                block @ (0x0080 | 0x0100 | 0x0180 | 0x0200 | 0x0280 | 0x0300 | 0x0380) => {
                    Self::Bits(BitRegister::at(block)?)
                }
                0x0400..=0x041c => Self::Priority((offset - SGI_FRAME - 0x0400) as usize),
                0x0c00 => Self::SgiConfiguration,
                0x0c04 => Self::PpiConfiguration,
                0x0d00 | 0x0e00 => Self::ReadAsZero,
                _ => return None,
            },
        };
        Some(register)
    }

    /// The access sizes the register supports.
    fn sizes(self) -> &'static [u8] {
        match self {
            Self::Type(false) => &[4, 8],
            Self::Priority(_) => &[1, 4],
            _ => &[4],
        }
    }
}

impl VirtualGic {
    /// The vCPU and register an offset in the redistributor window names.
    fn redistributor_register(&self, offset: u64) -> Result<(usize, Register), AccessError> {
        let vcpu = offset / REDISTRIBUTOR_STRIDE;
        if vcpu >= self.vcpu_count as u64 {
            return Err(AccessError::BadVcpu);
        }
        let register =
            Register::at(offset % REDISTRIBUTOR_STRIDE).ok_or(AccessError::UnknownRegister)?;
        Ok((vcpu as usize, register))
    }

    /// `GICR_TYPER` of vCPU `vcpu`: affinity `0.0.0.vcpu`, processor number
    /// `vcpu`, `Last` on the last vCPU's, no LPIs.
    fn redistributor_type(&self, vcpu: usize) -> u64 {
        let last = if vcpu + 1 == self.vcpu_count { LAST } else { 0 };
        (vcpu as u64) << 32 | (vcpu as u64) << 8 | last
    }

    /// Reads `size` bytes (1, 2, 4 or 8) at `offset` in the redistributor
    /// window, which starts with vCPU 0's RD_base frame.
    pub fn redistributor_read(&mut self, offset: u64, size: u8) -> Result<u64, AccessError> {
        check_access(offset, size)?;
        let (vcpu, register) = self.redistributor_register(offset)?;
        require_size(size, register.sizes())?;
        let value = match register {
            Register::Control | Register::ReadAsZero => 0,
            Register::Implementer => u64::from(IMPLEMENTER),
            Register::Type(upper) => {
                let value = self.redistributor_type(vcpu);
                match (size, upper) {
                    (8, _) => value,
                    (_, false) => value & 0xffff_ffff,
                    (_, true) => value >> 32,
                }
            }
            Register::Waker => {
                let waker =
                    if self.processor_sleep[vcpu] { PROCESSOR_SLEEP | CHILDREN_ASLEEP } else { 0 };
                u64::from(waker)
            }
            Register::Identification(value) => u64::from(value),
            Register::Bits(kind) => u64::from(self.read_bits(Bank::Private(vcpu), kind)),
            Register::Priority(first) => (0..usize::from(size)).fold(0, |value, byte| {
                let location = Location::Private { vcpu, intid: first + byte };
                value | u64::from(self.priority(location)) << (8 * byte)
            }),
            Register::SgiConfiguration => u64::from(SGI_CONFIGURATION),
            Register::PpiConfiguration => {
                u64::from(self.read_configuration(Bank::Private(vcpu), 16))
            }
        };
        Ok(value)
    }

    /// Writes the low `size` bytes (1, 2, 4 or 8) of `value` at `offset` in
    /// the redistributor window.
    pub fn redistributor_write(
        &mut self,
        offset: u64,
        size: u8,
        value: u64,
    ) -> Result<Kick, AccessError> {
        check_access(offset, size)?;
        let (vcpu, register) = self.redistributor_register(offset)?;
        require_size(size, register.sizes())?;
        let kick = match register {
            Register::Control
            | Register::Implementer
            | Register::Type(_)
            | Register::ReadAsZero
            | Register::Identification(_)
            | Register::SgiConfiguration => Kick::NONE,
            Register::Waker => {
                // The model has no quiescing to wait for: ChildrenAsleep
                // follows ProcessorSleep at once. Delivery does not depend on
                // it, as in QEMU and KVM.
                self.processor_sleep[vcpu] = value as u32 & PROCESSOR_SLEEP != 0;
                Kick::NONE
            }
            Register::Bits(kind) => self.write_bits(Bank::Private(vcpu), kind, value as u32),
            Register::Priority(first) => {
                let mut kick = Kick::NONE;
                for byte in 0..usize::from(size) {
                    let location = Location::Private { vcpu, intid: first + byte };
                    kick |= self.set_priority(location, (value >> (8 * byte)) as u8);
                }
                kick
            }
            Register::PpiConfiguration => {
                self.write_configuration(Bank::Private(vcpu), 16, value as u32)
            }
        };
        Ok(kick)
    }
}
