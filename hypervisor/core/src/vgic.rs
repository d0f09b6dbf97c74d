//! A virtual GICv3 for one VM: its distributor, one redistributor per vCPU, and
//! the list-register protocol that carries its interrupts into the guest.
//!
//! The model follows the Arm "GIC architecture specification, GICv3 and GICv4"
//! (IHI 0069) as QEMU's `virt` machine presents it: a single Security state
//! (`GICD_CTLR.DS` reads as one), affinity routing always on (`ARE` reads as
//! one), no LPIs, no ITS, no message-based SPIs. INTIDs 0 to 15 are SGIs and
//! 16 to 31 PPIs, both private to a vCPU and programmed through its
//! redistributor; INTIDs 32 to 127 are SPIs, programmed through the
//! distributor and routed by `GICD_IROUTER<n>`. vCPU `n` has affinity
//! `0.0.0.n`.
//!
//! The hypervisor owns the real work: it traps the guest's accesses to the
//! distributor and redistributor windows and hands them to
//! [`VirtualGic::distributor_read`] and its siblings; it raises interrupts from
//! its devices with [`VirtualGic::set_level`] and [`VirtualGic::raise_edge`];
//! and it runs the list-register protocol below. Every call that may give a
//! vCPU something new to do, or may make what that vCPU holds in its list
//! registers stale, returns a [`Kick`] naming the vCPUs to poke.
//!
//! # The list-register protocol: flush and reload
//!
//! On every entry to vCPU `v` the hypervisor calls [`VirtualGic::take_candidates`],
//! which moves up to one interrupt per free list register out of the model and
//! marks it *listed* on `v`: first every interrupt active on `v` (so the guest's
//! deactivation finds it), then the pending, enabled interrupts of enabled
//! groups that target `v`, lowest priority value first and lowest INTID among
//! equals. The hypervisor writes them with [`encode`]. On every exit it reads
//! the same list registers back with [`decode`] and returns them with
//! [`VirtualGic::return_entries`], which merges the guest's progress
//! (acknowledge, end of interrupt, deactivation) back into the model. A listed
//! interrupt belongs to its list register: it is never listed twice, and
//! changes the guest makes to it through the distributor or a redistributor
//! meanwhile are applied when it comes back.
//!
//! Level-sensitive interrupts are pending while their line is asserted, except
//! while they are active: after the guest deactivates one whose line is still
//! high it becomes pending again. So that the model hears of that deactivation
//! at once, list entries of level-sensitive interrupts ask for an EOI
//! maintenance interrupt ([`ListEntry::end_of_interrupt_maintenance`]).
//! Hardware-mapped interrupts (the virtual timer) are deactivated in hardware
//! by the guest; their physical interrupt fires again if its source is still
//! asserted, so the model treats their line as consumed once the guest
//! acknowledges them.

mod distributor;
mod list_register;
mod redistributor;
#[cfg(test)]
mod tests;

pub use list_register::{decode, encode, ListEntry, ListState};

use core::ops::{BitOr, BitOrAssign};

/// The most vCPUs one VM may have.
pub const MAX_VCPUS: usize = 8;
/// SGIs and PPIs of each vCPU: INTIDs 0 to 31.
pub const PRIVATE_INTERRUPT_COUNT: usize = 32;
/// The number of SPIs, INTIDs 32 to 127: `GICD_TYPER.ITLinesNumber` is 3.
pub const SPI_COUNT: usize = 96;
/// One more than the highest implemented INTID.
pub const INTERRUPT_LIMIT: usize = PRIVATE_INTERRUPT_COUNT + SPI_COUNT;
/// The size of the distributor's register window.
pub const DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// The redistributor window holds one RD_base frame and one SGI_base frame of
/// 64 KiB each per vCPU, vCPU 0's first.
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// The priority bits implemented: five, as on a CPU interface with 32 priority
/// levels. The low three bits of every priority field read as zero.
pub const PRIORITY_MASK: u8 = 0xf8;

const _: () = assert!(SPI_COUNT.is_multiple_of(32) && INTERRUPT_LIMIT <= 1020);
const _: () = assert!(MAX_VCPUS <= u8::BITS as usize);

/// The number of SGIs, INTIDs 0 to 15.
const SGI_COUNT: usize = 16;
/// The lowest INTID a hardware-mapped list entry may name as its physical
/// interrupt: SGIs cannot be hardware-mapped.
const LOWEST_PHYSICAL_INTID: u32 = 16;
/// The first INTID that is special (1020 to 1023) or beyond the SPI range.
const SPECIAL_INTID: u32 = 1020;

/// The vCPUs the hypervisor should make look at the vGIC again: bit `n` stands
/// for vCPU `n`. Each named vCPU may have a new interrupt to take, or holds a
/// list register that no longer matches the model; a running one should exit
/// and re-enter (an SGI to its CPU does), a waiting one should wake. The bit of
/// the vCPU making the call may be set too; its own re-entry serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kick(pub u8);

