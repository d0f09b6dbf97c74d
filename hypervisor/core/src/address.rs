//! Address newtypes: physical, guest-physical and virtual addresses are distinct types.

use core::fmt;

/// Size in bytes of a translation granule and of a physical frame.
pub const PAGE_SIZE: u64 = 4096;

/// Defines one address newtype with its arithmetic and formatting.
macro_rules! address_type {
    ($(#[$documentation:meta])* $name:ident) => {
        $(#[$documentation])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw address.
            pub const fn new(value: u64) -> Self {
                Self(value)
            }

            /// Returns the raw address.
            pub const fn as_u64(self) -> u64 {
                self.0
            }

            /// Returns the address `bytes` further on, or `None` if that overflows.
            pub const fn offset(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(value) => Some(Self(value)),
                    None => None,
                }
            }

            /// Rounds down to a multiple of `align`, which must be a power of two.
            pub const fn align_down(self, align: u64) -> Self {
                debug_assert!(align.is_power_of_two());
                Self(self.0 & !(align.wrapping_sub(1)))
            }

            /// Whether the address is a multiple of `align`, which must be a power of two.
            pub const fn is_aligned(self, align: u64) -> bool {
                debug_assert!(align.is_power_of_two());
                self.0 & align.wrapping_sub(1) == 0
            }

            /// Returns the offset of the address within its 4 KiB page.
            pub const fn page_offset(self) -> u64 {
                self.0 % PAGE_SIZE
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{:#x}", self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, formatter)
            }
        }
    };
}

address_type!(
    /// An address in the machine's physical address space, as seen by the hypervisor.
    PhysicalAddress
);
address_type!(
    /// An address in a guest's physical address space (an intermediate physical address).
    GuestPhysicalAddress
);
address_type!(
    /// A virtual address, translated by a stage-1 table.
    VirtualAddress
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let address = PhysicalAddress::new(0x4000_1234);
        assert_eq!(address.as_u64(), 0x4000_1234);
        assert_eq!(address.offset(0x10), Some(PhysicalAddress::new(0x4000_1244)));
        assert_eq!(PhysicalAddress::new(u64::MAX).offset(1), None);
        assert_eq!(address.align_down(PAGE_SIZE), PhysicalAddress::new(0x4000_1000));
        assert_eq!(address.align_down(1 << 21), PhysicalAddress::new(0x4000_0000));
        assert_eq!(address.page_offset(), 0x234);
        assert!(!address.is_aligned(PAGE_SIZE));
        assert!(address.align_down(PAGE_SIZE).is_aligned(PAGE_SIZE));
        assert!(GuestPhysicalAddress::new(0).is_aligned(1 << 30));
        assert!(VirtualAddress::new(0x1235).is_aligned(1));
    }

    #[test]
    fn formatting() {
        assert_eq!(format!("{}", GuestPhysicalAddress::new(0x4000_0000)), "0x40000000");
        assert_eq!(format!("{}", VirtualAddress::new(0)), "0x0");
        assert_eq!(format!("{:x}", PhysicalAddress::new(0xabc)), "abc");
        assert_eq!(format!("{:#010x}", PhysicalAddress::new(0xabc)), "0x00000abc");
    }

    #[test]
    fn ordering() {
        assert!(PhysicalAddress::new(1) < PhysicalAddress::new(2));
        assert_eq!(PhysicalAddress::new(7), PhysicalAddress::new(7));
    }
}
