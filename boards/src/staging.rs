//! Composing the staging image of a system: which images each VM starts
//! with. Used by `cargo xtask` and the integration tests (host only).

use crate::boot_image::{builder, ImageKind, IndexError};
use crate::system::{System, VirtualMachine};

/// What a Linux VM boots.
pub struct LinuxImages<'a> {
    /// An arm64 Linux `Image`.
    pub kernel: &'a [u8],
    /// The initramfs, if any.
    pub initramfs: Option<&'a [u8]>,
    /// The kernel command line.
    pub command_line: &'a str,
}

impl LinuxImages<'_> {
    /// The images of the boot-image index for this Linux.
    pub fn images(&self) -> Vec<(ImageKind, Vec<u8>)> {
        let mut images = vec![(ImageKind::LinuxKernel, self.kernel.to_vec())];
        if let Some(initramfs) = self.initramfs {
            images.push((ImageKind::Initramfs, initramfs.to_vec()));
        }
        images.push((ImageKind::CommandLine, self.command_line.as_bytes().to_vec()));
        images
    }
}

/// The images of a VM that boots a flat binary, with an optional parameter
/// word for its parameter page (the test guest's scenario).
pub fn flat_images(binary: &[u8], parameter: Option<u64>) -> Vec<(ImageKind, Vec<u8>)> {
    let mut images = vec![(ImageKind::FlatBinary, binary.to_vec())];
    if let Some(word) = parameter {
        images.push((ImageKind::Parameters, word.to_le_bytes().to_vec()));
    }
    images
}

/// The staging image of `system`: `images_of` gives each VM's images (none:
/// the VM stays absent).
pub fn staging_image<E: From<IndexError>>(
    system: &System,
    staging_size: u64,
    mut images_of: impl FnMut(&VirtualMachine) -> Result<Vec<(ImageKind, Vec<u8>)>, E>,
) -> Result<Vec<u8>, E> {
    let mut images: Vec<(ImageKind, u32, Vec<u8>)> = Vec::new();
    for (index, machine) in system.machines.iter().enumerate() {
        for (kind, bytes) in images_of(machine)? {
            images.push((kind, index as u32, bytes));
        }
    }
    let borrowed: Vec<_> =
        images.iter().map(|(kind, machine, bytes)| (*kind, *machine, bytes.as_slice())).collect();
    Ok(builder::compose(&borrowed, staging_size)?)
}
