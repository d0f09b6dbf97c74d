//! Virtual machines: their stage-2 partitions, images, devices and life cycle.
//!
//! Each VM of the system's manifest gets stage-2 tables that map exactly its
//! RAM, the devices it owns and its ends of channels, and vCPUs pinned to the
//! CPUs the manifest names. A VM starts from the images
//! the boot-image index gives it (copied from the staging region each time it
//! starts, so a restart begins from pristine images). A VM stops as a whole:
//! the first stop or reset request wins, every vCPU leaves its CPU, and the
//! last one out finishes the job: it restarts the VM (a reset, or a fault
//! under a restart policy) or leaves it stopped. When the primary VM stops,
//! or the last VM of the system does, the hypervisor powers the machine off.

use crate::arch::gic;
use crate::arch::Mutex;
use crate::memory::PoolTables;
use crate::system::SYSTEM;
use crate::{channel, firmware, images, log};
use boards::qemu_virt;
use boards::{RestartPolicy, VirtualMachineKind};
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use hypervisor_core::address::{GuestPhysicalAddress, PhysicalAddress, PAGE_SIZE};
use hypervisor_core::page_table::{self, Stage2Attributes, Stage2Table};
use hypervisor_core::uart::VirtualUart;
use hypervisor_core::vgic::VirtualGic;
use spin::Once;

/// Number of VMs of the system.
pub const MACHINE_COUNT: usize = SYSTEM.machines.len();

/// The most vCPUs any VM of the system has.
pub const MAX_VCPUS: usize = SYSTEM.max_vcpus();

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

/// How many times each VM has been started (1 after its first boot).
#[no_mangle]
pub static VM_STARTS: [AtomicU64; MACHINE_COUNT] = [const { AtomicU64::new(0) }; MACHINE_COUNT];

/// How many times each VM has been restarted after a fault.
#[no_mangle]
pub static VM_FAULT_RESTARTS: [AtomicU64; MACHINE_COUNT] =
    [const { AtomicU64::new(0) }; MACHINE_COUNT];

/// Set by a debugger (the tests, through the gdbstub) to make a VM fault at
/// its next exit, as if it had misbehaved: how fault containment and restart
/// policies are exercised on VMs that behave. Cleared when taken.
#[no_mangle]
pub static VM_INJECT_FAULT: [AtomicBool; MACHINE_COUNT] =
    [const { AtomicBool::new(false) }; MACHINE_COUNT];

/// Faults of each VM of any kind (stage-2 aborts, unhandled traps, hypercall
/// storms, failures the guest reported).
#[no_mangle]
pub static VM_FAULTS: [AtomicU64; MACHINE_COUNT] = [const { AtomicU64::new(0) }; MACHINE_COUNT];

/// VMs started and not yet stopped; the machine powers off when this reaches zero.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

static MACHINES: [Once<Machine>; MACHINE_COUNT] = [const { Once::new() }; MACHINE_COUNT];

/// The life cycle of a VM, as stored in [`VM_STATES`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not built, or no images to start it with.
    Absent = 0,
    /// Started; its vCPUs run or wait for their CPUs.
    Running = 1,
    /// Stopped for good.
    Stopped = 2,
}

