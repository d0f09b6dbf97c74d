//! The physical GICv3: distributor, this CPU's redistributor and its CPU
//! interface, and the list registers of the virtual CPU interface.
//!
//! The hypervisor takes every physical interrupt at EL2 (HCR_EL2.IMO) in
//! group 1, with `ICC_CTLR_EL1.EOImode = 1`: writing `ICC_EOIR1_EL1` only
//! drops the running priority, and deactivation is separate. That lets an
//! interrupt forwarded to a guest as a hardware-mapped virtual interrupt (the
//! virtual timer) stay active until the guest deactivates it.

use aarch64_cpu::registers::{Readable, Writeable, MPIDR_EL1};
use core::arch::asm;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// GICv3 distributor registers used by the hypervisor (IHI 0069, 12.9).
    Distributor {
        (0x0000 => control: ReadWrite<u32>),
        (0x0004 => type_register: ReadOnly<u32>),
        (0x0008 => _reserved0),
        (0x0080 => group: [ReadWrite<u32>; 32]),
        (0x0100 => set_enable: [ReadWrite<u32>; 32]),
        (0x0180 => clear_enable: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        (0x0380 => clear_active: [ReadWrite<u32>; 32]),
        (0x0400 => priority: [ReadWrite<u8>; 1024]),
        (0x0800 => _reserved2),
        (0x0c00 => configuration: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved3),
        (0x6000 => route: [ReadWrite<u64>; 1024]),
        (0x8000 => @END),
    }
}

register_structs! {
    /// The RD_base frame of a redistributor (IHI 0069, 12.10).
    RedistributorControl {
        (0x0000 => control: ReadWrite<u32>),
        (0x0004 => _reserved0),
        (0x0008 => type_register: ReadOnly<u64>),
        (0x0010 => _reserved1),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// The SGI_base frame of a redistributor: SGIs and PPIs of one CPU.
    RedistributorPrivate {
        (0x0000 => _reserved0),
        (0x0080 => group: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => set_enable: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => clear_enable: WriteOnly<u32>),
        (0x0184 => _reserved3),
        (0x0380 => clear_active: WriteOnly<u32>),
        (0x0384 => _reserved4),
        (0x0400 => priority: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved5),
        (0x0c04 => configuration: ReadWrite<u32>),
        (0x0c08 => @END),
    }
}

const DISTRIBUTOR_BASE: u64 = boards::qemu_virt::GIC_DISTRIBUTOR.base;
const REDISTRIBUTOR_BASE: u64 = boards::qemu_virt::GIC_REDISTRIBUTORS.base;
const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
/// Priority of every interrupt the hypervisor enables.
const PRIORITY: u8 = 0x80;

fn distributor() -> &'static Distributor {
    // SAFETY: the distributor window is identity-mapped device memory owned by
    // the hypervisor (no VM maps it) and the layout matches the GICv3 spec.
    // Concurrent accesses from CPUs are to distinct registers or are atomic
    // 32-bit MMIO accesses, as the GIC allows.
    unsafe { &*(DISTRIBUTOR_BASE as *const Distributor) }
}

/// The redistributor frames whose affinity matches this CPU.
fn redistributor() -> (&'static RedistributorControl, &'static RedistributorPrivate) {
    let affinity = MPIDR_EL1.get() & 0xff_00ff_ffff;
    let affinity = ((affinity >> 32) << 24) | (affinity & 0xff_ffff);
    let mut base = REDISTRIBUTOR_BASE;
    loop {
        // SAFETY: the redistributor region is identity-mapped device memory owned
        // by the hypervisor; `base` stays inside it because the walk stops at the
        // frame marked Last (GICR_TYPER bit 4).
        let control = unsafe { &*(base as *const RedistributorControl) };
        let type_register = control.type_register.get();
        if type_register >> 32 == affinity {
            // SAFETY: the SGI_base frame follows RD_base, 64 KiB on.
            let private = unsafe { &*((base + 0x1_0000) as *const RedistributorPrivate) };
            return (control, private);
        }
        assert!(type_register & (1 << 4) == 0, "no redistributor for this CPU");
        base += REDISTRIBUTOR_STRIDE;
    }
}

