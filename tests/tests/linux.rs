//! The stock Debian kernel as a guest: boot to a shell on two vCPUs, timer
//! interrupts and IPIs, power-off and reboot, and its stage-2 partition
//! checked from inside the machine.

use boards::qemu_virt::{self, systems::TEST};
use boards::test_guest::Scenario;
use boards::Region;
use elastos_tests::shell::{shell, wait_for_shell, BOOT_TIMEOUT, COMMAND_TIMEOUT, PROMPT, READY};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, stage2, Error, SystemOptions};

fn linux_options(name: &str) -> SystemOptions {
    SystemOptions {
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        elastos: true,
        name: name.into(),
        ..SystemOptions::default()
    }
}

/// The per-CPU counts of the /proc/interrupts line that ends with `name`.
fn interrupt_counts(interrupts: &str, name: &str) -> Vec<u64> {
    let line = interrupts
        .lines()
        .find(|line| line.trim_end().ends_with(name))
        .unwrap_or_else(|| panic!("no {name} line in:\n{interrupts}"));
    line.split_whitespace().skip(1).take(2).map(|count| count.parse().unwrap()).collect()
}

/// The per-CPU totals of every IPI line.
fn ipi_counts(interrupts: &str) -> Vec<u64> {
    let mut totals = vec![0, 0];
    for line in interrupts.lines().filter(|line| line.trim_start().starts_with("IPI")) {
        for (total, count) in totals.iter_mut().zip(line.split_whitespace().skip(1).take(2)) {
            *total += count.parse::<u64>().unwrap_or(0);
        }
    }
    totals
}

#[test]
fn linux_boots_to_a_shell_on_two_cpus_with_timers_and_ipis_then_powers_off() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let system = boot(&artifacts, &linux_options("linux-boot"))?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    let console = qemu.console();
    assert!(console.contains("[linux] "), "Linux's console lines carry its tag");
    assert!(console.contains("SMP: Total of 2 processors activated"), "{console}");
    let online = shell(qemu, "cat /sys/devices/system/cpu/online")?;
    assert!(online.contains("0-1"), "{online}");

    let before = shell(qemu, "cat /proc/interrupts")?;
    shell(qemu, "taskset -c 1 sh -c 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); done'; sleep 1")?;
    let after = shell(qemu, "cat /proc/interrupts")?;
    let (timer_before, timer_after) =
        (interrupt_counts(&before, "arch_timer"), interrupt_counts(&after, "arch_timer"));
    for cpu in 0..2 {
        assert!(timer_after[cpu] > timer_before[cpu], "timer on CPU {cpu}:\n{before}\n{after}");
    }
    let (ipi_before, ipi_after) = (ipi_counts(&before), ipi_counts(&after));
    assert!(ipi_after[1] > ipi_before[1], "IPIs reach CPU 1:\n{before}\n{after}");
    assert!(ipi_after[0] > 0, "IPIs reach CPU 0:\n{after}");

    qemu.write_console(b"poweroff -f\n")?;
    let status = qemu.wait_exit(COMMAND_TIMEOUT)?;
    let console = qemu.console();
    assert!(status.success(), "{status}: {console}");
    assert!(console.contains("vm linux stopped: powered off"), "{console}");
    assert!(console.contains("no virtual machine left; powering off"), "{console}");
    Ok(())
}

#[test]
fn linux_reboot_restarts_only_linux() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let mut options = linux_options("linux-reboot");
    options.scenarios = vec![("beta", boards::test_guest::Scenario::Heartbeat)];
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    qemu.write_console(b"reboot -f\n")?;
    qemu.wait_for_console("vm linux reset: restarting", COMMAND_TIMEOUT)?;
    qemu.wait_for_console_count(READY, 2, BOOT_TIMEOUT)?;
    let console = qemu.console();
    assert!(!console.contains("vm beta stopped: reset"), "{console}");
    qemu.wait_for_console_count(PROMPT, 2, COMMAND_TIMEOUT)?;
    qemu.write_console(b"poweroff -f\n")?;
    assert!(qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    Ok(())
}

#[test]
fn linux_stage2_maps_its_own_ram_and_nothing_else() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let symbols = artifacts.hypervisor_symbols()?;
    let system = boot(&artifacts, &linux_options("linux-stage2"))?;
    wait_for_shell(&system.qemu)?;
    let mut gdb = system.qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    let tables = symbols.address("VM_STAGE2_TABLES")?;
    let linux_index = TEST.machine_index("linux").unwrap();
    let linux = &TEST.machines[linux_index];
    let vttbr = gdb.read_u64(tables + 8 * linux_index as u64)?;
    let mappings = stage2::mappings(&mut gdb, vttbr)?;
    assert!(!mappings.is_empty());
    let mapped: u64 = mappings.iter().map(|mapping| mapping.size).sum();
    assert_eq!(mapped, linux.memory.size, "all of Linux's RAM is mapped, once");
    let devices = [
        ("the NIC's virtio-mmio slots", qemu_virt::VIRTIO_MMIO),
        ("the GIC distributor", qemu_virt::GIC_DISTRIBUTOR),
        ("the GIC redistributors", qemu_virt::GIC_REDISTRIBUTORS),
        ("the UART", qemu_virt::UART),
    ];
    let mut others: Vec<(&str, Region)> = TEST
        .machines
        .iter()
        .filter(|machine| machine.name != "linux")
        .map(|machine| (machine.name, machine.memory))
        .chain(TEST.channels.iter().map(|channel| (channel.name, channel.memory)))
        .collect();
    others.push(("the hypervisor", qemu_virt::HYPERVISOR));
    others.push(("the staging region", qemu_virt::STAGING));
    for mapping in &mappings {
        let guest = Region { base: mapping.guest.as_u64(), size: mapping.size };
        let physical = Region { base: mapping.physical.as_u64(), size: mapping.size };
        assert!(
            guest.base >= linux.guest_memory_base && guest.end() <= linux.guest_memory().end(),
            "{mapping:?} is outside Linux's RAM"
        );
        assert!(
            physical.base >= linux.memory.base && physical.end() <= linux.memory.end(),
            "{mapping:?} points outside Linux's memory"
        );
        for (name, region) in devices {
            assert!(!guest.overlaps(&region), "{name} is mapped: {mapping:?}");
        }
        for (name, region) in &others {
            assert!(!physical.overlaps(region), "{name}'s memory is mapped: {mapping:?}");
        }
    }
    gdb.kill()?;
    Ok(())
}

#[test]
fn a_kernel_that_is_not_an_arm64_image_is_refused_and_the_rest_runs() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let mut options = linux_options("linux-bad-kernel");
    options.linux_kernel = Some(b"this is not a kernel".repeat(100));
    options.elastos = false;
    options.scenarios = vec![("alpha", Scenario::Greet)];
    let system = boot(&artifacts, &options)?;
    assert!(system.qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    let console = system.qemu.console();
    assert!(
        console.contains("vm linux not started: the kernel is not an arm64 Linux Image"),
        "{console}"
    );
    assert!(console.contains("[alpha] all checks passed"), "{console}");
    Ok(())
}
