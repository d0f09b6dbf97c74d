//! Decoding of `ESR_EL2` exception syndromes and of the faulting guest-physical address.
//!
//! Field positions follow the Arm Architecture Reference Manual, `ESR_EL2`
//! (chapter D17 in recent editions): EC in bits \[31:26\], IL in bit 25 and the
//! instruction-specific syndrome (ISS) in bits \[24:0\].

use crate::address::GuestPhysicalAddress;

/// The exception class, `ESR_EL2.EC`: what kind of event brought the CPU to EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionClass {
    /// 0x00: unknown reason, for example an undefined instruction.
    Unknown,
    /// 0x01: a trapped WFI or WFE.
    WfiWfe,
    /// 0x03: a trapped AArch32 MCR or MRC to coprocessor 15.
    Coprocessor15Access,
    /// 0x07: a trapped access to SVE, Advanced SIMD or floating point.
    SimdFloatingPoint,
    /// 0x0e: an illegal execution state.
    IllegalExecutionState,
    /// 0x15: an SVC from AArch64.
    Svc64,
    /// 0x16: an HVC from AArch64.
    Hvc64,
    /// 0x17: a trapped SMC from AArch64.
    Smc64,
    /// 0x18: a trapped MSR, MRS or system instruction from AArch64.
    SystemRegister64,
    /// 0x19: a trapped SVE access.
    Sve,
    /// 0x20: an instruction abort from a lower exception level.
    InstructionAbortLower,
    /// 0x21: an instruction abort taken without a change of exception level.
    InstructionAbortSame,
    /// 0x22: a PC alignment fault.
    PcAlignment,
    /// 0x24: a data abort from a lower exception level.
    DataAbortLower,
    /// 0x25: a data abort taken without a change of exception level.
    DataAbortSame,
    /// 0x26: an SP alignment fault.
    SpAlignment,
    /// 0x2c: a trapped floating-point exception from AArch64.
    FloatingPoint64,
    /// 0x2f: an SError interrupt.
    SError,
    /// 0x30: a breakpoint from a lower exception level.
    BreakpointLower,
    /// 0x31: a breakpoint taken without a change of exception level.
    BreakpointSame,
    /// 0x32: a software step from a lower exception level.
    SoftwareStepLower,
    /// 0x33: a software step taken without a change of exception level.
    SoftwareStepSame,
    /// 0x34: a watchpoint from a lower exception level.
    WatchpointLower,
    /// 0x35: a watchpoint taken without a change of exception level.
    WatchpointSame,
    /// 0x3c: a BRK instruction from AArch64.
    Brk64,
    /// Any other class, with its EC value.
    Other(u8),
}