/// Why a VM stopped.
#[derive(Clone, Copy, Debug)]
pub enum StopReason {
    /// The guest asked to stop (`VM_STOP`) with this code.
    Requested(u64),
    /// The guest called PSCI `SYSTEM_OFF`, or its last vCPU called `CPU_OFF`.
    PoweredOff,
    /// The guest called PSCI `SYSTEM_RESET`: the VM restarts.
    Reset,
    /// The guest touched guest-physical memory its partition does not map.
    Stage2Fault {
        /// The faulting guest-physical address.
        address: GuestPhysicalAddress,
        /// ESR_EL2 of the fault.
        syndrome: u64,
        /// Where the guest was.
        pc: u64,
    },
    /// The guest accessed an emulated device in a way that cannot be emulated.
    BadDeviceAccess {
        /// The guest-physical address of the access.
        address: GuestPhysicalAddress,
        /// ESR_EL2 of the access.
        syndrome: u64,
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
    /// The guest made more bad hypercalls than its budget allows.
    HypercallStorm,
    /// The primary VM stopped, and the system with it.
    Shutdown,
    /// A debugger asked for a fault (`VM_INJECT_FAULT`).
    Injected,
}

impl StopReason {
    /// Whether the VM misbehaved (as opposed to stopping or resetting as
    /// asked): the restart policy applies.
    pub fn is_fault(&self) -> bool {
        !matches!(
            self,
            Self::Requested(hypercall_abi::stop_code::DONE)
                | Self::PoweredOff
                | Self::Reset
                | Self::Shutdown
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        use hypervisor_core::exception::Syndrome;
        match *self {
            Self::Requested(code) => write!(formatter, "requested stop, code {code}"),
            Self::PoweredOff => write!(formatter, "powered off"),
            Self::Reset => write!(formatter, "reset"),
            Self::Stage2Fault { address, syndrome, pc } => write!(
                formatter,
                "stage-2 fault at IPA {address} (ESR {syndrome:#x}, {}, pc {pc:#x})",
                Syndrome(syndrome).class().name()
            ),
            Self::BadDeviceAccess { address, syndrome } => write!(
                formatter,
                "device access at IPA {address} that cannot be emulated (ESR {syndrome:#x})"
            ),
            Self::UnexpectedTrap { syndrome, pc } => write!(
                formatter,
                "unhandled trap {} (ESR {syndrome:#x}, pc {pc:#x})",
                Syndrome(syndrome).class().name()
            ),
            Self::Aarch32 => write!(formatter, "exception from AArch32 state"),
            Self::SystemError { syndrome } => write!(formatter, "SError (ESR {syndrome:#x})"),
            Self::HypercallStorm => write!(formatter, "hypercall storm"),
            Self::Shutdown => write!(formatter, "system shutdown"),
            Self::Injected => write!(formatter, "fault injected by the debugger"),
        }
    }
}

/// Power state of a vCPU, as PSCI sees it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Off: waiting for `CPU_ON`.
    Off = 0,
    /// On (or about to run on its CPU).
    On = 1,
}

/// What a VM has been asked to do as a whole.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    None = 0,
    Stop = 1,
    Reset = 2,
}

/// Where a vCPU starts when it is powered on.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartPoint {
    /// The first instruction.
    pub entry: u64,
    /// The value of x0.
    pub context: u64,
}

/// Per-vCPU control shared between CPUs.
struct VcpuControl {
    power: AtomicU8,
    start: Mutex<StartPoint>,
}

/// The devices the hypervisor emulates for a VM.
pub struct Devices {
    /// The virtual GICv3.
    pub gic: VirtualGic,
    /// The emulated PL011 (Linux VMs).
    pub uart: VirtualUart,
    /// The level the UART's interrupt line last had at the vGIC.
    pub uart_line: bool,
}

impl Devices {
    /// Passes a change of the UART's interrupt line to the vGIC. Most UART
    /// accesses leave the line as it was; they cost the vGIC nothing.
    pub fn update_uart_line(&mut self) -> hypervisor_core::vgic::Kick {
        let asserted = self.uart.interrupt_asserted();
        if asserted == self.uart_line {
            return hypervisor_core::vgic::Kick::NONE;
        }
        self.uart_line = asserted;
        self.gic.set_level(qemu_virt::UART_INTERRUPT, 0, asserted)
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
    /// The emulated devices, under one lock.
    pub devices: Mutex<Devices>,
    /// The virtio devices of a Linux VM (network cards and a socket
    /// device), one per channel, each under a lock of its own: moving packets
    /// takes a while, and the vGIC (under `devices`) must not wait for it.
    pub network:
        [Mutex<Option<crate::virtio_devices::Frontend>>; crate::virtio_devices::MAX_DEVICES],
    vcpus: [VcpuControl; MAX_VCPUS],
    /// vCPUs powered on (running or about to).
    active_vcpus: AtomicUsize,
    /// Per vCPU: the vGIC may have something new for it (set by every kick,
    /// cleared when its list registers are filled with nothing).
    pub attention: [AtomicBool; MAX_VCPUS],
    request: AtomicU8,
    stop_reason: Mutex<Option<StopReason>>,
    /// Restarts after faults so far, against the restart policy's limit.
    fault_restarts: AtomicU32,
    /// What is left of the VM's budget of bad hypercalls.
    pub hypercall_budget: Mutex<crate::hypercall::Budget>,
    /// CNTVOFF_EL2 of this VM: the physical count when it last started, so
    /// its virtual counter starts near zero.
    pub counter_offset: AtomicU64,
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

    /// Number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.description.cpus.len()
    }

