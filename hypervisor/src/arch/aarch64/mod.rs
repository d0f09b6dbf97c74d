//! AArch64 at EL2: entry code, the guest register block, EL1 state switching,
//! firmware calls and the few instructions Rust cannot express.
//!
//! Every `unsafe` block of the hypervisor that touches the CPU lives in this
//! module or in [`mmu`]; the rest of the hypervisor calls safe functions.

pub mod gic;
pub mod mmu;

use aarch64_cpu::registers::{
    Readable, Writeable, AFSR0_EL1, AFSR1_EL1, AMAIR_EL1, CNTKCTL_EL1, CNTV_CTL_EL0, CNTV_CVAL_EL0,
    CONTEXTIDR_EL1, CPACR_EL1, CSSELR_EL1, ELR_EL1, ESR_EL1, FAR_EL1, MAIR_EL1, PAR_EL1, SCTLR_EL1,
    SPSR_EL1, SP_EL0, SP_EL1, TCR_EL1, TPIDRRO_EL0, TPIDR_EL0, TPIDR_EL1, TTBR0_EL1, TTBR1_EL1,
    VBAR_EL1,
};
use core::arch::{asm, global_asm};

global_asm!(include_str!("entry.S"));

/// The registers `guest_enter` loads and `guest_exit` saves. The layout is
/// fixed: entry.S addresses the fields by offset.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestRegisters {
    /// x0 to x30.
    pub x: [u64; 31],
    /// Where the guest resumes (ELR_EL2).
    pub pc: u64,
    /// The guest's PSTATE (SPSR_EL2).
    pub pstate: u64,
}

const _: () = assert!(core::mem::offset_of!(GuestRegisters, pc) == 248);
const _: () = assert!(core::mem::offset_of!(GuestRegisters, pstate) == 256);

/// Why the CPU left the guest, as the vector table numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionKind {
    /// A synchronous exception: a trapped instruction or an abort.
    Synchronous,
    /// A physical IRQ routed to EL2.
    Irq,
    /// A physical FIQ routed to EL2.
    Fiq,
    /// An SError.
    SystemError,
}

impl ExceptionKind {
    fn from_number(number: u64) -> Self {
        match number {
            0 => Self::Synchronous,
            1 => Self::Irq,
            2 => Self::Fiq,
            _ => Self::SystemError,
        }
    }
}

extern "C" {
    fn guest_enter(registers: *mut GuestRegisters) -> u64;
    fn secondary_entry();
}

/// Runs the guest whose EL1 state and stage-2 tables are loaded on this CPU
/// until it traps, and returns why.
pub fn run_guest(registers: &mut GuestRegisters) -> ExceptionKind {
    // SAFETY: `registers` is a valid, exclusive GuestRegisters block for the whole
    // call. The caller has loaded the guest's EL1 state, HCR_EL2 and VTTBR_EL2, so
    // the guest runs confined by stage 2; guest_enter saves and restores every
    // callee-saved register of the hypervisor and returns here on the guest's
    // next exception.
    let number = unsafe { guest_enter(registers) };
    ExceptionKind::from_number(number)
}

/// The address at which secondary CPUs start (for PSCI `CPU_ON`).
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}

/// EL1 system registers of a vCPU: saved when it leaves a CPU, restored when
/// it comes back.
#[derive(Clone, Copy, Debug, Default)]
pub struct El1State {
    sctlr: u64,
    ttbr0: u64,
    ttbr1: u64,
    tcr: u64,
    mair: u64,
    amair: u64,
    vbar: u64,
    contextidr: u64,
    tpidr_el0: u64,
    tpidr_el1: u64,
    tpidrro_el0: u64,
    sp_el0: u64,
    sp_el1: u64,
    elr: u64,
    spsr: u64,
    esr: u64,
    far: u64,
    afsr0: u64,
    afsr1: u64,
    cpacr: u64,
    cntkctl: u64,
    par: u64,
    csselr: u64,
    cntv_ctl: u64,
    cntv_cval: u64,
}