impl ExceptionClass {
    /// Decodes a 6-bit EC value.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Unknown,
            0x01 => Self::WfiWfe,
            0x03 => Self::Coprocessor15Access,
            0x07 => Self::SimdFloatingPoint,
            0x0e => Self::IllegalExecutionState,
            0x15 => Self::Svc64,
            0x16 => Self::Hvc64,
            0x17 => Self::Smc64,
            0x18 => Self::SystemRegister64,
            0x19 => Self::Sve,
            0x20 => Self::InstructionAbortLower,
            0x21 => Self::InstructionAbortSame,
            0x22 => Self::PcAlignment,
            0x24 => Self::DataAbortLower,
            0x25 => Self::DataAbortSame,
            0x26 => Self::SpAlignment,
            0x2c => Self::FloatingPoint64,
            0x2f => Self::SError,
            0x30 => Self::BreakpointLower,
            0x31 => Self::BreakpointSame,
            0x32 => Self::SoftwareStepLower,
            0x33 => Self::SoftwareStepSame,
            0x34 => Self::WatchpointLower,
            0x35 => Self::WatchpointSame,
            0x3c => Self::Brk64,
            other => Self::Other(other),
        }
    }

    /// The 6-bit EC value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unknown => 0x00,
            Self::WfiWfe => 0x01,
            Self::Coprocessor15Access => 0x03,
            Self::SimdFloatingPoint => 0x07,
            Self::IllegalExecutionState => 0x0e,
            Self::Svc64 => 0x15,
            Self::Hvc64 => 0x16,
            Self::Smc64 => 0x17,
            Self::SystemRegister64 => 0x18,
            Self::Sve => 0x19,
            Self::InstructionAbortLower => 0x20,
            Self::InstructionAbortSame => 0x21,
            Self::PcAlignment => 0x22,
            Self::DataAbortLower => 0x24,
            Self::DataAbortSame => 0x25,
            Self::SpAlignment => 0x26,
            Self::FloatingPoint64 => 0x2c,
            Self::SError => 0x2f,
            Self::BreakpointLower => 0x30,
            Self::BreakpointSame => 0x31,
            Self::SoftwareStepLower => 0x32,
            Self::SoftwareStepSame => 0x33,
            Self::WatchpointLower => 0x34,
            Self::WatchpointSame => 0x35,
            Self::Brk64 => 0x3c,
            Self::Other(code) => code,
        }
    }

    /// A short description for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown reason",
            Self::WfiWfe => "WFI or WFE",
            Self::Coprocessor15Access => "AArch32 coprocessor 15 access",
            Self::SimdFloatingPoint => "SIMD or floating-point access",
            Self::IllegalExecutionState => "illegal execution state",
            Self::Svc64 => "SVC",
            Self::Hvc64 => "HVC",
            Self::Smc64 => "SMC",
            Self::SystemRegister64 => "system register access",
            Self::Sve => "SVE access",
            Self::InstructionAbortLower => "instruction abort from a lower level",
            Self::InstructionAbortSame => "instruction abort at the same level",
            Self::PcAlignment => "PC alignment fault",
            Self::DataAbortLower => "data abort from a lower level",
            Self::DataAbortSame => "data abort at the same level",
            Self::SpAlignment => "SP alignment fault",
            Self::FloatingPoint64 => "floating-point exception",
            Self::SError => "SError interrupt",
            Self::BreakpointLower => "breakpoint from a lower level",
            Self::BreakpointSame => "breakpoint at the same level",
            Self::SoftwareStepLower => "software step from a lower level",
            Self::SoftwareStepSame => "software step at the same level",
            Self::WatchpointLower => "watchpoint from a lower level",
            Self::WatchpointSame => "watchpoint at the same level",
            Self::Brk64 => "BRK instruction",
            Self::Other(_) => "other exception class",
        }
    }
}

/// A raw `ESR_EL2` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syndrome(pub u64);

impl Syndrome {
    /// The exception class, bits \[31:26\].
    pub const fn class(self) -> ExceptionClass {
        ExceptionClass::from_code(((self.0 >> 26) & 0x3f) as u8)
    }

    /// IL, bit 25: whether the trapped instruction was 32 bits long (always so in AArch64).
    pub const fn instruction_length_32bit(self) -> bool {
        self.0 & (1 << 25) != 0
    }

    /// The instruction-specific syndrome, bits \[24:0\].
    pub const fn iss(self) -> u32 {
        (self.0 & 0x1ff_ffff) as u32
    }

    /// The data abort syndrome, for the two data abort classes.
    pub const fn data_abort(self) -> Option<DataAbort> {
        match self.class() {
            ExceptionClass::DataAbortLower | ExceptionClass::DataAbortSame => {
                Some(DataAbort(self.iss()))
            }
            _ => None,
        }
    }

    /// The trapped MSR, MRS or system instruction, for class 0x18.
    pub const fn system_register_access(self) -> Option<SystemRegisterAccess> {
        match self.class() {
            ExceptionClass::SystemRegister64 => Some(SystemRegisterAccess(self.iss())),
            _ => None,
        }
    }

    /// Which wait instruction trapped, for class 0x01 (ISS bit 0, TI).
    pub const fn wait_instruction(self) -> Option<WaitInstruction> {
        match self.class() {
            ExceptionClass::WfiWfe if self.0 & 1 == 0 => Some(WaitInstruction::WaitForInterrupt),
            ExceptionClass::WfiWfe => Some(WaitInstruction::WaitForEvent),
            _ => None,
        }
    }

