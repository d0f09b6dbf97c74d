//! Calls from the hypervisor to the platform firmware's PSCI (DEN0022) over SMC.

use crate::arch;

/// PSCI function identifiers the hypervisor calls.
mod function {
    pub const VERSION: u32 = 0x8400_0000;
    pub const CPU_ON: u32 = 0xc400_0003;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
}

/// An error PSCI returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciError(pub i32);

/// The firmware's PSCI version as (major, minor).
pub fn version() -> (u16, u16) {
    let value = arch::firmware_call(function::VERSION, 0, 0, 0) as u32;
    ((value >> 16) as u16, value as u16)
}

/// Starts the CPU with affinity `target` at `entry`, passing `context` in x0.
pub fn cpu_on(target: u64, entry: u64, context: u64) -> Result<(), PsciError> {
    match arch::firmware_call(function::CPU_ON, target, entry, context) as i32 {
        0 => Ok(()),
        error => Err(PsciError(error)),
    }
}

/// Powers the machine off.
pub fn system_off() -> ! {
    arch::firmware_call(function::SYSTEM_OFF, 0, 0, 0);
    // PSCI SYSTEM_OFF does not return; if firmware refuses, stay parked.
    loop {
        arch::wait_for_event();
    }
}
