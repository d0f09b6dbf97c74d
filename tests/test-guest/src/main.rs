//! The test guest: a small EL1 program that runs inside a stage-2 partition
//! and exercises the hypervisor from there.
//!
//! It reads its scenario from the parameter page at the end of its RAM
//! (`boards::test_guest`), does what the scenario says, reports on the console
//! hypercall and stops itself with `VM_STOP`.
#![no_std]
#![no_main]

use boards::test_guest::Scenario;
use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use hypercall_abi::{call, stop_code, Status, CONSOLE_WRITE_MAX, SERVICE_UID};

global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    ldr     x1, =__stack_top
    mov     sp, x1
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  ldr     x1, =vectors
    msr     vbar_el1, x1
    isb
    bl      guest_main
3:  b       3b

.balign 0x800
vectors:
    .set offset, 0
    .rept 16
    .balign 0x80
    sub     sp, sp, #176
    stp     x0, x1, [sp, #0]
    mov     x0, #(offset)
    b       exception_entry
    .set offset, offset + 1
    .endr

// Saves the registers a Rust function may change, lets `guest_exception`
// decide, and returns to where ELR_EL1 then points if it returns.
exception_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x29, [sp, #144]
    str     x30, [sp, #160]
    bl      guest_exception
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x29, [sp, #144]
    ldr     x30, [sp, #160]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #176
    eret
"#
);

mod hostile;

/// RAM of a test VM as the guest sees it (matches link.ld and the board table).
pub(crate) const GUEST_RAM: boards::Region = boards::Region { base: 0x4000_0000, size: 16 << 20 };

/// Makes a hypercall with up to three arguments; returns x0..x3.
pub(crate) fn hypercall(function: u32, arguments: [u64; 3]) -> [u64; 4] {
    let (r0, r1, r2, r3);
    // SAFETY: HVC #0 traps to the hypervisor, which follows SMCCC: it changes
    // only x0..x3 (marked as outputs) and never this guest's memory except
    // where a call's documentation says so (none of the calls used here).
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") function as u64 => r0,
            inout("x1") arguments[0] => r1,
            inout("x2") arguments[1] => r2,
            inout("x3") arguments[2] => r3,
            options(nostack),
        );
    }
    [r0, r1, r2, r3]
}

/// Makes a firmware call with SMC, as an operating system calls PSCI; the
/// hypervisor traps it (HCR_EL2.TSC). Returns x0.
pub(crate) fn firmware_call(function: u32, arguments: [u64; 3]) -> u64 {
    let result;
    // SAFETY: the trapped SMC is handled by the hypervisor following SMCCC: it
    // changes only x0..x3 and no memory of this guest.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") function as u64 => result,
            inout("x1") arguments[0] => _,
            inout("x2") arguments[1] => _,
            inout("x3") arguments[2] => _,
            options(nostack),
        );
    }
    result
}

pub(crate) fn stop(code: u64) -> ! {
    hypercall(call::VM_STOP, [code, 0, 0]);
    // VM_STOP does not return; if it did, spinning is all that is left.
    loop {
        core::hint::spin_loop();
    }
}

/// Console output, one hypercall per line.
pub(crate) struct Console {
    line: [u8; CONSOLE_WRITE_MAX as usize],
    length: usize,
}

impl Console {
    pub(crate) const fn new() -> Self {
        Self { line: [0; CONSOLE_WRITE_MAX as usize], length: 0 }
    }

    pub(crate) fn flush(&mut self) {
        if self.length > 0 {
            hypercall(call::CONSOLE_WRITE, [self.line.as_ptr() as u64, self.length as u64, 0]);
            self.length = 0;
        }
    }
}

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.length == self.line.len() {
                self.flush();
            }
            self.line[self.length] = byte;
            self.length += 1;
            if byte == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints a line on the console hypercall.
#[macro_export]
macro_rules! println {
    ($($argument:tt)*) => {{
        let mut console = $crate::Console::new();
        // Writing to Console cannot fail.
        let _ = core::fmt::Write::write_fmt(&mut console, format_args!($($argument)*));
        let _ = core::fmt::Write::write_str(&mut console, "\n");
        console.flush();
    }};
}

pub(crate) fn counter() -> u64 {
    let value;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack)) };
    value
}

pub(crate) fn counter_frequency() -> u64 {
    let value;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack)) };
    value
}

/// Entered from `_start` with a stack and zeroed .bss.
#[no_mangle]
extern "C" fn guest_main() -> ! {
    let address = boards::test_guest::parameter_address(GUEST_RAM);
    // SAFETY: the parameter page is inside this guest's RAM (the last page,
    // which link.ld leaves out of the image and the stack).
    let word = unsafe { core::ptr::read_volatile(address as *const u64) };
    let Some(scenario) = Scenario::from_word(word) else {
        println!("unknown scenario word {word:#x}");
        stop(stop_code::FAILED);
    };
    println!("test guest running scenario {}", scenario.name());
    match scenario {
        Scenario::Greet => greet(),
        Scenario::Escape => escape(),
        Scenario::Benchmark => benchmark(),
        Scenario::Heartbeat => heartbeat(),
        Scenario::Hostile => hostile::run(),
    }
}

pub(crate) fn check(condition: bool, what: &str) {
    if !condition {
        println!("CHECK FAILED: {what}");
        stop(stop_code::FAILED);
    }
}

