//! The bridge between a simulated NIC, a simulated `linux-net` channel and
//! netvm's stack: where frames go, what is learned, what is dropped, and
//! Linux pinging netvm through smoltcp.

use super::*;
use crate::config::Addressing;
use crate::policy::BURST;
use crate::stack::Network;
use crate::testing::{
    arp_request, echo_request, raw_frame, udp_to_linux, Wire, BROADCAST, GATEWAY_ADDRESS,
    GATEWAY_MAC, LINUX_ADDRESS, LINUX_MAC, NETVM_ADDRESS, NETVM_MAC,
};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, Icmpv4Packet, Icmpv4Repr,
    Ipv4Cidr, Ipv4Packet,
};
use std::collections::VecDeque;

const NOW: Instant = Instant::from_millis_const(1_000);
/// Another machine on the wire.
const STRANGER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99];
/// An IPv6 multicast group address (all nodes).
const MULTICAST: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];

/// The `linux-net` channel and, behind it, the hypervisor and Linux: frames
/// Linux sent, the ring towards Linux, and what Linux got.
struct Linux {
    sent: VecDeque<Vec<u8>>,
    ring: Vec<Vec<u8>>,
    /// Frames the ring towards Linux holds.
    capacity: usize,
    /// Frames Linux has receive buffers for: the hypervisor moves that many
    /// from the ring at each doorbell.
    buffers: usize,
    got: Vec<Vec<u8>>,
    notifies: usize,
    up: bool,
}

impl Default for Linux {
    fn default() -> Self {
        Self {
            sent: VecDeque::new(),
            ring: Vec::new(),
            capacity: 1000,
            buffers: usize::MAX,
            got: Vec::new(),
            notifies: 0,
            up: true,
        }
    }
}

impl LinuxPort for Linux {
    fn send(&mut self, frame: &[u8]) -> Result<(), PortError> {
        if !self.up {
            return Err(PortError::Unavailable);
        }
        if self.ring.len() == self.capacity {
            return Err(PortError::Full);
        }
        self.ring.push(frame.to_vec());
        Ok(())
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, PortError> {
        if !self.up {
            return Err(PortError::Unavailable);
        }
        let Some(frame) = self.sent.pop_front() else { return Ok(None) };
        buffer[..frame.len()].copy_from_slice(&frame);
        Ok(Some(frame.len()))
    }

    fn notify(&mut self) {
        self.notifies += 1;
        let moved = self.buffers.min(self.ring.len());
        self.got.extend(self.ring.drain(..moved));
        self.buffers -= moved;
    }
}

/// Everything around one bridge.
struct Setup {
    bridge: Bridge,
    wire: Wire,
    linux: Linux,
    local: LocalPort,
}

impl Setup {
    fn new() -> Self {
        Self {
            bridge: Bridge::new(NETVM_MAC),
            wire: Wire::default(),
            linux: Linux::default(),
            local: LocalPort::new(),
        }
    }

    /// One pass; returns whether frames were left waiting.
    fn pump(&mut self) -> bool {
        self.bridge.pump(NOW, &mut self.wire, Some(&mut self.linux), &mut self.local)
    }

    /// Frames queued for netvm's stack, taken.
    fn local_got(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Some(frame) = self.local.inbound.front() {
            frames.push(frame.to_vec());
            self.local.inbound.pop();
        }
        frames
    }

