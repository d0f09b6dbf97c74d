//! Virtual CPUs: the per-CPU run loop, EL1 state switching and the list
//! registers that carry virtual interrupts into the guest.

use crate::arch::gic;
use crate::arch::{self, El1State, GuestRegisters};
use crate::vm::{self, Machine};
use crate::{interrupts, scheduler, trap};
use aarch64_cpu::registers::{Writeable, CNTVOFF_EL2, HCR_EL2, VTCR_EL2, VTTBR_EL2};
use core::sync::atomic::Ordering;
use hypervisor_core::page_table;
use hypervisor_core::vgic::{self, ListEntry};

/// The most list registers used (the architecture allows 16; Cortex-A53 and
/// A72 have 4).
const MAX_LIST_REGISTERS: usize = 8;

/// ICH_HCR_EL2.En: the virtual CPU interface is on.
const INTERFACE_ENABLE: u64 = 1;
/// ICH_HCR_EL2.UIE: maintenance interrupt when at most one list register is valid.
const UNDERFLOW_INTERRUPT: u64 = 1 << 1;

/// One virtual CPU, owned by the physical CPU it is pinned to.
pub struct Vcpu {
    /// General registers, PC and PSTATE.
    pub registers: GuestRegisters,
    /// EL1 system registers while the vCPU is not on a CPU.
    pub el1: El1State,
    /// The VM it belongs to.
    pub machine: &'static Machine,
    /// Its index within the VM (its MPIDR affinity).
    pub index: usize,
    /// List registers in use since the last entry.
    listed: usize,
    /// The guest's ICH_VMCR_EL2 while it is off the CPU.
    interface_control: u64,
    /// The guest's ICH_AP1R0_EL2 while it is off the CPU.
    active_priorities: u64,
    /// Not yet loaded since it was created (at the VM's start).
    fresh: bool,
}

/// PSTATE of a vCPU at reset: EL1 with SP_EL1, all exceptions masked.
const RESET_PSTATE: u64 = 0x3c5;

impl Vcpu {
    /// A vCPU of `machine` at its reset state, starting at `start`.
    pub fn new(machine: &'static Machine, index: usize, start: vm::StartPoint) -> Self {
        let mut registers =
            GuestRegisters { pc: start.entry, pstate: RESET_PSTATE, ..GuestRegisters::default() };
        registers.x[0] = start.context;
        Self {
            registers,
            el1: El1State::reset(),
            machine,
            index,
            listed: 0,
            interface_control: 0,
            active_priorities: 0,
            fresh: true,
        }
    }

    /// Puts this vCPU's EL1 state, stage-2 tables, timer offset and virtual
    /// CPU interface on this CPU.
    fn load(&mut self) {
        self.el1.restore();
        arch::set_virtual_cpu_identity(0x8000_0000 | self.index as u64);
        CNTVOFF_EL2.set(self.machine.counter_offset.load(Ordering::SeqCst));
        VTCR_EL2.set(page_table::vtcr_el2(arch::mmu::physical_address_bits()));
        VTTBR_EL2.set(self.machine.vttbr());
        gic::set_virtual_machine_control(self.interface_control);
        gic::set_active_priorities(self.active_priorities);
        HCR_EL2.set(arch::mmu::guest_hcr());
        // Stage-2 tables never change while a VM lives, and TLB entries are
        // tagged with the VMID: only a VM (re)started with its VMID may find
        // entries of its previous life.
        if self.fresh {
            self.fresh = false;
            arch::invalidate_guest_tlb();
        }
    }

    /// Takes this vCPU's state off the CPU.
    fn unload(&mut self) {
        self.drain_list_registers();
        self.el1.save();
        // The guest's timer stays programmed in the hardware: turn it off, or
        // its interrupt would keep firing at EL2 with no vCPU to take it.
        arch::stop_virtual_timer();
        self.interface_control = gic::virtual_machine_control();
        self.active_priorities = gic::active_priorities();
        gic::set_virtual_interface_control(0);
        HCR_EL2.write(HCR_EL2::RW::EL1IsAarch64);
        VTTBR_EL2.set(0);
    }

