//! Emulated devices: guest accesses to the GIC and UART windows trap as
//! stage-2 data aborts and are carried out here.

use crate::console::{self, Source};
use crate::vcpu::Vcpu;
use crate::vm::StopReason;
use crate::{interrupts, virtio_devices};
use boards::qemu_virt;
use boards::VirtualMachineKind;
use core::sync::atomic::{AtomicU64, Ordering};
use hypervisor_core::address::GuestPhysicalAddress;
use hypervisor_core::exception::Syndrome;
use hypervisor_core::uart::{self, Effect};
use hypervisor_core::vgic::{self, Kick};

/// Accesses to registers the emulated devices do not have (read as zero,
/// writes ignored), over all VMs.
#[no_mangle]
pub static UNKNOWN_DEVICE_ACCESSES: AtomicU64 = AtomicU64::new(0);

/// The emulated devices.
#[derive(Clone, Copy)]
enum Device {
    Distributor,
    Redistributors,
    Uart,
    /// A virtio-net device (its index among the VM's).
    Network(usize),
}

fn find(vcpu: &Vcpu, address: u64) -> Option<(Device, u64)> {
    // Linux gets the GIC and the UART; the Elastos VMs the GIC (their
    // console is a hypercall); test VMs nothing, so every device access of
    // theirs is a stage-2 fault.
    let kind = vcpu.machine.description.kind;
    if kind == VirtualMachineKind::Test {
        return None;
    }
    let distributor = qemu_virt::GIC_DISTRIBUTOR;
    let redistributors = boards::Region {
        base: qemu_virt::GIC_REDISTRIBUTORS.base,
        size: vgic::REDISTRIBUTOR_STRIDE * vcpu.machine.vcpu_count() as u64,
    };
    let uart = if kind == VirtualMachineKind::Linux {
        boards::Region { base: qemu_virt::UART.base, size: uart::WINDOW_SIZE }
    } else {
        boards::Region { base: 0, size: 0 }
    };
    let found = [
        (Device::Distributor, distributor),
        (Device::Redistributors, redistributors),
        (Device::Uart, uart),
    ]
    .into_iter()
    .find(|(_, region)| region.contains(address));
    if let Some((device, region)) = found {
        return Some((device, address - region.base));
    }
    (0..virtio_devices::device_count(vcpu.machine.description))
        .map(|index| (Device::Network(index), virtio_devices::window(index)))
        .find(|(_, region)| region.contains(address))
        .map(|(device, region)| (device, address - region.base))
}

/// Carries out a trapped access at `address`, if a device is there. `None`
/// means no device claims the address.
pub fn data_abort(
    vcpu: &mut Vcpu,
    syndrome: Syndrome,
    address: GuestPhysicalAddress,
) -> Option<Result<(), StopReason>> {
    let (device, offset) = find(vcpu, address.as_u64())?;
    let bad = StopReason::BadDeviceAccess { address, syndrome: syndrome.0 };
    // Without a valid instruction syndrome (ISV) the access cannot be replayed.
    let Some(access) = syndrome.data_abort().and_then(|abort| abort.access()) else {
        return Some(Err(bad));
    };
    let write = syndrome.data_abort().is_some_and(|abort| abort.write());
    let register = access.register as usize;
    let mask = if access.size >= 8 { u64::MAX } else { (1u64 << (access.size * 8)) - 1 };
    let value = if register == 31 { 0 } else { vcpu.registers.x[register] & mask };
    let result = if write {
        perform_write(vcpu, device, offset, access.size, value);
        None
    } else {
        Some(perform_read(vcpu, device, offset, access.size) & mask)
    };
    if let (Some(mut read), true) = (result, register != 31) {
        if access.sign_extend && access.size < 8 {
            let shift = 64 - access.size as u32 * 8;
            read = (((read << shift) as i64) >> shift) as u64;
        }
        if !access.sixty_four_bit_register {
            read &= 0xffff_ffff;
        }
        vcpu.registers.x[register] = read;
    }
    vcpu.registers.pc += 4;
    Some(Ok(()))
}

fn unknown() -> u64 {
    UNKNOWN_DEVICE_ACCESSES.fetch_add(1, Ordering::Relaxed);
    0
}

fn perform_read(vcpu: &Vcpu, device: Device, offset: u64, size: u8) -> u64 {
    let machine = vcpu.machine;
    let mut devices = machine.devices.lock();
    let result = match device {
        Device::Distributor => devices.gic.distributor_read(offset, size).ok(),
        Device::Redistributors => devices.gic.redistributor_read(offset, size).ok(),
        Device::Uart => {
            let value = devices.uart.read(offset, size).ok().map(u64::from);
            let kick = devices.update_uart_line();
            drop(devices);
            interrupts::kick(machine, kick);
            if offset == 0 {
                interrupts::resume_console_input();
            }
            return value.unwrap_or_else(unknown);
        }
        Device::Network(index) => {
            drop(devices);
            return virtio_devices::read(machine, index, offset, size).unwrap_or_else(unknown);
        }
    };
    result.unwrap_or_else(unknown)
}

fn perform_write(vcpu: &Vcpu, device: Device, offset: u64, size: u8, value: u64) {
    let machine = vcpu.machine;
    let mut devices = machine.devices.lock();
    // A write to the GIC may make anything deliverable anywhere: every vCPU
    // looks again (GIC writes are rare; the kick is cheap).
    let everyone = Kick((1u16 << machine.vcpu_count()).wrapping_sub(1) as u8);
    let kick = match device {
        Device::Distributor => {
            devices.gic.distributor_write(offset, size, value).ok().map(|kick| kick | everyone)
        }
        Device::Redistributors => {
            devices.gic.redistributor_write(offset, size, value).ok().map(|kick| kick | everyone)
        }
        Device::Uart => {
            let effect = devices.uart.write(offset, size, value as u32).ok();
            let kick = devices.update_uart_line();
            drop(devices);
            if let Some(Effect::Transmit(byte)) = effect {
                console::write_fragment(Source::Machine(machine.name()), &[byte]);
            }
            if effect.is_none() {
                unknown();
            }
            Some(kick)
        }
        Device::Network(index) => {
            drop(devices);
            virtio_devices::write(machine, index, offset, size, value).map(|()| Kick::NONE)
        }
    };
    match kick {
        Some(kick) => interrupts::kick(machine, kick),
        None => {
            unknown();
        }
    }
}