impl El1State {
    /// The state of a CPU coming out of reset: MMU and caches off.
    pub const fn reset() -> Self {
        Self {
            // RES1 bits of SCTLR_EL1 (ARMv8.0), MMU, caches and alignment checks off.
            sctlr: 0x30d0_0800,
            ttbr0: 0,
            ttbr1: 0,
            tcr: 0,
            mair: 0,
            amair: 0,
            vbar: 0,
            contextidr: 0,
            tpidr_el0: 0,
            tpidr_el1: 0,
            tpidrro_el0: 0,
            sp_el0: 0,
            sp_el1: 0,
            elr: 0,
            spsr: 0,
            esr: 0,
            far: 0,
            afsr0: 0,
            afsr1: 0,
            // FP and SIMD usable from EL1 and EL0.
            cpacr: 3 << 20,
            cntkctl: 0,
            par: 0,
            csselr: 0,
            cntv_ctl: 0,
            cntv_cval: 0,
        }
    }

    /// Copies the CPU's EL1 registers into `self`.
    pub fn save(&mut self) {
        self.sctlr = SCTLR_EL1.get();
        self.ttbr0 = TTBR0_EL1.get();
        self.ttbr1 = TTBR1_EL1.get();
        self.tcr = TCR_EL1.get();
        self.mair = MAIR_EL1.get();
        self.amair = AMAIR_EL1.get();
        self.vbar = VBAR_EL1.get();
        self.contextidr = CONTEXTIDR_EL1.get();
        self.tpidr_el0 = TPIDR_EL0.get();
        self.tpidr_el1 = TPIDR_EL1.get();
        self.tpidrro_el0 = TPIDRRO_EL0.get();
        self.sp_el0 = SP_EL0.get();
        self.sp_el1 = SP_EL1.get();
        self.elr = ELR_EL1.get();
        self.spsr = SPSR_EL1.get();
        self.esr = ESR_EL1.get();
        self.far = FAR_EL1.get();
        self.afsr0 = AFSR0_EL1.get();
        self.afsr1 = AFSR1_EL1.get();
        self.cpacr = CPACR_EL1.get();
        self.cntkctl = CNTKCTL_EL1.get();
        self.par = PAR_EL1.get();
        self.csselr = CSSELR_EL1.get();
        self.cntv_ctl = CNTV_CTL_EL0.get();
        self.cntv_cval = CNTV_CVAL_EL0.get();
    }

    /// The saved CNTV_CTL_EL0 and CNTV_CVAL_EL0.
    pub fn virtual_timer(&self) -> (u64, u64) {
        (self.cntv_ctl, self.cntv_cval)
    }

    /// Loads `self` into the CPU's EL1 registers.
    pub fn restore(&self) {
        SCTLR_EL1.set(self.sctlr);
        TTBR0_EL1.set(self.ttbr0);
        TTBR1_EL1.set(self.ttbr1);
        TCR_EL1.set(self.tcr);
        MAIR_EL1.set(self.mair);
        AMAIR_EL1.set(self.amair);
        VBAR_EL1.set(self.vbar);
        CONTEXTIDR_EL1.set(self.contextidr);
        TPIDR_EL0.set(self.tpidr_el0);
        TPIDR_EL1.set(self.tpidr_el1);
        TPIDRRO_EL0.set(self.tpidrro_el0);
        SP_EL0.set(self.sp_el0);
        SP_EL1.set(self.sp_el1);
        ELR_EL1.set(self.elr);
        SPSR_EL1.set(self.spsr);
        ESR_EL1.set(self.esr);
        FAR_EL1.set(self.far);
        AFSR0_EL1.set(self.afsr0);
        AFSR1_EL1.set(self.afsr1);
        CPACR_EL1.set(self.cpacr);
        CNTKCTL_EL1.set(self.cntkctl);
        PAR_EL1.set(self.par);
        CSSELR_EL1.set(self.csselr);
        CNTV_CVAL_EL0.set(self.cntv_cval);
        CNTV_CTL_EL0.set(self.cntv_ctl);
    }
}

