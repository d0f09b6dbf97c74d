// Entry points and exception vectors of the EL2 image.
//
// Only code that cannot be written in Rust lives here: the first instructions
// of each CPU (no stack yet), the vector table, and the switch between the
// hypervisor's registers and a guest's.

// Layout of `GuestRegisters` (hypervisor/src/arch/aarch64/mod.rs).
.equ GUEST_X0, 0
.equ GUEST_PC, 248
.equ GUEST_PSTATE, 256

// Kinds of exception, as `ExceptionKind` numbers them.
.equ KIND_SYNCHRONOUS, 0
.equ KIND_IRQ, 1
.equ KIND_FIQ, 2
.equ KIND_SERROR, 3

.section .text.boot, "ax"
.global _start
_start:
    // QEMU starts only CPU 0 here, at EL2; the others wait for PSCI CPU_ON.
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.ne    park
    // Stack of CPU 0: the first slot of the stack area.
    ldr     x1, =__stacks_start
    ldr     x2, =PER_CPU_STACK_SIZE
    add     x1, x1, x2
    mov     sp, x1
    // Zero .bss.
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  ldr     x1, =exception_vectors
    msr     vbar_el2, x1
    isb
    // x0 still holds what the loader passed (the device tree, or zero).
    bl      primary_main
    b       park

// Secondary CPUs start here through PSCI CPU_ON; x0 is the context id, which
// the primary sets to the CPU's index.
.global secondary_entry
secondary_entry:
    ldr     x1, =__stacks_start
    ldr     x2, =PER_CPU_STACK_SIZE
    madd    x1, x0, x2, x1
    add     x1, x1, x2
    mov     sp, x1
    ldr     x1, =exception_vectors
    msr     vbar_el2, x1
    isb
    bl      secondary_main
park:
    wfe
    b       park

