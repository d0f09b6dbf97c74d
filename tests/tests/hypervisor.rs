//! The hypervisor on its own (no Linux): boot at EL2, CPU bring-up, stage-2
//! partitions, hypercalls and fault containment, checked from the console and
//! from inside the machine through the gdbstub.

use std::time::Duration;

use boards::qemu_virt::systems::TEST;
use boards::test_guest::Scenario;
use elastos_tests::{artifacts, boot, Error, SystemOptions};

const TIMEOUT: Duration = Duration::from_secs(60);

fn machine_index(name: &str) -> usize {
    TEST.machine_index(name).expect("the test system has this VM")
}

/// The greeting pair, alpha and beta.
const GREET: [(&str, Scenario); 2] = [("alpha", Scenario::Greet), ("beta", Scenario::Greet)];

fn options(name: &str, scenarios: &[(&'static str, Scenario)], paused: bool) -> SystemOptions {
    SystemOptions {
        scenarios: scenarios.to_vec(),
        paused,
        name: name.into(),
        ..SystemOptions::default()
    }
}

#[test]
fn hypervisor_starts_at_el2_on_its_entry_point() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let symbols = artifacts.hypervisor_symbols()?;
    let system = boot(&artifacts, &options("el2", &GREET, true))?;
    let mut gdb = system.qemu.gdb()?;
    assert_eq!(gdb.read_register("pc")?, symbols.entry());
    assert_eq!(symbols.entry(), symbols.address("_start")?);
    // CPSR.M[3:2] is the exception level.
    assert_eq!((gdb.read_register("cpsr")? >> 2) & 0b11, 2, "the first instruction runs at EL2");
    let cpu = gdb.continue_until(symbols.address("primary_main")?, TIMEOUT)?;
    assert_eq!(cpu.cpu_index(), Some(0));
    assert_eq!((gdb.read_register("cpsr")? >> 2) & 0b11, 2);
    Ok(())
}

#[test]
fn greeting_guests_pass_their_checks_and_the_machine_powers_off() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let system = boot(&artifacts, &options("greet", &GREET, false))?;
    let status = system.qemu.wait_exit(TIMEOUT)?;
    let console = system.qemu.console();
    assert!(status.success(), "QEMU exited with {status}:\n{console}");
    for name in ["alpha", "beta"] {
        assert!(
            console.contains(&format!("[{name}] hello from EL1: hypercall ABI 0.1")),
            "{console}"
        );
        assert!(console.contains(&format!("[{name}] all checks passed")), "{console}");
        assert!(
            console.contains(&format!("vm {name} stopped: requested stop, code 0")),
            "{console}"
        );
    }
    assert!(console.contains("vm linux not started: no LinuxKernel image"), "{console}");
    assert!(console.contains("no virtual machine left; powering off"), "{console}");
    assert!(!console.contains("CHECK FAILED"), "{console}");
    Ok(())
}

#[test]
fn the_system_runs_on_a_cortex_a72_too() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let mut options = options("cortex-a72", &GREET, false);
    options.cpu = Some("cortex-a72".into());
    let system = boot(&artifacts, &options)?;
    assert!(system.qemu.wait_exit(TIMEOUT)?.success());
    let console = system.qemu.console();
    assert!(console.contains("all 4 CPUs online"), "{console}");
    assert_eq!(console.matches("all checks passed").count(), 2, "{console}");
    Ok(())
}

#[test]
fn every_cpu_comes_up_at_el2() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let symbols = artifacts.hypervisor_symbols()?;
    let system = boot(&artifacts, &options("cpus", &[("alpha", Scenario::Heartbeat)], true))?;
    let mut gdb = system.qemu.gdb()?;
    gdb.cont()?;
    system.qemu.wait_for_console("all 4 CPUs online", TIMEOUT)?;
    gdb.interrupt()?;
    gdb.wait_stop(TIMEOUT)?;
    // Whatever the stopped CPU runs, the identity map makes physical
    // addresses the hypervisor's.
    gdb.set_physical_memory_mode(true)?;
    assert_eq!(gdb.read_u64(symbols.address("CPUS_ONLINE")?)?, 0b1111);
    for cpu in 0..4 {
        assert!(system.qemu.console().contains(&format!("[hv cpu{cpu}] online at EL2")));
    }
    Ok(())
}