/// Reads the CPU's MIDR_EL1 into VPIDR_EL2 and sets VMPIDR_EL2, the identity
/// the guest sees when it reads MIDR_EL1 and MPIDR_EL1.
pub fn set_virtual_cpu_identity(virtual_mpidr: u64) {
    let midr = aarch64_cpu::registers::MIDR_EL1.get();
    // SAFETY: writing VPIDR_EL2 only changes what EL1 reads from MIDR_EL1; it has
    // no effect on the hypervisor's own execution.
    unsafe { asm!("msr vpidr_el2, {}", in(reg) midr, options(nomem, nostack)) };
    aarch64_cpu::registers::VMPIDR_EL2.set(virtual_mpidr);
}

/// Invalidates every stage-1 and stage-2 TLB entry of the VMID in VTTBR_EL2,
/// on all CPUs of the inner-shareable domain.
pub fn invalidate_guest_tlb() {
    // SAFETY: TLB maintenance has no memory-safety effect on EL2; the barriers
    // order it after the page-table writes that made it necessary.
    unsafe {
        asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack));
    }
}

/// Makes a firmware call through SMC (SMCCC, up to three arguments).
pub fn firmware_call(function: u32, argument1: u64, argument2: u64, argument3: u64) -> u64 {
    let result;
    // SAFETY: an SMC to EL3 firmware following SMCCC: the firmware preserves
    // x4..x30 and SP (SMCCC 1.1+ for x4-x17 is not assumed: they are marked
    // clobbered), and touches no memory the hypervisor owns.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") function as u64 => result,
            inout("x1") argument1 => _,
            inout("x2") argument2 => _,
            inout("x3") argument3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    result
}

/// Disables the EL1 virtual timer (its state is saved in [`El1State`]).
pub fn stop_virtual_timer() {
    CNTV_CTL_EL0.set(0);
}

/// Arms the EL2 physical timer (CNTHP) to fire at physical count `deadline`.
pub fn arm_hypervisor_timer(deadline: u64) {
    // SAFETY: CNTHP_CVAL_EL2 only holds the compare value of the EL2
    // physical timer, which nothing but the scheduler uses; writing it has no
    // effect on memory. (aarch64-cpu has no accessor for it.)
    unsafe {
        core::arch::asm!("msr cnthp_cval_el2, {}", in(reg) deadline, options(nomem, nostack))
    };
    // ENABLE, not masked.
    aarch64_cpu::registers::CNTHP_CTL_EL2.set(1);
}

/// Turns the EL2 physical timer off.
pub fn disarm_hypervisor_timer() {
    aarch64_cpu::registers::CNTHP_CTL_EL2.set(0);
}

/// The physical counter (CNTPCT_EL0).
pub fn physical_count() -> u64 {
    aarch64_cpu::registers::CNTPCT_EL0.get()
}

/// How the hypervisor's locks wait: with `YIELD`, the hint that this CPU is
/// only spinning. Under QEMU's single-threaded emulation a CPU that spins on
/// a lock whose holder QEMU has switched away from would otherwise spin
/// through its whole time slice; `YIELD` hands the slice on at once, so the
/// holder runs and lets go. On hardware it is a hint and costs nothing.
pub struct YieldWhileSpinning;

impl spin::RelaxStrategy for YieldWhileSpinning {
    #[inline(always)]
    fn relax() {
        // SAFETY: `YIELD` is a hint with no architectural effect.
        unsafe { asm!("yield", options(nomem, nostack, preserves_flags)) };
    }
}

/// The hypervisor's lock: a spin lock that yields while it waits (see
/// [`YieldWhileSpinning`]).
pub type Mutex<T> = spin::mutex::Mutex<T, YieldWhileSpinning>;

/// Waits for an event, letting the CPU idle.
pub fn wait_for_event() {
    aarch64_cpu::asm::wfe();
}
