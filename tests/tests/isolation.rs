//! The isolation suite: a hostile VM next to Linux and the Elastos VMs tries
//! everything it must not do (other VMs' and the hypervisor's memory, device
//! MMIO, channels it was not given, random hypercalls, EL2 registers, a
//! hypercall storm). Each attempt must fail and be counted, the hostile VM is
//! restarted by its policy after each fault, its channel's peer sees the
//! channel go down and up, and Linux answers its shell throughout.

use std::time::{Duration, Instant};

use boards::qemu_virt::{self, systems::TEST};
use boards::test_guest::Scenario;
use boards::Region;
use elastos_tests::dapps::elastos;
use elastos_tests::shell::{shell, wait_for_shell, COMMAND_TIMEOUT};
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, stage2, Error, SystemOptions};

/// How long the whole attack may take.
const ATTACK_TIMEOUT: Duration = Duration::from_secs(600);
/// The bad-hypercall budget of a VM (hypervisor/src/hypercall.rs).
const BURST: u64 = 10_000;

/// The number after `prefix` in the console's line that contains it.
fn number_after(console: &str, prefix: &str) -> u64 {
    let rest = &console[console.find(prefix).unwrap_or_else(|| panic!("no `{prefix}`"))..];
    rest[prefix.len()..]
        .split(|character: char| !character.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{prefix}`"))
}

#[test]
fn a_hostile_vm_fails_at_everything_while_linux_and_the_elastos_vms_run_on() -> Result<(), Error> {
    let artifacts = artifacts()?;
    let options = SystemOptions {
        scenarios: vec![("intruder", Scenario::Hostile)],
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: "isolation".into(),
        // app-1 says what its channel to the intruder does.
        verbose: true,
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let symbols = system.artifacts.hypervisor_symbols()?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    // Start the attack now that Linux is up: set the intruder's go word (the
    // second word of its parameter page).
    let intruder = TEST.machine_index("intruder").unwrap();
    let machine = &TEST.machines[intruder];
    qemu.wait_for_console("[intruder] hostile: waiting for the go word", COMMAND_TIMEOUT)?;
    let mut gdb = qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    gdb.write_u64(machine.memory.end() - 0x1000 + 8, 1)?;
    gdb.set_physical_memory_mode(false)?;
    gdb.detach()?;
    qemu.wait_for_console("[intruder] hostile: starting the attack", COMMAND_TIMEOUT)?;

    // Linux answers its shell while the attack goes on, until the intruder
    // reports the end of it.
    let done = "[intruder] hostile: the storm got me restarted";
    let start = Instant::now();
    let mut answered = 0;
    while !qemu.console().contains(done) {
        assert!(start.elapsed() < ATTACK_TIMEOUT, "the attack did not end:\n{}", qemu.console());
        let output = shell(qemu, &format!("echo alive {answered}"))?;
        assert!(output.contains(&format!("alive {answered}")), "{output}");
        answered += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(answered > 0, "Linux was asked at least once during the attack");
    // The Elastos VMs still talk: Linux asks chainvm over vsock, which
    // knows each app VM slot idle over its channel, none restarted.
    let (status, code) = elastos(qemu, "status")?;
    assert_eq!(code, 0, "{status}");
    for slot in ["app-1", "app-2", "app-3"] {
        let line = status.lines().find(|line| line.trim_start().starts_with(slot));
        let words: Vec<&str> =
            line.map(|line| line.split_whitespace().collect()).unwrap_or_default();
        assert_eq!(words.get(1), Some(&"idle"), "{slot}: {status}");
        assert_eq!(words.get(5), Some(&"0"), "{slot} never restarted: {status}");
    }

    let console = qemu.console();
    assert!(!console.contains("ESCAPED"), "{console}");
    assert!(!console.contains("CHECK FAILED"), "{console}");
    let attempts = number_after(&console, "attempts on memory and devices: ");
    assert!(attempts >= 30, "{attempts} attempts");
    let denied = number_after(&console, "hostile: refused ");
    let refused_registers = number_after(&console, "channel misuses, ");
    let random_bad = number_after(&console, "EL2 register accesses, ");
    assert_eq!(refused_registers, 10, "every EL2 register access is UNDEFINED");
    assert!(random_bad > 3000, "most random hypercalls are refused: {random_bad}");
    assert!(console.contains("[intruder] hostile: wrote garbage into my ring"), "{console}");
    assert!(console.contains("vm intruder faulted (hypercall storm): restarting"), "{console}");
    assert!(console.contains("[app-1] channel intruder-app down"), "{console}");
    assert!(console.contains("[app-1] channel intruder-app up"), "{console}");

    // The hypervisor's own account, read through the gdbstub.
    let mut gdb = qemu.gdb()?;
    // The hypervisor maps memory one to one; physical addresses work from
    // whatever context (a guest's EL1 or EL2) the stopped CPU is in.
    gdb.set_physical_memory_mode(true)?;
    let read =
        |gdb: &mut elastos_tests::GdbClient, name: &str, index: usize| -> Result<u64, Error> {
            Ok(gdb.read_u64(symbols.address(name)? + 8 * index as u64)?)
        };
    assert_eq!(read(&mut gdb, "VM_STAGE2_FAULTS", intruder)?, attempts, "every attempt faulted");
    // Each fault restarted it, and so did the storm; then it stopped.
    assert_eq!(read(&mut gdb, "VM_FAULT_RESTARTS", intruder)?, attempts + 1);
    assert_eq!(read(&mut gdb, "VM_STARTS", intruder)?, attempts + 2);
    assert_eq!(read(&mut gdb, "VM_CHANNEL_DENIALS", intruder)?, denied);
    // The storm's boot began with a full budget: its bad calls, random ones
    // included, emptied it.
    let bad = read(&mut gdb, "VM_BAD_HYPERCALLS", intruder)?;
    assert!(bad > BURST && bad > denied + random_bad, "{bad} bad hypercalls");
    for name in ["linux", "netvm", "chainvm", "app-1", "app-2", "app-3"] {
        let index = TEST.machine_index(name).unwrap();
        assert_eq!(read(&mut gdb, "VM_STARTS", index)?, 1, "{name} never restarted");
        assert_eq!(read(&mut gdb, "VM_FAULTS", index)?, 0, "{name} never faulted");
        assert_eq!(read(&mut gdb, "VM_CHANNEL_DENIALS", index)?, 0, "{name} used its own");
    }

    // The intruder's partition: its RAM, and its end of its one channel.
    let vttbr = read(&mut gdb, "VM_STAGE2_TABLES", intruder)?;
    let mappings = stage2::mappings(&mut gdb, vttbr)?;
    let channel = &TEST.channels[TEST.channel_index("intruder-app").unwrap()];
    let allowed = [machine.memory, channel.memory];
    for mapping in &mappings {
        let physical = Region { base: mapping.physical.as_u64(), size: mapping.size };
        assert!(
            allowed
                .iter()
                .any(|region| physical.base >= region.base && physical.end() <= region.end()),
            "the intruder maps {mapping:?}"
        );
        for device in [qemu_virt::GIC_DISTRIBUTOR, qemu_virt::UART, qemu_virt::VIRTIO_MMIO] {
            assert!(!physical.overlaps(&device), "{mapping:?}");
        }
    }
    let mapped: u64 = mappings.iter().map(|mapping| mapping.size).sum();
    assert_eq!(mapped, machine.memory.size + channel.memory.size);
    gdb.cont()?;

    assert!(shell(qemu, "echo after")?.contains("after"));
    qemu.write_console(b"poweroff -f\n")?;
    assert!(qemu.wait_exit(COMMAND_TIMEOUT)?.success());
    Ok(())
}
