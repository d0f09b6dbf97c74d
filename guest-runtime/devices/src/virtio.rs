//! The virtio-mmio transports a VM may touch, and probing them.
//!
//! QEMU's `virt` machine has 32 virtio-mmio slots of 512 bytes from
//! `0x0a00_0000`; slot `n` raises SPI `16 + n`, INTID `48 + n`. The manifest
//! gives a device-owning VM one page of them (netvm's `nic`: slots 24 to 31;
//! chainvm's `storage`: slots 16 to 23), mapped at the same guest-physical
//! address, with those slots' interrupts. Only that page is in the VM's
//! stage-2 tables: probing stays inside it. Which slot holds which device is
//! not assumed: each is probed for the virtio magic and its device ID
//! ([`probe`]).

use boards::qemu_virt::VIRTIO_MMIO;
use boards::{Device, Region};

/// Bytes of one virtio-mmio slot.
pub const SLOT_SIZE: u64 = 0x200;
/// The INTID of slot 0; slot `n` raises `FIRST_SLOT_INTERRUPT + n`.
pub const FIRST_SLOT_INTERRUPT: u32 = 48;

/// One virtio-mmio slot in a VM's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The slot's number on the board (0 to 31).
    pub number: u32,
    /// Guest-physical (and physical) address of its registers.
    pub base: u64,
    /// The interrupt it raises.
    pub interrupt: u32,
}

/// The device window `device` of the VM called `machine`, as the default
/// system's manifest gives it. The test system gives the Elastos VMs the
/// same windows (checked by a test), and their images are the same in both.
pub fn window(machine: &str, device: &str) -> Option<&'static Device> {
    let system = &boards::qemu_virt::systems::SYSTEM;
    let machine = &system.machines[system.machine_index(machine)?];
    machine.devices.iter().find(|candidate| candidate.name == device)
}

/// The virtio-mmio slots wholly inside `device`'s window whose interrupt the
/// manifest routes to it.
pub fn slots(device: &Device) -> impl Iterator<Item = Slot> + '_ {
    let window = device.mmio;
    let first = window.base.div_ceil(SLOT_SIZE) * SLOT_SIZE;
    (first..window.end())
        .step_by(SLOT_SIZE as usize)
        .filter(move |&base| contains(&window, base) && contains(&VIRTIO_MMIO, base))
        .map(|base| {
            let number = ((base - VIRTIO_MMIO.base) / SLOT_SIZE) as u32;
            Slot { number, base, interrupt: FIRST_SLOT_INTERRUPT + number }
        })
        .filter(|slot| device.interrupts.contains(&slot.interrupt))
}

/// Whether the slot at `base` lies wholly inside `region`.
fn contains(region: &Region, base: u64) -> bool {
    region.contains(base) && base + SLOT_SIZE <= region.end()
}

#[cfg(target_os = "none")]
pub use hardware::{probe, Found, Transport};

/// Probing, on the VM.
#[cfg(target_os = "none")]
mod hardware {
    #![allow(unsafe_code, reason = "a transport is made from a raw MMIO address")]

    use super::Slot;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicBool, Ordering};
    use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
    use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport as _};

    /// The transport of one slot, for the rest of the VM's life.
    pub type Transport = MmioTransport<'static>;

    /// What the slots hold.
    #[derive(Default)]
    pub struct Found {
        /// The first network device, if any.
        pub network: Option<(Slot, Transport)>,
        /// The first entropy source, if any.
        pub entropy: Option<(Slot, Transport)>,
        /// The first block device, if any.
        pub block: Option<(Slot, Transport)>,
        /// Other virtio devices (left alone: their transports were dropped,
        /// which resets them).
        pub others: u32,
    }

    /// Set once the slots have been probed.
    static PROBED: AtomicBool = AtomicBool::new(false);

    /// Probes every slot of `slots` for a virtio device, and resets each
    /// device found; the first time only: a second call finds nothing, so
    /// that no slot ever has two transports.
    ///
    /// Call it before anything else uses RAM: a device that the VM's previous
    /// life left running still writes received frames to where that life's
    /// buffers were, until it is reset.
    pub fn probe(slots: impl Iterator<Item = Slot>) -> Found {
        let mut found = Found::default();
        if PROBED.swap(true, Ordering::SeqCst) {
            return found;
        }
        for slot in slots {
            let Some(header) = NonNull::new(slot.base as *mut VirtIOHeader) else {
                continue;
            };
            // SAFETY: `slot` is a virtio-mmio register window of SLOT_SIZE
            // bytes inside the device window the manifest gives this VM: the
            // hypervisor maps it into the VM's stage-2 tables and the runtime's
            // identity map makes it device memory, for as long as the VM runs.
            // PROBED makes this the only transport ever made for it.
            let transport = unsafe { MmioTransport::new(header, super::SLOT_SIZE as usize) };
            // An empty slot (device ID 0) or no virtio magic: nothing there.
            let Ok(mut transport) = transport else { continue };
            transport.set_status(DeviceStatus::empty());
            match transport.device_type() {
                DeviceType::Network if found.network.is_none() => {
                    found.network = Some((slot, transport))
                }
                DeviceType::EntropySource if found.entropy.is_none() => {
                    found.entropy = Some((slot, transport))
                }
                DeviceType::Block if found.block.is_none() => found.block = Some((slot, transport)),
                _ => found.others += 1,
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boards::qemu_virt::systems::{SYSTEM, TEST};

    #[test]
    fn the_default_window_holds_slots_24_to_31() {
        let device = window("netvm", "nic").expect("the manifest gives netvm its NIC window");
        let slots: Vec<Slot> = slots(device).collect();
        assert_eq!(slots.len(), 8);
        assert_eq!(slots[0], Slot { number: 24, base: 0x0a00_3000, interrupt: 72 });
        // Where QEMU puts the NIC (the first virtio device on its command line).
        assert_eq!(slots[7], Slot { number: 31, base: 0x0a00_3e00, interrupt: 79 });
        for pair in slots.windows(2) {
            assert_eq!(pair[1].base - pair[0].base, SLOT_SIZE);
            assert_eq!(pair[1].interrupt, pair[0].interrupt + 1);
        }
    }

    #[test]
    fn every_system_gives_the_elastos_vms_the_same_windows() {
        for system in [&SYSTEM, &TEST] {
            for (machine, name) in [("netvm", "nic"), ("chainvm", "storage"), ("chainvm", "clock")]
            {
                let machine = &system.machines[system.machine_index(machine).unwrap()];
                let device = machine.devices.iter().find(|device| device.name == name).unwrap();
                assert_eq!(Some(device), window(machine.name, name), "{}", system.name);
            }
        }
    }

    #[test]
    fn only_slots_inside_the_window_with_their_interrupt_count() {
        // Half a slot at either end, and only some interrupts routed.
        let device = Device {
            name: "nic",
            mmio: Region { base: 0x0a00_0100, size: 0x800 },
            interrupts: &[49, 50, 52],
        };
        let numbers: Vec<u32> = slots(&device).map(|slot| slot.number).collect();
        assert_eq!(numbers, [1, 2], "slot 3 is whole but its interrupt is not routed");
        // A window outside the virtio-mmio area has no slots.
        let device = Device {
            name: "nic",
            mmio: Region { base: 0x0900_0000, size: 0x1000 },
            interrupts: &[48, 49],
        };
        assert_eq!(slots(&device).count(), 0);
    }
}
