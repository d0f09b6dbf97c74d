//! PSCI 1.1 (DEN0022) as the guests see it.
//!
//! Guests call PSCI with SMC (trapped by HCR_EL2.TSC) or HVC. A vCPU's MPIDR
//! affinity is its index within the VM (Aff0), which is what the guest's
//! device tree gives as each CPU's `reg`.

use crate::trap::Outcome;
use crate::vcpu::Vcpu;
use crate::vm::{Power, StartPoint, StopReason};

/// PSCI function identifiers (SMC32 and SMC64 forms where both exist).
pub mod function {
    /// PSCI_VERSION.
    pub const VERSION: u32 = 0x8400_0000;
    /// CPU_OFF.
    pub const CPU_OFF: u32 = 0x8400_0002;
    /// CPU_ON, SMC32.
    pub const CPU_ON_32: u32 = 0x8400_0003;
    /// CPU_ON, SMC64.
    pub const CPU_ON_64: u32 = 0xc400_0003;
    /// AFFINITY_INFO, SMC32.
    pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
    /// AFFINITY_INFO, SMC64.
    pub const AFFINITY_INFO_64: u32 = 0xc400_0004;
    /// MIGRATE_INFO_TYPE.
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// SYSTEM_RESET.
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    /// PSCI_FEATURES.
    pub const FEATURES: u32 = 0x8400_000a;
}

/// PSCI return codes.
pub mod code {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// The function is not implemented.
    pub const NOT_SUPPORTED: i64 = -1;
    /// An argument is invalid (for instance, a CPU the VM does not have).
    pub const INVALID_PARAMETERS: i64 = -2;
    /// CPU_ON of a CPU that is on.
    pub const ALREADY_ON: i64 = -4;
}

/// PSCI 1.1.
const VERSION_1_1: i64 = 0x1_0001;
/// MIGRATE_INFO_TYPE: no Trusted OS that needs migrating.
const NO_TRUSTED_OS: i64 = 2;
/// AFFINITY_INFO states.
const AFFINITY_ON: i64 = 0;
const AFFINITY_OFF: i64 = 1;

/// The vCPU index an MPIDR value names, if the VM has that vCPU.
fn target(vcpu: &Vcpu, mpidr: u64) -> Option<usize> {
    // Aff3, Aff2, Aff1 must be zero; Aff0 is the index.
    let affinity = mpidr & 0xff_00ff_ffff;
    (affinity < vcpu.machine.vcpu_count() as u64).then_some(affinity as usize)
}

/// Handles a PSCI call; `Err` stops the VM.
pub fn handle(vcpu: &mut Vcpu, function: u32) -> Result<Outcome, StopReason> {
    let [_, first, second, third] =
        [vcpu.registers.x[0], vcpu.registers.x[1], vcpu.registers.x[2], vcpu.registers.x[3]];
    // SMC32 calls take 32-bit arguments.
    let narrow = |value: u64| {
        if function & (1 << 30) == 0 {
            value & 0xffff_ffff
        } else {
            value
        }
    };
    let result = match function {
        function::VERSION => VERSION_1_1,
        function::FEATURES => match first as u32 {
            function::VERSION
            | function::CPU_OFF
            | function::CPU_ON_32
            | function::CPU_ON_64
            | function::AFFINITY_INFO_32
            | function::AFFINITY_INFO_64
            | function::MIGRATE_INFO_TYPE
            | function::SYSTEM_OFF
            | function::SYSTEM_RESET
            | function::FEATURES => code::SUCCESS,
            _ => code::NOT_SUPPORTED,
        },
        function::MIGRATE_INFO_TYPE => NO_TRUSTED_OS,
        function::SYSTEM_OFF => return Err(StopReason::PoweredOff),
        function::SYSTEM_RESET => return Err(StopReason::Reset),
        function::CPU_OFF => return Ok(Outcome::PowerOff),
        function::CPU_ON_32 | function::CPU_ON_64 => match target(vcpu, narrow(first)) {
            None => code::INVALID_PARAMETERS,
            Some(index) => {
                let start = StartPoint { entry: narrow(second), context: narrow(third) };
                if vcpu.machine.power_on(index, start) {
                    code::SUCCESS
                } else {
                    code::ALREADY_ON
                }
            }
        },
        function::AFFINITY_INFO_32 | function::AFFINITY_INFO_64 => {
            match (target(vcpu, narrow(first)), narrow(second)) {
                (Some(index), 0) => match vcpu.machine.power(index) {
                    Power::On => AFFINITY_ON,
                    Power::Off => AFFINITY_OFF,
                },
                _ => code::INVALID_PARAMETERS,
            }
        }
        _ => code::NOT_SUPPORTED,
    };
    vcpu.registers.x[0] = result as u64;
    Ok(Outcome::Continue)
}
