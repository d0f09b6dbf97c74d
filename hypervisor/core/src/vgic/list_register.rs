//! List entries and their `ICH_LR<n>_EL2` encoding (IHI 0069, section 12.4).
//!
//! Layout: State \[63:62\] (00 invalid, 01 pending, 10 active, 11 pending and
//! active), HW \[61\], Group \[60\], Priority \[55:48\], and vINTID \[31:0\]. With
//! HW set, pINTID is in \[44:32\] (revisions of IHI 0069 before the extended
//! INTID ranges gave it \[41:32\] and made \[44:42\] RES0, which agrees for
//! every INTID below 1024); with HW clear, bit 41 (EOI) asks for a maintenance
//! interrupt when the guest deactivates the interrupt. NMI \[59\] is not used.

/// The state of a list entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListState {
    /// 0b00: nothing, or the guest has finished with the interrupt.
    Invalid,
    /// 0b01: pending, not yet acknowledged.
    Pending,
    /// 0b10: acknowledged, not yet deactivated.
    Active,
    /// 0b11: active, and pending again.
    PendingActive,
}

impl ListState {
    /// The state with these pending and active parts.
    pub const fn from_bits(pending: bool, active: bool) -> Self {
        match (pending, active) {
            (false, false) => Self::Invalid,
            (true, false) => Self::Pending,
            (false, true) => Self::Active,
            (true, true) => Self::PendingActive,
        }
    }

    /// Whether the state includes pending.
    pub const fn pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }

    /// Whether the state includes active.
    pub const fn active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }

    /// The two-bit field value.
    const fn bits(self) -> u64 {
        match self {
            Self::Invalid => 0b00,
            Self::Pending => 0b01,
            Self::Active => 0b10,
            Self::PendingActive => 0b11,
        }
    }
}

/// One virtual interrupt in a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// The virtual INTID the guest sees.
    pub intid: u32,
    /// The priority; the CPU interface ignores the bits it does not implement.
    pub priority: u8,
    /// Group 1 (a virtual IRQ) rather than group 0 (a virtual FIQ).
    pub group1: bool,
    /// Pending, active, both, or neither.
    pub state: ListState,
    /// For a hardware-mapped interrupt (HW = 1), the physical INTID that the
    /// guest's deactivation deactivates.
    pub hardware: Option<u32>,
    /// Ask for an EOI maintenance interrupt when the guest deactivates the
    /// interrupt (the EOI bit; only without `hardware`).
    pub end_of_interrupt_maintenance: bool,
}

impl ListEntry {
    /// An unused list register.
    pub const EMPTY: Self = Self {
        intid: 0,
        priority: 0,
        group1: false,
        state: ListState::Invalid,
        hardware: None,
        end_of_interrupt_maintenance: false,
    };
}

/// State \[63:62\].
const STATE_SHIFT: u32 = 62;
/// HW \[61\].
const HARDWARE: u64 = 1 << 61;
/// Group \[60\].
const GROUP1: u64 = 1 << 60;
/// Priority \[55:48\].
const PRIORITY_SHIFT: u32 = 48;
/// pINTID \[44:32\], with HW set.
const PHYSICAL_SHIFT: u32 = 32;
/// The width of pINTID.
const PHYSICAL_MASK: u64 = 0x1fff;
/// EOI \[41\], with HW clear.
const END_OF_INTERRUPT: u64 = 1 << 41;

/// The `ICH_LR<n>_EL2` value of `entry`. A physical INTID wider than the
/// field is truncated to it.
pub const fn encode(entry: &ListEntry) -> u64 {
    let mut value = entry.state.bits() << STATE_SHIFT
        | (entry.priority as u64) << PRIORITY_SHIFT
        | entry.intid as u64;
    if entry.group1 {
        value |= GROUP1;
    }
    match entry.hardware {
        Some(physical) => {
            value |= HARDWARE | (physical as u64 & PHYSICAL_MASK) << PHYSICAL_SHIFT;
        }
        None => {
            if entry.end_of_interrupt_maintenance {
                value |= END_OF_INTERRUPT;
            }
        }
    }
    value
}

/// The entry an `ICH_LR<n>_EL2` value holds.
pub const fn decode(value: u64) -> ListEntry {
    let hardware = value & HARDWARE != 0;
    ListEntry {
        intid: value as u32,
        priority: (value >> PRIORITY_SHIFT) as u8,
        group1: value & GROUP1 != 0,
        state: ListState::from_bits(value & (1 << STATE_SHIFT) != 0, value >> 63 != 0),
        hardware: if hardware {
            Some(((value >> PHYSICAL_SHIFT) & PHYSICAL_MASK) as u32)
        } else {
            None
        },
        end_of_interrupt_maintenance: !hardware && value & END_OF_INTERRUPT != 0,
    }
}
