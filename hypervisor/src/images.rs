//! Starting a VM from its images: the boot-image index in the staging region,
//! copying images into the VM's RAM, and the device tree a Linux guest boots with.
//!
//! The firmware's random seed (`/chosen/rng-seed` of the tree QEMU hands the
//! hypervisor) goes into the tree of the first Linux guest that boots, and only
//! that once: without one Linux's random number generator starts unseeded and
//! spends its time gathering and hashing entropy, and the hypervisor has no
//! source of randomness to make a second seed from.

use crate::vm::{Machine, StartPoint};
use boards::boot_image::{ImageKind, Index, IndexError};
use boards::qemu_virt;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Once;

/// Set once the firmware's random seed has been handed to a guest.
static SEED_GIVEN: AtomicBool = AtomicBool::new(false);

/// Where a Linux VM's pieces go, as offsets into its RAM.
mod linux_layout {
    /// The device tree, at the base of RAM.
    pub const DEVICE_TREE: u64 = 0;
    /// Room for the device tree.
    pub const DEVICE_TREE_SIZE: usize = 0x1_0000;
    /// The kernel's 2 MiB-aligned base (plus the Image's text_offset).
    pub const KERNEL: u64 = 0x20_0000;
    /// The initramfs.
    pub const INITRAMFS: u64 = 0x1000_0000;
}

/// Why a VM could not be started.
#[derive(Clone, Copy, Debug)]
pub enum ImageError {
    /// The staging region holds no valid index.
    Index(IndexError),
    /// The index has no image for this VM.
    Missing(ImageKind),
    /// The kernel image is not an arm64 Linux Image (no `ARM\x64` magic).
    NotArm64Image,
    /// An image does not fit where it must go in the VM's RAM.
    TooLarge(ImageKind),
    /// The command line is not UTF-8.
    CommandLineNotText,
    /// The device tree could not be written.
    DeviceTree(devicetree::Error),
}

impl fmt::Display for ImageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(error) => write!(formatter, "no usable boot-image index ({error:?})"),
            Self::Missing(kind) => write!(formatter, "no {kind:?} image"),
            Self::NotArm64Image => write!(formatter, "the kernel is not an arm64 Linux Image"),
            Self::TooLarge(kind) => {
                write!(formatter, "the {kind:?} image does not fit the VM's RAM")
            }
            Self::CommandLineNotText => write!(formatter, "the command line is not UTF-8"),
            Self::DeviceTree(error) => write!(formatter, "device tree: {error:?}"),
        }
    }
}

static INDEX: Once<Result<Index<'static>, IndexError>> = Once::new();

/// Reads the boot-image index once. Called by the primary CPU at start.
pub fn init() {
    let index = INDEX.call_once(|| {
        // SAFETY: the staging region is RAM the loader filled before the machine
        // started; it is mapped into no VM and the hypervisor never writes it,
        // so a shared slice over it stays valid and unchanged.
        let staging = unsafe {
            core::slice::from_raw_parts(
                qemu_virt::STAGING.base as *const u8,
                qemu_virt::STAGING.size as usize,
            )
        };
        Index::parse(staging)
    });
    match index {
        Ok(index) => {
            crate::log!("boot-image index: {} images", index.images().count())
        }
        Err(error) => crate::log!("no boot-image index in the staging region: {error:?}"),
    }
}

fn index() -> Result<&'static Index<'static>, ImageError> {
    match INDEX.get() {
        Some(Ok(index)) => Ok(index),
        Some(Err(error)) => Err(ImageError::Index(*error)),
        None => Err(ImageError::Index(IndexError::NoMagic)),
    }
}

fn copy_into(
    memory: &mut [u8],
    offset: u64,
    bytes: &[u8],
    kind: ImageKind,
) -> Result<(), ImageError> {
    let start = offset as usize;
    let end = start.checked_add(bytes.len()).ok_or(ImageError::TooLarge(kind))?;
    memory.get_mut(start..end).ok_or(ImageError::TooLarge(kind))?.copy_from_slice(bytes);
    Ok(())
}