    /// The VTTBR_EL2 value that selects this VM's stage-2 tables.
    pub fn vttbr(&self) -> u64 {
        page_table::vttbr_el2(self.index as u8 + 1, self.stage2.root())
    }

    /// Current life-cycle state.
    pub fn state(&self) -> State {
        match VM_STATES[self.index].load(Ordering::SeqCst) {
            1 => State::Running,
            2 => State::Stopped,
            _ => State::Absent,
        }
    }

    /// Calls `visit` for each piece of the guest range `address..address +
    /// length` with the physical address of the piece and its offset and
    /// length within the range. The range is translated page by page through
    /// the VM's own stage-2 tables, so only RAM the VM owns is ever visited.
    fn for_guest_pages(
        &self,
        address: GuestPhysicalAddress,
        length: usize,
        mut visit: impl FnMut(u64, core::ops::Range<usize>),
    ) -> Result<(), GuestMemoryError> {
        let mut done = 0;
        while done < length {
            let here = address.offset(done as u64).ok_or(GuestMemoryError::NotMapped)?;
            let translation =
                self.stage2.translate(&PoolTables, here).ok_or(GuestMemoryError::NotMapped)?;
            let physical = translation.physical.as_u64();
            if !self.description.memory.contains(physical) {
                return Err(GuestMemoryError::NotMapped);
            }
            let in_page = (PAGE_SIZE - here.page_offset()) as usize;
            let count = in_page.min(length - done);
            visit(physical, done..done + count);
            done += count;
        }
        Ok(())
    }

    /// Copies guest memory at `address` into `buffer`; only RAM the VM owns
    /// can be read.
    pub fn read_guest(
        &self,
        address: GuestPhysicalAddress,
        buffer: &mut [u8],
    ) -> Result<(), GuestMemoryError> {
        self.for_guest_pages(address, buffer.len(), |physical, range| {
            let piece = &mut buffer[range];
            // SAFETY: `for_guest_pages` hands out only pieces of this VM's RAM
            // that do not leave their page, which the identity map covers and
            // no hypervisor object lives in, so the source cannot overlap
            // `piece`. The guest may change these bytes while they are
            // copied; the copy then holds some mix of old and new bytes,
            // which is what the guest asked for: callers check what they
            // read from the copy, never from guest memory again.
            unsafe { channel_ring::words::copy_from(piece, physical as *const u8) };
        })
    }

    /// Copies `bytes` into guest memory at `address`; only RAM the VM owns
    /// can be written.
    pub fn write_guest(
        &self,
        address: GuestPhysicalAddress,
        bytes: &[u8],
    ) -> Result<(), GuestMemoryError> {
        self.for_guest_pages(address, bytes.len(), |physical, range| {
            let piece = &bytes[range];
            // SAFETY: as in `read_guest`: a piece of this VM's own RAM, which
            // no hypervisor object lives in and `bytes` cannot overlap.
            unsafe { channel_ring::words::copy_to(physical as *mut u8, piece) };
        })
    }

    /// Adds guest console output from the console hypercall; complete lines
    /// go to the console with the VM's tag.
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

