//! The parameter page: the last 4 KiB of the VM's RAM. The hypervisor fills
//! it at every start from the VM's `Parameters` image in the boot-image index,
//! or zeroes it when there is none, so a VM learns how the host wants it to
//! run (the app VM's benchmark mode, for instance) without parsing anything.
//!
//! The last word of the page ([`FLAGS_WORD`]) is the host's flags word for
//! every Elastos VM: bit 0 ([`VERBOSE`]) makes the VM print information on
//! the console, not only faults and warnings ([`crate::console`]). The
//! words before it are the VM's own (`boards::staging` writes both).

/// Bytes of the parameter page.
pub const PAGE_SIZE: u64 = 0x1000;
/// 64-bit words in the page.
pub const WORDS: usize = (PAGE_SIZE / 8) as usize;
/// The word holding the host's flags: the page's last.
pub const FLAGS_WORD: usize = WORDS - 1;
/// Bytes of the page before the flags word, the VM's own parameters.
pub const OWN_SIZE: usize = FLAGS_WORD * 8;
/// Flag: print information on the console, not only faults and warnings.
pub const VERBOSE: u64 = 1;

/// The host's flags word ([`FLAGS_WORD`]).
pub fn flags() -> u64 {
    word(FLAGS_WORD)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_word_is_where_the_host_writes_it() {
        assert_eq!(FLAGS_WORD * 8, boards::staging::FLAGS_OFFSET);
        assert_eq!(OWN_SIZE, boards::staging::PARAMETERS_MAX);
        assert_eq!(VERBOSE, boards::staging::FLAG_VERBOSE);
        assert_eq!(flags(), 0, "no page on the host");
    }
}
