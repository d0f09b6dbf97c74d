//! The real manifests of QEMU virt pass the checks and place memory as
//! `docs/manifest.md` describes.

use std::path::Path;

use system_manifest::{
    channel_region_size, check_file, CheckedSystem, Direction, LinuxDevice, MachineKind,
    P2pSettings, Region, RestartPolicy,
};

#[allow(dead_code, reason = "the checks read only some of the board's constants")]
#[path = "../../src/qemu_virt/memory_map.rs"]
mod memory_map;

#[path = "../../src/qemu_virt/board_description.rs"]
mod board_description;

use board_description::BOARD;

/// The checked system of `boards/qemu-virt/<name>.toml`.
fn load(name: &str) -> CheckedSystem {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu-virt").join(format!("{name}.toml"));
    match check_file(&path, &BOARD) {
        Ok(system) => system,
        Err(error) => panic!("{error}"),
    }
}

/// The free RAM of the board after its reserved regions: everything from
/// the end of the staging region.
const FIRST_FREE: u64 = memory_map::STAGING.base + memory_map::STAGING.size;

#[test]
fn default_system_places_linux_where_asked_and_the_others_first_fit() {
    let system = load("system");
    assert_eq!(system.name, "system");
    let names: Vec<_> = system.machines.iter().map(|machine| machine.name.as_str()).collect();
    assert_eq!(names, ["linux", "netvm", "chainvm", "app-1", "app-2", "app-3"]);

    let linux = system.machine("linux").unwrap();
    assert_eq!(linux.kind, MachineKind::Linux);
    assert_eq!(linux.cpus, [0, 1]);
    assert_eq!(linux.memory, Region { base: 0x8000_0000, size: 1 << 30 });
    assert!(linux.primary);
    assert_eq!(linux.restart, RestartPolicy::Stop);

    let netvm = system.machine("netvm").unwrap();
    assert_eq!(netvm.memory, Region { base: FIRST_FREE, size: 32 << 20 });
    assert_eq!(netvm.restart, RestartPolicy::Restart { limit: u32::MAX });
    assert_eq!(netvm.devices[0].name, "nic");
    assert_eq!(netvm.devices[0].mmio, Region { base: 0x0a00_3000, size: 0x1000 });
    assert_eq!(netvm.devices[0].interrupts, (72..=79).collect::<Vec<_>>());
    assert_eq!(netvm.p2p, Some(P2pSettings { listen_port: 4001, bootstrap: Vec::new() }));

    let chainvm = system.machine("chainvm").unwrap();
    assert_eq!(chainvm.image, "chainvm");
    assert_eq!(chainvm.memory, Region { base: FIRST_FREE + (32 << 20), size: 32 << 20 });
    let names: Vec<_> = chainvm.devices.iter().map(|device| device.name.as_str()).collect();
    assert_eq!(names, ["storage", "clock"]);
    assert_eq!(chainvm.devices[0].mmio, Region { base: 0x0a00_2000, size: 0x1000 });
    assert_eq!(chainvm.devices[0].interrupts, (64..=71).collect::<Vec<_>>());
    for (slot, name) in ["app-1", "app-2", "app-3"].iter().enumerate() {
        let app = system.machine(name).unwrap();
        let base = FIRST_FREE + (64 << 20) + slot as u64 * (64 << 20);
        assert_eq!(app.memory, Region { base, size: 64 << 20 }, "{name}");
        assert_eq!(app.cpus, [3], "{name}");
    }
    for machine in &system.machines {
        assert_eq!(machine.guest_memory_base, 0x4000_0000);
        assert_eq!(machine.p2p.is_some(), machine.kind == MachineKind::NetVm, "{}", machine.name);
    }
}

#[test]
fn default_system_channels_sit_at_the_top_of_free_ram() {
    let system = load("system");
    let names: Vec<_> = system.channels.iter().map(|channel| channel.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "linux-net",
            "app-1-netvm",
            "app-1-chainvm",
            "app-2-netvm",
            "app-2-chainvm",
            "app-3-netvm",
            "app-3-chainvm",
            "netvm-chainvm",
            "linux-control"
        ]
    );
    // Linux ends free RAM's lower block at 0x8000_0000; channels fill it
    // downwards in manifest order.
    let mut top = 0x8000_0000;
    for channel in &system.channels {
        let wide = channel.name.starts_with("linux-")
            || channel.name.ends_with("-chainvm") && channel.name.starts_with("app-");
        let ring = if wide { 64 << 10 } else { 16 << 10 };
        let size = channel_region_size(Direction::Both, ring);
        assert_eq!(channel.direction, Direction::Both);
        assert_eq!(channel.ring_size, ring);
        assert_eq!(channel.memory, Region { base: top - size, size });
        top -= size;
    }
    assert_eq!(channel_region_size(Direction::Both, 16 << 10), 0xd000);
    assert_eq!(system.channel("linux-net").unwrap().ends, [0, 1]);
    assert_eq!(system.channel("app-1-netvm").unwrap().ends, [3, 1]);

    // An app VM's ends, in manifest order, each in its own 2 MiB slot.
    let app = system.machine("app-1").unwrap();
    let ends: Vec<_> = app.channels.iter().map(|end| (end.channel, end.end)).collect();
    assert_eq!(ends, [(1, 0), (2, 0)]);
    assert_eq!(app.channels[0].guest_address, 0x2000_0000);
    assert_eq!(app.channels[1].guest_address, 0x2020_0000);
    let netvm = system.machine("netvm").unwrap();
    let ends: Vec<_> = netvm.channels.iter().map(|end| (end.channel, end.end)).collect();
    assert_eq!(ends, [(0, 1), (1, 1), (3, 1), (5, 1), (7, 0)]);
    let linux = system.machine("linux").unwrap();
    let ends: Vec<_> = linux.channels.iter().map(|end| (end.channel, end.end)).collect();
    assert_eq!(ends, [(0, 0), (8, 0)]);
    // Linux sees its network as virtio-net and its control path as
    // virtio-vsock; channels without a Linux end keep the default.
    let devices: Vec<_> = system
        .channels
        .iter()
        .map(|channel| (channel.name.as_str(), channel.linux_device))
        .collect();
    assert_eq!(
        devices,
        [
            ("linux-net", LinuxDevice::Net),
            ("app-1-netvm", LinuxDevice::Net),
            ("app-1-chainvm", LinuxDevice::Net),
            ("app-2-netvm", LinuxDevice::Net),
            ("app-2-chainvm", LinuxDevice::Net),
            ("app-3-netvm", LinuxDevice::Net),
            ("app-3-chainvm", LinuxDevice::Net),
            ("netvm-chainvm", LinuxDevice::Net),
            ("linux-control", LinuxDevice::Vsock),
        ]
    );
    assert_eq!(system.channel("linux-control").unwrap().ends, [0, 2]);
}