    /// The 16-bit immediate of an HVC or SMC, ISS bits \[15:0\].
    pub const fn call_immediate(self) -> Option<u16> {
        match self.class() {
            ExceptionClass::Hvc64 | ExceptionClass::Smc64 => Some(self.0 as u16),
            _ => None,
        }
    }
}

/// A trapped wait instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitInstruction {
    /// WFI (or WFIT): wait for an interrupt.
    WaitForInterrupt,
    /// WFE (or WFET): wait for an event.
    WaitForEvent,
}

/// The fault status code of an abort (DFSC or IFSC, ISS bits \[5:0\]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// The address is wider than the configured address size, at a walk level 0 to 3.
    AddressSize {
        /// Walk level.
        level: u8,
    },
    /// No valid descriptor for the address, at a walk level 0 to 3.
    Translation {
        /// Walk level.
        level: u8,
    },
    /// The descriptor's access flag is clear, at a walk level 0 to 3.
    AccessFlag {
        /// Walk level.
        level: u8,
    },
    /// The descriptor forbids the access, at a walk level 0 to 3.
    Permission {
        /// Walk level.
        level: u8,
    },
    /// A synchronous external abort, not on a table walk.
    SynchronousExternalAbort,
    /// A synchronous external abort on a table walk, at a walk level 0 to 3.
    SynchronousExternalAbortOnWalk {
        /// Walk level.
        level: u8,
    },
    /// A synchronous parity or ECC error, not on a table walk.
    ParityOrEcc,
    /// A synchronous parity or ECC error on a table walk, at a walk level 0 to 3.
    ParityOrEccOnWalk {
        /// Walk level.
        level: u8,
    },
    /// An alignment fault.
    Alignment,
    /// A TLB conflict abort.
    TlbConflict,
    /// Any other code.
    Other(u8),
}

impl FaultStatus {
    /// Decodes a 6-bit DFSC or IFSC.
    pub const fn from_code(code: u8) -> Self {
        let level = code & 0b11;
        match code & 0x3f {
            0x00..=0x03 => Self::AddressSize { level },
            0x04..=0x07 => Self::Translation { level },
            0x08..=0x0b => Self::AccessFlag { level },
            0x0c..=0x0f => Self::Permission { level },
            0x10 => Self::SynchronousExternalAbort,
            0x14..=0x17 => Self::SynchronousExternalAbortOnWalk { level },
            0x18 => Self::ParityOrEcc,
            0x1c..=0x1f => Self::ParityOrEccOnWalk { level },
            0x21 => Self::Alignment,
            0x30 => Self::TlbConflict,
            other => Self::Other(other),
        }
    }
}

/// The ISS of a data abort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort(u32);

/// The load or store that caused a data abort, when the syndrome describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAccess {
    /// Access size in bytes, from SAS: 1, 2, 4 or 8.
    pub size: u8,
    /// SSE: whether a load sign-extends the value.
    pub sign_extend: bool,
    /// SRT: the general-purpose register transferred; 31 means XZR/WZR.
    pub register: u8,
    /// SF: whether the register is 64 bits wide (`x`) rather than 32 (`w`).
    pub sixty_four_bit_register: bool,
    /// AR: whether the instruction has acquire or release semantics.
    pub acquire_release: bool,
}

impl DataAbort {
    /// The faulting load or store, if ISV (bit 24) says the syndrome holds it.
    ///
    /// Without it (for example for a load or store pair, or with writeback) the
    /// hypervisor cannot emulate the access from the syndrome alone.
    pub const fn access(self) -> Option<DataAccess> {
        if self.0 & (1 << 24) == 0 {
            return None;
        }
        Some(DataAccess {
            size: 1 << ((self.0 >> 22) & 0b11),
            sign_extend: self.0 & (1 << 21) != 0,
            register: ((self.0 >> 16) & 0x1f) as u8,
            sixty_four_bit_register: self.0 & (1 << 15) != 0,
            acquire_release: self.0 & (1 << 14) != 0,
        })
    }

