//! Physical interrupts at EL2: which ones the hypervisor uses, and what it
//! does when one arrives (while a guest runs, or while a CPU idles).

use crate::arch::gic;
use crate::system::SYSTEM;
use crate::vcpu::Vcpu;
use crate::vm::{self, Machine};
use crate::{console, log};
use boards::qemu_virt;
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::vgic::Kick;

/// SGI one CPU sends another to make it look at its vCPUs again.
pub const KICK: u32 = 0;
/// The GIC's maintenance interrupt (PPI 9).
pub const MAINTENANCE: u32 = 25;
/// The EL1 virtual timer (PPI 11), forwarded to the running vCPU.
pub const VIRTUAL_TIMER: u32 = 27;
/// The EL2 physical timer (PPI 10): the scheduler's slices and wake-ups.
pub const HYPERVISOR_TIMER: u32 = 26;
/// The acknowledge value that means "nothing pending".
const SPURIOUS: u32 = 1023;

/// Physical interrupts taken at EL2 that the hypervisor has no use for.
#[no_mangle]
pub static UNEXPECTED_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Sets up the distributor and the console's input interrupt. Called once by
/// the primary CPU.
pub fn init_primary() {
    gic::init_distributor();
    let cpu = vm::input_cpu();
    gic::enable_shared(qemu_virt::UART_INTERRUPT, qemu_virt::cpu_affinity(cpu));
    console::set_input_interrupt(true);
    // Each device interrupt goes to the CPU of its owner's first vCPU.
    for machine in SYSTEM.machines {
        for device in machine.devices {
            for &intid in device.interrupts {
                gic::enable_shared(intid, qemu_virt::cpu_affinity(machine.cpus[0]));
            }
        }
    }
}

/// The VM that owns shared peripheral interrupt `intid` (the manifest gives
/// each device interrupt to one VM).
fn device_owner(intid: u32) -> Option<usize> {
    SYSTEM
        .machines
        .iter()
        .position(|machine| machine.devices.iter().any(|device| device.interrupts.contains(&intid)))
}

/// Forwards a device interrupt to its owner as a hardware-mapped virtual
/// interrupt: the physical one stays active until the guest deactivates it.
/// With the owner not running, the interrupt is dropped.
fn forward_device_interrupt(intid: u32, owner: usize) {
    gic::end_of_interrupt(intid);
    match vm::machine(owner).filter(|machine| machine.state() == vm::State::Running) {
        Some(machine) => {
            DEVICE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
            let kick = machine.devices.lock().gic.raise_edge(intid, 0);
            self::kick(machine, kick);
        }
        None => gic::deactivate(intid),
    }
}

/// Device interrupts forwarded to their owners.
#[no_mangle]
pub static DEVICE_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Sets up this CPU's redistributor and CPU interface.
pub fn init_cpu() {
    gic::init_cpu(&[KICK, MAINTENANCE, VIRTUAL_TIMER, HYPERVISOR_TIMER]);
}

/// Handles every pending physical interrupt. `vcpu` is the vCPU this CPU was
/// running, if any.
pub fn handle(mut vcpu: Option<&mut Vcpu>) {
    loop {
        let intid = gic::acknowledge();
        match intid {
            SPURIOUS => return,
            VIRTUAL_TIMER => {
                gic::end_of_interrupt(intid);
                match vcpu.as_deref_mut() {
                    // Forwarded as a hardware-mapped virtual interrupt: it stays
                    // active until the guest deactivates it.
                    Some(vcpu) => {
                        let kick =
                            vcpu.machine.devices.lock().gic.raise_edge(VIRTUAL_TIMER, vcpu.index);
                        self::kick(vcpu.machine, kick);
                    }
                    // No vCPU here: the timer belongs to a vCPU that left.
                    None => {
                        crate::arch::stop_virtual_timer();
                        gic::deactivate(intid);
                    }
                }
            }
            HYPERVISOR_TIMER => {
                crate::scheduler::timer_expired();
                gic::end_of_interrupt(intid);
                gic::deactivate(intid);
            }
            KICK => {
                crate::scheduler::kicked();
                gic::end_of_interrupt(intid);
                gic::deactivate(intid);
            }
            MAINTENANCE => {
                // The run loop refills the list registers on the way back in.
                gic::end_of_interrupt(intid);
                gic::deactivate(intid);
            }
            intid if let Some(owner) = device_owner(intid) => {
                forward_device_interrupt(intid, owner)
            }
            intid if intid == qemu_virt::UART_INTERRUPT => {
                deliver_console_input();
                gic::end_of_interrupt(intid);
                gic::deactivate(intid);
            }
            other => {
                UNEXPECTED_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
                gic::end_of_interrupt(other);
                gic::deactivate(other);
            }
        }
    }
}

/// Waits for an interrupt with no vCPU on this CPU, and handles it.
pub fn idle() {
    gic::wait_for_interrupt();
    handle(None);
}

/// Clears the active state of the virtual timer's physical interrupt on this
/// CPU, when a vCPU leaves the CPU before deactivating it.
pub fn release_virtual_timer() {
    gic::clear_active_private(VIRTUAL_TIMER);
}

/// Makes the CPUs of the vCPUs in `kick` look at their vCPUs again.
pub fn kick(machine: &Machine, kick: Kick) {
    let current = crate::cpu::current();
    for (index, &cpu) in machine.description.cpus.iter().enumerate() {
        if kick.0 & (1 << index) != 0 {
            machine.attention[index].store(true, Ordering::SeqCst);
            if cpu != current {
                gic::send_sgi(KICK, cpu);
            }
        }
    }
}

/// Console input goes to the Linux VM's emulated UART.
fn deliver_console_input() {
    let mut buffer = [0u8; 32];
    let machine = vm::console_machine()
        .and_then(vm::machine)
        .filter(|machine| machine.state() == vm::State::Running);
    loop {
        let space = machine.map_or(buffer.len(), |machine| {
            machine.devices.lock().uart.receive_space().min(buffer.len())
        });
        if space == 0 {
            // The guest is not reading: leave the rest in the physical FIFO and
            // stop its interrupt (it would fire again at once) until the guest
            // makes room (`resume_console_input`).
            INPUT_PAUSED.store(true, Ordering::SeqCst);
            console::set_input_interrupt(false);
            return;
        }
        let count = console::read_input(&mut buffer[..space]);
        if count == 0 {
            return;
        }
        let Some(machine) = machine else { continue };
        let kick = {
            let mut devices = machine.devices.lock();
            for &byte in &buffer[..count] {
                devices.uart.receive(byte);
            }
            devices.update_uart_line()
        };
        self::kick(machine, kick);
        if log_input_once() {
            log!("console input goes to vm {}", machine.name());
        }
    }
}

/// Set while console input waits for the guest to drain its UART.
static INPUT_PAUSED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The guest read from its UART: if input was paused for lack of room, let
/// the physical UART interrupt again.
pub fn resume_console_input() {
    if INPUT_PAUSED.swap(false, Ordering::SeqCst) {
        console::set_input_interrupt(true);
    }
}

fn log_input_once() -> bool {
    static SAID: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    !SAID.swap(true, Ordering::Relaxed)
}
