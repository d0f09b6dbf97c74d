//! netvm's TCP/IP stack: a smoltcp interface on a network device, with its
//! IPv4 address from DHCP or a static configuration ([`Addressing`]).
//!
//! The interface answers ICMP echo requests by itself. Once it has an
//! address and a gateway, the [`GatewayCheck`] pings the gateway through an
//! ICMP socket. [`Network::poll`] does everything that is due and says when
//! it next needs to run; what a person should hear of comes out as
//! [`Event`]s.
//!
//! The stack is generic over the device, so that the host tests run it
//! against a simulated gateway.

use crate::config::{Addressing, Lease};
use crate::ping::{self, Action, GatewayCheck, Outcome};
use alloc::vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{dhcpv4, icmp, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

/// The most rounds of interface work and socket handling one
/// [`Network::poll`] makes before giving the rest of the program a turn.
pub const ROUNDS: usize = 8;
/// Packets the ICMP socket holds each way.
const ICMP_PACKETS: usize = 4;
/// Bytes of ICMP payload the socket holds each way.
const ICMP_BYTES: usize = 1024;

/// Why the stack could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The device's MAC address is not a unicast address.
    NotUnicast([u8; 6]),
}

impl core::fmt::Display for StackError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::NotUnicast(mac) => {
                write!(formatter, "MAC address {} is not unicast", EthernetAddress(*mac))
            }
        }
    }
}

/// What happened, for the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The interface has an address (new, or changed).
    Configured(Lease),
    /// The interface lost its address (the DHCP lease ended).
    Deconfigured,
    /// The gateway check ended.
    Gateway(Outcome),
}

/// The interface, its sockets and the device under them.
pub struct Network<D: Device> {
    device: D,
    interface: Interface,
    sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    icmp: SocketHandle,
    check: GatewayCheck,
    lease: Option<Lease>,
    /// A static configuration, reported at the first poll.
    unreported: Option<Lease>,
}

