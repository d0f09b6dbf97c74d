//! What the hypervisor does when a guest traps.

use crate::arch::ExceptionKind;
use crate::vcpu::Vcpu;
use crate::vm::StopReason;
use crate::{emulation, hypercall, interrupts, log};
use aarch64_cpu::registers::{
    Readable, Writeable, ELR_EL1, ESR_EL1, ESR_EL2, FAR_EL2, HPFAR_EL2, SPSR_EL1, VBAR_EL1,
};
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::exception::{
    fault_ipa, system_register, ExceptionClass, Syndrome, SystemRegisterAccess,
};

/// System-register accesses the hypervisor refused with an UNDEFINED
/// exception, over all VMs.
#[no_mangle]
pub static UNDEFINED_INJECTED: AtomicU64 = AtomicU64::new(0);

/// What the vCPU does after a handled trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go back into the guest.
    Continue,
    /// This vCPU is off (PSCI `CPU_OFF`): leave the CPU.
    PowerOff,
    /// The guest waits for an interrupt (WFI) and none is pending.
    Wait,
}

/// ICC_SGI1R_EL1: generate a group 1 SGI.
const SGI_GROUP1: u32 = system_register(3, 0, 12, 11, 5);
/// ICC_ASGI1R_EL1: generate an SGI for the other security state (one state here).
const SGI_ALTERNATE_GROUP1: u32 = system_register(3, 1, 12, 11, 6);
/// ICC_SGI0R_EL1: generate a group 0 SGI.
const SGI_GROUP0: u32 = system_register(3, 2, 12, 11, 7);

/// Handles one exit from `vcpu`. `Err` means the VM must stop.
pub fn handle(vcpu: &mut Vcpu, kind: ExceptionKind) -> Result<Outcome, StopReason> {
    // Bit 4 of SPSR is M[4]: set when the guest was in AArch32 state.
    if vcpu.registers.pstate & (1 << 4) != 0 {
        return Err(StopReason::Aarch32);
    }
    match kind {
        ExceptionKind::Synchronous => handle_synchronous(vcpu),
        ExceptionKind::SystemError => Err(StopReason::SystemError { syndrome: ESR_EL2.get() }),
        ExceptionKind::Irq | ExceptionKind::Fiq => {
            interrupts::handle(Some(vcpu));
            Ok(Outcome::Continue)
        }
    }
}

fn handle_synchronous(vcpu: &mut Vcpu) -> Result<Outcome, StopReason> {
    let syndrome = Syndrome(ESR_EL2.get());
    match syndrome.class() {
        // ELR_EL2 already points past the HVC.
        ExceptionClass::Hvc64 => hypercall::handle(vcpu),
        ExceptionClass::Smc64 => {
            // A trapped SMC leaves ELR_EL2 on the SMC itself.
            vcpu.registers.pc += 4;
            hypercall::handle(vcpu)
        }
        ExceptionClass::WfiWfe => {
            vcpu.registers.pc += 4;
            if vcpu.has_pending_interrupt() || vcpu.machine.leaving() {
                Ok(Outcome::Continue)
            } else {
                Ok(Outcome::Wait)
            }
        }
        ExceptionClass::DataAbortLower => {
            let address = fault_ipa(HPFAR_EL2.get(), FAR_EL2.get());
            match emulation::data_abort(vcpu, syndrome, address) {
                Some(result) => result.map(|()| Outcome::Continue),
                None => stage2_fault(vcpu, syndrome.0),
            }
        }
        ExceptionClass::InstructionAbortLower => stage2_fault(vcpu, syndrome.0),
        ExceptionClass::SystemRegister64 => {
            let access =
                syndrome.system_register_access().expect("EC 0x18 has a system-register ISS");
            system_register_access(vcpu, access);
            Ok(Outcome::Continue)
        }
        _ => Err(StopReason::UnexpectedTrap { syndrome: syndrome.0, pc: vcpu.registers.pc }),
    }
}

/// A guest touched an address its stage-2 tables do not map and no device
/// emulates: the VM stops. Kept out of line so the tests can break on it.
#[no_mangle]
#[inline(never)]
pub fn stage2_fault(vcpu: &mut Vcpu, syndrome: u64) -> Result<Outcome, StopReason> {
    let address = fault_ipa(HPFAR_EL2.get(), FAR_EL2.get());
    log!(
        "vm {}: stage-2 fault at IPA {} ({}, ESR {:#x}, pc {:#x})",
        vcpu.machine.name(),
        address,
        Syndrome(syndrome).class().name(),
        syndrome,
        vcpu.registers.pc
    );
    Err(StopReason::Stage2Fault { address, syndrome, pc: vcpu.registers.pc })
}

/// Trapped system-register accesses: SGI generation goes to the vGIC; the
/// debug and performance-monitor registers that MDCR_EL2 traps read as zero
/// and ignore writes (the guest sees no debug or PMU resources). Anything
/// else is refused with an UNDEFINED exception.
fn system_register_access(vcpu: &mut Vcpu, access: SystemRegisterAccess) {
    let value =
        if access.register() == 31 { 0 } else { vcpu.registers.x[access.register() as usize] };
    let encoding = access.encoding();
    if !access.is_read() && [SGI_GROUP1, SGI_ALTERNATE_GROUP1, SGI_GROUP0].contains(&encoding) {
        let kick = vcpu.machine.devices.lock().gic.send_sgi(vcpu.index, value);
        interrupts::kick(vcpu.machine, kick);
        vcpu.registers.pc += 4;
        return;
    }
    let debug = access.op0() == 2;
    let performance_monitor = access.op0() == 3
        && ((access.crn() == 9 && (access.op1() == 0 || access.op1() == 3))
            || (access.crn() == 14 && access.op1() == 3));
    if debug || performance_monitor {
        if access.is_read() && access.register() != 31 {
            vcpu.registers.x[access.register() as usize] = 0;
        }
        vcpu.registers.pc += 4;
    } else {
        UNDEFINED_INJECTED.fetch_add(1, Ordering::Relaxed);
        inject_undefined(vcpu);
    }
}

/// Takes the vCPU into its own EL1 vector as for an UNDEFINED instruction
/// (Arm ARM D1.10: exception entry to AArch64 EL1).
fn inject_undefined(vcpu: &mut Vcpu) {
    const EL1_WITH_SP_EL1: u64 = 0b0101;
    const EL1_WITH_SP_EL0: u64 = 0b0100;
    let mode = vcpu.registers.pstate & 0b1111;
    let vector_offset = match mode {
        EL1_WITH_SP_EL1 => 0x200,
        EL1_WITH_SP_EL0 => 0x000,
        _ => 0x400,
    };
    // EC 0 (unknown reason) with IL set: a 32-bit instruction.
    ESR_EL1.set(1 << 25);
    ELR_EL1.set(vcpu.registers.pc);
    SPSR_EL1.set(vcpu.registers.pstate);
    vcpu.registers.pc = VBAR_EL1.get() + vector_offset;
    // EL1h with D, A, I and F masked.
    vcpu.registers.pstate = 0x3c5;
}
