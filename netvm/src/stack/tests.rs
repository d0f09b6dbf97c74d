//! The stack against a simulated link: a device whose frames go to a fake
//! gateway that answers ARP, DHCP and ICMP echo the way QEMU's user-mode
//! network does.

use super::*;
use crate::ping::{ATTEMPTS, ECHO_DATA};
use crate::testing::Wire;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetFrame,
    EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Cidr,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};

const NETVM_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const NETVM_ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const SEED: u64 = 0x1234_5678_9abc_def0;

/// What the fake gateway answers.
#[derive(Clone, Copy)]
struct Gateway {
    dhcp: bool,
    ping: bool,
}

/// What one frame from the stack turned out to be.
#[derive(Debug, PartialEq)]
enum Seen {
    Arp,
    Dhcp(DhcpMessageType),
    EchoRequest { to: Ipv4Address },
    EchoReply { to: Ipv4Address, ident: u16, sequence: u16, data: Vec<u8> },
    Other,
}

fn ethernet_frame(
    destination: EthernetAddress,
    ethertype: EthernetProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let repr = EthernetRepr { src_addr: GATEWAY_MAC, dst_addr: destination, ethertype };
    let mut frame = vec![0; repr.buffer_len() + payload.len()];
    let mut packet = EthernetFrame::new_unchecked(&mut frame);
    repr.emit(&mut packet);
    packet.payload_mut().copy_from_slice(payload);
    frame
}

fn ipv4_frame(
    destination_mac: EthernetAddress,
    destination: Ipv4Address,
    protocol: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: GATEWAY,
        dst_addr: destination,
        next_header: protocol,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut packet = vec![0; repr.buffer_len() + payload.len()];
    let mut ipv4 = Ipv4Packet::new_unchecked(&mut packet);
    repr.emit(&mut ipv4, &ChecksumCapabilities::default());
    ipv4.payload_mut().copy_from_slice(payload);
    ethernet_frame(destination_mac, EthernetProtocol::Ipv4, &packet)
}

fn icmp_bytes(repr: Icmpv4Repr) -> Vec<u8> {
    let mut bytes = vec![0; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes), &ChecksumCapabilities::default());
    bytes
}

impl Gateway {
    /// Reads a frame from the stack; returns what it was and the gateway's
    /// answers.
    fn answer(&self, frame: &[u8]) -> (Seen, Vec<Vec<u8>>) {
        let ethernet = EthernetFrame::new_checked(frame).unwrap();
        match ethernet.ethertype() {
            EthernetProtocol::Arp => (Seen::Arp, self.answer_arp(ethernet.payload())),
            EthernetProtocol::Ipv4 => self.answer_ipv4(ethernet.src_addr(), ethernet.payload()),
            _ => (Seen::Other, vec![]),
        }
    }

