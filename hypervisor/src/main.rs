//! The Elastos hypervisor: a small EL2 kernel that partitions a 64-bit Arm
//! machine into isolated virtual machines.
//!
//! Start-up, in order: the primary CPU enters at `_start` (arch/aarch64/entry.S)
//! at EL2, turns on its MMU ([`arch::mmu`]), takes the console, hands the frame
//! pool to the allocator ([`memory`]), builds each VM's stage-2 partition
//! ([`vm`]) and starts those that have images ([`images`]), starts the
//! secondary CPUs with PSCI ([`cpu`]) and then every CPU runs the vCPUs pinned
//! to it ([`vcpu`]). Guest exits are decoded in [`trap`]; hypercalls follow
//! SMCCC ([`hypercall`], [`psci`]); the GIC and UART are emulated
//! ([`emulation`]) and physical interrupts handled at EL2 ([`interrupts`]).
//! When the last VM stops, the machine powers off.
//!
//! Unsafe code lives in [`arch`], [`memory`], [`console`], the guest-memory
//! access of [`vm`] and the staging reader of [`images`]; each block states
//! what makes it sound.
#![no_std]
#![no_main]

mod arch;
mod channel;
mod console;
mod cpu;
mod emulation;
mod firmware;
mod hypercall;
mod images;
mod interrupts;
mod memory;
mod psci;
mod scheduler;
mod system;
mod trap;
mod vcpu;
mod virtio_devices;
mod virtio_net;
mod virtio_vsock;
mod vm;

use aarch64_cpu::registers::{CurrentEL, Readable, ELR_EL2, ESR_EL2, FAR_EL2, SPSR_EL2};
use hypervisor_core::exception::Syndrome;

/// The hypervisor's version, printed at start.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// First Rust code of the primary CPU, called by `_start` with the stack set
/// and .bss zeroed. `device_tree` is what the loader left in x0.
#[no_mangle]
extern "C" fn primary_main(device_tree: u64) -> ! {
    cpu::identify();
    arch::mmu::build_tables();
    arch::mmu::enable();
    arch::mmu::configure_traps();
    console::init();
    log!(
        "Elastos hypervisor {VERSION} starting at EL{} (device tree at {device_tree:#x})",
        CurrentEL.read(CurrentEL::EL)
    );
    let frames = memory::init();
    log!("frame pool: {frames} frames of 4 KiB");
    interrupts::init_primary();
    interrupts::init_cpu();
    cpu::report_online();
    images::init();
    // The other CPUs come up first and wait for their vCPUs, so that starting
    // a VM (and its virtual counter) is not delayed by CPU bring-up.
    cpu::start_secondaries();
    vm::create_all();
    scheduler::run_this_cpu()
}

/// First Rust code of a secondary CPU, started by PSCI `CPU_ON`.
#[no_mangle]
extern "C" fn secondary_main(_cpu: u64) -> ! {
    cpu::identify();
    arch::mmu::enable();
    arch::mmu::configure_traps();
    interrupts::init_cpu();
    cpu::report_online();
    scheduler::run_this_cpu()
}

/// Registers saved by the vector stub for an exception taken at EL2.
#[repr(C)]
struct ExceptionFrame {
    x: [u64; 31],
}

/// An exception taken from EL2 itself: a hypervisor bug. Reports everything
/// known about it and powers off.
#[no_mangle]
extern "C" fn hypervisor_exception(kind: u64, frame: &ExceptionFrame) -> ! {
    let syndrome = Syndrome(ESR_EL2.get());
    let cpu = cpu::current();
    console::write_line_forced(
        cpu,
        format_args!(
            "HYPERVISOR EXCEPTION ({}) on cpu{cpu}: {} (ESR {:#x}), FAR {:#x}, ELR {:#x}, SPSR {:#x}",
            ["synchronous", "IRQ", "FIQ", "SError"][(kind & 3) as usize],
            syndrome.class().name(),
            syndrome.0,
            FAR_EL2.get(),
            ELR_EL2.get(),
            SPSR_EL2.get()
        ),
    );
    for (index, pair) in frame.x.chunks(4).enumerate() {
        console::write_line_forced(cpu, format_args!("  x{:<2} {:x?}", index * 4, pair));
    }
    firmware::system_off()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::write_line_forced(cpu::current(), format_args!("PANIC: {info}"));
    firmware::system_off()
}