impl Kick {
    /// Nobody.
    pub const NONE: Self = Self(0);

    /// Just vCPU `vcpu`; nobody if it is not below [`MAX_VCPUS`].
    pub const fn vcpu(vcpu: usize) -> Self {
        if vcpu < MAX_VCPUS {
            Self(1 << vcpu)
        } else {
            Self::NONE
        }
    }

    /// The vCPUs named by either.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether vCPU `vcpu` is named.
    pub const fn contains(self, vcpu: usize) -> bool {
        vcpu < MAX_VCPUS && self.0 & (1 << vcpu) != 0
    }

    /// Whether nobody is named.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The named vCPUs, lowest first.
    pub fn vcpus(self) -> impl Iterator<Item = usize> {
        (0..MAX_VCPUS).filter(move |&vcpu| self.contains(vcpu))
    }
}

impl BitOr for Kick {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        self.union(other)
    }
}

impl BitOrAssign for Kick {
    fn bitor_assign(&mut self, other: Self) {
        *self = self.union(other);
    }
}

/// Why a trapped register access was refused. The hypervisor decides what the
/// guest sees: reads of unknown registers as zero and writes ignored, as the
/// architecture requires of reserved locations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// No register at this offset (reserved, or a feature this GIC lacks).
    UnknownRegister,
    /// The register exists but not for an access of this size.
    BadSize,
    /// The offset is not a multiple of the access size.
    Misaligned,
    /// The redistributor offset lies past the last vCPU's frames.
    BadVcpu,
}

/// Why an interrupt could not be configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptError {
    /// The INTID is not a PPI or SPI this GIC implements.
    NoSuchInterrupt,
    /// The vCPU index is not below the VM's vCPU count.
    BadVcpu,
    /// The physical INTID is not a PPI or SPI (16 to 1019).
    BadPhysicalInterrupt,
}

/// What [`VirtualGic::take_candidates`] put in the slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// The number of slots filled, from the first.
    pub count: usize,
    /// More interrupts were waiting than there were slots: the hypervisor
    /// should ask for an underflow maintenance interrupt (`ICH_HCR_EL2.UIE`)
    /// so that it gets to refill the list registers.
    pub more_waiting: bool,
}

/// What the model remembers of an interrupt while a list register holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Listed {
    /// The vCPU whose list register holds it.
    vcpu: u8,
    /// The state written to the list register.
    state: ListState,
    /// Whether the pending latch moved into the list register (as opposed to
    /// a pending state that only reflects an asserted level-sensitive line).
    latch: bool,
    /// The guest cleared the pending state meanwhile: ignore the list
    /// register's.
    discard_pending: bool,
    /// The guest cleared the active state meanwhile: ignore the list
    /// register's.
    discard_active: bool,
}

/// The state of one interrupt (one INTID, or one SGI or PPI of one vCPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interrupt {
    /// `GICD_ISENABLER` / `GICR_ISENABLER0`.
    enabled: bool,
    /// The pending latch: set by an edge, an SGI or a write to `ISPENDR`;
    /// cleared when the guest acknowledges the interrupt or writes `ICPENDR`.
    /// A level-sensitive interrupt is also pending while its line is high.
    pending: bool,
    /// Active, unless it is listed (then the list register holds the state).
    active: bool,
    /// For an SPI, the vCPU whose guest acknowledged it: it stays there until
    /// deactivated, wherever it is routed meanwhile.
    active_vcpu: u8,
    /// The input line of a level-sensitive source.
    line: bool,
    /// Edge-triggered (`ICFGR` field bit 1 set) rather than level-sensitive.
    edge: bool,
    /// Group 1 (`IGROUPR` bit set) rather than group 0.
    group1: bool,
    /// The priority, masked by [`PRIORITY_MASK`]; lower values are more urgent.
    priority: u8,
    /// The physical INTID of a hardware-mapped interrupt.
    hardware: Option<u16>,
    /// Set while a list register holds the interrupt.
    listed: Option<Listed>,
}

impl Interrupt {
    /// The reset state. Groups reset to 1: the architecture leaves them
    /// UNKNOWN, and a VM is a Non-secure world that takes group 1 as IRQs.
    const fn reset(edge: bool) -> Self {
        Self {
            enabled: false,
            pending: false,
            active: false,
            active_vcpu: 0,
            line: false,
            edge,
            group1: true,
            priority: 0,
            hardware: None,
            listed: None,
        }
    }

    /// The pending state the listed entry carries because of the latch.
    fn listed_pending(&self) -> bool {
        self.listed
            .is_some_and(|listed| listed.state.pending() && listed.latch && !listed.discard_pending)
    }