    /// Moves the interrupts the vGIC has for this vCPU into the list registers.
    fn fill_list_registers(&mut self) {
        // Nothing can have become deliverable since the last look: skip the
        // vGIC (and its lock) entirely. This keeps exits that do not involve
        // interrupts (hypercalls, MMIO) cheap.
        if !self.machine.attention[self.index].swap(false, Ordering::SeqCst) {
            gic::set_virtual_interface_control(INTERFACE_ENABLE);
            return;
        }
        let count = gic::list_register_count().min(MAX_LIST_REGISTERS);
        let mut slots = [ListEntry::EMPTY; MAX_LIST_REGISTERS];
        let taken =
            self.machine.devices.lock().gic.take_candidates(self.index, &mut slots[..count]);
        for (register, slot) in slots[..taken.count].iter().enumerate() {
            gic::write_list_register(register, vgic::encode(slot));
        }
        self.listed = taken.count;
        if taken.count > 0 || taken.more_waiting {
            // Listed entries come back on exit and may need listing again.
            self.machine.attention[self.index].store(true, Ordering::SeqCst);
        }
        let control = if taken.more_waiting {
            INTERFACE_ENABLE | UNDERFLOW_INTERRUPT
        } else {
            INTERFACE_ENABLE
        };
        gic::set_virtual_interface_control(control);
    }

    /// Gives the list registers' state back to the vGIC and clears them.
    fn drain_list_registers(&mut self) {
        // With the list registers about to be emptied, an underflow maintenance
        // interrupt would stay asserted while the hypervisor runs: turn it off.
        gic::set_virtual_interface_control(INTERFACE_ENABLE);
        if self.listed == 0 {
            return;
        }
        let mut entries = [ListEntry::EMPTY; MAX_LIST_REGISTERS];
        for (register, entry) in entries[..self.listed].iter_mut().enumerate() {
            *entry = vgic::decode(gic::read_list_register(register));
            gic::write_list_register(register, 0);
        }
        self.machine.devices.lock().gic.return_entries(self.index, &entries[..self.listed]);
        self.listed = 0;
    }

    /// Whether the vCPU has a virtual interrupt to take (for WFI).
    pub fn has_pending_interrupt(&self) -> bool {
        self.machine.devices.lock().gic.has_pending(self.index)
    }

    /// Runs the vCPU until it leaves its CPU: it is done ([`Exit::Left`]:
    /// the VM is stopping or resetting, or the guest turned it off), it waits
    /// for an interrupt and `shared` says other vCPUs could use the CPU
    /// meanwhile ([`Exit::Waiting`]), or its time slice is over
    /// ([`Exit::Preempted`]: the slice timer expired, or another vCPU of the
    /// CPU became ready, as `others_ready` says when a kick asks).
    pub fn run_slice(&mut self, shared: bool, others_ready: &mut dyn FnMut() -> bool) -> Exit {
        self.load();
        let exit = loop {
            if self.machine.leaving() {
                break Exit::Left;
            }
            self.fill_list_registers();
            let kind = arch::run_guest(&mut self.registers);
            self.drain_list_registers();
            let injected = &vm::VM_INJECT_FAULT[self.machine.index];
            let outcome =
                if injected.load(Ordering::Relaxed) && injected.swap(false, Ordering::Relaxed) {
                    Err(vm::StopReason::Injected)
                } else {
                    trap::handle(self, kind)
                };
            match outcome {
                Ok(trap::Outcome::Continue) => {}
                Ok(trap::Outcome::Wait) if shared => break Exit::Waiting,
                // Alone on the CPU: sleep with the vCPU loaded. A physical
                // interrupt is taken on the way back into the guest.
                Ok(trap::Outcome::Wait) => gic::wait_for_interrupt(),
                Ok(trap::Outcome::PowerOff) => break Exit::Left,
                Err(reason) => {
                    self.machine.request_stop(reason);
                    break Exit::Left;
                }
            }
            if scheduler::preemption_requested(others_ready) {
                break Exit::Preempted;
            }
        };
        self.unload();
        // A hardware-mapped timer interrupt still active would stay active
        // on this CPU and block the next vCPU's timer: deactivate it.
        interrupts::release_virtual_timer();
        exit
    }

    /// Whether the vCPU, off its CPU and waiting for an interrupt, should run
    /// again: the vGIC has something for it, its virtual timer has expired,
    /// or its VM is going down.
    pub fn ready(&self) -> bool {
        self.machine.leaving()
            || self.has_pending_interrupt()
            || self.timer_deadline().is_some_and(|deadline| arch::physical_count() >= deadline)
    }

    /// The physical count at which the vCPU's virtual timer fires, if it is
    /// armed and unmasked (read from its saved EL1 state).
    pub fn timer_deadline(&self) -> Option<u64> {
        let (control, compare) = self.el1.virtual_timer();
        // CNTV_CTL_EL0: ENABLE is bit 0, IMASK bit 1.
        if control & 0b11 != 0b01 {
            return None;
        }
        Some(compare.saturating_add(self.machine.counter_offset.load(Ordering::SeqCst)))
    }
}

/// Why a vCPU left its CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// For good: stopped, reset or turned off.
    Left,
    /// Waiting for an interrupt.
    Waiting,
    /// Its time slice ended.
    Preempted,
}
