//! The sidecar system: Linux next to the Elastos VMs, the manifest's primary
//! VM, the scheduler sharing CPUs, and the inter-VM channels.

use std::time::Duration;

use boards::qemu_virt::systems::{SYSTEM, TEST};
use boards::test_guest::Scenario;
use boards::Region;
use elastos_tests::shell::{shell, wait_for_shell, COMMAND_TIMEOUT};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, stage2, Error, SystemOptions};

const TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn the_default_system_runs_linux_next_to_the_elastos_vms_and_stops_with_linux() -> Result<(), Error>
{
    let artifacts = artifacts()?;
    let options = SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: "sidecar".into(),
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let symbols = system.artifacts.hypervisor_symbols()?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    // The app VM pings its peers over the channels the manifest gives it.
    for channel in ["app-netvm", "app-chainvm"] {
        qemu.wait_for_console(&format!("[app] round trip on {channel} ok"), TIMEOUT)?;
    }
    let console = qemu.console();
    for name in ["netvm", "chainvm", "app"] {
        assert!(console.contains(&format!("[{name}] started (boot 1)")), "{console}");
    }
    assert!(shell(qemu, "echo still here")?.contains("still here"));

    let mut gdb = qemu.gdb()?;
    // The hypervisor maps memory one to one; physical addresses work from
    // whatever context (a guest's EL1 or EL2) the stopped CPU is in.
    gdb.set_physical_memory_mode(true)?;
    let states = symbols.address("VM_STATES")?;
    for (index, machine) in SYSTEM.machines.iter().enumerate() {
        let state = gdb.read_memory(states + index as u64, 1)?[0];
        assert_eq!(state, 1, "{} runs", machine.name);
    }
    // chainvm and app share CPU 3: both have been switched in, many times.
    let switches = symbols.address("CPU_SWITCHES")?;
    assert!(gdb.read_u64(switches + 8 * 3)? > 2, "CPU 3 switches between its vCPUs");
    // The NIC's window is in netvm's stage-2 tables and nobody else's.
    let netvm = &SYSTEM.machines[SYSTEM.machine_index("netvm").unwrap()];
    let nic = netvm.devices.iter().find(|device| device.name == "nic").expect("netvm owns nic");
    let tables = symbols.address("VM_STAGE2_TABLES")?;
    for (index, machine) in SYSTEM.machines.iter().enumerate() {
        let vttbr = gdb.read_u64(tables + 8 * index as u64)?;
        let mappings = stage2::mappings(&mut gdb, vttbr)?;
        let maps_nic = mappings.iter().any(|mapping| {
            let guest = Region { base: mapping.guest.as_u64(), size: mapping.size };
            let physical = Region { base: mapping.physical.as_u64(), size: mapping.size };
            guest.overlaps(&nic.mmio) || physical.overlaps(&nic.mmio)
        });
        assert_eq!(maps_nic, machine.name == "netvm", "{} and the NIC", machine.name);
        // netvm serves Linux's network, yet no page of Linux is in its tables.
        let linux = &SYSTEM.machines[SYSTEM.machine_index("linux").unwrap()];
        if machine.name != "linux" {
            for mapping in &mappings {
                let physical = Region { base: mapping.physical.as_u64(), size: mapping.size };
                assert!(
                    !physical.overlaps(&linux.memory),
                    "{} maps Linux: {mapping:?}",
                    machine.name
                );
            }
        }
    }
    let doorbells = symbols.address("VM_DOORBELLS")?;
    let app = SYSTEM.machine_index("app").unwrap();
    assert!(gdb.read_u64(doorbells + 8 * app as u64)? > 0, "the app rang its peers");
    // netvm faults (the debugger asks for it): its policy restarts it, its
    // peers see their channels go down and up, and Linux runs on.
    let inject = symbols.address("VM_INJECT_FAULT")?;
    let netvm_index = SYSTEM.machine_index("netvm").unwrap();
    gdb.write_memory(inject + netvm_index as u64, &[1])?;
    gdb.cont()?;
    qemu.wait_for_console(
        "vm netvm faulted (fault injected by the debugger): restarting",
        TIMEOUT,
    )?;
    qemu.wait_for_console("[netvm] started (boot 2)", TIMEOUT)?;
    qemu.wait_for_console_count("[app] round trip on app-netvm ok", 2, TIMEOUT)?;
    let console = qemu.console();
    assert!(console.contains("[app] channel app-netvm down"), "{console}");
    assert!(console.contains("[chainvm] channel netvm-chainvm down"), "{console}");
    assert!(shell(qemu, "echo still here after netvm")?.contains("still here after netvm"));

    // The primary powers off: the others stop with it and the machine is off.
    qemu.write_console(b"poweroff -f\n")?;
    let status = qemu.wait_exit(COMMAND_TIMEOUT)?;
    let console = qemu.console();
    assert!(status.success(), "{status}: {console}");
    assert!(console.contains("primary vm linux stopped: stopping the others"), "{console}");
    for name in ["netvm", "chainvm", "app"] {
        assert!(console.contains(&format!("vm {name} stopped: system shutdown")), "{console}");
    }
    assert!(console.contains("no virtual machine left; powering off"), "{console}");
    Ok(())
}

#[test]
fn two_busy_vms_on_one_cpu_both_make_progress() -> Result<(), Error> {
    let artifacts = artifacts()?;
    // alpha and gamma share CPU 2; the heartbeat scenario never waits, it
    // spins on the counter between beats.
    let alpha = &TEST.machines[TEST.machine_index("alpha").unwrap()];
    let gamma = &TEST.machines[TEST.machine_index("gamma").unwrap()];
    assert_eq!(alpha.cpus, gamma.cpus, "the test system pins alpha and gamma together");
    let options = SystemOptions {
        scenarios: vec![("alpha", Scenario::Heartbeat), ("gamma", Scenario::Heartbeat)],
        name: "shared-cpu".into(),
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let status = system.qemu.wait_exit(TIMEOUT)?;
    let console = system.qemu.console();
    assert!(status.success(), "{status}: {console}");
    let position =
        |line: &str| console.find(line).unwrap_or_else(|| panic!("no `{line}` in:\n{console}"));
    // Neither waits for the other to finish: their beats interleave.
    assert!(position("[gamma] heartbeat 2") < position("[alpha] heartbeat 15"), "{console}");
    assert!(position("[alpha] heartbeat 2") < position("[gamma] heartbeat 15"), "{console}");
    for name in ["alpha", "gamma"] {
        assert!(console.contains(&format!("vm {name} stopped: requested stop, code 0")));
    }
    Ok(())
}
