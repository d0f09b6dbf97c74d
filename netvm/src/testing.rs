//! Frames for the host tests: Ethernet frames carrying IPv4 with TCP or
//! UDP headers, and ARP requests, built with smoltcp's wire types.

use smoltcp::phy::{ChecksumCapabilities, Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    TcpPacket,
};
use std::collections::VecDeque;

/// Bytes of an Ethernet header.
const ETHERNET_HEADER: usize = 14;
/// Bytes of an IPv4 header without options.
const IPV4_HEADER: usize = 20;
/// Bytes of a TCP header without options.
const TCP_HEADER: usize = 20;

/// Linux's MAC address, as the hypervisor gives it.
pub const LINUX_MAC: [u8; 6] = [0x02, 0x45, 0x4c, 0x53, 0x00, 0x00];
/// netvm's MAC address, as QEMU gives it.
pub const NETVM_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// QEMU's user-mode gateway's MAC address.
pub const GATEWAY_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];
/// The broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// Linux's address on QEMU's user-mode network.
pub const LINUX_ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 16);
/// netvm's address on QEMU's user-mode network.
pub const NETVM_ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The gateway's address.
pub const GATEWAY_ADDRESS: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

/// The TCP flags of a test segment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub synchronize: bool,
    /// ACK.
    pub acknowledge: bool,
    /// FIN.
    pub finish: bool,
    /// RST.
    pub reset: bool,
}

/// SYN alone: a connection attempt.
pub const SYN: Flags = Flags { synchronize: true, acknowledge: false, finish: false, reset: false };
/// SYN and ACK: the answer to a connection attempt.
pub const SYN_ACK: Flags =
    Flags { synchronize: true, acknowledge: true, finish: false, reset: false };
/// ACK alone: data or an acknowledgement.
pub const ACK: Flags = Flags { synchronize: false, acknowledge: true, finish: false, reset: false };
/// FIN and ACK: the end of a side's data.
pub const FIN_ACK: Flags =
    Flags { synchronize: false, acknowledge: true, finish: true, reset: false };
/// RST: a refusal or an abort.
pub const RST: Flags = Flags { synchronize: false, acknowledge: false, finish: false, reset: true };

/// An Ethernet frame from `source_mac` to `destination_mac` carrying an
/// IPv4 packet of protocol `protocol` with `payload`.
pub fn ipv4_frame(
    (source_mac, destination_mac): ([u8; 6], [u8; 6]),
    (source, destination): (Ipv4Address, Ipv4Address),
    protocol: IpProtocol,
    payload: &[u8],
) -> Vec<u8> {
    let mut frame = vec![0; ETHERNET_HEADER + IPV4_HEADER + payload.len()];
    let mut ethernet = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: EthernetAddress(source_mac),
        dst_addr: EthernetAddress(destination_mac),
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut ethernet);
    let mut ip = Ipv4Packet::new_unchecked(ethernet.payload_mut());
    Ipv4Repr {
        src_addr: source,
        dst_addr: destination,
        next_header: protocol,
        payload_len: payload.len(),
        hop_limit: 64,
    }
    .emit(&mut ip, &ChecksumCapabilities::default());
    ip.payload_mut().copy_from_slice(payload);
    frame
}

/// A TCP segment from `source:source_port` to
/// `destination:destination_port` with `flags`, in a frame between the
/// given MAC addresses.
pub fn tcp_frame(
    macs: ([u8; 6], [u8; 6]),
    (source, source_port): (Ipv4Address, u16),
    (destination, destination_port): (Ipv4Address, u16),
    flags: Flags,
) -> Vec<u8> {
    let mut segment = [0u8; TCP_HEADER];
    let mut tcp = TcpPacket::new_unchecked(&mut segment[..]);
    tcp.set_src_port(source_port);
    tcp.set_dst_port(destination_port);
    tcp.set_header_len(TCP_HEADER as u8);
    tcp.set_syn(flags.synchronize);
    tcp.set_ack(flags.acknowledge);
    tcp.set_fin(flags.finish);
    tcp.set_rst(flags.reset);
    ipv4_frame(macs, (source, destination), IpProtocol::Tcp, &segment)
}