    /// The power state of vCPU `vcpu`.
    pub fn power(&self, vcpu: usize) -> Power {
        if self.vcpus[vcpu].power.load(Ordering::SeqCst) == Power::On as u8 {
            Power::On
        } else {
            Power::Off
        }
    }

    /// Powers vCPU `vcpu` on at `start` (PSCI `CPU_ON`). False if it is on
    /// already or the VM is going down.
    pub fn power_on(&self, vcpu: usize, start: StartPoint) -> bool {
        if self.request.load(Ordering::SeqCst) != Request::None as u8 {
            return false;
        }
        *self.vcpus[vcpu].start.lock() = start;
        if self.vcpus[vcpu]
            .power
            .compare_exchange(Power::Off as u8, Power::On as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        self.active_vcpus.fetch_add(1, Ordering::SeqCst);
        gic::send_sgi(crate::interrupts::KICK, self.description.cpus[vcpu]);
        true
    }

    /// Where vCPU `vcpu` starts.
    pub fn start_point(&self, vcpu: usize) -> StartPoint {
        *self.vcpus[vcpu].start.lock()
    }

    /// Whether the VM has been asked to stop or reset.
    pub fn leaving(&self) -> bool {
        self.request.load(Ordering::SeqCst) != Request::None as u8
    }

    /// Asks the whole VM to stop (or, for [`StopReason::Reset`], restart).
    /// The first request wins; every vCPU is kicked off its CPU.
    pub fn request_stop(&self, reason: StopReason) {
        let request = if let StopReason::Reset = reason { Request::Reset } else { Request::Stop };
        // The reason is stored under its lock before the request becomes
        // visible, so the last vCPU out (which takes the lock) always sees it.
        let mut slot = self.stop_reason.lock();
        if self
            .request
            .compare_exchange(
                Request::None as u8,
                request as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
        {
            *slot = Some(reason);
            drop(slot);
            if let StopReason::Stage2Fault { .. } = reason {
                VM_STAGE2_FAULTS[self.index].fetch_add(1, Ordering::SeqCst);
            }
            let current = crate::cpu::current();
            for &cpu in self.description.cpus {
                if cpu != current {
                    gic::send_sgi(crate::interrupts::KICK, cpu);
                }
            }
        }
    }

    /// Called by a vCPU leaving its CPU for good (stop, reset or `CPU_OFF`).
    /// The last one out finishes the stop or restarts the VM.
    pub fn vcpu_left(&self, vcpu: usize) {
        self.vcpus[vcpu].power.store(Power::Off as u8, Ordering::SeqCst);
        if self.active_vcpus.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        // The last vCPU is off. Without a request, that is the guest powering
        // its last CPU off.
        let reason = self.stop_reason.lock().take().unwrap_or(StopReason::PoweredOff);
        self.console.lock().flush(self.name());
        channel::machine_stopped(self);
        let restart = match reason {
            StopReason::Reset => true,
            reason if reason.is_fault() => {
                VM_FAULTS[self.index].fetch_add(1, Ordering::SeqCst);
                match self.description.restart {
                    RestartPolicy::Stop => false,
                    RestartPolicy::Restart { limit } => {
                        self.fault_restarts.fetch_add(1, Ordering::SeqCst) < limit
                    }
                }
            }
            _ => false,
        };
        if restart {
            if reason.is_fault() {
                VM_FAULT_RESTARTS[self.index].fetch_add(1, Ordering::SeqCst);
                log!("vm {} faulted ({}): restarting", self.name(), reason);
            } else {
                log!("vm {} reset: restarting", self.name());
            }
            self.request.store(Request::None as u8, Ordering::SeqCst);
            if let Err(error) = self.start() {
                log!("vm {} cannot restart: {error}", self.name());
                self.finish(StopReason::PoweredOff);
            }
            return;
        }
        self.finish(reason);
    }

    fn finish(&self, reason: StopReason) {
        VM_STATES[self.index].store(State::Stopped as u8, Ordering::SeqCst);
        log!("vm {} stopped: {}", self.name(), reason);
        if self.description.primary {
            log!("primary vm {} stopped: stopping the others", self.name());
            for machine in machines() {
                if machine.index != self.index && machine.state() == State::Running {
                    machine.request_stop(StopReason::Shutdown);
                }
            }
        }
        crate::cpu::wake_all();
        release_running();
    }

    /// Loads the VM's images, resets its devices and powers its first vCPU on.
    fn start(&self) -> Result<(), images::ImageError> {
        // SAFETY: no vCPU of this VM runs (it is starting, or its last vCPU has
        // just left), so nothing else accesses its RAM; the range is the VM's
        // own RAM, identity-mapped at EL2 and owned by nobody else.
        let memory = unsafe {
            core::slice::from_raw_parts_mut(
                self.description.memory.base as *mut u8,
                self.description.memory.size as usize,
            )
        };
        let start = images::load(self, memory)?;
        {
            let mut devices = self.devices.lock();
            devices.gic = VirtualGic::new(self.vcpu_count());
            for vcpu in 0..self.vcpu_count() {
                devices
                    .gic
                    .set_hardware_mapping(
                        crate::interrupts::VIRTUAL_TIMER,
                        vcpu,
                        Some(crate::interrupts::VIRTUAL_TIMER),
                    )
                    .expect("the virtual timer is a PPI of every vCPU");
            }
            // The VM's device interrupts are hardware-mapped; one left active
            // by its previous life would never fire again.
            for &intid in self.description.devices.iter().flat_map(|device| device.interrupts) {
                gic::clear_active_shared(intid);
                devices
                    .gic
                    .set_hardware_mapping(intid, 0, Some(intid))
                    .expect("the manifest gives VMs only SPIs the vGIC implements");
            }
            devices.uart = VirtualUart::new();
            devices.uart_line = false;
            for (slot, position) in self.network.iter().zip(0..) {
                *slot.lock() = network_device(self.description, position);
            }
        }
        for attention in &self.attention {
            attention.store(true, Ordering::SeqCst);
        }
        *self.hypercall_budget.lock() = crate::hypercall::Budget::full();
        self.counter_offset.store(crate::arch::physical_count(), Ordering::SeqCst);
        VM_STATES[self.index].store(State::Running as u8, Ordering::SeqCst);
        VM_STARTS[self.index].fetch_add(1, Ordering::SeqCst);
        channel::machine_started(self);
        if !self.power_on(0, start) {
            log!("vm {}: first vCPU already on", self.name());
        }
        Ok(())
    }
}

/// One VM fewer runs (it stopped, or could not start); powers the machine
/// off after the last.
fn release_running() {
    if RUNNING.fetch_sub(1, Ordering::SeqCst) == 1 {
        log!("no virtual machine left; powering off");
        firmware::system_off();
    }
}

/// A partial console line of a VM.
struct LineBuffer {
    bytes: [u8; 200],
    length: usize,
}

impl LineBuffer {
    fn flush(&mut self, name: &'static str) {
        if self.length > 0 {
            let text = core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("<not UTF-8>");
            crate::console::write_line(
                crate::console::Source::Machine(name),
                format_args!("{text}"),
            );
            self.length = 0;
        }
    }
}

/// Every VM that has been built.
pub fn machines() -> impl Iterator<Item = &'static Machine> {
    MACHINES.iter().filter_map(|slot| slot.get())
}

/// Builds every VM's stage-2 tables and starts the VMs that have images.
/// Called once by the primary CPU before the others start.
pub fn create_all() {
    log!("system {:?}: {} VMs, {} channels", SYSTEM.name, MACHINE_COUNT, SYSTEM.channels.len());
    channel::init_all();
    for (index, description) in SYSTEM.machines.iter().enumerate() {
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
            .expect("the manifest's VM memory is aligned and fits the frame pool");
        for device in description.devices {
            stage2
                .map(
                    &mut tables,
                    GuestPhysicalAddress::new(device.mmio.base),
                    PhysicalAddress::new(device.mmio.base),
                    device.mmio.size,
                    Stage2Attributes::DEVICE,
                )
                .expect("the manifest's device windows are page-aligned");
            log!("vm {}: device {} at {:#x}", description.name, device.name, device.mmio.base);
        }
        channel::map(description, &mut stage2);
        let machine = MACHINES[index].call_once(|| Machine {
            index,
            description,
            stage2,
            console: Mutex::new(LineBuffer { bytes: [0; 200], length: 0 }),
            devices: Mutex::new(Devices {
                gic: VirtualGic::new(description.cpus.len()),
                uart: VirtualUart::new(),
                uart_line: false,
            }),
            // Filled one device at a time below: the devices are large, and
            // building them all on the stack at once would overflow it.
            network: [const { Mutex::new(None) }; crate::virtio_devices::MAX_DEVICES],
            vcpus: [const {
                VcpuControl {
                    power: AtomicU8::new(Power::Off as u8),
                    start: Mutex::new(StartPoint { entry: 0, context: 0 }),
                }
            }; MAX_VCPUS],
            active_vcpus: AtomicUsize::new(0),
            attention: [const { AtomicBool::new(true) }; MAX_VCPUS],
            request: AtomicU8::new(Request::None as u8),
            stop_reason: Mutex::new(None),
            fault_restarts: AtomicU32::new(0),
            hypercall_budget: Mutex::new(crate::hypercall::Budget::full()),
            counter_offset: AtomicU64::new(0),
        });
        for (slot, position) in machine.network.iter().zip(0..) {
            *slot.lock() = network_device(description, position);
        }
        VM_STAGE2_TABLES[index].store(machine.vttbr(), Ordering::SeqCst);
        log!(
            "vm {} (vmid {}, {}{}): {} MiB of RAM at IPA {:#x} backed by {:#x}, cpus {:?}, {} channels",
            description.name,
            index + 1,
            description.kind.name(),
            if description.primary { ", primary" } else { "" },
            description.memory.size >> 20,
            description.guest_memory_base,
            description.memory.base,
            description.cpus,
            description.channels.len()
        );
    }
    BUILT.store(true, Ordering::SeqCst);
    // Every VM counts as running before the first starts: one that stops at
    // once must not find the count at zero while others are still to start.
    RUNNING.store(MACHINE_COUNT, Ordering::SeqCst);
    for machine in machines() {
        if let Err(error) = machine.start() {
            log!("vm {} not started: {error}", machine.name());
            VM_STATES[machine.index].store(State::Absent as u8, Ordering::SeqCst);
            release_running();
        }
    }
}

/// A fresh virtio device for `description`'s channel number `index`, if it
/// has one (Linux VMs only).
fn network_device(
    description: &boards::VirtualMachine,
    index: usize,
) -> Option<crate::virtio_devices::Frontend> {
    let count = crate::virtio_devices::device_count(description);
    (index < count).then(|| crate::virtio_devices::Frontend::new(description, index))
}

/// Set once every VM has been built (before any starts).
static BUILT: AtomicBool = AtomicBool::new(false);

/// Whether every VM has been built, so the CPUs can collect their vCPUs.
pub fn all_built() -> bool {
    BUILT.load(Ordering::SeqCst)
}

/// The VM that takes the console's input: the primary, or else the first
/// Linux VM.
pub fn console_machine() -> Option<usize> {
    SYSTEM.primary().or_else(|| {
        SYSTEM.machines.iter().position(|machine| machine.kind == VirtualMachineKind::Linux)
    })
}

/// The CPU the board's physical UART input interrupt goes to: the first CPU
/// of the VM that takes the console input.
pub fn input_cpu() -> usize {
    console_machine().map_or(0, |index| SYSTEM.machines[index].cpus[0])
}

/// The VM with index `index`, if it has been built.
pub fn machine(index: usize) -> Option<&'static Machine> {
    MACHINES.get(index).and_then(Once::get)
}
