//! One small malformed manifest per check: each must fail with the right
//! problem at the right line.

use std::path::Path;

use system_manifest::{
    check, Board, CheckedSystem, Diagnostic, NamedInterrupt, NamedRegion, Region,
};

/// A board like QEMU virt, smaller: 4 CPUs, 1 GiB of RAM of which the first
/// 64 MiB are the hypervisor's.
const BOARD: Board = Board {
    name: "sample",
    cpu_count: 4,
    ram: Region { base: 0x4000_0000, size: 0x4000_0000 },
    reserved_memory: &[NamedRegion {
        name: "the hypervisor",
        region: Region { base: 0x4000_0000, size: 0x400_0000 },
    }],
    device_space: Region { base: 0, size: 0x4000_0000 },
    hypervisor_devices: &[
        NamedRegion { name: "the UART", region: Region { base: 0x0900_0000, size: 0x1000 } },
        NamedRegion {
            name: "the GIC distributor",
            region: Region { base: 0x0800_0000, size: 0x1_0000 },
        },
    ],
    reserved_interrupts: &[NamedInterrupt { name: "the UART", interrupt: 33 }],
    device_interrupts: 32..=95,
};

/// Where the manifests of these tests claim to be.
const PATH: &str = "boards/sample/system.toml";

fn checked(text: &str) -> Result<CheckedSystem, Vec<Diagnostic>> {
    check(Path::new(PATH), text, &BOARD).map_err(|diagnostics| diagnostics.0)
}

/// Asserts that `text` has exactly one problem, on `line`, and that its
/// message contains `what`.
#[track_caller]
fn assert_problem(text: &str, line: usize, what: &str) {
    let found = match checked(text) {
        Ok(_) => panic!("the manifest passed; expected a problem on line {line}: {what}"),
        Err(found) => found,
    };
    let messages: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1, "expected one problem, found {messages:#?}");
    assert_eq!(found[0].position.line, line, "{}", messages[0]);
    assert!(messages[0].starts_with(&format!("{PATH}:{line}:")), "{}", messages[0]);
    assert!(messages[0].contains(what), "{:?} does not say {what:?}", messages[0]);
}

/// Two VMs and a channel, all fine.
const VALID: &str = r#"[system]
description = "two VMs and a channel"

[[vm]]
name = "first"
kind = "test"
cpus = [0]
memory = "16M"

[[vm]]
name = "second"
kind = "app"
cpus = [1]
memory = "16M"

[[channel]]
name = "link"
ends = ["first", "second"]
size = "4K"
"#;

#[test]
fn a_valid_manifest_passes_with_defaults_filled_in() {
    let system = checked(VALID).unwrap();
    assert_eq!(system.name, "system");
    assert_eq!(system.description.as_deref(), Some("two VMs and a channel"));
    assert_eq!(system.machines[0].image, "test-guest");
    assert_eq!(system.machines[1].image, "app");
    assert_eq!(system.machines[0].memory, Region { base: 0x4400_0000, size: 16 << 20 });
    assert_eq!(system.machines[1].memory, Region { base: 0x4500_0000, size: 16 << 20 });
    assert!(!system.machines[0].primary);
    assert_eq!(system.machines[0].restart, system_manifest::RestartPolicy::Stop);
    let link = &system.channels[0];
    assert_eq!(link.direction, system_manifest::Direction::Both);
    assert_eq!(link.memory, Region { base: 0x8000_0000 - 0x7000, size: 0x7000 });
}

#[test]
fn messages_name_file_line_column_and_subject() {
    let text = VALID.replace("cpus = [1]", "cpus = [1, 5]");
    let found = checked(&text).unwrap_err();
    assert_eq!(
        found[0].to_string(),
        "boards/sample/system.toml:13:12: vm \"second\": CPU 5 is not on the board (CPUs 0 to 3)"
    );
}

#[test]
fn every_problem_is_reported_in_order() {
    let text = VALID.replace("kind = \"test\"", "kind = \"robot\"").replace("\"4K\"", "\"3K\"");
    let found = checked(&text).unwrap_err();
    let lines: Vec<_> = found.iter().map(|diagnostic| diagnostic.position.line).collect();
    assert_eq!(lines, [6, 19]);
}

#[test]
fn syntax_errors_are_positioned() {
    let found = checked("[[vm]]\nname = \"first\nkind = \"test\"\n").unwrap_err();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].position.line, 2);
    assert!(matches!(found[0].problem, system_manifest::Problem::Syntax(_)));
    assert_problem("[[vm]]\nname = \"first\"\ncpus = [0]\nmemory = \"2M\"\n", 1, "kind");
}

