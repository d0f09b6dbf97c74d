//! The parameter page: the last 4 KiB of the VM's RAM. The hypervisor fills
//! it at every start from the VM's `Parameters` image in the boot-image index,
//! or zeroes it when there is none, so a VM learns how the host wants it to
//! run (the app VM's benchmark mode, for instance) without parsing anything.

/// Bytes of the parameter page.
pub const PAGE_SIZE: u64 = 0x1000;
/// 64-bit words in the page.
pub const WORDS: usize = (PAGE_SIZE / 8) as usize;

#[cfg(target_os = "none")]
static MEMORY_SIZE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Notes the RAM size the program was built for (done by [`crate::entry`]).
#[cfg(target_os = "none")]
pub(crate) fn set_memory_size(size: u64) {
    MEMORY_SIZE.store(size, core::sync::atomic::Ordering::Relaxed);
}

/// The RAM size the program was built for.
#[cfg(target_os = "none")]
pub fn memory_size() -> u64 {
    MEMORY_SIZE.load(core::sync::atomic::Ordering::Relaxed)
}

/// Word `index` of the parameter page; 0 beyond the page (or before the
/// runtime has started).
#[cfg(target_os = "none")]
pub fn word(index: usize) -> u64 {
    let size = MEMORY_SIZE.load(core::sync::atomic::Ordering::Relaxed);
    if index >= WORDS || size < PAGE_SIZE {
        return 0;
    }
    let address = crate::mmu::RAM_BASE + size - PAGE_SIZE + 8 * index as u64;
    // SAFETY: the parameter page is the last page of this VM's RAM, which the
    // identity map covers as normal memory; the hypervisor wrote it before
    // the VM started and nothing of the runtime lives there (the image, its
    // stacks and .bss end far below).
    unsafe { core::ptr::read_volatile(address as *const u64) }
}

/// Word `index` of the parameter page: always 0 on the host.
#[cfg(not(target_os = "none"))]
pub fn word(index: usize) -> u64 {
    let _ = index;
    0
}