    /// The active state the listed entry carries, as far as the model knows.
    fn listed_active(&self) -> bool {
        self.listed.is_some_and(|listed| listed.state.active() && !listed.discard_active)
    }

    /// Active, in the model or in the list register as written.
    fn is_active(&self) -> bool {
        self.active || self.listed_active()
    }

    /// Neither pending (latched or by level), nor active, nor listed:
    /// nothing to deliver until something changes it.
    fn is_quiet(&self) -> bool {
        !self.pending && !self.line && !self.active && self.listed.is_none()
    }

    /// Pending as `ISPENDR` reports it: the latch or an asserted level.
    fn pending_for_read(&self) -> bool {
        self.pending || self.listed_pending() || (!self.edge && self.line)
    }

    /// Pending as delivery sees it: an asserted level counts only while the
    /// interrupt is not active.
    fn pending_for_delivery(&self) -> bool {
        self.pending || self.listed_pending() || (!self.edge && self.line && !self.is_active())
    }

    /// A write of one to `ICPENDR`.
    fn clear_pending(&mut self) {
        self.pending = false;
        if let Some(listed) = &mut self.listed {
            listed.discard_pending = true;
        }
    }

    /// A write of one to `ICACTIVER`.
    fn clear_active(&mut self) {
        self.active = false;
        if let Some(listed) = &mut self.listed {
            listed.discard_active = true;
        }
    }

    /// A new level on the input line; a rising edge latches an edge-triggered
    /// interrupt.
    fn set_line(&mut self, asserted: bool) {
        if self.edge && asserted && !self.line {
            self.pending = true;
        }
        self.line = asserted;
    }
}

/// Where an interrupt's state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    /// SGI or PPI `intid` of vCPU `vcpu`.
    Private { vcpu: usize, intid: usize },
    /// SPI `32 + index`.
    Shared { index: usize },
}

impl Location {
    /// The INTID.
    fn intid(self) -> u32 {
        match self {
            Self::Private { intid, .. } => intid as u32,
            Self::Shared { index } => (PRIVATE_INTERRUPT_COUNT + index) as u32,
        }
    }
}

/// Thirty-two interrupts that one bitmap register word covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bank {
    /// The SGIs and PPIs of a vCPU.
    Private(usize),
    /// SPIs `32 + 32 * n` to `63 + 32 * n`.
    Shared(usize),
}

impl Bank {
    /// The interrupt of bit `bit`.
    fn location(self, bit: usize) -> Location {
        match self {
            Self::Private(vcpu) => Location::Private { vcpu, intid: bit },
            Self::Shared(word) => Location::Shared { index: word * 32 + bit },
        }
    }
}

/// The bitmap registers that come in set/clear pairs, plus the group register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitRegister {
    /// `IGROUPR`: read-write group bits.
    Group,
    /// `ISENABLER`: write one to enable.
    SetEnable,
    /// `ICENABLER`: write one to disable.
    ClearEnable,
    /// `ISPENDR`: write one to make pending.
    SetPending,
    /// `ICPENDR`: write one to clear the pending latch.
    ClearPending,
    /// `ISACTIVER`: write one to make active.
    SetActive,
    /// `ICACTIVER`: write one to deactivate.
    ClearActive,
}

impl BitRegister {
    /// The register whose 128-byte block starts at `block` (the same offsets
    /// in the distributor and in the SGI_base frame).
    fn at(block: u64) -> Option<Self> {
        match block {
            0x080 => Some(Self::Group),
            0x100 => Some(Self::SetEnable),
            0x180 => Some(Self::ClearEnable),
            0x200 => Some(Self::SetPending),
            0x280 => Some(Self::ClearPending),
            0x300 => Some(Self::SetActive),
            0x380 => Some(Self::ClearActive),
            _ => None,
        }
    }
}

/// The CoreSight identification registers at 0xFFD0 to 0xFFFC of the
/// distributor and of each RD_base frame, with the values of an Arm GIC-500 as
/// QEMU presents them; `part_number` is PIDR0 (0x92 distributor, 0x93
/// redistributor). PIDR2 reads 0x3B: architecture revision 3 in bits \[7:4\].
fn identification_register(offset: u64, part_number: u8) -> Option<u32> {
    let value = match offset {
        0xffd0 => 0x44,
        0xffd4..=0xffdc => 0,
        0xffe0 => part_number,
        0xffe4 => 0xb4,
        0xffe8 => 0x3b,
        0xffec => 0,
        0xfff0 => 0x0d,
        0xfff4 => 0xf0,
        0xfff8 => 0x05,
        0xfffc => 0xb1,
        _ => return None,
    };
    Some(u32::from(value))
}

