//! Virtual machines: their stage-2 partitions, their vCPUs and the run loop.
//!
//! Each VM of the board's table gets its own stage-2 translation tables that
//! map exactly its RAM, and one vCPU pinned to the CPU the table names. A CPU
//! runs its VMs one after the other; when the last VM of the system stops, the
//! hypervisor powers the machine off.

use crate::arch::{self, El1State, GuestRegisters};
use crate::memory::PoolTables;
use crate::{firmware, log, trap};
use aarch64_cpu::registers::{Writeable, HCR_EL2, VTCR_EL2, VTTBR_EL2};
use boards::qemu_virt::VIRTUAL_MACHINES;
use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use hypervisor_core::address::{GuestPhysicalAddress, PhysicalAddress, PAGE_SIZE};
use hypervisor_core::page_table::{self, Stage2Attributes, Stage2Table};
use spin::{Mutex, Once};

/// Number of VMs on this board.
pub const MACHINE_COUNT: usize = VIRTUAL_MACHINES.len();

/// VTTBR_EL2 value of each VM (VMID and stage-2 root), for the gdbstub tests.
#[no_mangle]
pub static VM_STAGE2_TABLES: [AtomicU64; MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; MACHINE_COUNT];

/// State of each VM: see [`State`]. Read by the gdbstub tests.
#[no_mangle]
pub static VM_STATES: [AtomicU8; MACHINE_COUNT] =
    [const { AtomicU8::new(State::Absent as u8) }; MACHINE_COUNT];

/// Stage-2 faults taken by each VM.
#[no_mangle]
pub static VM_STAGE2_FAULTS: [AtomicU64; MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; MACHINE_COUNT];

/// VMs not yet stopped; the machine powers off when this reaches zero.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

static MACHINES: [Once<Machine>; MACHINE_COUNT] = [const { Once::new() }; MACHINE_COUNT];

/// The life cycle of a VM, as stored in [`VM_STATES`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not built yet.
    Absent = 0,
    /// Built; its vCPU runs or waits for its CPU.
    Running = 1,
    /// Stopped for good.
    Stopped = 2,
}

/// Why a VM stopped.
#[derive(Clone, Copy, Debug)]
pub enum StopReason {
    /// The guest asked to stop (`VM_STOP`) with this code.
    Requested(u64),
    /// The guest called PSCI `SYSTEM_OFF`.
    PoweredOff,
    /// The guest touched guest-physical memory its partition does not map.
    Stage2Fault {
        /// The faulting guest-physical address.
        address: GuestPhysicalAddress,
        /// ESR_EL2 of the fault.
        syndrome: u64,
        /// Where the guest was.
        pc: u64,
    },
    /// The guest trapped in a way the hypervisor does not handle.
    UnexpectedTrap {
        /// ESR_EL2 of the trap.
        syndrome: u64,
        /// Where the guest was.
        pc: u64,
    },
    /// The guest ran in AArch32 state, which no VM may use.
    Aarch32,
    /// An SError was taken from the guest.
    SystemError {
        /// ESR_EL2 of the SError.
        syndrome: u64,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Requested(code) => write!(formatter, "requested stop, code {code}"),
            Self::PoweredOff => write!(formatter, "PSCI SYSTEM_OFF"),
            Self::Stage2Fault { address, syndrome, pc } => write!(
                formatter,
                "stage-2 fault at IPA {address} (ESR {syndrome:#x}, {}, pc {pc:#x})",
                hypervisor_core::exception::Syndrome(syndrome).class().name()
            ),
            Self::UnexpectedTrap { syndrome, pc } => write!(
                formatter,
                "unhandled trap {} (ESR {syndrome:#x}, pc {pc:#x})",
                hypervisor_core::exception::Syndrome(syndrome).class().name()
            ),
            Self::Aarch32 => write!(formatter, "exception from AArch32 state"),
            Self::SystemError { syndrome } => write!(formatter, "SError (ESR {syndrome:#x})"),
        }
    }
}

/// One VM.
pub struct Machine {
    /// Position in the board's table; the VMID is this plus one.
    pub index: usize,
    /// What the board says about it.
    pub description: &'static boards::VirtualMachine,
    stage2: Stage2Table,
    console: Mutex<LineBuffer>,
}

/// An error reaching guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestMemoryError {
    /// Some byte of the range is not RAM of this VM.
    NotMapped,
}