/// A TCP segment from the network (the gateway's MAC, `remote`) to Linux
/// (`LINUX_ADDRESS:local_port`).
pub fn tcp_to_linux(remote: (Ipv4Address, u16), local_port: u16, flags: Flags) -> Vec<u8> {
    tcp_frame((GATEWAY_MAC, LINUX_MAC), remote, (LINUX_ADDRESS, local_port), flags)
}

/// A TCP segment from Linux (`LINUX_ADDRESS:local_port`) to the network
/// (`remote`).
pub fn tcp_from_linux(local_port: u16, remote: (Ipv4Address, u16), flags: Flags) -> Vec<u8> {
    tcp_frame((LINUX_MAC, GATEWAY_MAC), (LINUX_ADDRESS, local_port), remote, flags)
}

/// A UDP datagram of `length` zero bytes from `source` to Linux.
pub fn udp_to_linux(source: Ipv4Address, length: usize) -> Vec<u8> {
    let mut datagram = vec![0u8; 8 + length];
    datagram[0..2].copy_from_slice(&5353u16.to_be_bytes());
    datagram[2..4].copy_from_slice(&5353u16.to_be_bytes());
    datagram[4..6].copy_from_slice(&((8 + length) as u16).to_be_bytes());
    ipv4_frame((GATEWAY_MAC, LINUX_MAC), (source, LINUX_ADDRESS), IpProtocol::Udp, &datagram)
}

/// An ICMP echo request from `source` to `destination`, in a frame between
/// the given MAC addresses.
pub fn echo_request(
    macs: ([u8; 6], [u8; 6]),
    (source, destination): (Ipv4Address, Ipv4Address),
    (ident, sequence): (u16, u16),
    data: &[u8],
) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest { ident, seq_no: sequence, data };
    let mut message = vec![0; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut message[..]), &ChecksumCapabilities::default());
    ipv4_frame(macs, (source, destination), IpProtocol::Icmp, &message)
}

/// A broadcast ARP request from `source_mac` (at `source`) asking who has
/// `target`.
pub fn arp_request(source_mac: [u8; 6], source: Ipv4Address, target: Ipv4Address) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(source_mac),
        source_protocol_addr: source,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let mut frame = vec![0; ETHERNET_HEADER + repr.buffer_len()];
    let mut ethernet = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: EthernetAddress(source_mac),
        dst_addr: EthernetAddress(BROADCAST),
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut ethernet);
    repr.emit(&mut ArpPacket::new_unchecked(ethernet.payload_mut()));
    frame
}

/// A frame of `length` bytes from `source_mac` to `destination_mac`, of an
/// ethertype nobody here reads, its payload filled with `fill`.
pub fn raw_frame(
    source_mac: [u8; 6],
    destination_mac: [u8; 6],
    length: usize,
    fill: u8,
) -> Vec<u8> {
    let mut frame = vec![fill; length];
    frame[0..6].copy_from_slice(&destination_mac);
    frame[6..12].copy_from_slice(&source_mac);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    frame
}

/// A link for a stack or the bridge under test: frames it received (to be
/// taken), frames sent on it, and whether it has room to send.
#[derive(Default)]
pub struct Wire {
    /// Frames waiting to be received.
    pub received: VecDeque<Vec<u8>>,
    /// Frames sent, oldest first.
    pub sent: Vec<Vec<u8>>,
    /// No room to send now.
    pub busy: bool,
}

/// A received frame.
pub struct WireFrame(Vec<u8>);

impl RxToken for WireFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

/// Room for one frame to send.
pub struct WireRoom<'a>(&'a mut Vec<Vec<u8>>);

impl TxToken for WireRoom<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, length: usize, f: F) -> R {
        let mut frame = vec![0; length];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Device for Wire {
    type RxToken<'a> = WireFrame;
    type TxToken<'a> = WireRoom<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(WireFrame, WireRoom<'_>)> {
        let frame = self.received.pop_front()?;
        Some((WireFrame(frame), WireRoom(&mut self.sent)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<WireRoom<'_>> {
        (!self.busy).then_some(WireRoom(&mut self.sent))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = 1514;
        capabilities
    }
}