#[test]
fn unknown_keys_are_errors() {
    let text =
        VALID.replace("memory = \"16M\"\n\n[[vm]]", "memory = \"16M\"\ncolour = 3\n\n[[vm]]");
    assert_problem(&text, 9, "colour");
    assert_problem("[system]\nname = \"x\"\n", 2, "name");
    assert_problem("[[vms]]\nname = \"x\"\n", 1, "vms");
}

#[test]
fn malformed_names_are_rejected() {
    assert_problem(&VALID.replace("\"first\"", "\"First\""), 5, "\"First\" is not a valid name");
    assert_problem(&VALID.replace("\"link\"", "\"a link\""), 17, "not a valid name");
    assert_problem(&VALID.replace("\"link\"", "\"\""), 17, "not a valid name");
    let text = VALID.replace("kind = \"app\"", "kind = \"app\"\nimage = \"App.bin\"");
    assert_problem(&text, 13, "\"App.bin\" is not a valid name");
}

#[test]
fn the_system_name_comes_from_a_valid_file_name() {
    let found = check(Path::new("boards/sample/My System.toml"), VALID, &BOARD).unwrap_err();
    assert_eq!(found.0.len(), 1);
    assert_eq!(found.0[0].position.line, 1);
    assert!(found.0[0].to_string().contains("cannot name a system"), "{}", found.0[0]);
}

#[test]
fn long_channel_names_are_rejected() {
    let text = VALID.replace("\"link\"", "\"a-very-long-link-name\"");
    assert_problem(&text, 17, "21 bytes long; channel names have at most 16");
    checked(&VALID.replace("\"link\"", "\"sixteen-letters-\"")).unwrap();
}

#[test]
fn duplicate_names_are_rejected() {
    let text = format!(
        "{VALID}\n[[vm]]\nname = \"first\"\nkind = \"test\"\ncpus = [2]\nmemory = \"2M\"\n"
    );
    assert_problem(&text, 22, "vm \"first\": the name \"first\" is already used on line 5");
    let text = format!(
        "{VALID}\n[[channel]]\nname = \"link\"\nends = [\"second\", \"first\"]\nsize = \"4K\"\n"
    );
    assert_problem(&text, 22, "\"link\" is already used on line 17");
    let text = VALID.replace(
        "memory = \"16M\"\n\n[[vm]]",
        "memory = \"16M\"\n[[vm.device]]\nname = \"a\"\nmmio = { base = 0x1000_0000, size = 0x1000 }\n[[vm.device]]\nname = \"a\"\nmmio = { base = 0x1000_1000, size = 0x1000 }\n\n[[vm]]",
    );
    assert_problem(
        &text,
        13,
        "vm \"first\" device \"a\": the name \"a\" is already used on line 10",
    );
}

#[test]
fn unknown_kinds_are_rejected() {
    assert_problem(&VALID.replace("\"test\"", "\"robot\""), 6, "unknown kind \"robot\"");
}

#[test]
fn cpus_must_exist_be_listed_once_and_not_be_missing() {
    assert_problem(&VALID.replace("cpus = [0]", "cpus = []"), 7, "needs at least one CPU");
    assert_problem(&VALID.replace("cpus = [0]", "cpus = [0, 4]"), 7, "CPU 4 is not on the board");
    assert_problem(&VALID.replace("cpus = [0]", "cpus = [1, 0, 1]"), 7, "CPU 1 is listed twice");
    let text = VALID.replace("cpus = [0]\n", "");
    assert_problem(&text, 4, "cpus");
}

#[test]
fn only_one_vm_may_be_primary() {
    let text = VALID
        .replace("kind = \"test\"", "kind = \"test\"\nprimary = true")
        .replace("kind = \"app\"", "kind = \"app\"\nprimary = true");
    assert_problem(&text, 14, "only one VM can be primary, and \"first\" already is");
}

#[test]
fn memory_sizes_must_be_whole_stage_2_blocks() {
    assert_problem(&VALID.replace("\"16M\"\n\n[[vm]]", "0\n\n[[vm]]"), 8, "memory size is zero");
    let text = VALID.replace("\"16M\"\n\n[[vm]]", "\"3M\"\n\n[[vm]]");
    assert_problem(&text, 8, "memory size 0x300000 is not a multiple of 2 MiB");
    let text = VALID.replace("\"16M\"\n\n[[vm]]", "\"16 megs\"\n\n[[vm]]");
    assert_problem(&text, 8, "\"16 megs\" is not a size");
    let text = VALID.replace("\"16M\"\n\n[[vm]]", "-4\n\n[[vm]]");
    assert_problem(&text, 8, "negative");
    checked(&VALID.replace("\"16M\"\n\n[[vm]]", "0x100_0000\n\n[[vm]]")).unwrap();
}