/// Refuses access sizes other than 1, 2, 4 and 8 bytes, and misaligned offsets.
fn check_access(offset: u64, size: u8) -> Result<(), AccessError> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(AccessError::BadSize);
    }
    if !offset.is_multiple_of(u64::from(size)) {
        return Err(AccessError::Misaligned);
    }
    Ok(())
}

/// Refuses an access size the register does not support.
fn require_size(size: u8, allowed: &[u8]) -> Result<(), AccessError> {
    if allowed.contains(&size) {
        Ok(())
    } else {
        Err(AccessError::BadSize)
    }
}

/// The state of one VM's virtual GICv3.
#[derive(Clone, Debug)]
pub struct VirtualGic {
    /// The number of vCPUs, 1 to [`MAX_VCPUS`].
    vcpu_count: usize,
    /// `GICD_CTLR.EnableGrp0` (bit 0) and `EnableGrp1` (bit 1).
    control: u32,
    /// SPIs 32 to 127.
    shared: [Interrupt; SPI_COUNT],
    /// `GICD_IROUTER<n>` of each SPI, reserved bits cleared.
    routes: [u64; SPI_COUNT],
    /// SGIs and PPIs of each vCPU.
    private: [[Interrupt; PRIVATE_INTERRUPT_COUNT]; MAX_VCPUS],
    /// `GICR_WAKER.ProcessorSleep` of each redistributor.
    processor_sleep: [bool; MAX_VCPUS],
    /// SPIs (bit = index) that may be pending, active or listed: every
    /// change of an interrupt sets its bit, and a scan that finds it quiet
    /// (none of those) clears it. Scans look only at set bits.
    shared_interest: u128,
    /// The same for each vCPU's SGIs and PPIs (bit = INTID).
    private_interest: [u32; MAX_VCPUS],
}

/// The indices of the set bits of `bits`, lowest first.
fn set_bits(mut bits: u128) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if bits == 0 {
            return None;
        }
        let index = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(index)
    })
}

/// Every SPI's interest bit.
const ALL_SHARED: u128 = u128::MAX >> (128 - SPI_COUNT);

/// The state of a vCPU's SGIs (edge-triggered) and PPIs (level-sensitive) at reset.
const PRIVATE_RESET: [Interrupt; PRIVATE_INTERRUPT_COUNT] = {
    let mut interrupts = [Interrupt::reset(false); PRIVATE_INTERRUPT_COUNT];
    let mut intid = 0;
    while intid < SGI_COUNT {
        interrupts[intid].edge = true;
        intid += 1;
    }
    interrupts
};

impl VirtualGic {
    /// A GIC at reset for `vcpu_count` vCPUs: everything disabled, inactive
    /// and not pending, priorities 0, every interrupt in group 1, SPIs
    /// level-sensitive and routed to vCPU 0, every redistributor asleep
    /// (`GICR_WAKER.ProcessorSleep` set, as the architecture resets it).
    ///
    /// # Panics
    ///
    /// If `vcpu_count` is 0 or above [`MAX_VCPUS`] (at compile time when
    /// called in a constant).
    pub const fn new(vcpu_count: usize) -> Self {
        assert!(vcpu_count >= 1 && vcpu_count <= MAX_VCPUS, "a VM has 1 to MAX_VCPUS vCPUs");
        Self {
            vcpu_count,
            control: 0,
            shared: [Interrupt::reset(false); SPI_COUNT],
            routes: [0; SPI_COUNT],
            private: [PRIVATE_RESET; MAX_VCPUS],
            processor_sleep: [true; MAX_VCPUS],
            shared_interest: ALL_SHARED,
            private_interest: [u32::MAX; MAX_VCPUS],
        }
    }

    /// Marks interrupt `location` as worth a look at the next scan.
    fn mark(&mut self, location: Location) {
        match location {
            Location::Private { vcpu, intid } => self.private_interest[vcpu] |= 1 << intid,
            Location::Shared { index } => self.shared_interest |= 1 << index,
        }
    }

    /// Marks every interrupt: after a change that affects them all (group
    /// enables, routing).
    fn mark_all(&mut self) {
        self.shared_interest = ALL_SHARED;
        self.private_interest = [u32::MAX; MAX_VCPUS];
    }

    /// The number of vCPUs.
    pub const fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// Sets the level of the input line of PPI or SPI `intid`; `vcpu` picks
    /// the vCPU of a PPI and is ignored for an SPI. A level-sensitive
    /// interrupt is pending while its line is high (and not active); an
    /// edge-triggered one latches pending when the line rises.
    ///
    /// An SGI, an INTID this GIC does not implement or a vCPU out of range
    /// changes nothing and kicks nobody.
    pub fn set_level(&mut self, intid: u32, vcpu: usize, asserted: bool) -> Kick {
        if (intid as usize) < SGI_COUNT {
            return Kick::NONE;
        }
        let Some(location) = self.locate(intid, vcpu) else {
            return Kick::NONE;
        };
        let interrupt = self.interrupt_mut(location);
        let before = *interrupt;
        interrupt.set_line(asserted);
        if *interrupt == before {
            Kick::NONE
        } else {
            self.notify(location)
        }
    }

