//! The per-CPU scheduler: several vCPUs pinned to one physical CPU share it.
//!
//! Each CPU runs the vCPUs the manifest pins to it, round robin. A vCPU runs
//! until it waits for an interrupt (WFI with nothing pending: it yields), its
//! time slice of [`SLICE`] ends (the EL2 physical timer, CNTHP, preempts it),
//! or it leaves for good. A waiting vCPU becomes ready again when its vGIC
//! has something for it, its virtual timer expires (the scheduler arms CNTHP
//! for the earliest such deadline), or its VM goes down. A vCPU alone on its
//! CPU keeps the CPU and sleeps in place, as before there was a scheduler.
//!
//! No vCPU can starve another on a shared CPU: every exit checks the
//! preemption flag, so a guest that never waits still gives up the CPU at
//! the end of its slice, and the next pick starts after it.

use crate::arch;
use crate::vcpu::{Exit, Vcpu};
use crate::vm::{self, Machine, Power};
use crate::{interrupts, log};
use boards::qemu_virt::CPU_COUNT;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The longest a vCPU runs while another on its CPU is ready: 10 ms of the
/// 62.5 MHz counter.
pub const SLICE: u64 = 625_000;

/// The most vCPUs one CPU runs (the manifest checks the same limit).
pub const MAX_VCPUS_PER_CPU: usize = 8;

/// Per CPU: the running vCPU's slice is over (set by the CNTHP interrupt).
static PREEMPT: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// Per CPU: another CPU kicked this one; a waiting vCPU may be ready.
static LOOK: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// Per CPU: how many times a vCPU has been switched in. Read by the tests.
#[no_mangle]
pub static CPU_SWITCHES: [AtomicU64; CPU_COUNT] = [const { AtomicU64::new(0) }; CPU_COUNT];

/// Per CPU: how many slices ended by preemption. Read by the tests.
#[no_mangle]
pub static CPU_PREEMPTIONS: [AtomicU64; CPU_COUNT] = [const { AtomicU64::new(0) }; CPU_COUNT];

/// Whether the vCPU on this CPU should leave it at its next exit: its slice
/// is over, or a kick arrived and `others_ready` says another vCPU of the CPU
/// can run.
pub fn preemption_requested(others_ready: &mut dyn FnMut() -> bool) -> bool {
    let cpu = crate::cpu::current();
    if PREEMPT[cpu].load(Ordering::Relaxed) {
        return true;
    }
    LOOK[cpu].load(Ordering::Relaxed) && LOOK[cpu].swap(false, Ordering::Relaxed) && others_ready()
}

/// The CNTHP timer fired on this CPU: end the running slice.
pub fn timer_expired() {
    arch::disarm_hypervisor_timer();
    PREEMPT[crate::cpu::current()].store(true, Ordering::Relaxed);
}

/// Another CPU may have made a vCPU of this CPU ready: if the CPU is shared,
/// the running vCPU gives way at its next exit should another be ready.
pub fn kicked() {
    let cpu = crate::cpu::current();
    if SHARED[cpu].load(Ordering::Relaxed) {
        LOOK[cpu].store(true, Ordering::Relaxed);
    }
}

/// Per CPU: whether more than one vCPU is pinned to it.
static SHARED: [AtomicBool; CPU_COUNT] = [const { AtomicBool::new(false) }; CPU_COUNT];

/// One vCPU pinned to this CPU.
struct Slot {
    machine: &'static Machine,
    index: usize,
    /// Its state while it is powered on.
    vcpu: Option<Vcpu>,
    /// It waits for an interrupt.
    waiting: bool,
}

impl Slot {
    /// Whether it has a vCPU that waited and may run now (no side effects:
    /// called while another vCPU of the CPU is loaded).
    fn is_ready(&mut self) -> bool {
        self.machine.power(self.index) == Power::On
            && match &self.vcpu {
                None => true,
                Some(vcpu) => !self.waiting || vcpu.ready(),
            }
    }

