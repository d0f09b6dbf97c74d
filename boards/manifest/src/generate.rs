//! Rust source for a checked system: a `System` constant of `boards::system`.

use crate::board::Region;
use crate::model::{CheckedSystem, RestartPolicy};

/// The source of a constant `constant_name` of type `System` describing
/// `system`. The source names `System`, `VirtualMachine`,
/// `VirtualMachineKind`, `RestartPolicy`, `Device`, `Channel`, `ChannelEnd`,
/// `Direction`, `LinuxDevice`, `P2pSettings` and `Region` unqualified: the module that
/// includes it brings them into scope.
pub fn generate(system: &CheckedSystem, constant_name: &str) -> String {
    let mut source = String::new();
    let mut line = |text: &str| {
        source.push_str(text);
        source.push('\n');
    };
    line(&format!("/// The system called `{}`, from `{}`.", system.name, system.source));
    if let Some(description) = &system.description {
        line("///");
        for text in description.lines() {
            line(format!("/// {text}").trim_end());
        }
    }
    line(&format!("pub const {constant_name}: System = System {{"));
    line(&format!("    name: {:?},", system.name));
    line("    machines: &[");
    for machine in &system.machines {
        line("        VirtualMachine {");
        line(&format!("            name: {:?},", machine.name));
        line(&format!("            kind: VirtualMachineKind::{},", machine.kind.variant()));
        line(&format!("            image: {:?},", machine.image));
        line(&format!("            cpus: &{},", list(machine.cpus.iter())));
        line(&format!("            memory: {},", region(machine.memory)));
        line(&format!("            guest_memory_base: {},", hex(machine.guest_memory_base)));
        line(&format!("            primary: {},", machine.primary));
        let restart = match machine.restart {
            RestartPolicy::Stop => "RestartPolicy::Stop".to_owned(),
            RestartPolicy::Restart { limit: u32::MAX } => {
                "RestartPolicy::Restart { limit: u32::MAX }".to_owned()
            }
            RestartPolicy::Restart { limit } => {
                format!("RestartPolicy::Restart {{ limit: {limit} }}")
            }
        };
        line(&format!("            restart: {restart},"));
        if machine.devices.is_empty() {
            line("            devices: &[],");
        } else {
            line("            devices: &[");
            for device in &machine.devices {
                line("                Device {");
                line(&format!("                    name: {:?},", device.name));
                line(&format!("                    mmio: {},", region(device.mmio)));
                line(&format!(
                    "                    interrupts: &{},",
                    list(device.interrupts.iter())
                ));
                line("                },");
            }
            line("            ],");
        }
        if machine.channels.is_empty() {
            line("            channels: &[],");
        } else {
            line("            channels: &[");
            for end in &machine.channels {
                line(&format!(
                    "                ChannelEnd {{ channel: {}, end: {}, guest_address: {} }},",
                    end.channel,
                    end.end,
                    hex(end.guest_address)
                ));
            }
            line("            ],");
        }
        match &machine.p2p {
            None => line("            p2p: None,"),
            Some(p2p) => {
                line("            p2p: Some(P2pSettings {");
                line(&format!("                listen_port: {},", p2p.listen_port));
                let bootstrap: Vec<String> =
                    p2p.bootstrap.iter().map(|address| format!("{address:?}")).collect();
                line(&format!("                bootstrap: &[{}],", bootstrap.join(", ")));
                line("            }),");
            }
        }
        line("        },");
    }
    line("    ],");
    if system.channels.is_empty() {
        line("    channels: &[],");
    } else {
        line("    channels: &[");
        for channel in &system.channels {
            line("        Channel {");
            line(&format!("            name: {:?},", channel.name));
            line(&format!("            ends: [{}, {}],", channel.ends[0], channel.ends[1]));
            line(&format!("            direction: Direction::{},", channel.direction.variant()));
            line(&format!("            ring_size: {},", hex(channel.ring_size)));
            line(&format!(
                "            linux_device: LinuxDevice::{},",
                channel.linux_device.variant()
            ));
            line(&format!("            memory: {},", region(channel.memory)));
            line("        },");
        }
        line("    ],");
    }
    line("};");
    source
}

/// A `Region` literal.
fn region(region: Region) -> String {
    format!("Region {{ base: {}, size: {} }}", hex(region.base), hex(region.size))
}