    /// Makes interrupt `intid` pending, as an edge on its line or a write to
    /// `ISPENDR` would; `vcpu` picks the vCPU of an SGI or PPI and is ignored
    /// for an SPI. An edge arriving while the interrupt is already pending
    /// merges with it.
    ///
    /// An INTID this GIC does not implement or a vCPU out of range changes
    /// nothing and kicks nobody.
    pub fn raise_edge(&mut self, intid: u32, vcpu: usize) -> Kick {
        let Some(location) = self.locate(intid, vcpu) else {
            return Kick::NONE;
        };
        self.interrupt_mut(location).pending = true;
        self.notify(location)
    }

    /// Emulates vCPU `sender` writing `value` to `ICC_SGI1R_EL1`: SGI
    /// `INTID[27:24]` becomes pending on every vCPU whose affinity
    /// `Aff3[55:48].Aff2[39:32].Aff1[23:16].(RS[47:44] * 16 + n)` has its bit
    /// `n` set in `TargetList[15:0]`, or with `IRM[40]` set on every vCPU but
    /// the sender. A Group 1 SGI reaches only targets that configured that SGI
    /// as group 1, as with `GICD_CTLR.DS` set. Targets that do not exist are
    /// ignored, as is a sender out of range.
    pub fn send_sgi(&mut self, sender: usize, value: u64) -> Kick {
        if sender >= self.vcpu_count {
            return Kick::NONE;
        }
        let intid = ((value >> 24) & 0xf) as usize;
        let mut targets = 0u32;
        if value & (1 << 40) != 0 {
            targets = ((1u32 << self.vcpu_count) - 1) & !(1 << sender);
        } else {
            let affinity1 = (value >> 16) & 0xff;
            let affinity2 = (value >> 32) & 0xff;
            let affinity3 = (value >> 48) & 0xff;
            let range = ((value >> 44) & 0xf) as usize;
            if affinity1 == 0 && affinity2 == 0 && affinity3 == 0 {
                for bit in 0..16 {
                    let affinity0 = range * 16 + bit;
                    if value & (1 << bit) != 0 && affinity0 < self.vcpu_count {
                        targets |= 1 << affinity0;
                    }
                }
            }
        }
        let mut kick = Kick::NONE;
        for vcpu in 0..self.vcpu_count {
            self.private_interest[vcpu] |= 1 << intid;
            let interrupt = &mut self.private[vcpu][intid];
            if targets & (1 << vcpu) != 0 && interrupt.group1 {
                interrupt.pending = true;
                kick |= self.notify(Location::Private { vcpu, intid });
            }
        }
        kick
    }

    /// Maps PPI or SPI `intid` (for a PPI, the one of vCPU `vcpu`) to
    /// physical interrupt `physical`, or removes the mapping with `None`. The
    /// list entries of a mapped interrupt have the HW bit set, so that the
    /// guest's deactivation also deactivates the physical interrupt; the
    /// hypervisor leaves the physical interrupt active until then.
    pub fn set_hardware_mapping(
        &mut self,
        intid: u32,
        vcpu: usize,
        physical: Option<u32>,
    ) -> Result<(), InterruptError> {
        if (intid as usize) < SGI_COUNT || intid as usize >= INTERRUPT_LIMIT {
            return Err(InterruptError::NoSuchInterrupt);
        }
        let location = self.locate(intid, vcpu).ok_or(InterruptError::BadVcpu)?;
        let hardware = match physical {
            Some(physical) if (LOWEST_PHYSICAL_INTID..SPECIAL_INTID).contains(&physical) => {
                Some(physical as u16)
            }
            Some(_) => return Err(InterruptError::BadPhysicalInterrupt),
            None => None,
        };
        self.interrupt_mut(location).hardware = hardware;
        Ok(())
    }