#[test]
fn explicit_memory_must_lie_in_free_ram() {
    let with_base = |base: &str| {
        VALID.replacen(
            "memory = \"16M\"\n\n",
            &format!("memory = \"16M\"\nphysical_base = {base}\n\n"),
            1,
        )
    };
    assert_problem(
        &with_base("0x8000_0000"),
        9,
        "memory 0x80000000..0x81000000 is outside the board's RAM",
    );
    assert_problem(&with_base("0x3000_0000"), 9, "outside the board's RAM");
    assert_problem(
        &with_base("0x4200_0000"),
        9,
        "overlaps the hypervisor at 0x40000000..0x44000000",
    );
    assert_problem(
        &with_base("0x5010_0000"),
        9,
        "physical_base 0x50100000 is not a multiple of 2 MiB",
    );
    let text = with_base("0x5000_0000").replace(
        "memory = \"16M\"\n\n[[channel]]",
        "memory = \"16M\"\nphysical_base = 0x5080_0000\n\n[[channel]]",
    );
    assert_problem(&text, 16, "overlaps the memory of vm \"first\"");
    // A VM without physical_base goes around one with it.
    let system = checked(&with_base("0x4400_0000")).unwrap();
    assert_eq!(system.machines[1].memory.base, 0x4500_0000);
}

#[test]
fn exhausted_ram_is_reported_at_the_vm_that_does_not_fit() {
    let text = VALID.replace("memory = \"16M\"\n\n[[channel]]", "memory = \"1G\"\n\n[[channel]]");
    assert_problem(
        &text,
        14,
        "1 GiB of memory does not fit in the free RAM (the largest free block is 944 MiB)",
    );
    // The VMs fill the free RAM exactly: nothing is left for the channel.
    let text = VALID
        .replace("memory = \"16M\"\n\n[[vm]]", "memory = \"32M\"\n\n[[vm]]")
        .replace("memory = \"16M\"\n\n[[channel]]", "memory = \"928M\"\n\n[[channel]]");
    assert_problem(&text, 17, "channel \"link\": its 28 KiB region does not fit in the free RAM");
}

#[test]
fn no_cpu_runs_more_than_eight_vcpus() {
    let mut text = String::new();
    for index in 0..9 {
        text.push_str(&format!(
            "[[vm]]\nname = \"vm{index}\"\nkind = \"test\"\ncpus = [2]\nmemory = \"2M\"\n\n"
        ));
    }
    // The ninth VM's CPU entry, on line 8 * 6 + 4.
    assert_problem(&text, 52, "CPU 2 would run more than 8 vCPUs");
}

#[test]
fn a_system_has_at_most_sixteen_vms() {
    let mut text = String::new();
    for index in 0..17 {
        let cpu = index % 4;
        text.push_str(&format!(
            "[[vm]]\nname = \"vm{index}\"\nkind = \"test\"\ncpus = [{cpu}]\nmemory = \"2M\"\n\n"
        ));
    }
    assert_problem(&text, 16 * 6 + 2, "vm \"vm16\": a system has at most 16 VMs");
}

/// [`VALID`] with a device on the first VM.
fn with_device(mmio: &str, interrupts: &str) -> String {
    VALID.replace(
        "memory = \"16M\"\n\n[[vm]]",
        &format!("memory = \"16M\"\n\n[[vm.device]]\nname = \"disk\"\nmmio = {mmio}\ninterrupts = {interrupts}\n\n[[vm]]"),
    )
}

#[test]
fn a_valid_device_is_kept() {
    let system =
        checked(&with_device("{ base = 0x0a00_0000, size = \"4K\" }", "[40, 41]")).unwrap();
    let device = &system.machines[0].devices[0];
    assert_eq!(device.mmio, Region { base: 0x0a00_0000, size: 0x1000 });
    assert_eq!(device.interrupts, [40, 41]);
}

