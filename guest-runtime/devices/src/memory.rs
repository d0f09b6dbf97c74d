//! the VM's RAM as the NIC sees it: guest-physical and physical addresses, and
//! the translation between them that `MEMORY_INFO` makes possible.
//!
//! There is no IOMMU: a device is handed physical addresses, while the VM's
//! own pointers are guest-physical (its MMU maps RAM identity at
//! guest-physical addresses). The hypervisor gives a device-owning VM one physically
//! contiguous block of RAM, so the translation is one offset, valid inside
//! that block only.

use core::fmt;

/// An address in the VM's guest-physical address space (what its pointers
/// hold, since its stage-1 map is the identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GuestPhysicalAddress(u64);

impl GuestPhysicalAddress {
    /// The guest-physical address `address`.
    pub const fn new(address: u64) -> Self {
        Self(address)
    }

    /// The address as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// A physical address: what a DMA-capable device must be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysicalAddress(u64);

impl PhysicalAddress {
    /// The physical address `address`.
    pub const fn new(address: u64) -> Self {
        Self(address)
    }

    /// The address as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// Why an address could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The range does not lie wholly inside the VM's RAM.
    OutsideMemory {
        /// The first address of the range.
        address: u64,
        /// Its length in bytes.
        length: u64,
    },
    /// The description of RAM wraps around the address space.
    Wraps,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::OutsideMemory { address, length } => {
                write!(formatter, "{length} bytes at {address:#x} are not all in the VM's RAM")
            }
            Self::Wraps => write!(formatter, "the RAM description wraps around"),
        }
    }
}

/// Where the VM's RAM is, in both address spaces (what `MEMORY_INFO` says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    guest_base: GuestPhysicalAddress,
    physical_base: PhysicalAddress,
    size: u64,
}

impl MemoryMap {
    /// RAM of `size` bytes at `guest_base`, backed by physical memory at
    /// `physical_base`. Fails if either range wraps around.
    pub const fn new(
        guest_base: GuestPhysicalAddress,
        physical_base: PhysicalAddress,
        size: u64,
    ) -> Result<Self, MemoryError> {
        if guest_base.0.checked_add(size).is_none() || physical_base.0.checked_add(size).is_none() {
            return Err(MemoryError::Wraps);
        }
        Ok(Self { guest_base, physical_base, size })
    }

    /// The guest-physical base of RAM.
    pub const fn guest_base(&self) -> GuestPhysicalAddress {
        self.guest_base
    }

    /// The physical base of RAM.
    pub const fn physical_base(&self) -> PhysicalAddress {
        self.physical_base
    }

    /// The size of RAM in bytes.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The physical address of the `length` bytes at `address`, which must
    /// all lie in RAM (an empty range must start inside it).
    pub fn to_physical(
        &self,
        address: GuestPhysicalAddress,
        length: u64,
    ) -> Result<PhysicalAddress, MemoryError> {
        let offset = offset_in(address.0, length, self.guest_base.0, self.size)?;
        Ok(PhysicalAddress(self.physical_base.0 + offset))
    }

    /// The guest-physical address of the `length` bytes at physical
    /// `address`, which must all lie in RAM.
    pub fn to_guest(
        &self,
        address: PhysicalAddress,
        length: u64,
    ) -> Result<GuestPhysicalAddress, MemoryError> {
        let offset = offset_in(address.0, length, self.physical_base.0, self.size)?;
        Ok(GuestPhysicalAddress(self.guest_base.0 + offset))
    }
}

/// The offset of `[address, address + length)` inside `[base, base + size)`.
fn offset_in(address: u64, length: u64, base: u64, size: u64) -> Result<u64, MemoryError> {
    let outside = MemoryError::OutsideMemory { address, length };
    let offset = address.checked_sub(base).ok_or(outside)?;
    let end = offset.checked_add(length).ok_or(outside)?;
    if offset >= size || end > size {
        return Err(outside);
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEBIBYTE: u64 = 1 << 20;

    /// the VM's RAM in the default system on QEMU: 32 MiB at guest-physical
    /// 0x4000_0000, physical 0x5000_0000.
    fn netvm() -> MemoryMap {
        MemoryMap::new(
            GuestPhysicalAddress::new(0x4000_0000),
            PhysicalAddress::new(0x5000_0000),
            32 * MEBIBYTE,
        )
        .unwrap()
    }

    #[test]
    fn addresses_in_ram_move_by_the_offset() {
        let map = netvm();
        assert_eq!(
            map.to_physical(GuestPhysicalAddress::new(0x4000_0000), 4096),
            Ok(PhysicalAddress::new(0x5000_0000))
        );
        assert_eq!(
            map.to_physical(GuestPhysicalAddress::new(0x4012_3456), 100),
            Ok(PhysicalAddress::new(0x5012_3456))
        );
        // The very last byte.
        let last = 0x4000_0000 + 32 * MEBIBYTE - 1;
        assert_eq!(
            map.to_physical(GuestPhysicalAddress::new(last), 1),
            Ok(PhysicalAddress::new(0x5000_0000 + 32 * MEBIBYTE - 1))
        );
        assert_eq!(
            map.to_guest(PhysicalAddress::new(0x5012_3456), 100),
            Ok(GuestPhysicalAddress::new(0x4012_3456))
        );
    }

    #[test]
    fn ranges_leaving_ram_are_refused() {
        let map = netvm();
        let end = 0x4000_0000 + 32 * MEBIBYTE;
        // Below, straddling the start, straddling the end, past the end.
        for (address, length) in
            [(0x3fff_f000, 16), (0x3fff_fff0, 32), (end - 8, 16), (end, 1), (end, 0)]
        {
            assert_eq!(
                map.to_physical(GuestPhysicalAddress::new(address), length),
                Err(MemoryError::OutsideMemory { address, length }),
                "{address:#x}+{length}"
            );
        }
        // A length that would wrap the address space.
        assert!(map.to_physical(GuestPhysicalAddress::new(0x4000_0000), u64::MAX).is_err());
        // A guest-physical address is not a physical one.
        assert!(map.to_guest(PhysicalAddress::new(0x4000_0000), 1).is_err());
        assert!(map.to_physical(GuestPhysicalAddress::new(0x5000_0000), 1).is_err());
    }

    #[test]
    fn an_empty_range_must_start_in_ram() {
        let map = netvm();
        assert!(map.to_physical(GuestPhysicalAddress::new(0x4000_0000), 0).is_ok());
        assert!(map.to_physical(GuestPhysicalAddress::new(0x3fff_ffff), 0).is_err());
    }

    #[test]
    fn descriptions_that_wrap_are_refused() {
        let wrapping =
            MemoryMap::new(GuestPhysicalAddress::new(u64::MAX - 10), PhysicalAddress::new(0), 4096);
        assert_eq!(wrapping, Err(MemoryError::Wraps));
        let map = netvm();
        assert_eq!(map.size(), 32 * MEBIBYTE);
        assert_eq!(map.guest_base(), GuestPhysicalAddress::new(0x4000_0000));
        assert_eq!(map.physical_base(), PhysicalAddress::new(0x5000_0000));
    }

    #[test]
    fn errors_say_what_went_wrong() {
        let error = MemoryError::OutsideMemory { address: 0x1000, length: 64 };
        assert_eq!(error.to_string(), "64 bytes at 0x1000 are not all in the VM's RAM");
    }
}