    fn answer_arp(&self, payload: &[u8]) -> Vec<Vec<u8>> {
        let ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = ArpRepr::parse(&ArpPacket::new_checked(payload).unwrap()).unwrap()
        else {
            return vec![];
        };
        if target_protocol_addr != GATEWAY {
            return vec![];
        }
        let reply = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: GATEWAY_MAC,
            source_protocol_addr: GATEWAY,
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        };
        let mut bytes = vec![0; reply.buffer_len()];
        reply.emit(&mut ArpPacket::new_unchecked(&mut bytes));
        vec![ethernet_frame(source_hardware_addr, EthernetProtocol::Arp, &bytes)]
    }

    fn answer_ipv4(&self, source_mac: EthernetAddress, payload: &[u8]) -> (Seen, Vec<Vec<u8>>) {
        let packet = Ipv4Packet::new_checked(payload).unwrap();
        let checksums = ChecksumCapabilities::default();
        let ip = Ipv4Repr::parse(&packet, &checksums).expect("a valid IPv4 header");
        match ip.next_header {
            IpProtocol::Icmp => {
                let icmp = Icmpv4Packet::new_checked(packet.payload()).unwrap();
                match Icmpv4Repr::parse(&icmp, &checksums).expect("a valid ICMP message") {
                    Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
                        let seen = Seen::EchoRequest { to: ip.dst_addr };
                        if !self.ping || ip.dst_addr != GATEWAY {
                            return (seen, vec![]);
                        }
                        let reply = icmp_bytes(Icmpv4Repr::EchoReply { ident, seq_no, data });
                        (seen, vec![ipv4_frame(source_mac, ip.src_addr, IpProtocol::Icmp, &reply)])
                    }
                    Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                        let seen = Seen::EchoReply {
                            to: ip.dst_addr,
                            ident,
                            sequence: seq_no,
                            data: data.to_vec(),
                        };
                        (seen, vec![])
                    }
                    _ => (Seen::Other, vec![]),
                }
            }
            IpProtocol::Udp => self.answer_dhcp(&ip, packet.payload()),
            _ => (Seen::Other, vec![]),
        }
    }

    fn answer_dhcp(&self, ip: &Ipv4Repr, payload: &[u8]) -> (Seen, Vec<Vec<u8>>) {
        let udp = UdpPacket::new_checked(payload).unwrap();
        if udp.dst_port() != DHCP_SERVER_PORT {
            return (Seen::Other, vec![]);
        }
        let packet = DhcpPacket::new_checked(udp.payload()).unwrap();
        let request = DhcpRepr::parse(&packet).unwrap();
        let seen = Seen::Dhcp(request.message_type);
        let message_type = match request.message_type {
            DhcpMessageType::Discover => DhcpMessageType::Offer,
            DhcpMessageType::Request => DhcpMessageType::Ack,
            _ => return (seen, vec![]),
        };
        if !self.dhcp {
            return (seen, vec![]);
        }
        assert_eq!(ip.dst_addr, Ipv4Address::BROADCAST, "the client has no server yet");
        let reply = DhcpRepr {
            message_type,
            transaction_id: request.transaction_id,
            secs: 0,
            client_hardware_address: request.client_hardware_address,
            client_ip: Ipv4Address::UNSPECIFIED,
            your_ip: NETVM_ADDRESS,
            server_ip: GATEWAY,
            router: Some(GATEWAY),
            subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(GATEWAY),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: Some(86_400),
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        let mut dhcp = vec![0; reply.buffer_len()];
        reply.emit(&mut DhcpPacket::new_unchecked(&mut dhcp)).unwrap();
        let mut datagram = vec![0; 8 + dhcp.len()];
        UdpRepr { src_port: DHCP_SERVER_PORT, dst_port: DHCP_CLIENT_PORT }.emit(
            &mut UdpPacket::new_unchecked(&mut datagram),
            &IpAddress::Ipv4(GATEWAY),
            &IpAddress::Ipv4(Ipv4Address::BROADCAST),
            dhcp.len(),
            |payload| payload.copy_from_slice(&dhcp),
            &ChecksumCapabilities::default(),
        );
        let frame = ipv4_frame(
            EthernetAddress::BROADCAST,
            Ipv4Address::BROADCAST,
            IpProtocol::Udp,
            &datagram,
        );
        (seen, vec![frame])
    }
}

/// Runs the stack against `gateway` from `start` to `end` milliseconds in
/// steps of 50, returning its events and what it sent.
fn run(
    network: &mut Network<Wire>,
    gateway: Gateway,
    start: i64,
    end: i64,
) -> (Vec<Event>, Vec<Seen>) {
    let mut events = Vec::new();
    let mut seen = Vec::new();
    let mut now = start;
    while now <= end {
        network.poll(Instant::from_millis(now), |event| events.push(event));
        let frames: Vec<Vec<u8>> = network.device_mut().sent.drain(..).collect();
        for frame in frames {
            let (what, answers) = gateway.answer(&frame);
            seen.push(what);
            network.device_mut().received.extend(answers);
        }
        now += 50;
    }
    (events, seen)
}