#[test]
fn device_mmio_must_be_page_aligned() {
    let text = with_device("{ base = 0x0a00_0200, size = 0x1000 }", "[]");
    assert_problem(&text, 12, "MMIO 0xa000200..0xa001200 is not page-aligned");
    let text = with_device("{ base = 0x0a00_0000, size = 0x200 }", "[]");
    assert_problem(&text, 12, "not page-aligned");
    let text = with_device("{ base = 0x0a00_0000, size = 0 }", "[]");
    assert_problem(&text, 12, "MMIO size is zero");
    let text = with_device("{ base = 0x0a00_0000, size = \"4X\" }", "[]");
    assert_problem(&text, 12, "vm \"first\" device \"disk\": \"4X\" is not a size");
}

#[test]
fn device_mmio_must_lie_in_device_space() {
    let text = with_device("{ base = 0x4000_0000, size = 0x1000 }", "[]");
    assert_problem(&text, 12, "outside the board's device space 0x0..0x40000000");
}

#[test]
fn device_mmio_must_not_overlap_the_hypervisors_devices() {
    let text = with_device("{ base = 0x0900_0000, size = 0x1000 }", "[]");
    assert_problem(
        &text,
        12,
        "overlaps the UART at 0x9000000..0x9001000, which the hypervisor owns",
    );
    let text = with_device("{ base = 0x0800_f000, size = 0x2000 }", "[]");
    assert_problem(&text, 12, "the GIC distributor");
}

#[test]
fn a_device_belongs_to_one_vm() {
    let text = with_device("{ base = 0x0a00_0000, size = 0x2000 }", "[40]").replace(
        "memory = \"16M\"\n\n[[channel]]",
        "memory = \"16M\"\n\n[[vm.device]]\nname = \"disk2\"\nmmio = { base = 0x0a00_1000, size = 0x1000 }\n\n[[channel]]",
    );
    assert_problem(&text, 23, "vm \"second\" device \"disk2\": MMIO 0xa001000..0xa002000 overlaps device \"disk\" of vm \"first\"");
}

#[test]
fn device_mmio_must_stay_out_of_the_channel_window() {
    let text = with_device("{ base = 0x2000_0000, size = 0x1000 }", "[]");
    assert_problem(&text, 12, "overlaps the VM's channel window 0x20000000..0x20200000");
    // Without channels there is no window.
    let text = text.replace(
        "[[channel]]\nname = \"link\"\nends = [\"first\", \"second\"]\nsize = \"4K\"\n",
        "",
    );
    checked(&text).unwrap();
}

#[test]
fn device_interrupts_must_be_allowed_free_and_owned_once() {
    let mmio = "{ base = 0x0a00_0000, size = 0x1000 }";
    assert_problem(
        &with_device(mmio, "[40, 96]"),
        13,
        "interrupt 96 is outside the range devices may use (32 to 95)",
    );
    assert_problem(&with_device(mmio, "[27]"), 13, "interrupt 27 is outside");
    assert_problem(
        &with_device(mmio, "[33]"),
        13,
        "interrupt 33 belongs to the UART, which the hypervisor owns",
    );
    let text = with_device(mmio, "[40]").replace(
        "memory = \"16M\"\n\n[[channel]]",
        "memory = \"16M\"\n\n[[vm.device]]\nname = \"disk2\"\nmmio = { base = 0x0a00_1000, size = 0x1000 }\ninterrupts = [41, 40]\n\n[[channel]]",
    );
    assert_problem(&text, 24, "interrupt 40 is already owned by device \"disk\" of vm \"first\"");
}

#[test]
fn channel_ends_must_be_two_distinct_known_vms() {
    assert_problem(&VALID.replace("\"second\"]", "\"third\"]"), 18, "unknown vm \"third\"");
    assert_problem(&VALID.replace("\"second\"]", "\"first\"]"), 18, "both ends are vm \"first\"");
    let text = VALID.replace("[\"first\", \"second\"]", "[\"first\", \"second\", \"first\"]");
    assert_problem(&text, 18, "a channel has two ends, not 3");
    // The column points at the end at fault.
    let found = checked(&VALID.replace("\"second\"]", "\"third\"]")).unwrap_err();
    assert_eq!(found[0].position.column, 18);
}

#[test]
fn ring_sizes_are_powers_of_two_from_4k_to_1m() {
    assert_problem(
        &VALID.replace("\"4K\"", "\"12K\""),
        19,
        "ring size 0x3000 is not a power of two",
    );
    assert_problem(
        &VALID.replace("\"4K\"", "\"2K\""),
        19,
        "ring size 2 KiB is outside 4 KiB to 1 MiB",
    );
    assert_problem(
        &VALID.replace("\"4K\"", "\"2M\""),
        19,
        "ring size 2 MiB is outside 4 KiB to 1 MiB",
    );
    checked(&VALID.replace("\"4K\"", "\"1M\"")).unwrap();
}

