//! Hypercalls: SMCCC calls from a guest, by HVC or trapped SMC.
//!
//! The function identifier in `w0` picks the service: Arm architecture calls,
//! PSCI, or the Elastos calls of the vendor-specific hypervisor range (see
//! `docs/hypercalls.md`). Unknown identifiers return `NOT_SUPPORTED` and the
//! guest goes on, as SMCCC requires.

use crate::psci;
use crate::trap::Outcome;
use crate::vcpu::Vcpu;
use crate::vm::StopReason;
use core::sync::atomic::{AtomicU64, Ordering};
use hypercall_abi::{
    call, owner_of, Status, CONSOLE_WRITE_MAX, OWNER_ARCHITECTURE, OWNER_STANDARD_SECURE,
    OWNER_VENDOR_HYPERVISOR, SERVICE_UID, VERSION_MAJOR, VERSION_MINOR,
};
use hypervisor_core::address::GuestPhysicalAddress;

/// Calls answered `NOT_SUPPORTED`, over all VMs.
#[no_mangle]
pub static UNSUPPORTED_CALLS: AtomicU64 = AtomicU64::new(0);

/// SMCCC_VERSION.
const SMCCC_VERSION: u32 = 0x8000_0000;

/// Handles the call in the vCPU's registers and writes its results there.
/// Kept out of line under a fixed name so the tests can break on it.
#[export_name = "handle_hypercall"]
#[inline(never)]
pub fn handle(vcpu: &mut Vcpu) -> Result<Outcome, StopReason> {
    let function = vcpu.registers.x[0] as u32;
    let result = match owner_of(function) {
        OWNER_ARCHITECTURE => architecture(function),
        OWNER_STANDARD_SECURE => return psci::handle(vcpu, function),
        OWNER_VENDOR_HYPERVISOR => elastos(vcpu, function)?,
        _ => Status::NotSupported.as_register(),
    };
    if result == Status::NotSupported.as_register() {
        UNSUPPORTED_CALLS.fetch_add(1, Ordering::Relaxed);
    }
    vcpu.registers.x[0] = result;
    Ok(Outcome::Continue)
}

fn architecture(function: u32) -> u64 {
    match function {
        // SMCCC 1.1.
        SMCCC_VERSION => 0x1_0001,
        // No optional architecture call (SMCCC_ARCH_FEATURES queries for
        // workarounds, TRNG) is offered.
        _ => Status::NotSupported.as_register(),
    }
}

fn elastos(vcpu: &mut Vcpu, function: u32) -> Result<u64, StopReason> {
    let arguments = &vcpu.registers.x;
    Ok(match function {
        call::VERSION => ((VERSION_MAJOR as u64) << 16) | VERSION_MINOR as u64,
        call::NULL => Status::Success.as_register(),
        call::CONSOLE_WRITE => console_write(vcpu, arguments[1], arguments[2]),
        call::VM_STOP => return Err(StopReason::Requested(arguments[1])),
        call::CALL_COUNT => 4,
        call::CALL_UID => {
            vcpu.registers.x[1] = SERVICE_UID[1] as u64;
            vcpu.registers.x[2] = SERVICE_UID[2] as u64;
            vcpu.registers.x[3] = SERVICE_UID[3] as u64;
            SERVICE_UID[0] as u64
        }
        call::REVISION => {
            vcpu.registers.x[1] = VERSION_MINOR as u64;
            VERSION_MAJOR as u64
        }
        _ => Status::NotSupported.as_register(),
    })
}

fn console_write(vcpu: &Vcpu, address: u64, length: u64) -> u64 {
    if length > CONSOLE_WRITE_MAX {
        return Status::InvalidParameter.as_register();
    }
    let mut buffer = [0u8; CONSOLE_WRITE_MAX as usize];
    let bytes = &mut buffer[..length as usize];
    match vcpu.machine.read_guest(GuestPhysicalAddress::new(address), bytes) {
        Ok(()) => {
            vcpu.machine.console_write(bytes);
            length
        }
        Err(_) => Status::InvalidParameter.as_register(),
    }
}
