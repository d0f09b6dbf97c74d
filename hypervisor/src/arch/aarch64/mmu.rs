//! The hypervisor's own address space (EL2 stage 1) and the EL2 trap configuration.
//!
//! EL2 maps physical memory one to one: RAM as normal write-back memory, the
//! device space below it as Device-nGnRE. With an identity map a physical
//! address is also the hypervisor's virtual address, which is what lets the
//! stage-2 code reach page tables and guest memory by their physical addresses.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    ReadWriteable, Readable, Writeable, CNTHCTL_EL2, CNTVOFF_EL2, CPTR_EL2, HCR_EL2,
    ID_AA64MMFR0_EL1, MAIR_EL2, MDCR_EL2, SCTLR_EL2, TCR_EL2, TTBR0_EL2,
};
use boards::qemu_virt;
use core::cell::UnsafeCell;

/// One level-1 table: 512 entries of 1 GiB each cover a 39-bit address space.
#[repr(C, align(4096))]
struct LevelOneTable(UnsafeCell<[u64; 512]>);

// SAFETY: the table is written only by the primary CPU in `build_tables`, before
// any other CPU runs and before the MMU reads it; afterwards it is read-only.
unsafe impl Sync for LevelOneTable {}

static TABLE: LevelOneTable = LevelOneTable(UnsafeCell::new([0; 512]));

const GIB: u64 = 1 << 30;
/// MAIR_EL2 index of Device-nGnRE memory.
const ATTRIBUTE_DEVICE: u64 = 0;
/// MAIR_EL2 index of normal write-back memory.
const ATTRIBUTE_NORMAL: u64 = 1;

fn block(address: u64, attribute_index: u64, execute_never: bool) -> u64 {
    const VALID: u64 = 1;
    const ACCESS_FLAG: u64 = 1 << 10;
    const INNER_SHAREABLE: u64 = 3 << 8;
    const EXECUTE_NEVER: u64 = 1 << 54;
    address
        | VALID
        | ACCESS_FLAG
        | INNER_SHAREABLE
        | (attribute_index << 2)
        | if execute_never { EXECUTE_NEVER } else { 0 }
}

/// Fills the EL2 translation table. Called once, by the primary CPU, before
/// any other CPU starts.
pub fn build_tables() {
    // SAFETY: see the `Sync` impl: this is the single writer and nothing reads
    // the table yet.
    let table = unsafe { &mut *TABLE.0.get() };
    let device = qemu_virt::DEVICE_SPACE;
    let mut address = device.base;
    while address < device.end() {
        table[(address / GIB) as usize] = block(address, ATTRIBUTE_DEVICE, true);
        address += GIB;
    }
    let ram = qemu_virt::RAM;
    let mut address = ram.base;
    while address < ram.end() {
        table[(address / GIB) as usize] = block(address, ATTRIBUTE_NORMAL, false);
        address += GIB;
    }
    barrier::dsb(barrier::SY);
}

/// The physical address size the CPU supports, in bits.
pub fn physical_address_bits() -> u8 {
    match ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange) {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        _ => 48,
    }
}

/// Turns on the EL2 MMU and caches on this CPU, with the table `build_tables` made.
pub fn enable() {
    MAIR_EL2.set((0x04 << (8 * ATTRIBUTE_DEVICE)) | (0xff << (8 * ATTRIBUTE_NORMAL)));
    let physical_size = match physical_address_bits() {
        32 => 0,
        36 => 1,
        40 => 2,
        42 => 3,
        44 => 4,
        _ => 5,
    };
    TCR_EL2.write(
        TCR_EL2::T0SZ.val(25)
            + TCR_EL2::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL2::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL2::SH0::Inner
            + TCR_EL2::TG0::KiB_4
            + TCR_EL2::PS.val(physical_size),
    );
    TTBR0_EL2.set(TABLE.0.get() as u64);
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    // SAFETY: TLB invalidation for EL2 before the first use of the new table.
    unsafe { core::arch::asm!("tlbi alle2", "dsb ish", "isb", options(nostack)) };
    SCTLR_EL2.modify(
        SCTLR_EL2::M::Enable
            + SCTLR_EL2::C::Cacheable
            + SCTLR_EL2::I::Cacheable
            + SCTLR_EL2::SA::Enable
            + SCTLR_EL2::A::Disable,
    );
    barrier::isb(barrier::SY);
}

/// The HCR_EL2 value while a guest runs: stage 2 on, AArch64 EL1, physical
/// interrupts and aborts to EL2, and WFI, WFE and SMC trapped.
pub fn guest_hcr() -> u64 {
    (HCR_EL2::VM::Enable
        + HCR_EL2::SWIO::SET
        + HCR_EL2::FMO::EnableVirtualFIQ
        + HCR_EL2::IMO::EnableVirtualIRQ
        + HCR_EL2::AMO::SET
        + HCR_EL2::FB::SET
        + HCR_EL2::BSU::InnerShareable
        + HCR_EL2::TWI::SET
        + HCR_EL2::TWE::SET
        + HCR_EL2::TSC::EnableTrapEl1SmcToEl2
        + HCR_EL2::RW::EL1IsAarch64)
        .value
}

/// Sets the EL2 controls that do not change between guests: FP and SIMD not
/// trapped, debug and performance-monitor registers trapped, the physical
/// timer reserved for EL2, the counter readable, no virtual counter offset.
pub fn configure_traps() {
    // RES1 bits of CPTR_EL2 (E2H = 0) with TFP, TTA and TCPAC clear.
    CPTR_EL2.set(0x33ff);
    MDCR_EL2.write(
        MDCR_EL2::TDRA::SET
            + MDCR_EL2::TDOSA::SET
            + MDCR_EL2::TDA::SET
            + MDCR_EL2::TPM::SET
            + MDCR_EL2::TPMCR::SET,
    );
    CNTHCTL_EL2.write(CNTHCTL_EL2::EL1PCTEN::SET + CNTHCTL_EL2::EL1PCEN::CLEAR);
    CNTVOFF_EL2.set(0);
    HCR_EL2.write(HCR_EL2::RW::EL1IsAarch64);
    barrier::isb(barrier::SY);
}