#[test]
fn directions_are_both_or_one_way() {
    let text = format!("{VALID}direction = \"sideways\"\n");
    assert_problem(&text, 20, "unknown direction \"sideways\"");
    let system = checked(&format!("{VALID}direction = \"one-way\"\n")).unwrap();
    assert_eq!(system.channels[0].direction, system_manifest::Direction::FirstToSecond);
    assert_eq!(system.channels[0].memory.size, 0x4000);
}

/// A Linux VM beside [`VALID`]'s two, with a channel to each.
fn with_linux(first: &str, second: &str) -> String {
    format!(
        "{VALID}\n[[vm]]\nname = \"penguin\"\nkind = \"linux\"\ncpus = [2]\nmemory = \"16M\"\n\n\
         [[channel]]\nname = \"to-first\"\nends = [\"penguin\", \"first\"]\nsize = \"4K\"\n{first}\n\
         [[channel]]\nname = \"to-second\"\nends = [\"second\", \"penguin\"]\nsize = \"4K\"\n{second}"
    )
}

#[test]
fn linux_devices_default_to_net_and_may_be_one_vsock() {
    use system_manifest::LinuxDevice;
    let devices = |text: &str| -> Vec<LinuxDevice> {
        checked(text).unwrap().channels.iter().map(|channel| channel.linux_device).collect()
    };
    let net = LinuxDevice::Net;
    let vsock = LinuxDevice::Vsock;
    assert_eq!(devices(&with_linux("", "")), [net, net, net]);
    assert_eq!(
        devices(&with_linux("linux-device = \"vsock\"\n", "linux-device = \"net\"\n")),
        [net, vsock, net]
    );
    assert_eq!(devices(&with_linux("", "linux-device = \"vsock\"\n")), [net, net, vsock]);
}

#[test]
fn linux_devices_are_checked() {
    // The channels' extra keys are on lines 31 and 37.
    assert_problem(
        &with_linux("linux-device = \"serial\"\n", ""),
        31,
        "unknown linux-device \"serial\": use \"net\" or \"vsock\"",
    );
    assert_problem(
        &with_linux("linux-device = \"vsock\"\n", "linux-device = \"vsock\"\n"),
        37,
        "channel \"to-second\": vm \"penguin\" already has a vsock device",
    );
    // Without a Linux end, even the default is refused.
    for device in ["net", "vsock"] {
        assert_problem(
            &format!("{VALID}linux-device = \"{device}\"\n"),
            20,
            "linux-device is only for a channel with a VM of kind \"linux\" at one end",
        );
    }
}

#[test]
fn a_vm_has_at_most_thirty_two_channels() {
    let mut text = String::from(VALID);
    for index in 0..32 {
        text.push_str(&format!("\n[[channel]]\nname = \"extra{index}\"\nends = [\"second\", \"first\"]\nsize = \"4K\"\n"));
    }
    // Channel 33 is the 32nd extra one; its `ends` is on line 19 + 31 * 5 + 4.
    let found = checked(&text).unwrap_err();
    assert_eq!(found.len(), 2, "{found:#?}");
    for (diagnostic, machine) in found.iter().zip(["second", "first"]) {
        assert_eq!(diagnostic.position.line, 19 + 31 * 5 + 4);
        let message = diagnostic.to_string();
        assert!(
            message.contains(&format!("vm \"{machine}\" would have more than 32 channels")),
            "{message}"
        );
    }
}

#[test]
fn restart_policies_are_checked() {
    let text = VALID.replace("kind = \"test\"", "kind = \"test\"\nrestart = \"reboot\"");
    assert_problem(&text, 7, "unknown restart policy \"reboot\"");
    let text = VALID.replace("kind = \"test\"", "kind = \"test\"\nrestart_limit = 3");
    assert_problem(&text, 7, "restart_limit needs restart = \"restart\"");
    let text = VALID
        .replace("kind = \"test\"", "kind = \"test\"\nrestart = \"restart\"\nrestart_limit = 3");
    let system = checked(&text).unwrap();
    assert_eq!(system.machines[0].restart, system_manifest::RestartPolicy::Restart { limit: 3 });
}