#[test]
fn test_system_adds_the_test_guests_and_their_channels() {
    let system = load("test");
    let default = load("system");
    // The default system's VMs keep their place; only app-1 gains a
    // channel.
    for (test, default) in system.machines.iter().zip(&default.machines) {
        assert_eq!(
            (&test.name, test.kind, &test.cpus),
            (&default.name, default.kind, &default.cpus)
        );
        assert_eq!((test.memory, &test.devices), (default.memory, &default.devices));
        assert_eq!(test.p2p, default.p2p);
        assert_eq!(test.channels[..default.channels.len()], default.channels[..]);
    }
    let names: Vec<_> = system.machines.iter().map(|machine| machine.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "linux", "netvm", "chainvm", "app-1", "app-2", "app-3", "intruder", "alpha", "beta",
            "gamma"
        ]
    );
    let mut next = FIRST_FREE + (256 << 20);
    for (name, cpus, restart) in [
        ("intruder", [2], RestartPolicy::Restart { limit: u32::MAX }),
        ("alpha", [2], RestartPolicy::Stop),
        ("beta", [3], RestartPolicy::Stop),
        ("gamma", [2], RestartPolicy::Stop),
    ] {
        let machine = system.machine(name).unwrap();
        assert_eq!(machine.kind, MachineKind::Test, "{name}");
        assert_eq!(machine.image, "test-guest", "{name}");
        assert_eq!(machine.cpus, cpus, "{name}");
        assert_eq!(machine.restart, restart, "{name}");
        assert_eq!(machine.memory, Region { base: next, size: 16 << 20 }, "{name}");
        assert_eq!(machine.guest_memory_base, 0x4000_0000, "{name}");
        next += 16 << 20;
    }

    let intruder = system.channel("intruder-app").unwrap();
    assert_eq!(intruder.direction, Direction::FirstToSecond);
    assert_eq!(intruder.ring_size, 4 << 10);
    assert_eq!(intruder.memory.size, 0x4000);
    assert_eq!(intruder.ends, [6, 3]);
    for name in ["cross", "local"] {
        let channel = system.channel(name).unwrap();
        assert_eq!(channel.direction, Direction::Both);
        assert_eq!(channel.ring_size, 64 << 10);
    }
    let top = system.channels.iter().map(|channel| channel.memory.end()).max().unwrap();
    assert_eq!(top, 0x8000_0000);

    // app-1's third channel follows its first two in its window.
    let app = system.machine("app-1").unwrap();
    assert_eq!(app.channels.len(), 3);
    assert_eq!(app.channels[2].end, 1);
    assert_eq!(app.channels[2].guest_address, 0x2040_0000);
    // alpha's second channel is 64 KiB rings both ways: still one 2 MiB slot.
    let alpha = system.machine("alpha").unwrap();
    assert_eq!(alpha.channels[1].guest_address, 0x2020_0000);
}

#[test]
fn the_documented_example_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/manifest.md");
    let documentation = std::fs::read_to_string(path).unwrap();
    let start = documentation.find("```toml\n").expect("docs/manifest.md has a TOML example");
    let example = &documentation[start + "```toml\n".len()..];
    let example = &example[..example.find("```").expect("the example is closed")];
    let system = match system_manifest::check(Path::new("example.toml"), example, &BOARD) {
        Ok(system) => system,
        Err(diagnostics) => panic!("{diagnostics}"),
    };
    assert_eq!(system.name, "example");
    let app = system.machine("app").unwrap();
    assert_eq!(app.restart, RestartPolicy::Restart { limit: 5 });
    assert_eq!(app.memory.size, 16 << 20);
    assert_eq!(system.machine("linux").unwrap().image, "linux");
    assert_eq!(system.channel("app-netvm").unwrap().ends, [2, 1]);
    let p2p = system.machine("netvm").unwrap().p2p.clone().unwrap();
    assert_eq!(p2p.listen_port, 4001);
    assert_eq!(p2p.bootstrap.len(), 1);
}
