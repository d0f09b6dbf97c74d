//! Physical CPUs: which one is running, and bringing the secondaries up.

use crate::{arch, firmware, log};
use aarch64_cpu::registers::{Readable, Writeable, MPIDR_EL1, TPIDR_EL2};
use boards::qemu_virt::{cpu_affinity, cpu_index, CPU_COUNT};
use core::sync::atomic::{AtomicU64, Ordering};

/// Bit `n` is set once CPU `n` runs the hypervisor with its MMU on. The
/// integration tests read it through the gdbstub.
#[no_mangle]
pub static CPUS_ONLINE: AtomicU64 = AtomicU64::new(0);

/// Notes this CPU's index in TPIDR_EL2, where [`current`] finds it. The
/// first thing each CPU does in Rust.
pub fn identify() {
    // Only the CPUs of the board's table run the hypervisor: CPU 0 from
    // reset and the others through our own CPU_ON, so the MPIDR is known.
    TPIDR_EL2.set(cpu_index(MPIDR_EL1.get()).unwrap_or(0) as u64);
}

/// The index of the CPU this code runs on (every exit asks: one register
/// read, not a decoding of the MPIDR).
pub fn current() -> usize {
    TPIDR_EL2.get() as usize
}

/// Makes every other CPU look at its vCPUs again.
pub fn wake_all() {
    let current = current();
    for cpu in (0..CPU_COUNT).filter(|&cpu| cpu != current) {
        if CPUS_ONLINE.load(Ordering::SeqCst) & (1 << cpu) != 0 {
            crate::arch::gic::send_sgi(crate::interrupts::KICK, cpu);
        }
    }
}

/// Records that this CPU is up and says so on the console.
pub fn report_online() {
    let cpu = current();
    CPUS_ONLINE.fetch_or(1 << cpu, Ordering::SeqCst);
    log!("online at EL2 (MPIDR {:#x})", MPIDR_EL1.get());
}

/// Starts every other CPU with PSCI `CPU_ON` and waits until all report in.
pub fn start_secondaries() {
    let (major, minor) = firmware::version();
    log!("firmware PSCI {major}.{minor}; starting {} secondary CPUs", CPU_COUNT - 1);
    for cpu in 1..CPU_COUNT {
        if let Err(error) =
            firmware::cpu_on(cpu_affinity(cpu), arch::secondary_entry_address(), cpu as u64)
        {
            log!("CPU_ON for cpu{cpu} failed: PSCI error {}", error.0);
        }
    }
    let everyone = (1u64 << CPU_COUNT) - 1;
    let mut spins: u64 = 0;
    while CPUS_ONLINE.load(Ordering::SeqCst) != everyone {
        core::hint::spin_loop();
        spins += 1;
        if spins == 100_000_000 {
            log!(
                "secondary CPUs did not all come up: online mask {:#x}",
                CPUS_ONLINE.load(Ordering::SeqCst)
            );
            return;
        }
    }
    log!("all {CPU_COUNT} CPUs online");
}