impl Machine {
    /// The VM's name.
    pub fn name(&self) -> &'static str {
        self.description.name
    }

    /// The VTTBR_EL2 value that selects this VM's stage-2 tables.
    pub fn vttbr(&self) -> u64 {
        page_table::vttbr_el2(self.index as u8 + 1, self.stage2.root())
    }

    /// Copies guest memory at `address` into `buffer`, page by page through the
    /// VM's own stage-2 tables, so only memory the VM owns can be read.
    pub fn read_guest(
        &self,
        address: GuestPhysicalAddress,
        buffer: &mut [u8],
    ) -> Result<(), GuestMemoryError> {
        let mut done = 0;
        while done < buffer.len() {
            let here = address.offset(done as u64).ok_or(GuestMemoryError::NotMapped)?;
            let translation =
                self.stage2.translate(&PoolTables, here).ok_or(GuestMemoryError::NotMapped)?;
            let physical = translation.physical.as_u64();
            if !self.description.memory.contains(physical) {
                return Err(GuestMemoryError::NotMapped);
            }
            let in_page = (PAGE_SIZE - here.page_offset()) as usize;
            let count = in_page.min(buffer.len() - done);
            for (offset, byte) in buffer[done..done + count].iter_mut().enumerate() {
                // SAFETY: `physical..physical + count` lies inside this VM's RAM
                // (checked above, and the page does not cross into another
                // frame), which the identity map covers. The guest may write it
                // concurrently, so each byte is read once, volatile.
                *byte = unsafe { core::ptr::read_volatile((physical as *const u8).add(offset)) };
            }
            done += count;
        }
        Ok(())
    }

    /// Adds guest console output; complete lines go to the console with the VM's tag.
    pub fn console_write(&self, bytes: &[u8]) {
        let mut line = self.console.lock();
        for &byte in bytes {
            if byte == b'\n' || line.length == line.bytes.len() {
                line.flush(self.name());
            }
            if byte != b'\n' && byte != b'\r' {
                let length = line.length;
                line.bytes[length] = byte;
                line.length += 1;
            }
        }
    }

    /// Stops the VM for `reason`; powers the machine off if it was the last.
    pub fn stop(&self, reason: StopReason) {
        self.console.lock().flush(self.name());
        VM_STATES[self.index].store(State::Stopped as u8, Ordering::SeqCst);
        if let StopReason::Stage2Fault { .. } = reason {
            VM_STAGE2_FAULTS[self.index].fetch_add(1, Ordering::SeqCst);
        }
        log!("vm {} stopped: {}", self.name(), reason);
        if RUNNING.fetch_sub(1, Ordering::SeqCst) == 1 {
            log!("no virtual machine left; powering off");
            firmware::system_off();
        }
    }
}

/// A partial console line of a VM.
struct LineBuffer {
    bytes: [u8; 200],
    length: usize,
}

impl LineBuffer {
    fn flush(&mut self, name: &str) {
        if self.length > 0 {
            let text = core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("<not UTF-8>");
            crate::console::write_line(crate::console::Source::Machine(name), format_args!("{text}"));
            self.length = 0;
        }
    }
}

/// Builds every VM's stage-2 tables. Called once by the primary CPU before
/// the others start.
pub fn create_all() {
    for (index, description) in VIRTUAL_MACHINES.iter().enumerate() {
        let mut tables = PoolTables;
        let mut stage2 = Stage2Table::new(&mut tables).expect("frame pool holds a root table");
        stage2
            .map(
                &mut tables,
                GuestPhysicalAddress::new(description.guest_memory_base),
                PhysicalAddress::new(description.memory.base),
                description.memory.size,
                Stage2Attributes::RAM,
            )
            .expect("the board's VM memory is aligned and fits the frame pool");
        let machine = MACHINES[index].call_once(|| Machine {
            index,
            description,
            stage2,
            console: Mutex::new(LineBuffer { bytes: [0; 200], length: 0 }),
        });
        VM_STAGE2_TABLES[index].store(machine.vttbr(), Ordering::SeqCst);
        VM_STATES[index].store(State::Running as u8, Ordering::SeqCst);
        RUNNING.fetch_add(1, Ordering::SeqCst);
        log!(
            "vm {} (vmid {}): {} MiB of RAM at IPA {:#x} backed by {:#x}, cpu{}",
            description.name,
            index + 1,
            description.memory.size >> 20,
            description.guest_memory_base,
            description.memory.base,
            description.cpu
        );
    }
}

/// One virtual CPU.
pub struct Vcpu {
    /// General registers, PC and PSTATE.
    pub registers: GuestRegisters,
    /// EL1 system registers while the vCPU is not on a CPU.
    pub el1: El1State,
    /// The VM it belongs to.
    pub machine: &'static Machine,
}

/// PSTATE of a vCPU at reset: EL1 with SP_EL1, all exceptions masked.
const RESET_PSTATE: u64 = 0x3c5;

impl Vcpu {
    fn new(machine: &'static Machine) -> Self {
        let mut registers = GuestRegisters::default();
        registers.pc = machine.description.guest_memory_base;
        registers.pstate = RESET_PSTATE;
        Self { registers, el1: El1State::reset(), machine }
    }

    /// Puts this vCPU's EL1 state, stage-2 tables and traps on this CPU.
    fn load(&self) {
        self.el1.restore();
        arch::set_virtual_cpu_identity(0x8000_0000);
        VTCR_EL2.set(page_table::vtcr_el2(arch::mmu::physical_address_bits()));
        VTTBR_EL2.set(self.machine.vttbr());
        HCR_EL2.set(arch::mmu::guest_hcr());
        arch::invalidate_guest_tlb();
    }

    /// Takes this vCPU's state off the CPU.
    fn unload(&mut self) {
        self.el1.save();
        HCR_EL2.write(HCR_EL2::RW::EL1IsAarch64);
        VTTBR_EL2.set(0);
    }
}

/// Runs the VMs pinned to this CPU, then idles.
pub fn run_this_cpu() -> ! {
    let cpu = crate::cpu::current();
    for slot in &MACHINES {
        if let Some(machine) = slot.get() {
            if machine.description.cpu == cpu {
                run(machine);
            }
        }
    }
    loop {
        arch::wait_for_event();
    }
}

fn run(machine: &'static Machine) {
    log!("entering vm {} at {:#x}", machine.name(), machine.description.guest_memory_base);
    let mut vcpu = Vcpu::new(machine);
    vcpu.load();
    loop {
        let kind = arch::run_guest(&mut vcpu.registers);
        if let Err(reason) = trap::handle(&mut vcpu, kind) {
            vcpu.unload();
            machine.stop(reason);
            return;
        }
    }
}