/// Copies the VM's images into `memory` (its RAM) and returns where its first
/// vCPU starts.
pub fn load(machine: &Machine, memory: &mut [u8]) -> Result<StartPoint, ImageError> {
    let index = index()?;
    let base = machine.description.guest_memory_base;
    let find = |kind| index.find(machine.index, kind).ok_or(ImageError::Missing(kind));
    match machine.description.kind {
        kind if kind.is_flat_binary() => {
            let binary = find(ImageKind::FlatBinary)?;
            copy_into(memory, 0, index.bytes(&binary), ImageKind::FlatBinary)?;
            let page = memory.len() as u64 - boards::test_guest::PARAMETER_PAGE_FROM_END;
            memory[page as usize..].fill(0);
            if let Ok(parameters) = find(ImageKind::Parameters) {
                copy_into(memory, page, index.bytes(&parameters), ImageKind::Parameters)?;
            }
            Ok(StartPoint { entry: base, context: 0 })
        }
        _ => {
            let kernel = index.bytes(&find(ImageKind::LinuxKernel)?);
            let header = |offset: usize| {
                kernel.get(offset..offset + 8).map(|bytes| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(bytes);
                    u64::from_le_bytes(word)
                })
            };
            if kernel.get(0x38..0x3c) != Some(b"ARM\x64".as_slice()) {
                return Err(ImageError::NotArm64Image);
            }
            let text_offset = header(8).ok_or(ImageError::NotArm64Image)?;
            let image_size = header(16).ok_or(ImageError::NotArm64Image)?;
            let kernel_offset = linux_layout::KERNEL + text_offset;
            if kernel_offset + image_size.max(kernel.len() as u64) > linux_layout::INITRAMFS {
                return Err(ImageError::TooLarge(ImageKind::LinuxKernel));
            }
            copy_into(memory, kernel_offset, kernel, ImageKind::LinuxKernel)?;
            let initrd = match find(ImageKind::Initramfs) {
                Ok(image) => {
                    let bytes = index.bytes(&image);
                    copy_into(memory, linux_layout::INITRAMFS, bytes, ImageKind::Initramfs)?;
                    Some(devicetree::Region {
                        base: base + linux_layout::INITRAMFS,
                        size: bytes.len() as u64,
                    })
                }
                Err(_) => None,
            };
            let command_line = match find(ImageKind::CommandLine) {
                Ok(image) => core::str::from_utf8(index.bytes(&image))
                    .map_err(|_| ImageError::CommandLineNotText)?,
                Err(_) => "",
            };
            let tree =
                &mut memory[linux_layout::DEVICE_TREE as usize..][..linux_layout::DEVICE_TREE_SIZE];
            write_device_tree(machine, tree, command_line, initrd)?;
            Ok(StartPoint {
                entry: base + kernel_offset,
                context: base + linux_layout::DEVICE_TREE,
            })
        }
    }
}

/// The CPU model named in the firmware's device tree, if QEMU left one.
fn cpu_compatible() -> &'static str {
    firmware_facts().map_or("arm,armv8", |facts| facts.cpu_compatible)
}

/// The firmware's random seed, the first time it is asked for; `None` ever
/// after (a seed is never handed out twice) and if the firmware left none.
fn take_firmware_seed() -> Option<&'static [u8]> {
    if SEED_GIVEN.swap(true, Ordering::SeqCst) {
        return None;
    }
    firmware_facts()?.rng_seed
}

/// What the firmware's device tree says, if QEMU left a valid one.
fn firmware_facts() -> Option<devicetree::BoardFacts<'static>> {
    // SAFETY: QEMU places its device tree at the base of RAM, in a region the
    // hypervisor reserves (FIRMWARE_DEVICE_TREE) and never writes.
    let firmware = unsafe {
        core::slice::from_raw_parts(
            qemu_virt::FIRMWARE_DEVICE_TREE.base as *const u8,
            qemu_virt::FIRMWARE_DEVICE_TREE.size as usize,
        )
    };
    let size = devicetree::total_size(firmware).ok()?;
    devicetree::read_board(&firmware[..size]).ok()
}

fn write_device_tree(
    machine: &Machine,
    buffer: &mut [u8],
    bootargs: &str,
    initrd: Option<devicetree::Region>,
) -> Result<(), ImageError> {
    let region =
        |region: boards::Region| devicetree::Region { base: region.base, size: region.size };
    let network_count = crate::virtio_devices::device_count(machine.description);
    let network: [devicetree::VirtioMmio; crate::virtio_devices::MAX_DEVICES] =
        core::array::from_fn(|index| devicetree::VirtioMmio {
            region: region(crate::virtio_devices::window(index)),
            spi: crate::virtio_devices::FIRST_INTERRUPT - 32 + index as u32,
        });
    let description = devicetree::GuestDescription {
        model: "Elastos guest (QEMU virt)",
        memory: region(machine.description.guest_memory()),
        cpu_compatible: cpu_compatible(),
        cpu_count: machine.vcpu_count(),
        gic_distributor: region(qemu_virt::GIC_DISTRIBUTOR),
        gic_redistributors: devicetree::Region {
            base: qemu_virt::GIC_REDISTRIBUTORS.base,
            size: hypervisor_core::vgic::REDISTRIBUTOR_STRIDE * machine.vcpu_count() as u64,
        },
        timer_interrupts: [13, 14, 11, 10],
        uart: Some(devicetree::Uart {
            region: region(qemu_virt::UART),
            spi: qemu_virt::UART_INTERRUPT - 32,
            clock_frequency: 24_000_000,
        }),
        virtio_mmio: &network[..network_count],
        bootargs,
        initrd,
        rng_seed: take_firmware_seed(),
    };
    devicetree::build_guest(&description, buffer).map_err(ImageError::DeviceTree)?;
    Ok(())
}
