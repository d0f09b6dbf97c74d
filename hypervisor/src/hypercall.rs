//! Hypercalls: SMCCC calls from a guest, by HVC or trapped SMC.
//!
//! The function identifier in `w0` picks the service: Arm architecture calls,
//! PSCI, or the Elastos calls of the vendor-specific hypervisor range (see
//! `docs/hypercalls.md`). Unknown identifiers return `NOT_SUPPORTED` and the
//! guest goes on, as SMCCC requires.

use crate::trap::Outcome;
use crate::vcpu::Vcpu;
use crate::vm::{self, StopReason};
use crate::{channel, psci};
use core::sync::atomic::{AtomicU64, Ordering};
use hypercall_abi::{
    call, owner_of, Status, CONSOLE_WRITE_MAX, OWNER_ARCHITECTURE, OWNER_STANDARD_SECURE,
    OWNER_VENDOR_HYPERVISOR, SERVICE_UID, VERSION_MAJOR, VERSION_MINOR,
};
use hypervisor_core::address::GuestPhysicalAddress;

/// Calls answered `NOT_SUPPORTED`, over all VMs.
#[no_mangle]
pub static UNSUPPORTED_CALLS: AtomicU64 = AtomicU64::new(0);

/// Bad hypercalls of each VM: unknown functions, and Elastos calls refused
/// as denied or with invalid parameters. Read by the tests.
#[no_mangle]
pub static VM_BAD_HYPERCALLS: [AtomicU64; vm::MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; vm::MACHINE_COUNT];

/// A VM's allowance of bad hypercalls: a token bucket that holds at most
/// [`Budget::BURST`] calls and refills at [`Budget::RATE`] calls a second. A
/// VM that finds it empty is in a hypercall storm and faults.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    tokens: u64,
    /// The physical count when `tokens` was last brought up to date.
    updated: u64,
}

impl Budget {
    /// The most bad calls in one burst.
    pub const BURST: u64 = 10_000;
    /// Bad calls a second a VM may make for ever.
    pub const RATE: u64 = 1_000;

    /// A full bucket.
    pub fn full() -> Self {
        Self { tokens: Self::BURST, updated: crate::arch::physical_count() }
    }

    /// Spends one token; false when none is left.
    fn spend(&mut self) -> bool {
        let now = crate::arch::physical_count();
        let frequency = boards::qemu_virt::COUNTER_FREQUENCY;
        let earned = now.saturating_sub(self.updated).saturating_mul(Self::RATE) / frequency;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(Self::BURST);
            self.updated = now;
        }
        match self.tokens.checked_sub(1) {
            Some(left) => {
                self.tokens = left;
                true
            }
            None => false,
        }
    }
}

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
    vcpu.registers.x[0] = result;
    if result == Status::NotSupported.as_register() {
        UNSUPPORTED_CALLS.fetch_add(1, Ordering::Relaxed);
    }
    // Success and every result that is not an error status are positive;
    // only refusals count as bad calls.
    if (result as i64) < 0
        && matches!(
            Status::from_register(result),
            Some(Status::NotSupported | Status::Denied | Status::InvalidParameter)
        )
    {
        bad_call(vcpu)?;
    }
    Ok(Outcome::Continue)
}

/// Counts a bad call of `vcpu`'s VM against its budget.
fn bad_call(vcpu: &Vcpu) -> Result<(), StopReason> {
    VM_BAD_HYPERCALLS[vcpu.machine.index].fetch_add(1, Ordering::Relaxed);
    if vcpu.machine.hypercall_budget.lock().spend() {
        Ok(())
    } else {
        Err(StopReason::HypercallStorm)
    }
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
        call::VM_INFO => {
            let machine = vcpu.machine;
            vcpu.registers.x[1] = machine.index as u64;
            vcpu.registers.x[2] = vm::VM_STARTS[machine.index].load(Ordering::SeqCst);
            vcpu.registers.x[3] = machine.description.channels.len() as u64;
            Status::Success.as_register()
        }
        call::CHANNEL_INFO => channel_info(vcpu, arguments[1], arguments[2]),
        call::CHANNEL_NOTIFY => channel::notify(vcpu.machine, arguments[1]).as_register(),
        call::MEMORY_INFO => {
            let description = vcpu.machine.description;
            if description.devices.is_empty() {
                Status::Denied.as_register()
            } else {
                vcpu.registers.x[1] = description.guest_memory_base;
                vcpu.registers.x[2] = description.memory.base;
                vcpu.registers.x[3] = description.memory.size;
                Status::Success.as_register()
            }
        }
        call::CALL_COUNT => 8,
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

fn channel_info(vcpu: &Vcpu, index: u64, address: u64) -> u64 {
    let Some(info) =
        usize::try_from(index).ok().and_then(|index| channel::info(vcpu.machine, index))
    else {
        channel::VM_CHANNEL_DENIALS[vcpu.machine.index].fetch_add(1, Ordering::Relaxed);
        return Status::InvalidParameter.as_register();
    };
    match vcpu.machine.write_guest(GuestPhysicalAddress::new(address), &info.to_bytes()) {
        Ok(()) => Status::Success.as_register(),
        Err(_) => Status::InvalidParameter.as_register(),
    }
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