/// Enables the distributor with affinity routing. Called once, by the primary CPU.
pub fn init_distributor() {
    let distributor = distributor();
    // ARE (bit 4) first, then both groups, as the spec requires (DS = 1 on
    // QEMU's virt machine, which has no EL3).
    distributor.control.set(1 << 4);
    distributor.control.set((1 << 4) | (1 << 1) | 1);
}

/// Routes the shared peripheral interrupt `intid` to CPU affinity `target`
/// and enables it, level-sensitive, group 1.
pub fn enable_shared(intid: u32, target: u64) {
    let distributor = distributor();
    let (word, bit) = ((intid / 32) as usize, intid % 32);
    distributor.group[word].set(distributor.group[word].get() | (1 << bit));
    distributor.priority[intid as usize].set(PRIORITY);
    let configuration = &distributor.configuration[(intid / 16) as usize];
    configuration.set(configuration.get() & !(0b10 << ((intid % 16) * 2)));
    distributor.route[intid as usize].set(target);
    distributor.set_enable[word].set(1 << bit);
}

/// Wakes this CPU's redistributor, enables the given private interrupts
/// (SGIs and PPIs) in group 1, and turns on the CPU interface.
pub fn init_cpu(private_interrupts: &[u32]) {
    let (control, private) = redistributor();
    // Clear ProcessorSleep and wait for ChildrenAsleep to clear.
    control.waker.set(control.waker.get() & !(1 << 1));
    while control.waker.get() & (1 << 2) != 0 {
        core::hint::spin_loop();
    }
    private.group.set(u32::MAX);
    for &intid in private_interrupts {
        private.priority[intid as usize].set(PRIORITY);
        private.set_enable.set(1 << intid);
    }
    // ICC_SRE_EL2: SRE, disable FIQ and IRQ bypass, and let EL1 use the
    // system-register interface (Enable).
    aarch64_cpu::registers::ICC_SRE_EL2.set(0b1111);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    // SAFETY: programming this CPU's own GIC CPU interface at EL2: priority
    // mask open, binary point 0, EOImode 1, group 1 enabled. It affects only
    // which interrupts EL2 is signalled.
    unsafe {
        asm!(
            "msr ICC_PMR_EL1, {mask}",
            "msr ICC_BPR1_EL1, xzr",
            "msr ICC_CTLR_EL1, {control}",
            "msr ICC_IGRPEN1_EL1, {enable}",
            "isb",
            mask = in(reg) 0xffu64,
            control = in(reg) 1u64 << 1,
            enable = in(reg) 1u64,
            options(nostack),
        );
    }
}

/// Clears the active state of shared peripheral interrupt `intid`.
pub fn clear_active_shared(intid: u32) {
    let (word, bit) = ((intid / 32) as usize, intid % 32);
    distributor().clear_active[word].set(1 << bit);
}

/// Clears the active state of private interrupt `intid` of this CPU.
pub fn clear_active_private(intid: u32) {
    let (_, private) = redistributor();
    private.clear_active.set(1 << intid);
}

/// Acknowledges the highest-priority pending interrupt; 1023 when none.
pub fn acknowledge() -> u32 {
    let intid: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt at this CPU's own
    // interface; the caller completes it with `end_of_interrupt`.
    unsafe { asm!("mrs {}, ICC_IAR1_EL1", out(reg) intid, options(nostack)) };
    intid as u32
}

/// Drops the running priority of `intid` (EOImode 1: no deactivation).
pub fn end_of_interrupt(intid: u32) {
    // SAFETY: completes an interrupt this CPU acknowledged.
    unsafe { asm!("msr ICC_EOIR1_EL1, {}", "isb", in(reg) intid as u64, options(nostack)) };
}

/// Deactivates `intid`.
pub fn deactivate(intid: u32) {
    // SAFETY: deactivates an interrupt this CPU acknowledged and did not hand
    // to a guest.
    unsafe { asm!("msr ICC_DIR_EL1, {}", "isb", in(reg) intid as u64, options(nostack)) };
}