    /// Linux sends a frame, which teaches the bridge its MAC address.
    fn introduce_linux(&mut self) {
        self.linux.sent.push_back(raw_frame(LINUX_MAC, GATEWAY_MAC, 60, 0));
        self.pump();
        self.wire.sent.clear();
        assert_eq!(self.bridge.linux_mac(), Some(LINUX_MAC));
    }
}

#[test]
fn the_switch_follows_its_table() {
    let mut switch = Switch::new(NETVM_MAC);
    let route = |switch: &mut Switch, from, destination, source| {
        switch.route(from, &raw_frame(source, destination, 60, 0))
    };
    let to = |wire, linux, local| Ok(Destinations { wire, linux, local });
    // Before Linux is known, unicast that is not netvm's is flooded to it.
    assert_eq!(route(&mut switch, Port::Wire, LINUX_MAC, GATEWAY_MAC), to(false, true, false));
    assert_eq!(route(&mut switch, Port::Wire, STRANGER_MAC, GATEWAY_MAC), to(false, true, false));
    assert_eq!(route(&mut switch, Port::Wire, NETVM_MAC, GATEWAY_MAC), to(false, false, true));
    assert_eq!(route(&mut switch, Port::Wire, BROADCAST, GATEWAY_MAC), to(false, true, true));
    assert_eq!(route(&mut switch, Port::Linux, GATEWAY_MAC, LINUX_MAC), to(true, false, false));
    assert_eq!(switch.linux_mac(), Some(LINUX_MAC));
    // From Linux.
    assert_eq!(route(&mut switch, Port::Linux, NETVM_MAC, LINUX_MAC), to(false, false, true));
    assert_eq!(route(&mut switch, Port::Linux, BROADCAST, LINUX_MAC), to(true, false, true));
    assert_eq!(route(&mut switch, Port::Linux, MULTICAST, LINUX_MAC), to(true, false, true));
    assert_eq!(route(&mut switch, Port::Linux, LINUX_MAC, LINUX_MAC), to(true, false, false));
    // From the wire.
    assert_eq!(route(&mut switch, Port::Wire, LINUX_MAC, GATEWAY_MAC), to(false, true, false));
    assert_eq!(route(&mut switch, Port::Wire, NETVM_MAC, GATEWAY_MAC), to(false, false, true));
    assert_eq!(route(&mut switch, Port::Wire, MULTICAST, GATEWAY_MAC), to(false, true, true));
    assert_eq!(route(&mut switch, Port::Wire, STRANGER_MAC, GATEWAY_MAC), Err(Refusal::NotOurs));
    // From netvm's stack.
    assert_eq!(route(&mut switch, Port::Local, LINUX_MAC, NETVM_MAC), to(false, true, false));
    assert_eq!(route(&mut switch, Port::Local, GATEWAY_MAC, NETVM_MAC), to(true, false, false));
    assert_eq!(route(&mut switch, Port::Local, BROADCAST, NETVM_MAC), to(true, true, false));
    // Forgetting Linux: flooding again until it speaks.
    switch.forget_linux();
    assert_eq!(route(&mut switch, Port::Wire, LINUX_MAC, GATEWAY_MAC), to(false, true, false));
    assert_eq!(route(&mut switch, Port::Linux, GATEWAY_MAC, LINUX_MAC), to(true, false, false));
    assert_eq!(route(&mut switch, Port::Wire, STRANGER_MAC, GATEWAY_MAC), Err(Refusal::NotOurs));
}

#[test]
fn the_switch_refuses_malformed_and_spoofed_frames() {
    let mut switch = Switch::new(NETVM_MAC);
    for port in [Port::Wire, Port::Linux, Port::Local] {
        assert_eq!(switch.route(port, &[0xff; MINIMUM_FRAME - 1]), Err(Refusal::Malformed));
        let long = raw_frame(GATEWAY_MAC, BROADCAST, MAXIMUM_FRAME + 1, 0);
        assert_eq!(switch.route(port, &long), Err(Refusal::Malformed));
    }
    let long = raw_frame(LINUX_MAC, GATEWAY_MAC, MAXIMUM_FRAME, 0);
    assert!(switch.route(Port::Linux, &long).is_ok());
    // Linux may not speak as netvm, nor from a group address.
    let as_netvm = raw_frame(NETVM_MAC, GATEWAY_MAC, 60, 0);
    assert_eq!(switch.route(Port::Linux, &as_netvm), Err(Refusal::Spoofed));
    let as_group = raw_frame(BROADCAST, GATEWAY_MAC, 60, 0);
    assert_eq!(switch.route(Port::Linux, &as_group), Err(Refusal::Spoofed));
    assert_eq!(switch.linux_mac(), Some(LINUX_MAC), "a refused frame teaches nothing");
}

#[test]
fn linux_frames_go_out_on_the_wire_and_teach_its_mac() {
    let mut setup = Setup::new();
    let discover = raw_frame(LINUX_MAC, BROADCAST, 342, 1);
    let unicast = raw_frame(LINUX_MAC, GATEWAY_MAC, 1514, 2);
    setup.linux.sent.extend([discover.clone(), unicast.clone()]);
    assert!(!setup.pump());
    assert_eq!(setup.wire.sent, [discover.clone(), unicast]);
    assert_eq!(setup.local_got(), [discover], "netvm's stack hears broadcasts");
    assert_eq!(setup.bridge.linux_mac(), Some(LINUX_MAC));
    assert_eq!(setup.linux.notifies, 1, "Linux's side hears that frames left its ring");
    let counters = setup.bridge.counters();
    assert_eq!((counters.from_linux, counters.to_wire, counters.to_local), (2, 2, 1));
}

#[test]
fn wire_frames_reach_linux_netvm_or_both() {
    let mut setup = Setup::new();
    setup.introduce_linux();
    let for_linux = raw_frame(GATEWAY_MAC, LINUX_MAC, 1000, 1);
    let for_netvm = raw_frame(GATEWAY_MAC, NETVM_MAC, 1000, 2);
    let for_everyone = arp_request(GATEWAY_MAC, GATEWAY_ADDRESS, LINUX_ADDRESS);
    let for_someone_else = raw_frame(GATEWAY_MAC, STRANGER_MAC, 1000, 3);
    setup.wire.received.extend([
        for_linux.clone(),
        for_netvm.clone(),
        for_everyone.clone(),
        for_someone_else,
    ]);
    let notifies = setup.linux.notifies;
    assert!(!setup.pump());
    assert_eq!(setup.linux.got, [for_linux, for_everyone.clone()]);
    assert_eq!(setup.local_got(), [for_netvm, for_everyone]);
    assert!(setup.wire.sent.is_empty(), "nothing goes back out");
    assert_eq!(setup.linux.notifies, notifies + 1, "one doorbell for the batch");
    let counters = setup.bridge.counters();
    assert_eq!((counters.from_wire, counters.to_linux, counters.not_ours), (4, 2, 1));
}

#[test]
fn the_stack_talks_to_the_wire_and_to_linux() {
    let mut setup = Setup::new();
    setup.introduce_linux();
    let to_gateway = raw_frame(NETVM_MAC, GATEWAY_MAC, 100, 1);
    let to_linux = raw_frame(NETVM_MAC, LINUX_MAC, 100, 2);
    let to_everyone = arp_request(NETVM_MAC, NETVM_ADDRESS, LINUX_ADDRESS);
    for frame in [&to_gateway, &to_linux, &to_everyone] {
        assert!(setup.local.outbound.push(frame));
    }
    setup.pump();
    assert!(setup.local.outbound.is_empty());
    assert_eq!(setup.wire.sent, [to_gateway, to_everyone.clone()]);
    assert_eq!(setup.linux.got, [to_linux, to_everyone]);
    assert_eq!(setup.bridge.counters().from_local, 3);
}

#[test]
fn a_full_ring_drops_frames_without_holding_up_the_wire() {
    let mut setup = Setup::new();
    setup.introduce_linux();
    // Linux has receive buffers for 8 frames, and its ring holds 4.
    setup.linux.capacity = 4;
    setup.linux.buffers = 8;
    let frames: Vec<_> =
        (0..20).map(|index| raw_frame(GATEWAY_MAC, LINUX_MAC, 200, index)).collect();
    setup.wire.received.extend(frames.iter().cloned());
    assert!(!setup.pump());
    assert!(setup.wire.received.is_empty(), "the NIC was drained");
    // Ring full after 4: the doorbell moves them to Linux and 4 more go in;
    // full again, the doorbell moves those 4 as well; Linux has no more
    // buffers, so 4 more fill the ring and the rest are dropped.
    assert_eq!(setup.linux.got, frames[..8]);
    assert_eq!(setup.linux.ring, frames[8..12]);
    let counters = setup.bridge.counters();
    assert_eq!((counters.to_linux, counters.linux_full), (12, 8));
    assert_eq!(counters.dropped_for_linux(), 8);
    // Linux posts receive buffers, and the hypervisor moves the ring's
    // frames into them; the next frames go through.
    setup.linux.buffers = usize::MAX;
    let ring = std::mem::take(&mut setup.linux.ring);
    setup.linux.got.extend(ring);
    setup.wire.received.push_back(frames[0].clone());
    setup.pump();
    assert!(setup.linux.ring.is_empty());
    assert_eq!(setup.linux.got.len(), 13);
}

#[test]
fn frames_for_linux_are_dropped_while_its_channel_is_unusable() {
    let mut setup = Setup::new();
    setup.introduce_linux();
    setup.linux.up = false;
    let broadcast = arp_request(GATEWAY_MAC, GATEWAY_ADDRESS, NETVM_ADDRESS);
    setup.wire.received.extend([raw_frame(GATEWAY_MAC, LINUX_MAC, 60, 0), broadcast.clone()]);
    setup.pump();
    assert_eq!(setup.local_got(), std::slice::from_ref(&broadcast), "netvm still gets its frames");
    assert_eq!(setup.bridge.counters().linux_unavailable, 2);
    // No channel at all.
    setup.wire.received.push_back(broadcast.clone());
    setup.bridge.pump(NOW, &mut setup.wire, None::<&mut Linux>, &mut setup.local);
    assert_eq!(setup.local_got(), [broadcast]);
    assert_eq!(setup.bridge.counters().linux_unavailable, 3);
    // A channel that went down makes the bridge forget Linux.
    setup.bridge.linux_down();
    assert_eq!(setup.bridge.linux_mac(), None);
}

#[test]
fn a_busy_wire_is_counted_and_a_full_stack_queue_holds_the_wire_back() {
    let mut setup = Setup::new();
    setup.wire.busy = true;
    setup.linux.sent.push_back(raw_frame(LINUX_MAC, GATEWAY_MAC, 60, 0));
    setup.pump();
    assert_eq!(setup.bridge.counters().wire_busy, 1);
    for index in 0..crate::local::QUEUE_FRAMES + 3 {
        setup.wire.received.push_back(raw_frame(GATEWAY_MAC, NETVM_MAC, 60, index as u8));
    }
    setup.pump();
    let counters = setup.bridge.counters();
    // The frames the stack has no room for stay on the card, not lost.
    assert_eq!((counters.to_local, counters.local_full), (crate::local::QUEUE_FRAMES as u64, 0));
    assert_eq!(setup.wire.received.len(), 3);
    setup.local_got();
    setup.pump();
    assert_eq!(setup.bridge.counters().to_local, crate::local::QUEUE_FRAMES as u64 + 3);
    assert!(setup.wire.received.is_empty());
}

#[test]
fn a_flood_is_taken_in_batches() {
    let mut setup = Setup::new();
    for index in 0..BATCH + 10 {
        setup.linux.sent.push_back(raw_frame(LINUX_MAC, GATEWAY_MAC, 60, index as u8));
        setup.wire.received.push_back(raw_frame(GATEWAY_MAC, NETVM_MAC, 60, index as u8));
    }
    assert!(setup.pump(), "frames are left waiting");
    assert_eq!(setup.wire.sent.len(), BATCH);
    assert_eq!(setup.bridge.counters().from_wire, BATCH as u64);
    assert_eq!(setup.linux.sent.len(), 10);
    assert_eq!(setup.wire.received.len(), 10);
    setup.local_got();
    assert!(!setup.pump());
    assert_eq!(setup.wire.sent.len(), BATCH + 10);
}

#[test]
fn the_policy_guards_linux_and_not_netvm() {
    let mut setup = Setup::new();
    setup.introduce_linux();
    let flooder = smoltcp::wire::Ipv4Address::new(192, 0, 2, 66);
    let flood = udp_to_linux(flooder, 100);
    let extra = 20;
    let mut sent = 0;
    while sent < BURST as usize + extra {
        for _ in 0..BATCH {
            setup.wire.received.push_back(flood.clone());
            sent += 1;
        }
        setup.pump();
        setup.linux.got.clear();
    }
    let policy = setup.bridge.policy_counters();
    assert_eq!(policy.passed, BURST);
    assert_eq!(policy.rate_limited, sent as u64 - BURST);
    assert_eq!(setup.bridge.counters().to_linux, BURST);
    // netvm's own frames are not rate-limited.
    let ours = raw_frame(GATEWAY_MAC, NETVM_MAC, 60, 0);
    setup.local_got();
    setup.wire.received.push_back(ours.clone());
    setup.pump();
    assert_eq!(setup.local_got(), [ours]);
}

/// Parses an ARP reply for `address`; returns the MAC address it gives.
fn arp_reply_for(frame: &[u8], address: smoltcp::wire::Ipv4Address) -> Option<[u8; 6]> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    match ArpRepr::parse(&ArpPacket::new_checked(ethernet.payload()).ok()?).ok()? {
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr,
            source_protocol_addr,
            ..
        } if source_protocol_addr == address => Some(source_hardware_addr.0),
        _ => None,
    }
}

