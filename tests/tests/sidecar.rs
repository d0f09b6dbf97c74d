//! The sidecar system: Linux next to the Elastos VMs, quiet on the shared
//! console, the manifest's primary VM, the scheduler sharing CPUs, the
//! inter-VM channels, and VMs that fault and restart while the others run.

use std::time::{Duration, Instant};

use boards::qemu_virt::systems::{SYSTEM, TEST};
use boards::test_guest::Scenario;
use boards::Region;
use elastos_tests::dapps::{self, elastos};
use elastos_tests::qemu::source_text;
use elastos_tests::shell::{wait_for_shell, COMMAND_TIMEOUT};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, stage2, Error, Qemu, SystemOptions};

/// What Linux's DHCP script prints when it applied a lease.
const LEASE_LINE: &str = "elastos: eth0 has ";
/// How long Linux may take to get its lease once its shell is up.
const LEASE_TIMEOUT: Duration = Duration::from_secs(120);
const TIMEOUT: Duration = Duration::from_secs(120);
/// The Elastos VMs of the default system.
const ELASTOS_VMS: [&str; 5] = ["netvm", "chainvm", "app-1", "app-2", "app-3"];

/// The console text of every Elastos VM, each line with its tag.
fn elastos_lines(console: &str) -> Vec<String> {
    ELASTOS_VMS
        .iter()
        .flat_map(|name| {
            let text = source_text(console, name);
            text.lines().map(|line| format!("[{name}] {line}")).collect::<Vec<_>>()
        })
        .collect()
}

/// The app VM `elastos status` shows running `dapp`, and its restarts.
fn running(qemu: &Qemu, dapp: &str) -> Result<Option<(String, u32)>, Error> {
    let (status, code) = elastos(qemu, "status")?;
    assert_eq!(code, 0, "{status}");
    Ok(status.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        // `NAME STATE slot N restarts N DAPP`
        match words.as_slice() {
            [name, "running", "slot", _, "restarts", restarts, shown] if *shown == dapp => {
                Some((name.to_string(), restarts.parse().ok()?))
            }
            _ => None,
        }
    }))
}

/// Waits until `elastos status` shows `dapp` running; returns its app VM
/// and restarts.
fn wait_until_running(qemu: &Qemu, dapp: &str) -> Result<(String, u32), Error> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = running(qemu, dapp)? {
            return Ok(found);
        }
        assert!(Instant::now() < deadline, "{dapp} never ran again:\n{}", qemu.console());
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn the_default_system_runs_linux_next_to_the_elastos_vms_and_stops_with_linux() -> Result<(), Error>
{
    let artifacts = artifacts()?;
    // Quiet, as `cargo xtask run` boots it: the shell belongs to Linux.
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
    // Linux reaches chainvm over vsock, chainvm its app VMs over their
    // channels: a dapp installed from the shell runs in an app VM slot.
    // The package comes over Linux's network, once it has its lease.
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    let server = dapps::serve_packages(&["chat"])?;
    let downloaded = dapps::download(qemu, &server, "chat.elastos")?;
    assert!(downloaded.contains("wget=0"), "{downloaded}");
    let (output, code) = elastos(qemu, "install /tmp/chat.elastos")?;
    assert_eq!(code, 0, "{output}");
    let (output, code) = elastos(qemu, "start chat")?;
    assert_eq!(code, 0, "{output}");
    let (app, restarts) = wait_until_running(qemu, "chat")?;
    assert_eq!(restarts, 0, "{app}");
    assert!(dapps::run(qemu, "echo still here", COMMAND_TIMEOUT)?.contains("still here"));
    // While they start, serve and run a dapp, the Elastos VMs say nothing
    // on the shared console.
    let console = qemu.console();
    let lines = elastos_lines(&console);
    assert!(lines.is_empty(), "the Elastos VMs printed into Linux's shell:\n{}", lines.join("\n"));

    let mut gdb = qemu.gdb()?;
    // The hypervisor maps memory one to one; physical addresses work from
    // whatever context (a guest's EL1 or EL2) the stopped CPU is in.
    gdb.set_physical_memory_mode(true)?;
    let states = symbols.address("VM_STATES")?;
    for (index, machine) in SYSTEM.machines.iter().enumerate() {
        let state = gdb.read_memory(states + index as u64, 1)?[0];
        assert_eq!(state, 1, "{} runs", machine.name);
    }
    // chainvm and the app VMs share CPU 3: they have been switched in, many
    // times.
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
    let app_index = SYSTEM.machine_index(&app).unwrap();
    assert!(gdb.read_u64(doorbells + 8 * app_index as u64)? > 0, "{app} rang its peers");
    // netvm faults (the debugger asks for it): its policy restarts it, its
    // peers' channels go down and up, and Linux and the dapp run on.
    let inject = symbols.address("VM_INJECT_FAULT")?;
    let netvm_index = SYSTEM.machine_index("netvm").unwrap();
    gdb.write_memory(inject + netvm_index as u64, &[1])?;
    gdb.detach()?;
    qemu.wait_for_console(
        "vm netvm faulted (fault injected by the debugger): restarting",
        TIMEOUT,
    )?;
    for channel in ["netvm-chainvm", &format!("{app}-netvm"), "linux-net"] {
        qemu.wait_for_console(&format!("channel {channel} down (epoch"), TIMEOUT)?;
        qemu.wait_for_console_count(&format!("channel {channel} up (epoch"), 2, TIMEOUT)?;
    }
    let output = dapps::run(qemu, "echo still here after netvm", COMMAND_TIMEOUT)?;
    assert!(output.contains("still here after netvm"), "{output}");
    assert_eq!(running(qemu, "chat")?, Some((app.clone(), 0)), "chat ran on");

    // The app VM running chat faults: its policy restarts it, chainvm says
    // on the console that the dapp failed (faults still show) and starts it
    // again, and the others run on.
    let mut gdb = qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    gdb.write_memory(inject + app_index as u64, &[1])?;
    gdb.detach()?;
    qemu.wait_for_console(
        &format!("vm {app} faulted (fault injected by the debugger): restarting"),
        TIMEOUT,
    )?;
    qemu.wait_for_source("chainvm", "dapp chat failed: its app VM stopped", 1, TIMEOUT)?;
    let (_, restarts) = wait_until_running(qemu, "chat")?;
    let (output, code) = elastos(qemu, "status")?;
    assert_eq!(code, 0, "{output}");
    assert!(restarts <= 1, "{output}");
    let mut gdb = qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    let starts = symbols.address("VM_STARTS")?;
    for (name, expected) in [("linux", 1), ("netvm", 2), ("chainvm", 1), (app.as_str(), 2)] {
        let index = SYSTEM.machine_index(name).unwrap();
        assert_eq!(gdb.read_u64(starts + 8 * index as u64)?, expected, "starts of {name}");
    }
    gdb.detach()?;
    let output = dapps::run(qemu, "echo still here after the app VM", COMMAND_TIMEOUT)?;
    assert!(output.contains("after the app VM"), "{output}");

    // The primary powers off: the others stop with it and the machine is off.
    qemu.write_console(b"poweroff -f\n")?;
    let status = qemu.wait_exit(COMMAND_TIMEOUT)?;
    let console = qemu.console();
    assert!(status.success(), "{status}: {console}");
    assert!(console.contains("primary vm linux stopped: stopping the others"), "{console}");
    for name in ELASTOS_VMS {
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
