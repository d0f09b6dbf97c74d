//! The system this image runs: the constant tables the build made from one
//! manifest (`boards/qemu-virt/*.toml`). The `test-system` feature picks the
//! configuration the integration tests boot.

/// The VMs and channels of this image.
#[cfg(not(feature = "test-system"))]
pub const SYSTEM: &boards::System = &boards::qemu_virt::systems::SYSTEM;

/// The VMs and channels of this image.
#[cfg(feature = "test-system")]
pub const SYSTEM: &boards::System = &boards::qemu_virt::systems::TEST;