/// Parses an ICMP echo reply; returns its identifier and sequence number.
fn echo_reply(frame: &[u8]) -> Option<(u16, u16)> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    match Icmpv4Repr::parse(&icmp, &Default::default()).ok()? {
        Icmpv4Repr::EchoReply { ident, seq_no, .. } => Some((ident, seq_no)),
        _ => None,
    }
}

#[test]
fn linux_pings_netvm_through_the_stack() {
    let mut setup = Setup::new();
    let addressing =
        Addressing::Static { address: Ipv4Cidr::new(NETVM_ADDRESS, 24), gateway: None };
    let mut network = Network::new(LocalPort::new(), NETVM_MAC, addressing, 7, NOW).unwrap();
    let round = |setup: &mut Setup, network: &mut Network<LocalPort>| {
        setup.bridge.pump(NOW, &mut setup.wire, Some(&mut setup.linux), network.device_mut());
        network.poll(NOW, |_| {});
        setup.bridge.pump(NOW, &mut setup.wire, Some(&mut setup.linux), network.device_mut());
    };
    // Linux asks who has netvm's address; everyone hears, netvm answers
    // Linux alone.
    let question = arp_request(LINUX_MAC, LINUX_ADDRESS, NETVM_ADDRESS);
    setup.linux.sent.push_back(question.clone());
    round(&mut setup, &mut network);
    assert_eq!(setup.wire.sent, [question]);
    assert_eq!(setup.linux.got.len(), 1);
    assert_eq!(arp_reply_for(&setup.linux.got[0], NETVM_ADDRESS), Some(NETVM_MAC));
    // Linux pings netvm: the request and the answer never touch the wire.
    let addresses = (LINUX_ADDRESS, NETVM_ADDRESS);
    for sequence in 1..=3 {
        let request = echo_request((LINUX_MAC, NETVM_MAC), addresses, (0x4c, sequence), b"ping");
        setup.linux.sent.push_back(request);
        round(&mut setup, &mut network);
        let reply = setup.linux.got.last().unwrap();
        assert_eq!(echo_reply(reply), Some((0x4c, sequence)));
        assert_eq!(&reply[0..6], &LINUX_MAC);
    }
    assert_eq!(setup.linux.got.len(), 4);
    assert_eq!(setup.wire.sent.len(), 1);
}

#[test]
fn the_stacks_frames_wait_for_a_busy_card() {
    let mut setup = Setup::new();
    setup.wire.busy = true;
    for index in 0..3 {
        assert!(setup.local.outbound.push(&raw_frame(NETVM_MAC, GATEWAY_MAC, 60, index)));
    }
    assert!(setup.pump(), "the stack's frames wait");
    assert_eq!(setup.local.outbound.len(), 3);
    assert_eq!(setup.bridge.counters().wire_busy, 0);
    setup.wire.busy = false;
    assert!(!setup.pump());
    assert!(setup.local.outbound.is_empty());
    // In order, none lost.
    let sent: Vec<u8> = setup.wire.sent.iter().map(|frame| frame[14]).collect();
    assert_eq!(sent, [0, 1, 2]);
}