#[test]
fn a_running_guest_is_confined_by_its_own_stage2_tables() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let symbols = artifacts.hypervisor_symbols()?;
    let system = boot(&artifacts, &options("stage2", &GREET, true))?;
    let mut gdb = system.qemu.gdb()?;
    // The first hypercall of a test guest: its vCPU's configuration is live.
    let cpu = gdb.continue_until(symbols.address("handle_hypercall")?, TIMEOUT)?;
    let cpu = cpu.cpu_index().expect("a CPU thread");
    // alpha and beta are the only VMs started, on CPUs of their own.
    let machine = ["alpha", "beta"]
        .into_iter()
        .map(machine_index)
        .find(|&index| TEST.machines[index].cpus.contains(&cpu))
        .expect("the CPU belongs to alpha or beta");
    let hcr = gdb.read_register("HCR_EL2")?;
    assert_eq!(hcr & 1, 1, "HCR_EL2.VM is set while a guest runs");
    assert_eq!(hcr & (1 << 31), 1 << 31, "EL1 is AArch64");
    assert_eq!(hcr & (1 << 19), 1 << 19, "SMC traps (TSC)");
    let vttbr = gdb.read_register("VTTBR_EL2")?;
    let tables = symbols.address("VM_STAGE2_TABLES")?;
    let expected = gdb.read_u64(tables + 8 * machine as u64)?;
    assert_ne!(expected, 0);
    assert_eq!(vttbr, expected, "VTTBR_EL2 holds the tables of the VM on cpu{cpu}");
    assert_eq!(vttbr >> 48, machine as u64 + 1, "VMID");
    // Every VM has its own tables.
    let mut roots: Vec<u64> = (0..TEST.machines.len() as u64)
        .map(|index| gdb.read_u64(tables + 8 * index).map(|value| value & 0xffff_ffff_ffff))
        .collect::<Result<_, _>>()?;
    roots.sort_unstable();
    roots.dedup();
    assert_eq!(roots.len(), TEST.machines.len());
    Ok(())
}

#[test]
fn a_guest_touching_memory_outside_its_partition_is_stopped_alone() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let symbols = artifacts.hypervisor_symbols()?;
    let scenarios = [("alpha", Scenario::Escape), ("beta", Scenario::Heartbeat)];
    let system = boot(&artifacts, &options("escape", &scenarios, true))?;
    let mut gdb = system.qemu.gdb()?;
    let alpha = &TEST.machines[machine_index("alpha")];
    let beta = &TEST.machines[machine_index("beta")];
    let cpu = gdb.continue_until(symbols.address("stage2_fault")?, TIMEOUT)?;
    assert_eq!(cpu.cpu_index(), Some(alpha.cpus[0]), "the fault is taken on alpha's CPU");
    let syndrome = gdb.read_register("ESR_EL2")?;
    assert_eq!(syndrome >> 26, 0x24, "a data abort from a lower exception level");
    let hpfar = gdb.read_register("HPFAR_EL2")?;
    let far = gdb.read_register("FAR_EL2")?;
    let address = ((hpfar >> 4) << 12) | (far & 0xfff);
    assert_eq!(address, beta.memory.base, "the IPA alpha tried: beta's physical memory");
    gdb.cont()?;
    let stopped = format!("vm alpha stopped: stage-2 fault at IPA {:#x}", beta.memory.base);
    system.qemu.wait_for_console(&stopped, TIMEOUT)?;
    gdb.interrupt()?;
    gdb.wait_stop(TIMEOUT)?;
    // Whatever the stopped CPU runs, the identity map makes physical
    // addresses the hypervisor's.
    gdb.set_physical_memory_mode(true)?;
    let states = symbols.address("VM_STATES")?;
    let state = |gdb: &mut elastos_tests::GdbClient, index: usize| {
        gdb.read_memory(states + index as u64, 1).map(|bytes| bytes[0])
    };
    assert_eq!(state(&mut gdb, machine_index("alpha"))?, 2, "alpha is stopped");
    let faults = symbols.address("VM_STAGE2_FAULTS")?;
    assert_eq!(gdb.read_u64(faults + 8 * machine_index("alpha") as u64)?, 1);
    assert_eq!(gdb.read_u64(faults + 8 * machine_index("beta") as u64)?, 0);
    gdb.cont()?;
    // beta keeps running after alpha is gone, and finishes its work.
    let console =
        system.qemu.wait_for_console("vm beta stopped: requested stop, code 0", TIMEOUT)?;
    let after = &console[console.find(&stopped).expect("alpha's stop is on the console")..];
    assert!(after.contains("[beta] heartbeat 15"), "{console}");
    assert!(!console.contains("ESCAPED"), "{console}");
    assert!(system.qemu.wait_exit(TIMEOUT)?.success());
    Ok(())
}