/// [`VALID`] with its second VM of kind `kind` and a `[vm.p2p]` table whose
/// body, from line 17, is `body`.
fn with_p2p(kind: &str, body: &str) -> String {
    VALID.replace(
        "kind = \"app\"\ncpus = [1]\nmemory = \"16M\"\n",
        &format!("kind = \"{kind}\"\ncpus = [1]\nmemory = \"16M\"\n\n[vm.p2p]\n{body}"),
    )
}

/// A well-formed bootstrap address.
const PEER: &str =
    "/ip4/10.0.2.2/tcp/4002/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

#[test]
fn a_netvm_gets_its_p2p_settings_or_the_defaults() {
    let text = VALID.replace("kind = \"app\"", "kind = \"netvm\"");
    let system = checked(&text).unwrap();
    let defaults = system_manifest::P2pSettings { listen_port: 4001, bootstrap: Vec::new() };
    assert_eq!(system.machines[1].p2p, Some(defaults));
    assert_eq!(system.machines[0].p2p, None, "only a netvm has p2p settings");
    let dns = "/dns4/peer.example/tcp/4003/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
    let body = format!("listen-port = 4101\nbootstrap = [\"{PEER}\", \"{dns}\"]\n");
    let system = checked(&with_p2p("netvm", &body)).unwrap();
    let p2p = system.machines[1].p2p.as_ref().unwrap();
    assert_eq!(p2p.listen_port, 4101);
    assert_eq!(p2p.bootstrap, [PEER, dns]);
    // An empty table is the defaults.
    let system = checked(&with_p2p("netvm", "")).unwrap();
    assert_eq!(system.machines[1].p2p.as_ref().unwrap().listen_port, 4001);
    assert!(system.machines[1].p2p.as_ref().unwrap().bootstrap.is_empty());
}

#[test]
fn only_a_netvm_may_have_p2p_settings() {
    assert_problem(
        &with_p2p("app", "listen-port = 4001\n"),
        16,
        "vm \"second\": only a netvm may have a [vm.p2p] table, not a VM of kind \"app\"",
    );
    assert_problem(&with_p2p("chainvm", "bootstrap = []\n"), 16, "not a VM of kind \"chainvm\"");
}

#[test]
fn listen_ports_are_tcp_ports() {
    for port in ["0", "65536", "-1"] {
        let text = with_p2p("netvm", &format!("listen-port = {port}\n"));
        assert_problem(&text, 17, &format!("listen-port {port} is outside 1 to 65535"));
    }
    let system = checked(&with_p2p("netvm", "listen-port = 65535\n")).unwrap();
    assert_eq!(system.machines[1].p2p.as_ref().unwrap().listen_port, 65535);
    assert_problem(&with_p2p("netvm", "listen-port = \"4001\"\n"), 17, "invalid type: string");
    assert_problem(&with_p2p("netvm", "listen_port = 4001\n"), 17, "listen_port");
}

#[test]
fn bootstrap_entries_must_be_tcp_multiaddrs_with_a_peer_id() {
    let body = format!("bootstrap = [\n  \"{PEER}\",\n  \"/ip4/10.0.2/tcp/4002/p2p/Qm\",\n]\n");
    let text = with_p2p("netvm", &body);
    assert_problem(
        &text,
        19,
        "bootstrap address \"/ip4/10.0.2/tcp/4002/p2p/Qm\" is not /ip4/A.B.C.D/tcp/PORT/p2p/PEERID or /dns4/NAME/tcp/PORT/p2p/PEERID: the ip4 address is not four numbers from 0 to 255",
    );
    assert_eq!(checked(&text).unwrap_err()[0].position.column, 3);
    for (address, reason) in [
        ("/ip4/10.0.2.2/udp/4002/p2p/Qm", "not followed by /tcp/"),
        ("/ip4/10.0.2.2/tcp/70000/p2p/Qm", "the TCP port is not a number from 1 to 65535"),
        ("/ip4/10.0.2.2/tcp/4002/p2p/", "the peer id is empty or not base58"),
        ("/ip4/10.0.2.2/tcp/4002/p2p/Qm0", "the peer id is empty or not base58"),
        ("/dns4/peer_one/tcp/4002/p2p/Qm", "the dns4 name"),
        ("/ip6/::1/tcp/4002/p2p/Qm", "does not start with /ip4/ or /dns4/"),
        ("/ip4/10.0.2.2/tcp/4002", "exactly the six components"),
    ] {
        let text = with_p2p("netvm", &format!("bootstrap = [\"{address}\"]\n"));
        assert_problem(&text, 17, reason);
    }
}