impl<D: Device> Network<D> {
    /// An interface with hardware address `mac` on `device`, addressed as
    /// `addressing` says. `random_seed` seeds smoltcp (ports, sequence
    /// numbers, DHCP transaction IDs) and the gateway check's identifier: it
    /// must differ from boot to boot.
    pub fn new(
        mut device: D,
        mac: [u8; 6],
        addressing: Addressing,
        random_seed: u64,
        now: Instant,
    ) -> Result<Self, StackError> {
        let hardware_address = EthernetAddress(mac);
        if !hardware_address.is_unicast() {
            return Err(StackError::NotUnicast(mac));
        }
        let mut config = Config::new(HardwareAddress::Ethernet(hardware_address));
        config.random_seed = random_seed;
        let interface = Interface::new(config, &mut device, now);
        let mut sockets = SocketSet::new(vec![]);
        let check = GatewayCheck::new((random_seed >> 48) as u16);
        let mut icmp_socket = icmp::Socket::new(
            icmp::PacketBuffer::new(
                vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
                vec![0; ICMP_BYTES],
            ),
            icmp::PacketBuffer::new(
                vec![icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
                vec![0; ICMP_BYTES],
            ),
        );
        // Binding fails only for an unspecified endpoint; an identifier is one.
        let _ = icmp_socket.bind(icmp::Endpoint::Ident(check.ident()));
        let icmp = sockets.add(icmp_socket);
        let mut network = Self {
            device,
            interface,
            sockets,
            dhcp: None,
            icmp,
            check,
            lease: None,
            unreported: None,
        };
        match addressing {
            Addressing::Dhcp => network.dhcp = Some(network.sockets.add(dhcpv4::Socket::new())),
            Addressing::Static { address, gateway } => {
                let lease = Lease { address, gateway };
                network.apply(Some(lease));
                network.unreported = Some(lease);
            }
        }
        Ok(network)
    }

    /// The address configuration in force.
    pub fn lease(&self) -> Option<Lease> {
        self.lease
    }

    /// The device.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Adds a TCP socket with `buffer` bytes each way (for the libp2p
    /// node's connections).
    pub fn add_tcp_socket(&mut self, buffer: usize) -> SocketHandle {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        // A peer that vanishes without a FIN or RST: keep-alives find out,
        // and data unacknowledged for a minute closes the socket.
        socket.set_keep_alive(Some(smoltcp::time::Duration::from_secs(15)));
        socket.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
        self.sockets.add(socket)
    }

    /// The TCP socket `handle` (one [`Network::add_tcp_socket`] gave).
    pub fn tcp_socket(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(handle)
    }

    /// Removes socket `handle` and frees its buffers.
    pub fn remove_socket(&mut self, handle: SocketHandle) {
        self.sockets.remove(handle);
    }

    /// Starts connecting TCP socket `handle` from `local_port` to `remote`.
    pub fn connect(
        &mut self,
        handle: SocketHandle,
        remote: smoltcp::wire::IpEndpoint,
        local_port: u16,
    ) -> Result<(), tcp::ConnectError> {
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        socket.connect(self.interface.context(), remote, local_port)
    }

    /// Moves packets and runs the DHCP client and the gateway check as far
    /// as they go at `now`, telling `report` what happened. Returns when it
    /// should run again (`None`: when the device has something).
    pub fn poll(&mut self, now: Instant, mut report: impl FnMut(Event)) -> Option<Instant> {
        if let Some(lease) = self.unreported.take() {
            report(Event::Configured(lease));
        }
        let mut check_deadline = None;
        for _ in 0..ROUNDS {
            self.interface.poll(now, &mut self.device, &mut self.sockets);
            let mut progress = self.follow_dhcp(&mut report);
            progress |= self.take_echo_replies(now, &mut report);
            match self.check.poll(now) {
                Action::Wait(deadline) => check_deadline = deadline,
                Action::Send { gateway, sequence } => {
                    progress |= self.send_echo_request(gateway, sequence, now)
                }
                Action::Report(outcome) => {
                    report(Event::Gateway(outcome));
                    progress = true;
                }
            }
            if !progress {
                let interface_deadline = self.interface.poll_at(now, &self.sockets);
                return earliest(interface_deadline, check_deadline);
            }
        }
        // Work remains: come back at once.
        Some(now)
    }

    /// Applies what the DHCP client learned; returns whether anything changed.
    fn follow_dhcp(&mut self, report: &mut impl FnMut(Event)) -> bool {
        let Some(handle) = self.dhcp else {
            return false;
        };
        let lease = match self.sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => return false,
            Some(dhcpv4::Event::Configured(config)) => {
                Some(Lease { address: config.address, gateway: config.router })
            }
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        if lease == self.lease {
            return false;
        }
        self.apply(lease);
        report(match lease {
            Some(lease) => Event::Configured(lease),
            None => Event::Deconfigured,
        });
        true
    }

    /// Puts `lease` on the interface (or takes the address away), and
    /// starts the gateway check for its gateway.
    fn apply(&mut self, lease: Option<Lease>) {
        self.interface.update_ip_addrs(|addresses| {
            addresses.clear();
            if let Some(lease) = lease {
                // Cannot fail: the list was just emptied and holds at least one.
                let _ = addresses.push(IpCidr::Ipv4(lease.address));
            }
        });
        let routes = self.interface.routes_mut();
        match lease.and_then(|lease| lease.gateway) {
            Some(gateway) => {
                // Cannot fail: the default route replaces the previous one, and
                // it is the only route.
                let _ = routes.add_default_ipv4_route(gateway);
                self.check.start(gateway);
            }
            None => {
                routes.remove_default_ipv4_route();
                self.check.stop();
            }
        }
        self.lease = lease;
    }

    /// Hands the echo replies that came in to the gateway check; returns
    /// whether any did.
    fn take_echo_replies(&mut self, now: Instant, report: &mut impl FnMut(Event)) -> bool {
        let socket = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let mut any = false;
        while let Ok((bytes, from)) = socket.recv() {
            any = true;
            let IpAddress::Ipv4(from) = from;
            let Some((ident, sequence)) = ping::parse_echo_reply(bytes) else {
                continue;
            };
            if let Some(outcome) = self.check.received(from, ident, sequence, now) {
                report(Event::Gateway(outcome));
            }
        }
        any
    }

    /// Queues echo request `sequence` to `gateway`; returns whether it went
    /// (the socket may be full).
    fn send_echo_request(
        &mut self,
        gateway: smoltcp::wire::Ipv4Address,
        sequence: u16,
        now: Instant,
    ) -> bool {
        let socket = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        match socket.send(ping::echo_request_length(), IpAddress::Ipv4(gateway)) {
            Ok(buffer) => {
                ping::emit_echo_request(self.check.ident(), sequence, buffer);
                self.check.sent(now);
                true
            }
            Err(_) => false,
        }
    }
}

/// The earlier of two optional deadlines.
fn earliest(first: Option<Instant>, second: Option<Instant>) -> Option<Instant> {
    match (first, second) {
        (Some(first), Some(second)) => Some(first.min(second)),
        (first, second) => first.or(second),
    }
}

#[cfg(test)]
mod tests;
