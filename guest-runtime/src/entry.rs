//! Boot: from the hypervisor's entry at the base of RAM to the program's
//! `main`.
//!
//! The hypervisor enters the VM at EL1 at `_start` (the first byte of the
//! image, guest-physical 0x4000_0000) with the MMU and caches off and every
//! exception masked. `_start` sets the stack, zeroes .bss, installs the
//! exception vectors and calls `guest_runtime_main`, which the program
//! defines with [`entry!`](crate::entry!); that calls [`start`], which turns
//! the MMU on and runs the program's `main`. The program never returns: it
//! runs forever or stops the VM.

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    msr     daifset, #0xf
    ldr     x1, =__stack_top
    mov     sp, x1
    // Zero .bss, 16-byte aligned at both ends (link.ld).
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  ldr     x1, =guest_runtime_vectors
    msr     vbar_el1, x1
    isb
    bl      guest_runtime_main
    // guest_runtime_main is `-> !` and does not come back here.
3:  b       3b

// Every exception is fatal: the runtime masks interrupts and waits for them
// with WFI, so any entry here is a fault. Each vector switches to the
// exception stack (the faulting code's stack may be what failed) and reports.
.section .text.vectors, "ax"
.balign 0x800
.global guest_runtime_vectors
guest_runtime_vectors:
    .set guest_runtime_vector_number, 0
    .rept 16
    .balign 0x80
    ldr     x1, =__exception_stack_top
    mov     sp, x1
    mov     x0, #guest_runtime_vector_number
    b       guest_runtime_exception
    .set guest_runtime_vector_number, guest_runtime_vector_number + 1
    .endr
"#
);

/// Defines the program's entry: `entry!(main)` for a VM with the default
/// 16 MiB of RAM, `entry!(main, memory_size = 32 << 20)` for another size.
/// `main` is a `fn() -> !`; it runs with the MMU and caches on.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, memory_size = $crate::mmu::DEFAULT_MEMORY_SIZE);
    };
    ($main:path, memory_size = $memory_size:expr) => {
        /// The program's entry, called once by the runtime's boot code.
        #[no_mangle]
        pub extern "C" fn guest_runtime_main() -> ! {
            let memory_size: u64 = $memory_size;
            let main: fn() -> ! = $main;
            $crate::entry::start(memory_size, main)
        }
    };
}

/// Turns the MMU on for a VM with `memory_size` bytes of RAM, then runs
/// `main`. Called by the code [`entry!`](crate::entry!) generates; any later
/// call stops the VM as failed.
#[cfg(target_os = "none")]
pub fn start(memory_size: u64, main: fn() -> !) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    // Plain loads and stores only: with the MMU off, memory is device memory,
    // where exclusive accesses (swap) are not guaranteed to work.
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.load(Ordering::Relaxed) {
        crate::warn!("guest_runtime::entry::start called again; stopping");
        crate::hypercall::stop_failed();
    }
    STARTED.store(true, Ordering::Relaxed);
    // The image, .bss and both stacks must be mapped whatever the program says.
    crate::parameters::set_memory_size(memory_size);
    let memory_size = memory_size.max(runtime_end() - crate::mmu::RAM_BASE);
    // SAFETY: this is the first call, made by the boot path (`_start` through
    // `guest_runtime_main`) with the MMU off before anything else ran; link.ld
    // places the image, .bss and stacks inside the first `memory_size` bytes.
    unsafe { crate::mmu::enable(memory_size) };
    crate::console::set_verbose(crate::parameters::flags() & crate::parameters::VERBOSE != 0);
    main()
}

/// One past the last byte the runtime's image, .bss and stacks use.
#[cfg(target_os = "none")]
pub(crate) fn runtime_end() -> u64 {
    extern "C" {
        /// The top of the exception stack, the last thing link.ld places.
        static __exception_stack_top: u8;
    }
    (&raw const __exception_stack_top) as u64
}