fn greet() -> ! {
    let [version, ..] = hypercall(call::VERSION, [0; 3]);
    println!("hello from EL1: hypercall ABI {}.{}", version >> 16, version & 0xffff);
    check(
        version
            == ((hypercall_abi::VERSION_MAJOR as u64) << 16) | hypercall_abi::VERSION_MINOR as u64,
        "VERSION matches the ABI crate",
    );
    let uid = hypercall(call::CALL_UID, [0; 3]);
    check(uid.map(|word| word as u32) == SERVICE_UID, "CALL_UID answers the service UID");
    let [unknown, ..] = hypercall(0xc600_7777, [1, 2, 3]);
    check(unknown == Status::NotSupported.as_register(), "unknown call is NOT_SUPPORTED");
    let [outside, ..] = hypercall(call::CONSOLE_WRITE, [other_machine_memory(), 8, 0]);
    check(
        outside == Status::InvalidParameter.as_register(),
        "console write from outside the partition is refused",
    );
    let [too_long, ..] = hypercall(call::CONSOLE_WRITE, [GUEST_RAM.base, CONSOLE_WRITE_MAX + 1, 0]);
    check(too_long == Status::InvalidParameter.as_register(), "oversized console write is refused");
    let [smccc, ..] = hypercall(0x8000_0000, [0; 3]);
    check(smccc == 0x1_0001, "SMCCC_VERSION is 1.1");
    check(firmware_call(0x8400_0000, [0; 3]) == 0x1_0001, "PSCI_VERSION over SMC is 1.1");
    // PSCI CPU_ON of a CPU this VM does not have: INVALID_PARAMETERS (-2).
    let missing_cpu = firmware_call(0xc400_0003, [7, GUEST_RAM.base, 0]);
    check(missing_cpu as i64 == -2, "CPU_ON of a missing CPU is INVALID_PARAMETERS");
    check(firmware_call(0xc400_0004, [7, 0, 0]) as i64 == -2, "AFFINITY_INFO of it too");
    check(firmware_call(0xc400_0004, [0, 0, 0]) == 0, "AFFINITY_INFO of this CPU is ON");
    check(firmware_call(0x8400_00ff, [0; 3]) as i64 == -1, "unknown PSCI call is NOT_SUPPORTED");
    println!("all checks passed");
    stop(stop_code::DONE)
}

/// The physical address of another VM's RAM (beta's, or alpha's when this is
/// beta): an address outside this partition's guest-physical RAM.
fn other_machine_memory() -> u64 {
    let machines = boards::qemu_virt::systems::TEST.machines;
    let beta = machines.iter().find(|machine| machine.name == "beta");
    // The test system has a beta (a unit test of `boards` checks it).
    beta.map_or(0, |machine| machine.memory.base)
}

fn escape() -> ! {
    let target = other_machine_memory();
    println!("escape: reading IPA {target:#x}, outside this partition");
    // SAFETY: deliberately not sound: this read must fault at stage 2 and the
    // hypervisor must stop this VM before the instruction completes.
    let value = unsafe { core::ptr::read_volatile(target as *const u64) };
    println!("ESCAPED: read {value:#x} from {target:#x}");
    stop(stop_code::FAILED)
}

fn benchmark() -> ! {
    const ITERATIONS: u64 = 100_000;
    let frequency = counter_frequency();
    // Baseline: the same loop with the hypercall replaced by an ordinary call.
    let start = counter();
    for index in 0..ITERATIONS {
        core::hint::black_box(index);
    }
    let baseline = counter() - start;
    let start = counter();
    for _ in 0..ITERATIONS {
        hypercall(call::NULL, [0; 3]);
    }
    let ticks = counter() - start;
    println!(
        "benchmark null-hypercall iterations={ITERATIONS} ticks={ticks} baseline_ticks={baseline} frequency={frequency}"
    );
    stop(stop_code::DONE)
}

fn heartbeat() -> ! {
    let interval = counter_frequency() / 5;
    let mut next = counter();
    for beat in 1..=15 {
        next += interval;
        while counter() < next {
            core::hint::spin_loop();
        }
        println!("heartbeat {beat}");
    }
    stop(stop_code::DONE)
}

/// Any exception taken to this guest's EL1 vectors: an UNDEFINED instruction
/// the hostile scenario expects is counted and stepped over; anything else
/// is reported and stops the VM.
#[no_mangle]
extern "C" fn guest_exception(vector: u64) {
    let (syndrome, link, fault): (u64, u64, u64);
    // SAFETY: reading the EL1 exception syndrome registers has no side effects.
    unsafe {
        asm!(
            "mrs {}, esr_el1", "mrs {}, elr_el1", "mrs {}, far_el1",
            out(reg) syndrome, out(reg) link, out(reg) fault,
            options(nomem, nostack)
        );
    }
    // A synchronous exception from the current EL (vector 4: SP_EL1) with
    // EC 0: an UNDEFINED instruction.
    if vector == 4 && syndrome >> 26 == 0 && hostile::take_expected_undefined() {
        // SAFETY: ELR_EL1 holds the address of the refused instruction;
        // returning past it resumes the scenario, which expects it to have no
        // effect.
        unsafe { asm!("msr elr_el1, {}", in(reg) link + 4, options(nomem, nostack)) };
        return;
    }
    println!("guest exception: vector {vector}, ESR {syndrome:#x}, ELR {link:#x}, FAR {fault:#x}");
    stop(stop_code::FAILED)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("guest panic: {info}");
    stop(stop_code::FAILED)
}