    /// Fills `slots` with the interrupts vCPU `vcpu` should see on entry and
    /// marks them listed on it: every interrupt active on `vcpu` first, then
    /// pending interrupts that are enabled, in an enabled group and targeted
    /// at `vcpu`, lowest priority value first and lowest INTID among equals.
    /// Interrupts still listed on `vcpu` from an entry whose list registers
    /// were never returned are taken back unchanged first.
    ///
    /// A vCPU out of range gets nothing.
    pub fn take_candidates(&mut self, vcpu: usize, slots: &mut [ListEntry]) -> Candidates {
        if vcpu >= self.vcpu_count {
            return Candidates::default();
        }
        self.restore_listed(vcpu);
        // Sort keys: class (0 active, 1 pending) in bits [25:24], priority in
        // [23:16], INTID in [15:0].
        let mut keys = [0u32; INTERRUPT_LIMIT];
        let mut found = 0;
        let (mut quiet_private, mut quiet_shared) = (0u32, 0u128);
        for location in self.locations_for(vcpu) {
            let interrupt = self.interrupt(location);
            if interrupt.listed.is_some() {
                continue;
            }
            if interrupt.is_quiet() {
                match location {
                    Location::Private { intid, .. } => quiet_private |= 1 << intid,
                    Location::Shared { index } => quiet_shared |= 1 << index,
                }
                continue;
            }
            let class = if interrupt.active {
                if self.active_vcpu(location) != vcpu {
                    continue;
                }
                0
            } else if self.deliverable(location) && self.target(location) == Some(vcpu) {
                1
            } else {
                continue;
            };
            keys[found] = class << 24 | u32::from(interrupt.priority) << 16 | location.intid();
            found += 1;
        }
        self.private_interest[vcpu] &= !quiet_private;
        self.shared_interest &= !quiet_shared;
        let keys = &mut keys[..found];
        keys.sort_unstable();
        let count = found.min(slots.len());
        for (slot, &key) in slots.iter_mut().zip(keys.iter()) {
            let intid = key & 0xffff;
            // The key was built from a location of this vCPU just above.
            if let Some(location) = self.locate(intid, vcpu) {
                *slot = self.list(location, vcpu);
            }
        }
        Candidates { count, more_waiting: found > slots.len() }
    }

    /// Merges the list registers of vCPU `vcpu`, read back on exit, into the
    /// model. `entries` must be exactly the entries [`Self::take_candidates`]
    /// filled at the last entry, in any order, with their current states
    /// ([`ListState::Invalid`] once the guest has finished with one).
    ///
    /// An entry for an interrupt not listed on `vcpu` is ignored; an
    /// interrupt listed on `vcpu` without an entry comes back as it was
    /// listed. Returns the vCPUs that may now have something to take, such as
    /// the new target of an SPI rerouted while it was listed.
    pub fn return_entries(&mut self, vcpu: usize, entries: &[ListEntry]) -> Kick {
        if vcpu >= self.vcpu_count {
            return Kick::NONE;
        }
        let mut kick = Kick::NONE;
        for entry in entries {
            let Some(location) = self.locate(entry.intid, vcpu) else {
                continue;
            };
            if self.listed_on(location) == Some(vcpu) {
                self.merge(location, vcpu, entry.state);
                kick |= self.notify(location);
            }
        }
        for location in self.locations_for(vcpu) {
            if let Some(listed) = self.interrupt(location).listed {
                if usize::from(listed.vcpu) == vcpu {
                    self.merge(location, vcpu, listed.state);
                    kick |= self.notify(location);
                }
            }
        }
        kick
    }

    /// Whether vCPU `vcpu` has an interrupt to take: pending, not active,
    /// enabled, in an enabled group and targeted at it (counting what its list
    /// registers held when it last entered). For deciding whether a WFI
    /// should wait; the guest's priority mask is not considered.
    pub fn has_pending(&self, vcpu: usize) -> bool {
        if vcpu >= self.vcpu_count {
            return false;
        }
        self.locations_for(vcpu).any(|location| {
            let interrupt = self.interrupt(location);
            match interrupt.listed {
                Some(listed) if usize::from(listed.vcpu) != vcpu => false,
                _ => {
                    !interrupt.is_active()
                        && self.deliverable(location)
                        && self.delivery_vcpu(location) == Some(vcpu)
                }
            }
        })
    }

    /// Where interrupt `intid` of vCPU `vcpu` lives, if it exists.
    fn locate(&self, intid: u32, vcpu: usize) -> Option<Location> {
        let intid = intid as usize;
        if intid < PRIVATE_INTERRUPT_COUNT {
            (vcpu < self.vcpu_count).then_some(Location::Private { vcpu, intid })
        } else if intid < INTERRUPT_LIMIT {
            Some(Location::Shared { index: intid - PRIVATE_INTERRUPT_COUNT })
        } else {
            None
        }
    }

    fn interrupt(&self, location: Location) -> &Interrupt {
        match location {
            Location::Private { vcpu, intid } => &self.private[vcpu][intid],
            Location::Shared { index } => &self.shared[index],
        }
    }

    fn interrupt_mut(&mut self, location: Location) -> &mut Interrupt {
        self.mark(location);
        match location {
            Location::Private { vcpu, intid } => &mut self.private[vcpu][intid],
            Location::Shared { index } => &mut self.shared[index],
        }
    }

