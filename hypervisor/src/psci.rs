//! PSCI (DEN0022) as the guests see it.
//!
//! Guests call PSCI with SMC (trapped by HCR_EL2.TSC) or HVC. Each VM has one
//! vCPU for now, so the CPU-management functions answer as PSCI does for a
//! CPU that does not exist.

use crate::vm::{StopReason, Vcpu};
use hypercall_abi::Status;

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
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// PSCI_FEATURES.
    pub const FEATURES: u32 = 0x8400_000a;
}

/// PSCI return codes.
mod code {
    pub const SUCCESS: i64 = 0;
    pub const NOT_SUPPORTED: i64 = -1;
    pub const INVALID_PARAMETERS: i64 = -2;
}

/// PSCI 1.1.
const VERSION_1_1: u64 = 0x1_0001;

/// Handles a PSCI call; `Err` stops the VM.
pub fn handle(vcpu: &mut Vcpu, function: u32) -> Result<(), StopReason> {
    let argument = vcpu.registers.x[1];
    let result = match function {
        function::VERSION => VERSION_1_1 as i64,
        function::FEATURES => match argument as u32 {
            function::VERSION
            | function::CPU_OFF
            | function::CPU_ON_32
            | function::CPU_ON_64
            | function::AFFINITY_INFO_32
            | function::AFFINITY_INFO_64
            | function::SYSTEM_OFF
            | function::FEATURES => code::SUCCESS,
            _ => code::NOT_SUPPORTED,
        },
        function::SYSTEM_OFF => return Err(StopReason::PoweredOff),
        // The only vCPU is this one: any other target does not exist.
        function::CPU_ON_32 | function::CPU_ON_64 => code::INVALID_PARAMETERS,
        function::AFFINITY_INFO_32 | function::AFFINITY_INFO_64 => {
            if argument & 0xff_00ff_ffff == 0 {
                // ON.
                0
            } else {
                code::INVALID_PARAMETERS
            }
        }
        // The last vCPU going off is the VM powering off.
        function::CPU_OFF => return Err(StopReason::PoweredOff),
        _ => Status::NotSupported as i64,
    };
    vcpu.registers.x[0] = result as u64;
    Ok(())
}