fn static_network() -> Network<Wire> {
    let addressing =
        Addressing::Static { address: Ipv4Cidr::new(NETVM_ADDRESS, 24), gateway: Some(GATEWAY) };
    Network::new(Wire::default(), NETVM_MAC, addressing, SEED, Instant::ZERO).unwrap()
}

#[test]
fn dhcp_gives_the_address_and_then_the_gateway_is_pinged() {
    let mut network =
        Network::new(Wire::default(), NETVM_MAC, Addressing::Dhcp, SEED, Instant::ZERO).unwrap();
    assert_eq!(network.lease(), None);
    let gateway = Gateway { dhcp: true, ping: true };
    let (events, seen) = run(&mut network, gateway, 0, 3000);
    let lease = Lease { address: Ipv4Cidr::new(NETVM_ADDRESS, 24), gateway: Some(GATEWAY) };
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], Event::Configured(lease));
    assert!(
        matches!(events[1], Event::Gateway(Outcome::Answered { gateway: GATEWAY, .. })),
        "{events:?}"
    );
    assert_eq!(network.lease(), Some(lease));
    assert_eq!(seen[0], Seen::Dhcp(DhcpMessageType::Discover));
    assert!(seen.contains(&Seen::Dhcp(DhcpMessageType::Request)));
    assert_eq!(seen.iter().filter(|seen| matches!(seen, Seen::EchoRequest { .. })).count(), 1);
}

#[test]
fn a_static_address_needs_no_server() {
    let mut network = static_network();
    let (events, seen) = run(&mut network, Gateway { dhcp: false, ping: true }, 0, 2000);
    assert_eq!(
        events[0],
        Event::Configured(Lease {
            address: Ipv4Cidr::new(NETVM_ADDRESS, 24),
            gateway: Some(GATEWAY)
        })
    );
    assert!(matches!(events[1], Event::Gateway(Outcome::Answered { .. })), "{events:?}");
    assert!(!seen.iter().any(|seen| matches!(seen, Seen::Dhcp(_))), "no DHCP: {seen:?}");
    assert_eq!(seen.first(), Some(&Seen::Arp), "the gateway's MAC address is looked up first");
}

#[test]
fn a_gateway_that_never_answers_is_reported_silent() {
    let mut network = static_network();
    let (events, seen) = run(&mut network, Gateway { dhcp: false, ping: false }, 0, 8000);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1], Event::Gateway(Outcome::Silent { gateway: GATEWAY }));
    let requests = seen.iter().filter(|seen| matches!(seen, Seen::EchoRequest { .. })).count();
    assert_eq!(requests, usize::from(ATTEMPTS));
}

#[test]
fn echo_requests_to_netvm_are_answered() {
    let mut network = static_network();
    let gateway = Gateway { dhcp: false, ping: true };
    run(&mut network, gateway, 0, 500);
    let request = icmp_bytes(Icmpv4Repr::EchoRequest { ident: 7, seq_no: 3, data: b"hello" });
    let frame = ipv4_frame(EthernetAddress(NETVM_MAC), NETVM_ADDRESS, IpProtocol::Icmp, &request);
    network.device_mut().received.push_back(frame);
    let (_, seen) = run(&mut network, gateway, 550, 1000);
    assert!(
        seen.contains(&Seen::EchoReply {
            to: GATEWAY,
            ident: 7,
            sequence: 3,
            data: b"hello".to_vec()
        }),
        "{seen:?}"
    );
    // The gateway check's own requests carry its payload, not this one.
    assert_ne!(ECHO_DATA, b"hello");
}

#[test]
fn a_broadcast_mac_address_is_refused() {
    let result = Network::new(Wire::default(), [0xff; 6], Addressing::Dhcp, SEED, Instant::ZERO);
    assert_eq!(result.err(), Some(StackError::NotUnicast([0xff; 6])));
    assert_eq!(
        StackError::NotUnicast([0xff; 6]).to_string(),
        "MAC address ff-ff-ff-ff-ff-ff is not unicast"
    );
}