    /// The private interrupts of `vcpu`, then every SPI.
    fn locations_for(&self, vcpu: usize) -> impl Iterator<Item = Location> {
        let private = set_bits(u128::from(self.private_interest[vcpu]))
            .map(move |intid| Location::Private { vcpu, intid });
        let shared = set_bits(self.shared_interest).map(|index| Location::Shared { index });
        private.chain(shared)
    }

    /// Every interrupt of the VM.
    fn all_locations(&self) -> impl Iterator<Item = Location> {
        let private = (0..self.vcpu_count).flat_map(|vcpu| {
            (0..PRIVATE_INTERRUPT_COUNT).map(move |intid| Location::Private { vcpu, intid })
        });
        let shared = (0..SPI_COUNT).map(|index| Location::Shared { index });
        private.chain(shared)
    }

    /// The vCPU an SPI's route names: `Interrupt_Routing_Mode` set means vCPU
    /// 0 (this GIC does not do 1-of-N distribution, `GICD_TYPER.No1N`), and an
    /// affinity that names no vCPU means nobody until the guest reroutes it.
    fn route_target(&self, index: usize) -> Option<usize> {
        let route = self.routes[index];
        if route & distributor::ROUTING_MODE_ANY != 0 {
            return Some(0);
        }
        let affinity0 = (route & 0xff) as usize;
        let higher_affinity = route & distributor::HIGHER_AFFINITY;
        (higher_affinity == 0 && affinity0 < self.vcpu_count).then_some(affinity0)
    }

    /// The vCPU a pending interrupt is delivered to, ignoring its active state.
    fn target(&self, location: Location) -> Option<usize> {
        match location {
            Location::Private { vcpu, .. } => Some(vcpu),
            Location::Shared { index } => self.route_target(index),
        }
    }

    /// The vCPU an interrupt is active on.
    fn active_vcpu(&self, location: Location) -> usize {
        match location {
            Location::Private { vcpu, .. } => vcpu,
            Location::Shared { index } => usize::from(self.shared[index].active_vcpu),
        }
    }

    /// The vCPU a list register of which holds the interrupt.
    fn listed_on(&self, location: Location) -> Option<usize> {
        self.interrupt(location).listed.map(|listed| usize::from(listed.vcpu))
    }

    /// The vCPU that should hold the interrupt next: the one holding it now,
    /// or the one it is active on, or its target.
    fn delivery_vcpu(&self, location: Location) -> Option<usize> {
        let interrupt = self.interrupt(location);
        if let Some(vcpu) = self.listed_on(location) {
            Some(vcpu)
        } else if interrupt.active {
            Some(self.active_vcpu(location))
        } else {
            self.target(location)
        }
    }

    /// Whether the group of an interrupt is enabled in `GICD_CTLR`.
    fn group_enabled(&self, group1: bool) -> bool {
        let bit = if group1 { distributor::ENABLE_GROUP1 } else { distributor::ENABLE_GROUP0 };
        self.control & bit != 0
    }

    /// Pending (for delivery), enabled, and in an enabled group.
    fn deliverable(&self, location: Location) -> bool {
        let interrupt = self.interrupt(location);
        interrupt.enabled
            && self.group_enabled(interrupt.group1)
            && interrupt.pending_for_delivery()
    }

    /// The vCPUs to kick after the interrupt changed: the one holding it in a
    /// list register (which may now be stale), or the one it can be delivered
    /// to.
    fn notify(&self, location: Location) -> Kick {
        if let Some(vcpu) = self.listed_on(location) {
            Kick::vcpu(vcpu)
        } else if self.deliverable(location) {
            self.delivery_vcpu(location).map_or(Kick::NONE, Kick::vcpu)
        } else {
            Kick::NONE
        }
    }

    /// [`Self::notify`] for every interrupt, after a change that affects them all.
    fn notify_all(&self) -> Kick {
        self.all_locations().fold(Kick::NONE, |kick, location| kick | self.notify(location))
    }

    /// Moves an interrupt into a list entry for `vcpu` and marks it listed.
    fn list(&mut self, location: Location, vcpu: usize) -> ListEntry {
        let deliverable = self.deliverable(location);
        let interrupt = self.interrupt_mut(location);
        let active = interrupt.active;
        // The pending state of a hardware-mapped interrupt that is active
        // waits in the model: a hardware entry cannot be pending and active.
        let pending = deliverable && !(active && interrupt.hardware.is_some());
        let state = ListState::from_bits(pending, active);
        let latch = pending && interrupt.pending;
        if latch {
            interrupt.pending = false;
        }
        interrupt.active = false;
        interrupt.listed = Some(Listed {
            vcpu: vcpu as u8,
            state,
            latch,
            discard_pending: false,
            discard_active: false,
        });
        ListEntry {
            intid: location.intid(),
            priority: interrupt.priority,
            group1: interrupt.group1,
            state,
            hardware: interrupt.hardware.map(u32::from),
            end_of_interrupt_maintenance: !interrupt.edge && interrupt.hardware.is_none(),
        }
    }