/// Sends software-generated interrupt `intid` to CPU `cpu` (Aff0, cluster 0).
pub fn send_sgi(intid: u32, cpu: usize) {
    let value = ((intid as u64 & 0xf) << 24) | (1u64 << (cpu & 0xf));
    // SAFETY: ICC_SGI1R_EL1 raises an SGI at the target CPU; no memory effect.
    unsafe { asm!("dsb ishst", "msr ICC_SGI1R_EL1, {}", "isb", in(reg) value, options(nostack)) };
}

/// Number of list registers of the virtual CPU interface.
pub fn list_register_count() -> usize {
    let vtr: u64;
    // SAFETY: reading ICH_VTR_EL2 has no side effects.
    unsafe { asm!("mrs {}, ICH_VTR_EL2", out(reg) vtr, options(nomem, nostack)) };
    ((vtr & 0x1f) + 1) as usize
}

macro_rules! list_register_access {
    ($($index:literal => $name:literal),* $(,)?) => {
        /// Reads list register `index`.
        pub fn read_list_register(index: usize) -> u64 {
            let value: u64;
            match index {
                $(
                    // SAFETY: reading a list register has no side effects.
                    $index => unsafe {
                        asm!(concat!("mrs {}, ", $name), out(reg) value, options(nomem, nostack))
                    },
                )*
                _ => value = 0,
            }
            value
        }

        /// Writes list register `index`.
        pub fn write_list_register(index: usize, value: u64) {
            match index {
                $(
                    // SAFETY: a list register only affects the virtual interrupts
                    // of the vCPU that is loaded on this CPU.
                    $index => unsafe {
                        asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nomem, nostack))
                    },
                )*
                _ => {}
            }
        }
    };
}

list_register_access! {
    0 => "ICH_LR0_EL2", 1 => "ICH_LR1_EL2", 2 => "ICH_LR2_EL2", 3 => "ICH_LR3_EL2",
    4 => "ICH_LR4_EL2", 5 => "ICH_LR5_EL2", 6 => "ICH_LR6_EL2", 7 => "ICH_LR7_EL2",
}

/// Writes ICH_HCR_EL2 (virtual CPU interface control).
pub fn set_virtual_interface_control(value: u64) {
    // SAFETY: ICH_HCR_EL2 controls the virtual CPU interface of the guest
    // loaded on this CPU only.
    unsafe { asm!("msr ICH_HCR_EL2, {}", "isb", in(reg) value, options(nostack)) };
}

/// Reads ICH_VMCR_EL2 (the guest's view of its CPU interface state).
pub fn virtual_machine_control() -> u64 {
    let value: u64;
    // SAFETY: reading ICH_VMCR_EL2 has no side effects.
    unsafe { asm!("mrs {}, ICH_VMCR_EL2", out(reg) value, options(nomem, nostack)) };
    value
}

/// Writes ICH_VMCR_EL2.
pub fn set_virtual_machine_control(value: u64) {
    // SAFETY: ICH_VMCR_EL2 holds the loaded guest's own CPU interface state.
    unsafe { asm!("msr ICH_VMCR_EL2, {}", in(reg) value, options(nomem, nostack)) };
}

/// Reads ICH_AP1R0_EL2 (active priorities of group 1 virtual interrupts).
pub fn active_priorities() -> u64 {
    let value: u64;
    // SAFETY: reading ICH_AP1R0_EL2 has no side effects.
    unsafe { asm!("mrs {}, ICH_AP1R0_EL2", out(reg) value, options(nomem, nostack)) };
    value
}

/// Writes ICH_AP1R0_EL2.
pub fn set_active_priorities(value: u64) {
    // SAFETY: ICH_AP1R0_EL2 belongs to the loaded guest's virtual interface.
    unsafe { asm!("msr ICH_AP1R0_EL2, {}", in(reg) value, options(nomem, nostack)) };
}

/// Waits for an interrupt with interrupts masked at EL2: returns when one
/// is pending, without taking it.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}