/// An array literal of decimal numbers.
fn list<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|item| item.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// A hexadecimal literal with its digits in groups of four: `0x4000_0000`.
pub fn hex(value: u64) -> String {
    let digits = format!("{value:x}");
    let mut grouped = String::from("0x");
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 4 == 0 {
            grouped.push('_');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Channel, ChannelEnd, Device, Direction, LinuxDevice, Machine, MachineKind, P2pSettings,
    };

    /// A small system: a VM with a device and a restart limit, a VM with
    /// the defaults, and a one-way channel between them.
    fn small_system() -> CheckedSystem {
        let machine = |name: &str, kind, base| Machine {
            name: name.into(),
            kind,
            image: kind.default_image().into(),
            cpus: vec![1],
            memory: Region { base, size: 0x20_0000 },
            guest_memory_base: 0x4000_0000,
            primary: false,
            restart: RestartPolicy::Stop,
            devices: Vec::new(),
            channels: Vec::new(),
            p2p: None,
        };
        let mut network = machine("network", MachineKind::NetVm, 0x5000_0000);
        network.primary = true;
        network.restart = RestartPolicy::Restart { limit: 3 };
        network.devices.push(Device {
            name: "nic".into(),
            mmio: Region { base: 0x0a00_3000, size: 0x1000 },
            interrupts: vec![72, 73],
        });
        network.channels.push(ChannelEnd { channel: 0, end: 0, guest_address: 0x2000_0000 });
        network.p2p = Some(P2pSettings {
            listen_port: 4101,
            bootstrap: vec![
                "/ip4/10.0.2.2/tcp/4002/p2p/12D3KooWA".into(),
                "/dns4/peer.example/tcp/4003/p2p/QmB".into(),
            ],
        });
        let mut guest = machine("guest", MachineKind::Test, 0x5020_0000);
        guest.channels.push(ChannelEnd { channel: 0, end: 1, guest_address: 0x2000_0000 });
        CheckedSystem {
            name: "small".into(),
            description: Some("Two VMs.\nOne channel.".into()),
            source: "boards/sample/small.toml".into(),
            machines: vec![network, guest],
            channels: vec![Channel {
                name: "uplink".into(),
                ends: [0, 1],
                direction: Direction::FirstToSecond,
                ring_size: 0x1000,
                linux_device: LinuxDevice::Vsock,
                memory: Region { base: 0x7fff_c000, size: 0x4000 },
            }],
        }
    }

    #[test]
    fn generated_source_holds_every_item() {
        let source = generate(&small_system(), "SMALL");
        let expected = [
            "/// The system called `small`, from `boards/sample/small.toml`.\n///\n/// Two VMs.\n/// One channel.\n",
            "pub const SMALL: System = System {\n    name: \"small\",\n    machines: &[\n",
            "            name: \"network\",\n            kind: VirtualMachineKind::NetVm,\n            image: \"netvm\",\n            cpus: &[1],\n",
            "            memory: Region { base: 0x5000_0000, size: 0x20_0000 },\n            guest_memory_base: 0x4000_0000,\n            primary: true,\n",
            "            restart: RestartPolicy::Restart { limit: 3 },\n",
            "                Device {\n                    name: \"nic\",\n                    mmio: Region { base: 0xa00_3000, size: 0x1000 },\n                    interrupts: &[72, 73],\n                },\n",
            "                ChannelEnd { channel: 0, end: 0, guest_address: 0x2000_0000 },\n            ],\n            p2p: Some(P2pSettings {\n                listen_port: 4101,\n                bootstrap: &[\"/ip4/10.0.2.2/tcp/4002/p2p/12D3KooWA\", \"/dns4/peer.example/tcp/4003/p2p/QmB\"],\n            }),\n        },\n",
            "            kind: VirtualMachineKind::Test,\n            image: \"test-guest\",\n",
            "            restart: RestartPolicy::Stop,\n            devices: &[],\n",
            "                ChannelEnd { channel: 0, end: 1, guest_address: 0x2000_0000 },\n            ],\n            p2p: None,\n        },\n",
            "        Channel {\n            name: \"uplink\",\n            ends: [0, 1],\n            direction: Direction::FirstToSecond,\n            ring_size: 0x1000,\n            linux_device: LinuxDevice::Vsock,\n            memory: Region { base: 0x7fff_c000, size: 0x4000 },\n        },\n",
        ];
        for item in expected {
            assert!(source.contains(item), "missing:\n{item}\nin:\n{source}");
        }
        assert!(source.trim_end().ends_with("    ],\n};"), "{source}");
        let opened = source.matches(['{', '[']).count();
        let closed = source.matches(['}', ']']).count();
        assert_eq!(opened, closed);
    }

    #[test]
    fn a_restart_without_limit_and_no_channels_are_written_plainly() {
        let mut system = small_system();
        system.channels.clear();
        system.description = None;
        for machine in &mut system.machines {
            machine.channels.clear();
            machine.p2p = None;
            machine.restart = RestartPolicy::Restart { limit: u32::MAX };
        }
        let source = generate(&system, "SMALL");
        assert!(source.starts_with(
            "/// The system called `small`, from `boards/sample/small.toml`.\npub const SMALL"
        ));
        assert!(source.contains("RestartPolicy::Restart { limit: u32::MAX }"));
        assert!(source.contains("            channels: &[],\n            p2p: None,\n        },\n"));
        assert!(source.contains("    channels: &[],\n};"));
    }

    #[test]
    fn hexadecimal_literals_group_four_digits() {
        assert_eq!(hex(0), "0x0");
        assert_eq!(hex(0x1000), "0x1000");
        assert_eq!(hex(0x20_0000), "0x20_0000");
        assert_eq!(hex(0x8000_0000), "0x8000_0000");
        assert_eq!(hex(0x1_0000_0000), "0x1_0000_0000");
    }
}