    /// Takes back an interrupt listed on `vcpu` whose list register now says
    /// `state`.
    fn merge(&mut self, location: Location, vcpu: usize, state: ListState) {
        let interrupt = self.interrupt_mut(location);
        let Some(listed) = interrupt.listed.take() else {
            return;
        };
        let acknowledged = listed.state.pending() && !state.pending();
        if state.pending() && listed.latch && !listed.discard_pending {
            interrupt.pending = true;
        }
        if acknowledged && interrupt.hardware.is_some() && !interrupt.edge {
            // The physical interrupt fires again if its source is still high.
            interrupt.line = false;
        }
        if state.active() && !listed.discard_active {
            interrupt.active = true;
            interrupt.active_vcpu = vcpu as u8;
        }
    }

    /// Takes back, unchanged, everything still listed on `vcpu`.
    fn restore_listed(&mut self, vcpu: usize) {
        for location in self.locations_for(vcpu) {
            if let Some(listed) = self.interrupt(location).listed {
                if usize::from(listed.vcpu) == vcpu {
                    self.merge(location, vcpu, listed.state);
                }
            }
        }
    }

    /// The 32 bits of a bitmap register over `bank`.
    fn read_bits(&self, bank: Bank, register: BitRegister) -> u32 {
        (0..32).fold(0, |value, bit| {
            let interrupt = self.interrupt(bank.location(bit));
            let set = match register {
                BitRegister::Group => interrupt.group1,
                BitRegister::SetEnable | BitRegister::ClearEnable => interrupt.enabled,
                BitRegister::SetPending | BitRegister::ClearPending => interrupt.pending_for_read(),
                BitRegister::SetActive | BitRegister::ClearActive => interrupt.is_active(),
            };
            value | u32::from(set) << bit
        })
    }

    /// Writes `value` to a bitmap register over `bank`. Set and clear
    /// registers act on the bits written as one; the group register takes
    /// every bit.
    fn write_bits(&mut self, bank: Bank, register: BitRegister, value: u32) -> Kick {
        let mut kick = Kick::NONE;
        for bit in 0..32 {
            let one = value & (1 << bit) != 0;
            if register != BitRegister::Group && !one {
                continue;
            }
            let location = bank.location(bit);
            let owner = self.delivery_vcpu(location).unwrap_or(0) as u8;
            let interrupt = self.interrupt_mut(location);
            let before = *interrupt;
            match register {
                BitRegister::Group => interrupt.group1 = one,
                BitRegister::SetEnable => interrupt.enabled = true,
                BitRegister::ClearEnable => interrupt.enabled = false,
                BitRegister::SetPending => interrupt.pending = true,
                BitRegister::ClearPending => interrupt.clear_pending(),
                BitRegister::SetActive => {
                    if !interrupt.active {
                        interrupt.active = true;
                        interrupt.active_vcpu = owner;
                    }
                }
                BitRegister::ClearActive => interrupt.clear_active(),
            }
            if *interrupt != before {
                kick |= self.notify(location);
            }
        }
        kick
    }

    /// The priority byte of an interrupt.
    fn priority(&self, location: Location) -> u8 {
        self.interrupt(location).priority
    }

    /// Writes the priority byte of an interrupt; the unimplemented low bits
    /// are dropped.
    fn set_priority(&mut self, location: Location, value: u8) -> Kick {
        let interrupt = self.interrupt_mut(location);
        let priority = value & PRIORITY_MASK;
        if interrupt.priority == priority {
            return Kick::NONE;
        }
        interrupt.priority = priority;
        self.notify(location)
    }

    /// The `ICFGR` fields of 16 interrupts starting at bit `first` of `bank`:
    /// bit `2k + 1` set for edge-triggered, bit `2k` reserved.
    fn read_configuration(&self, bank: Bank, first: usize) -> u32 {
        (0..16).fold(0, |value, field| {
            let edge = self.interrupt(bank.location(first + field)).edge;
            value | u32::from(edge) << (2 * field + 1)
        })
    }

    /// Writes the `ICFGR` fields of 16 interrupts starting at bit `first` of
    /// `bank`. SGIs stay edge-triggered.
    fn write_configuration(&mut self, bank: Bank, first: usize, value: u32) -> Kick {
        let mut kick = Kick::NONE;
        for field in 0..16 {
            let location = bank.location(first + field);
            if matches!(location, Location::Private { intid, .. } if intid < SGI_COUNT) {
                continue;
            }
            let interrupt = self.interrupt_mut(location);
            let edge = value & (1 << (2 * field + 1)) != 0;
            if interrupt.edge != edge {
                interrupt.edge = edge;
                kick |= self.notify(location);
            }
        }
        kick
    }
}