    /// FnV, bit 10: whether `FAR_EL2` is not valid.
    pub const fn far_not_valid(self) -> bool {
        self.0 & (1 << 10) != 0
    }

    /// EA, bit 9: external abort type, implementation defined.
    pub const fn external_abort(self) -> bool {
        self.0 & (1 << 9) != 0
    }

    /// CM, bit 8: whether a cache maintenance instruction caused the abort.
    pub const fn cache_maintenance(self) -> bool {
        self.0 & (1 << 8) != 0
    }

    /// S1PTW, bit 7: whether the fault was on a stage-2 translation of a stage-1 table walk.
    pub const fn stage1_table_walk(self) -> bool {
        self.0 & (1 << 7) != 0
    }

    /// WnR, bit 6: whether the access was a write (also set for cache maintenance).
    pub const fn write(self) -> bool {
        self.0 & (1 << 6) != 0
    }

    /// DFSC, bits \[5:0\]: what kind of fault it was.
    pub const fn fault_status(self) -> FaultStatus {
        FaultStatus::from_code((self.0 & 0x3f) as u8)
    }
}

/// Packs a system register encoding into one comparable key:
/// `op0` (2 bits), `op1` (3), `crn` (4), `crm` (4) and `op2` (3), in that order.
///
/// Panics (at compile time when used in a constant) if a field is too wide.
pub const fn system_register(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> u32 {
    assert!(op0 < 4 && op1 < 8 && crn < 16 && crm < 16 && op2 < 8);
    (op0 as u32) << 14 | (op1 as u32) << 11 | (crn as u32) << 7 | (crm as u32) << 3 | op2 as u32
}

/// The ISS of a trapped MSR, MRS or system instruction (exception class 0x18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegisterAccess(u32);

impl SystemRegisterAccess {
    /// Op0, bits \[21:20\].
    pub const fn op0(self) -> u8 {
        ((self.0 >> 20) & 0b11) as u8
    }

    /// Op2, bits \[19:17\].
    pub const fn op2(self) -> u8 {
        ((self.0 >> 17) & 0b111) as u8
    }

    /// Op1, bits \[16:14\].
    pub const fn op1(self) -> u8 {
        ((self.0 >> 14) & 0b111) as u8
    }

    /// CRn, bits \[13:10\].
    pub const fn crn(self) -> u8 {
        ((self.0 >> 10) & 0xf) as u8
    }

    /// Rt, bits \[9:5\]: the general-purpose register transferred; 31 means XZR.
    pub const fn register(self) -> u8 {
        ((self.0 >> 5) & 0x1f) as u8
    }

    /// CRm, bits \[4:1\].
    pub const fn crm(self) -> u8 {
        ((self.0 >> 1) & 0xf) as u8
    }

    /// Direction, bit 0: whether this is a read (MRS) rather than a write (MSR).
    pub const fn is_read(self) -> bool {
        self.0 & 1 != 0
    }

    /// The register's key, to compare with [`system_register`] constants.
    pub const fn encoding(self) -> u32 {
        system_register(self.op0(), self.op1(), self.crn(), self.crm(), self.op2())
    }
}

/// The faulting guest-physical address of a stage-2 abort.
///
/// `HPFAR_EL2.FIPA`, bits \[43:4\], holds bits \[51:12\] of the address; the offset
/// within the page comes from `FAR_EL2[11:0]`.
pub const fn fault_ipa(hpfar_el2: u64, far_el2: u64) -> GuestPhysicalAddress {
    let page = ((hpfar_el2 >> 4) & ((1 << 40) - 1)) << 12;
    GuestPhysicalAddress::new(page | (far_el2 & 0xfff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_abort_word_store_translation_fault() {
        // EC 0x24, IL, ISV, SAS 0b10 (word), SRT 1, WnR, DFSC 0b000111.
        let syndrome = Syndrome(0x9381_0047);
        assert_eq!(syndrome.class(), ExceptionClass::DataAbortLower);
        assert!(syndrome.instruction_length_32bit());
        assert_eq!(syndrome.iss(), 0x0181_0047);
        let abort = syndrome.data_abort().unwrap();
        assert_eq!(
            abort.access(),
            Some(DataAccess {
                size: 4,
                sign_extend: false,
                register: 1,
                sixty_four_bit_register: false,
                acquire_release: false,
            })
        );
        assert!(abort.write());
        assert_eq!(abort.fault_status(), FaultStatus::Translation { level: 3 });
        assert!(!abort.far_not_valid() && !abort.external_abort());
        assert!(!abort.cache_maintenance() && !abort.stage1_table_walk());
    }

    #[test]
    fn data_abort_other_fields() {
        // EC 0x24, IL, ISV, SAS 0b11, SSE, SRT 30, SF, AR, read, permission fault level 2.
        let abort = Syndrome(0x93fe_c00e).data_abort().unwrap();
        assert_eq!(
            abort.access(),
            Some(DataAccess {
                size: 8,
                sign_extend: true,
                register: 30,
                sixty_four_bit_register: true,
                acquire_release: true,
            })
        );
        assert!(!abort.write());
        assert_eq!(abort.fault_status(), FaultStatus::Permission { level: 2 });

        // No ISV; FnV, EA, CM, S1PTW, WnR, translation fault level 1.
        let abort = Syndrome(0x9200_07c5).data_abort().unwrap();
        assert_eq!(abort.access(), None);
        assert!(abort.far_not_valid() && abort.external_abort() && abort.cache_maintenance());
        assert!(abort.stage1_table_walk() && abort.write());
        assert_eq!(abort.fault_status(), FaultStatus::Translation { level: 1 });

        // EC 0x25 with a synchronous external abort.
        let syndrome = Syndrome(0x9600_0210);
        assert_eq!(syndrome.class(), ExceptionClass::DataAbortSame);
        let abort = syndrome.data_abort().unwrap();
        assert_eq!(abort.fault_status(), FaultStatus::SynchronousExternalAbort);
        assert!(abort.external_abort());

        assert_eq!(Syndrome(0x5a00_0000).data_abort(), None);
    }

    #[test]
    fn fault_status_codes() {
        let cases = [
            (0x00, FaultStatus::AddressSize { level: 0 }),
            (0x03, FaultStatus::AddressSize { level: 3 }),
            (0x04, FaultStatus::Translation { level: 0 }),
            (0x09, FaultStatus::AccessFlag { level: 1 }),
            (0x0f, FaultStatus::Permission { level: 3 }),
            (0x10, FaultStatus::SynchronousExternalAbort),
            (0x15, FaultStatus::SynchronousExternalAbortOnWalk { level: 1 }),
            (0x18, FaultStatus::ParityOrEcc),
            (0x1e, FaultStatus::ParityOrEccOnWalk { level: 2 }),
            (0x21, FaultStatus::Alignment),
            (0x30, FaultStatus::TlbConflict),
            (0x11, FaultStatus::Other(0x11)),
            (0x3f, FaultStatus::Other(0x3f)),
        ];
        for (code, status) in cases {
            assert_eq!(FaultStatus::from_code(code), status, "code {code:#x}");
        }
    }

    #[test]
    fn system_register_read_and_write() {
        // MRS x2, ID_AA64MMFR0_EL1 (op0 3, op1 0, CRn 0, CRm 7, op2 0).
        let syndrome = Syndrome(0x6230_004f);
        assert_eq!(syndrome.class(), ExceptionClass::SystemRegister64);
        let access = syndrome.system_register_access().unwrap();
        assert!(access.is_read());
        assert_eq!(access.register(), 2);
        assert_eq!(
            (access.op0(), access.op1(), access.crn(), access.crm(), access.op2()),
            (3, 0, 0, 7, 0)
        );
        const ID_AA64MMFR0_EL1: u32 = system_register(3, 0, 0, 7, 0);
        assert_eq!(access.encoding(), ID_AA64MMFR0_EL1);

        // MSR ICC_SGI1R_EL1, x5 (op0 3, op1 0, CRn 12, CRm 11, op2 5).
        let access = Syndrome(0x623a_30b6).system_register_access().unwrap();
        assert!(!access.is_read());
        assert_eq!(access.register(), 5);
        assert_eq!(access.encoding(), system_register(3, 0, 12, 11, 5));
        assert_ne!(access.encoding(), ID_AA64MMFR0_EL1);

        assert_eq!(Syndrome(0x9381_0047).system_register_access(), None);
    }

    #[test]
    fn system_register_keys_are_distinct_per_field() {
        let base = system_register(3, 0, 0, 0, 0);
        for key in [
            system_register(2, 0, 0, 0, 0),
            system_register(3, 1, 0, 0, 0),
            system_register(3, 0, 1, 0, 0),
            system_register(3, 0, 0, 1, 0),
            system_register(3, 0, 0, 0, 1),
        ] {
            assert_ne!(key, base);
        }
        assert_eq!(system_register(3, 7, 15, 15, 7), 0xffff);
    }

    #[test]
    fn wait_and_calls() {
        // WFI and WFE from AArch64: CV 1, COND 0b1110, TI 0 or 1.
        assert_eq!(Syndrome(0x07e0_0000).class(), ExceptionClass::WfiWfe);
        assert_eq!(
            Syndrome(0x07e0_0000).wait_instruction(),
            Some(WaitInstruction::WaitForInterrupt)
        );
        assert_eq!(Syndrome(0x07e0_0001).wait_instruction(), Some(WaitInstruction::WaitForEvent));
        assert_eq!(Syndrome(0x5a00_0000).wait_instruction(), None);

        assert_eq!(Syndrome(0x5a00_0000).class(), ExceptionClass::Hvc64);
        assert_eq!(Syndrome(0x5a00_1234).call_immediate(), Some(0x1234));
        assert_eq!(Syndrome(0x5e00_0000).class(), ExceptionClass::Smc64);
        assert_eq!(Syndrome(0x5e00_0007).call_immediate(), Some(7));
        assert_eq!(Syndrome(0xf200_0000).call_immediate(), None);
    }

    #[test]
    fn classes() {
        assert_eq!(Syndrome(0xf200_0000).class(), ExceptionClass::Brk64);
        assert_eq!(Syndrome(0xbe00_0000).class(), ExceptionClass::SError);
        assert_eq!(Syndrome(0x8200_0007).class(), ExceptionClass::InstructionAbortLower);
        assert_eq!(Syndrome(0x0000_0000).class(), ExceptionClass::Unknown);
        assert!(!Syndrome(0x0000_0000).instruction_length_32bit());
        assert_eq!(Syndrome(0x3e00_0000).class(), ExceptionClass::Other(0x0f));
        // Bits above 31 do not disturb the class.
        assert_eq!(Syndrome(0xffff_ffff_5a00_0000).class(), ExceptionClass::Hvc64);
        for code in 0..64 {
            let class = ExceptionClass::from_code(code);
            assert_eq!(class.code(), code);
            assert!(!class.name().is_empty());
        }
        assert_eq!(ExceptionClass::DataAbortLower.name(), "data abort from a lower level");
    }

    #[test]
    fn fault_address() {
        let hpfar = 1 << 63 | 0x40_1230; // NS bit set, FIPA = 0x40123
        assert_eq!(fault_ipa(hpfar, 0xffff_0000_dead_b456), GuestPhysicalAddress::new(0x4012_3456));
        // The widest FIPA, IPA bits [51:12].
        assert_eq!(
            fault_ipa(0x0000_0fff_ffff_fff0, 0xfff),
            GuestPhysicalAddress::new(0x000f_ffff_ffff_ffff)
        );
    }
}