    /// Whether the scheduler may run it now. Creates the vCPU of a slot that
    /// has just been powered on, and retires one whose VM went down before it
    /// ran.
    fn runnable(&mut self) -> bool {
        if self.machine.power(self.index) != Power::On {
            return false;
        }
        match &self.vcpu {
            None => {
                if self.machine.leaving() {
                    // Powered on as the VM began to go down: never ran.
                    self.machine.vcpu_left(self.index);
                    return false;
                }
                let start = self.machine.start_point(self.index);
                log!(
                    "vm {} vcpu {}: entering at {:#x}",
                    self.machine.name(),
                    self.index,
                    start.entry
                );
                self.vcpu = Some(Vcpu::new(self.machine, self.index, start));
                self.waiting = false;
                true
            }
            Some(vcpu) => {
                if self.waiting && vcpu.ready() {
                    self.waiting = false;
                }
                !self.waiting
            }
        }
    }
}

/// Runs the vCPUs pinned to this CPU, forever.
pub fn run_this_cpu() -> ! {
    let cpu = crate::cpu::current();
    // The secondary CPUs come up before the VMs exist; starting a VM kicks
    // every CPU of its vCPUs.
    while !vm::all_built() {
        interrupts::idle();
    }
    let mut slots: [Option<Slot>; MAX_VCPUS_PER_CPU] = [const { None }; MAX_VCPUS_PER_CPU];
    let mut count = 0;
    for machine in vm::machines() {
        for (index, &pinned) in machine.description.cpus.iter().enumerate() {
            if pinned == cpu && count < MAX_VCPUS_PER_CPU {
                slots[count] = Some(Slot { machine, index, vcpu: None, waiting: false });
                count += 1;
            }
        }
    }
    let slots = &mut slots[..count];
    let shared = count > 1;
    SHARED[cpu].store(shared, Ordering::Relaxed);
    let mut next = 0;
    loop {
        let count = slots.len();
        let picked = (0..count)
            .map(|offset| (next + offset) % count)
            .find(|&index| slots[index].as_mut().is_some_and(Slot::runnable));
        let Some(picked) = picked else {
            // Nothing to run: sleep until an interrupt, or until the earliest
            // virtual timer of a waiting vCPU.
            match earliest_deadline(slots) {
                Some(deadline) => arch::arm_hypervisor_timer(deadline),
                None => arch::disarm_hypervisor_timer(),
            }
            interrupts::idle();
            continue;
        };
        next = picked + 1;
        // Slice end, or an earlier deadline of a waiting vCPU.
        if shared {
            let slice_end = arch::physical_count() + SLICE;
            let deadline = earliest_deadline(slots).map_or(slice_end, |other| other.min(slice_end));
            arch::arm_hypervisor_timer(deadline);
        }
        PREEMPT[cpu].store(false, Ordering::Relaxed);
        LOOK[cpu].store(false, Ordering::Relaxed);
        CPU_SWITCHES[cpu].fetch_add(1, Ordering::Relaxed);
        let (before, rest) = slots.split_at_mut(picked);
        let (slot, after) = rest.split_first_mut().expect("picked slots exist");
        let slot = slot.as_mut().expect("picked slots exist");
        let vcpu = slot.vcpu.as_mut().expect("a runnable slot has its vCPU");
        let mut others_ready =
            || before.iter_mut().chain(after.iter_mut()).flatten().any(|other| other.is_ready());
        match vcpu.run_slice(shared, &mut others_ready) {
            Exit::Left => {
                slot.vcpu = None;
                slot.waiting = false;
                slot.machine.vcpu_left(slot.index);
            }
            Exit::Waiting => slot.waiting = true,
            Exit::Preempted => {
                CPU_PREEMPTIONS[cpu].fetch_add(1, Ordering::Relaxed);
            }
        }
        if shared {
            arch::disarm_hypervisor_timer();
        }
    }
}

/// The earliest virtual-timer deadline among the waiting vCPUs.
fn earliest_deadline(slots: &[Option<Slot>]) -> Option<u64> {
    slots
        .iter()
        .flatten()
        .filter(|slot| slot.waiting)
        .filter_map(|slot| slot.vcpu.as_ref().and_then(Vcpu::timer_deadline))
        .min()
}
