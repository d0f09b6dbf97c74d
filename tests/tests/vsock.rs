//! Linux's control path to the Elastos side: the hypervisor serves Linux's
//! end of the `linux-control` channel as a virtio-vsock device (virtio-mmio
//! slot 1, beside the network card in slot 0), whose backend is chainvm.
//! Linux's stock driver must find it, negotiate and bind to it.

use std::time::{Duration, Instant};

use elastos_tests::shell::{shell, wait_for_shell, COMMAND_TIMEOUT};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, Error, Qemu, SystemOptions};

/// How long chainvm may take to go down and come back.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// Device status bit `DRIVER_OK`.
const DRIVER_OK: u32 = 4;
/// Device status bit `DEVICE_NEEDS_RESET`.
const NEEDS_RESET: u32 = 64;

/// One virtio device as Linux's sysfs shows it.
#[derive(Debug)]
struct VirtioDevice {
    /// `device`: the virtio device ID.
    id: u32,
    /// The driver bound to it, if any.
    driver: String,
    /// `status`: the device status register.
    status: u32,
}

/// Reads `0x...` as a number.
fn hexadecimal(text: &str) -> Option<u32> {
    u32::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

/// Parses the lines `ID DRIVER STATUS` the listing below prints.
fn parse_devices(listing: &str) -> Vec<VirtioDevice> {
    listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = hexadecimal(fields.next()?)?;
            let driver = fields.next()?.to_string();
            let status = hexadecimal(fields.next()?)?;
            Some(VirtioDevice { id, driver, status })
        })
        .collect()
}

/// The default system with Linux and the Elastos VMs, named `name` on the
/// console echo.
fn default_system(name: &str) -> SystemOptions {
    SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: name.into(),
        ..SystemOptions::default()
    }
}

/// Linux's virtio devices, read from sysfs in its shell.
fn linux_devices(qemu: &Qemu) -> Result<(Vec<VirtioDevice>, String), Error> {
    let listing = shell(
        qemu,
        "for device in /sys/bus/virtio/devices/*; do \
         echo \"$(cat $device/device) $(basename \"$(readlink $device/driver)\") \
         $(cat $device/status)\"; done",
    )?;
    Ok((parse_devices(&listing), listing))
}

#[test]
fn linux_binds_its_driver_to_the_vsock_device() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let system = boot(&artifacts, &default_system("vsock"))?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;

    let (devices, listing) = linux_devices(qemu)?;
    assert_eq!(devices.len(), 2, "one network card and one socket device:\n{listing}");
    for (id, driver) in [(1, "virtio_net"), (19, "vmw_vsock_virtio_transport")] {
        let device = devices.iter().find(|device| device.id == id).unwrap_or_else(|| {
            panic!("no virtio device of type {id}:\n{listing}");
        });
        assert_eq!(device.driver, driver, "{device:?}");
        assert_ne!(device.status & DRIVER_OK, 0, "the driver is not up: {device:?}");
        assert_eq!(device.status & NEEDS_RESET, 0, "the device faulted: {device:?}");
    }

    // The socket layer is there for programs: the vsock character device
    // and the virtio transport module.
    let vsock = shell(qemu, "ls /dev/vsock; grep -o '^vmw_vsock_virtio_transport ' /proc/modules")?;
    assert!(vsock.contains("/dev/vsock"), "{vsock}");
    assert!(vsock.contains("vmw_vsock_virtio_transport"), "{vsock}");

    qemu.write_console(b"poweroff -f\n")?;
    let status = qemu.wait_exit(COMMAND_TIMEOUT)?;
    assert!(status.success(), "{status}: {}", qemu.console());
    Ok(())
}

#[test]
fn linux_gets_a_transport_reset_when_chainvm_comes_back() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let system = boot(&artifacts, &default_system("vsock-reset"))?;
    let symbols = system.artifacts.hypervisor_symbols()?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    let resets = symbols.address("LINUX_VSOCK_RESETS")?;
    let read_resets = || -> Result<u64, Error> {
        let mut gdb = qemu.gdb()?;
        gdb.set_physical_memory_mode(true)?;
        let value = gdb.read_u64(resets)?;
        gdb.detach()?;
        Ok(value)
    };
    assert_eq!(read_resets()?, 0, "no reset before chainvm restarts");

    // chainvm faults and its restart policy brings it back: the channel
    // goes down and comes up at a new epoch.
    let chainvm = boards::qemu_virt::systems::SYSTEM.machine_index("chainvm").unwrap();
    let mut gdb = qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    gdb.write_memory(symbols.address("VM_INJECT_FAULT")? + chainvm as u64, &[1])?;
    gdb.detach()?;
    qemu.wait_for_console("vm chainvm faulted (fault injected by the debugger)", RESTART_TIMEOUT)?;
    qemu.wait_for_console_count("channel linux-control up (epoch", 2, RESTART_TIMEOUT)?;

    // Linux's driver took the reset event from its event queue, and the
    // device still runs.
    let deadline = Instant::now() + RESTART_TIMEOUT;
    while read_resets()? == 0 {
        assert!(Instant::now() < deadline, "Linux never got the transport reset");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(read_resets()?, 1, "one restart, one reset");
    let (devices, listing) = linux_devices(qemu)?;
    let vsock = devices.iter().find(|device| device.id == 19).expect(&listing);
    assert_eq!(vsock.status & (DRIVER_OK | NEEDS_RESET), DRIVER_OK, "{vsock:?}");
    assert!(!qemu.console().contains("vm linux reset"), "Linux did not reboot");

    qemu.write_console(b"poweroff -f\n")?;
    assert!(qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    Ok(())
}

#[test]
fn device_listings_are_parsed() {
    let listing =
        "\n0x0001 virtio_net 0x0000000f\r\n0x0013 vmw_vsock_virtio_transport 0x0000004f\n\
                   garbage\n0x0013 readlink: 0xzz\n";
    let devices = parse_devices(listing);
    assert_eq!(devices.len(), 2, "{devices:?}");
    assert_eq!(
        (devices[0].id, devices[0].driver.as_str(), devices[0].status),
        (1, "virtio_net", 15)
    );
    assert_eq!(devices[1].id, 19);
    assert_ne!(devices[1].status & NEEDS_RESET, 0);
}