// Exception taken from EL2 itself: save every general register in a frame on
// the stack and report. These are hypervisor bugs; the handler does not return.
.macro HYPERVISOR_EXCEPTION kind
    .balign 0x80
    sub     sp, sp, #(32 * 8)
    stp     x0, x1, [sp, #(0 * 8)]
    stp     x2, x3, [sp, #(2 * 8)]
    stp     x4, x5, [sp, #(4 * 8)]
    stp     x6, x7, [sp, #(6 * 8)]
    stp     x8, x9, [sp, #(8 * 8)]
    stp     x10, x11, [sp, #(10 * 8)]
    stp     x12, x13, [sp, #(12 * 8)]
    stp     x14, x15, [sp, #(14 * 8)]
    stp     x16, x17, [sp, #(16 * 8)]
    stp     x18, x19, [sp, #(18 * 8)]
    stp     x20, x21, [sp, #(20 * 8)]
    stp     x22, x23, [sp, #(22 * 8)]
    stp     x24, x25, [sp, #(24 * 8)]
    stp     x26, x27, [sp, #(26 * 8)]
    stp     x28, x29, [sp, #(28 * 8)]
    str     x30, [sp, #(30 * 8)]
    mov     x0, #\kind
    mov     x1, sp
    bl      hypervisor_exception
    b       park
.endm

// Exception taken from a guest: keep x0 and x1 on the stack, put the kind in
// x0, and finish in `guest_exit`.
.macro GUEST_EXCEPTION kind
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x0, #\kind
    b       guest_exit
.endm

.section .text, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    // Current EL with SP_EL0: never used by the hypervisor.
    HYPERVISOR_EXCEPTION KIND_SYNCHRONOUS
    HYPERVISOR_EXCEPTION KIND_IRQ
    HYPERVISOR_EXCEPTION KIND_FIQ
    HYPERVISOR_EXCEPTION KIND_SERROR
    // Current EL with SP_EL2.
    HYPERVISOR_EXCEPTION KIND_SYNCHRONOUS
    HYPERVISOR_EXCEPTION KIND_IRQ
    HYPERVISOR_EXCEPTION KIND_FIQ
    HYPERVISOR_EXCEPTION KIND_SERROR
    // Lower EL, AArch64: the guests.
    GUEST_EXCEPTION KIND_SYNCHRONOUS
    GUEST_EXCEPTION KIND_IRQ
    GUEST_EXCEPTION KIND_FIQ
    GUEST_EXCEPTION KIND_SERROR
    // Lower EL, AArch32: guests run AArch64 only (HCR_EL2.RW), so these are
    // reported like any other guest exit and refused by the run loop.
    GUEST_EXCEPTION KIND_SYNCHRONOUS
    GUEST_EXCEPTION KIND_IRQ
    GUEST_EXCEPTION KIND_FIQ
    GUEST_EXCEPTION KIND_SERROR

// u64 guest_enter(GuestRegisters *registers)
//
// Saves the hypervisor's callee-saved registers, loads the guest's registers
// and enters it. Returns (through guest_exit) with the kind of exception that
// brought the CPU back, the guest's registers saved in *registers.
.global guest_enter
guest_enter:
    sub     sp, sp, #(12 * 8)
    stp     x19, x20, [sp, #(0 * 8)]
    stp     x21, x22, [sp, #(2 * 8)]
    stp     x23, x24, [sp, #(4 * 8)]
    stp     x25, x26, [sp, #(6 * 8)]
    stp     x27, x28, [sp, #(8 * 8)]
    stp     x29, x30, [sp, #(10 * 8)]
    // The register block's address, found again by guest_exit.
    str     x0, [sp, #-16]!
    ldp     x1, x2, [x0, #GUEST_PC]
    msr     elr_el2, x1
    msr     spsr_el2, x2
    ldp     x2, x3, [x0, #(2 * 8)]
    ldp     x4, x5, [x0, #(4 * 8)]
    ldp     x6, x7, [x0, #(6 * 8)]
    ldp     x8, x9, [x0, #(8 * 8)]
    ldp     x10, x11, [x0, #(10 * 8)]
    ldp     x12, x13, [x0, #(12 * 8)]
    ldp     x14, x15, [x0, #(14 * 8)]
    ldp     x16, x17, [x0, #(16 * 8)]
    ldp     x18, x19, [x0, #(18 * 8)]
    ldp     x20, x21, [x0, #(20 * 8)]
    ldp     x22, x23, [x0, #(22 * 8)]
    ldp     x24, x25, [x0, #(24 * 8)]
    ldp     x26, x27, [x0, #(26 * 8)]
    ldp     x28, x29, [x0, #(28 * 8)]
    ldr     x30, [x0, #(30 * 8)]
    ldp     x0, x1, [x0, #GUEST_X0]
    eret

// Stack on arrival: [sp] guest x0, x1; [sp + 16] the register block's address;
// above it the hypervisor's callee-saved registers. x0 holds the kind.
guest_exit:
    ldr     x1, [sp, #16]
    stp     x2, x3, [x1, #(2 * 8)]
    stp     x4, x5, [x1, #(4 * 8)]
    stp     x6, x7, [x1, #(6 * 8)]
    stp     x8, x9, [x1, #(8 * 8)]
    stp     x10, x11, [x1, #(10 * 8)]
    stp     x12, x13, [x1, #(12 * 8)]
    stp     x14, x15, [x1, #(14 * 8)]
    stp     x16, x17, [x1, #(16 * 8)]
    stp     x18, x19, [x1, #(18 * 8)]
    stp     x20, x21, [x1, #(20 * 8)]
    stp     x22, x23, [x1, #(22 * 8)]
    stp     x24, x25, [x1, #(24 * 8)]
    stp     x26, x27, [x1, #(26 * 8)]
    stp     x28, x29, [x1, #(28 * 8)]
    str     x30, [x1, #(30 * 8)]
    ldp     x2, x3, [sp], #32
    stp     x2, x3, [x1, #GUEST_X0]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x2, x3, [x1, #GUEST_PC]
    ldp     x19, x20, [sp, #(0 * 8)]
    ldp     x21, x22, [sp, #(2 * 8)]
    ldp     x23, x24, [sp, #(4 * 8)]
    ldp     x25, x26, [sp, #(6 * 8)]
    ldp     x27, x28, [sp, #(8 * 8)]
    ldp     x29, x30, [sp, #(10 * 8)]
    add     sp, sp, #(12 * 8)
    ret
