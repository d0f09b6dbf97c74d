//! Linux's network through netvm: a three-port Ethernet bridge between the
//! NIC (the wire), Linux's `linux-net` channel and netvm's own stack.
//!
//! The hypervisor serves Linux's end of the `linux-net` channel as a
//! virtio-net device: every ring record on the channel is one raw Ethernet
//! frame of at most [`MAXIMUM_FRAME`] bytes, with no kind byte. netvm never
//! sees Linux's memory, only these frames. The [`Switch`] decides where each
//! frame goes:
//!
//! | from | to the wire | to Linux | to netvm's stack |
//! |---|---|---|---|
//! | Linux | unicast not for netvm, broadcast, multicast | never | netvm's MAC, broadcast, multicast |
//! | the wire | never | Linux's MAC, broadcast, multicast | netvm's MAC, broadcast, multicast |
//! | netvm's stack | unicast not for Linux, broadcast, multicast | Linux's MAC, broadcast, multicast | never |
//!
//! Linux's MAC address is learned from the source of Linux's frames (the
//! hypervisor gives it `02:45:4c:53:00:00`); until Linux has sent a frame,
//! unicast from the wire that is not for netvm goes to Linux too, as a
//! learning switch floods unknown destinations (after a restart of netvm,
//! Linux may be waiting for data and send nothing first). A frame from Linux claiming
//! netvm's MAC address or a group address as its source is dropped. On
//! QEMU's user-mode network the gateway answers DHCP per MAC address, so
//! Linux gets a lease of its own.
//!
//! Frames from the wire to Linux pass the traffic [`Policy`] first; frames
//! from Linux to the wire are shown to it so that it sees connections end.
//! Nothing waits for Linux: when its ring is full, the bridge rings the
//! doorbell (the hypervisor then moves what it can into Linux's receive
//! buffers) and tries once more, and drops the frame if there is still no
//! room. [`Bridge::pump`] moves at most [`BATCH`] frames from each source in
//! one pass and rings Linux's doorbell once after a batch; every drop is
//! counted in [`Counters`].

use crate::local::LocalPort;
use crate::policy::{self, Policy, Verdict};
use guest_runtime::channel::{Channel, ChannelError, IgnoreReason};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::Instant;

pub use crate::local::MAXIMUM_FRAME;

/// The name of Linux's network channel in the system manifest.
pub const LINUX_CHANNEL: &str = "linux-net";
/// The smallest frame carried: an Ethernet header.
pub const MINIMUM_FRAME: usize = 14;
/// The most frames taken from one source in one [`Bridge::pump`].
pub const BATCH: usize = 64;

/// One side of the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// The NIC.
    Wire,
    /// Linux, through the `linux-net` channel.
    Linux,
    /// netvm's own stack.
    Local,
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Destinations {
    /// Out on the NIC.
    pub wire: bool,
    /// Into Linux's ring.
    pub linux: bool,
    /// To netvm's stack.
    pub local: bool,
}

/// Why the switch refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Shorter than an Ethernet header, or longer than [`MAXIMUM_FRAME`].
    Malformed,
    /// From Linux with netvm's MAC address or a group address as source.
    Spoofed,
    /// From the wire, unicast to a MAC address that is neither netvm's nor
    /// Linux's (once Linux's is known).
    NotOurs,
}

/// Whether `mac` is a group (broadcast or multicast) address.
fn is_group(mac: &[u8; 6]) -> bool {
    mac[0] & 1 != 0
}

/// The forwarding decision, and the MAC address it learns.
pub struct Switch {
    local: [u8; 6],
    linux: Option<[u8; 6]>,
}

impl Switch {
    /// A switch for a stack with MAC address `local`, Linux's not known yet.
    pub fn new(local: [u8; 6]) -> Self {
        Self { local, linux: None }
    }

    /// Linux's MAC address, once learned.
    pub fn linux_mac(&self) -> Option<[u8; 6]> {
        self.linux
    }

    /// Forgets Linux's MAC address (its channel went down).
    pub fn forget_linux(&mut self) {
        self.linux = None;
    }

    /// Where `frame`, which came in on `from`, goes. A frame from Linux
    /// teaches the switch Linux's MAC address.
    pub fn route(&mut self, from: Port, frame: &[u8]) -> Result<Destinations, Refusal> {
        if !(MINIMUM_FRAME..=MAXIMUM_FRAME).contains(&frame.len()) {
            return Err(Refusal::Malformed);
        }
        let mut destination = [0; 6];
        destination.copy_from_slice(&frame[0..6]);
        let mut source = [0; 6];
        source.copy_from_slice(&frame[6..12]);
        let group = is_group(&destination);
        let for_local = group || destination == self.local;
        let for_linux = group || Some(destination) == self.linux;
        match from {
            Port::Linux => {
                if is_group(&source) || source == self.local {
                    return Err(Refusal::Spoofed);
                }
                self.linux = Some(source);
                Ok(Destinations {
                    wire: group || destination != self.local,
                    linux: false,
                    local: for_local,
                })
            }
            Port::Wire => {
                // Until Linux is known (at start, and after a restart of
                // netvm while Linux's connections go on), unicast that is not
                // netvm's goes to Linux, as a learning switch floods: the
                // segments of a download in progress reach Linux, whose
                // acknowledgements teach the switch its address again.
                let for_linux = for_linux || (self.linux.is_none() && !for_local);
                if !for_local && !for_linux {
                    return Err(Refusal::NotOurs);
                }
                Ok(Destinations { wire: false, linux: for_linux, local: for_local })
            }
            Port::Local => {
                Ok(Destinations { wire: group || !for_linux, linux: for_linux, local: false })
            }
        }
    }
}

/// Why Linux's port did not take or give a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortError {
    /// The ring has no room for the frame.
    Full,
    /// The channel is down, ignored or refuses the frame.
    Unavailable,
}

/// Linux's end of the bridge: the `linux-net` channel, or a stand-in in
/// the tests.
pub trait LinuxPort {
    /// Puts `frame` into Linux's ring.
    fn send(&mut self, frame: &[u8]) -> Result<(), PortError>;
    /// Takes Linux's next frame into `buffer` (at least [`MAXIMUM_FRAME`]
    /// bytes): `Ok(None)` if none waits.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, PortError>;
    /// Rings the doorbell: frames were put in the ring or taken out.
    fn notify(&mut self);
}

impl LinuxPort for Channel {
    fn send(&mut self, frame: &[u8]) -> Result<(), PortError> {
        match Channel::send(self, frame) {
            Ok(()) => Ok(()),
            Err(ChannelError::Full) => Err(PortError::Full),
            Err(_) => Err(PortError::Unavailable),
        }
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, PortError> {
        match Channel::receive(self, buffer) {
            Ok(length) => Ok(length),
            Err(ChannelError::BufferTooSmall { needed }) => {
                // The hypervisor never writes such a frame; the record would
                // block the ring for good.
                self.ignore(IgnoreReason::Oversized { length: needed, limit: buffer.len() });
                Err(PortError::Unavailable)
            }
            Err(_) => Err(PortError::Unavailable),
        }
    }

    fn notify(&mut self) {
        // A peer that is not running is expected now and then; the channel
        // reports any other failure itself.
        let _ = Channel::notify(self);
    }
}

/// What went through the bridge, and what it dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames taken from Linux's ring.
    pub from_linux: u64,
    /// Frames taken from the NIC.
    pub from_wire: u64,
    /// Frames netvm's stack sent.
    pub from_local: u64,
    /// Frames put into Linux's ring.
    pub to_linux: u64,
    /// Frames sent on the NIC.
    pub to_wire: u64,
    /// Frames given to netvm's stack.
    pub to_local: u64,
    /// Frames refused as [`Refusal::Malformed`].
    pub malformed: u64,
    /// Frames refused as [`Refusal::Spoofed`].
    pub spoofed: u64,
    /// Frames refused as [`Refusal::NotOurs`].
    pub not_ours: u64,
    /// Frames for Linux dropped because its ring stayed full.
    pub linux_full: u64,
    /// Frames for Linux dropped because its channel was not usable.
    pub linux_unavailable: u64,
    /// Frames for the wire dropped because the NIC had no room.
    pub wire_busy: u64,
    /// Frames for netvm's stack dropped because its queue was full.
    pub local_full: u64,
}

impl Counters {
    /// Frames for Linux that were dropped on the way (not by the policy).
    pub fn dropped_for_linux(&self) -> u64 {
        self.linux_full + self.linux_unavailable
    }
}

/// What one pass owes Linux's doorbell.
#[derive(Default)]
struct Doorbell {
    /// Frames were put into the ring since the doorbell last rang.
    owed: bool,
}

/// The bridge: the switch, the policy and the counters.
pub struct Bridge {
    switch: Switch,
    policy: Policy,
    counters: Counters,
}

impl Bridge {
    /// A bridge for a stack with MAC address `local`.
    pub fn new(local: [u8; 6]) -> Self {
        Self { switch: Switch::new(local), policy: Policy::new(), counters: Counters::default() }
    }

    /// What went through the bridge so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// What the policy let through and dropped so far.
    pub fn policy_counters(&self) -> policy::Counters {
        self.policy.counters()
    }

    /// Linux's MAC address, once learned.
    pub fn linux_mac(&self) -> Option<[u8; 6]> {
        self.switch.linux_mac()
    }

    /// Linux's channel went down: forget its MAC address.
    pub fn linux_down(&mut self) {
        self.switch.forget_linux();
    }

    /// One pass at `now`: takes up to [`BATCH`] frames from Linux (if its
    /// channel is usable), up to [`BATCH`] from the wire and everything
    /// netvm's stack sent, and delivers each where the switch says. Rings
    /// Linux's doorbell after taking its frames and after giving it some.
    /// Returns whether frames were left waiting at Linux or the wire.
    pub fn pump<W: Device, L: LinuxPort>(
        &mut self,
        now: Instant,
        wire: &mut W,
        mut linux: Option<&mut L>,
        local: &mut LocalPort,
    ) -> bool {
        let mut more_waiting = false;
        if let Some(port) = linux.as_deref_mut() {
            let mut buffer = [0u8; MAXIMUM_FRAME];
            let mut taken = 0;
            while let Ok(Some(length)) = port.receive(&mut buffer) {
                self.counters.from_linux += 1;
                self.forward_from_linux(&buffer[..length], now, wire, local);
                taken += 1;
                if taken == BATCH {
                    more_waiting = true;
                    break;
                }
            }
            if taken > 0 {
                // The hypervisor may hold more of Linux's frames, waiting for
                // room in the ring.
                port.notify();
            }
        }
        let mut doorbell = Doorbell::default();
        let mut taken = 0;
        // A full queue to the stack would drop the stack's frames: leave the
        // rest on the card until the stack has taken what it has.
        while !local.inbound.is_full() {
            let Some((token, _)) = wire.receive(now) else { break };
            self.counters.from_wire += 1;
            token.consume(|frame| {
                self.forward_from_wire(frame, now, linux.as_deref_mut(), local, &mut doorbell)
            });
            taken += 1;
            if taken == BATCH {
                more_waiting = true;
                break;
            }
        }
        while let Some(frame) = local.outbound.front() {
            let route = self.switch.route(Port::Local, frame);
            // While the card has no transmit buffer free, the stack's frames
            // for the wire wait in its queue rather than being lost (a lost
            // segment costs its TCP connection a retransmission timeout).
            let for_wire = matches!(route, Ok(Destinations { wire: true, .. }));
            if for_wire && wire.transmit(now).is_none() {
                more_waiting = true;
                break;
            }
            self.counters.from_local += 1;
            self.forward_from_local(frame, route, now, wire, linux.as_deref_mut(), &mut doorbell);
            local.outbound.pop();
        }
        if doorbell.owed {
            if let Some(port) = linux {
                port.notify();
            }
        }
        more_waiting
    }

    /// Counts a refusal of the switch.
    fn refused(&mut self, refusal: Refusal) {
        match refusal {
            Refusal::Malformed => self.counters.malformed += 1,
            Refusal::Spoofed => self.counters.spoofed += 1,
            Refusal::NotOurs => self.counters.not_ours += 1,
        }
    }

    /// Delivers a frame Linux sent.
    fn forward_from_linux<W: Device>(
        &mut self,
        frame: &[u8],
        now: Instant,
        wire: &mut W,
        local: &mut LocalPort,
    ) {
        let destinations = match self.switch.route(Port::Linux, frame) {
            Ok(destinations) => destinations,
            Err(refusal) => return self.refused(refusal),
        };
        if destinations.wire {
            self.policy.outbound(frame, now);
            self.send_to_wire(frame, now, wire);
        }
        if destinations.local {
            self.send_to_local(frame, local);
        }
    }

    /// Delivers a frame the NIC received.
    fn forward_from_wire<L: LinuxPort>(
        &mut self,
        frame: &[u8],
        now: Instant,
        linux: Option<&mut L>,
        local: &mut LocalPort,
        doorbell: &mut Doorbell,
    ) {
        let destinations = match self.switch.route(Port::Wire, frame) {
            Ok(destinations) => destinations,
            Err(refusal) => return self.refused(refusal),
        };
        if destinations.local {
            self.send_to_local(frame, local);
        }
        if destinations.linux && self.policy.inbound(frame, now) == Verdict::Pass {
            self.send_to_linux(frame, linux, doorbell);
        }
    }

    /// Delivers a frame netvm's stack sent, which the switch routed as
    /// `route` (routing a frame of the stack learns nothing).
    fn forward_from_local<W: Device, L: LinuxPort>(
        &mut self,
        frame: &[u8],
        route: Result<Destinations, Refusal>,
        now: Instant,
        wire: &mut W,
        linux: Option<&mut L>,
        doorbell: &mut Doorbell,
    ) {
        let destinations = match route {
            Ok(destinations) => destinations,
            Err(refusal) => return self.refused(refusal),
        };
        if destinations.wire {
            self.send_to_wire(frame, now, wire);
        }
        if destinations.linux {
            self.send_to_linux(frame, linux, doorbell);
        }
    }

    /// Sends `frame` on the NIC, or counts it lost.
    fn send_to_wire<W: Device>(&mut self, frame: &[u8], now: Instant, wire: &mut W) {
        match wire.transmit(now) {
            Some(token) => {
                token.consume(frame.len(), |buffer| buffer.copy_from_slice(frame));
                self.counters.to_wire += 1;
            }
            None => self.counters.wire_busy += 1,
        }
    }

    /// Queues `frame` for netvm's stack, or counts it lost.
    fn send_to_local(&mut self, frame: &[u8], local: &mut LocalPort) {
        if local.inbound.push(frame) {
            self.counters.to_local += 1;
        } else {
            self.counters.local_full += 1;
        }
    }

    /// Puts `frame` into Linux's ring; on a full ring, rings the doorbell
    /// and tries again if frames went in since it last rang (the
    /// hypervisor may then have moved them to Linux), or counts it lost.
    fn send_to_linux<L: LinuxPort>(
        &mut self,
        frame: &[u8],
        linux: Option<&mut L>,
        doorbell: &mut Doorbell,
    ) {
        let Some(port) = linux else {
            self.counters.linux_unavailable += 1;
            return;
        };
        let mut result = port.send(frame);
        if result == Err(PortError::Full) && doorbell.owed {
            port.notify();
            doorbell.owed = false;
            result = port.send(frame);
        }
        match result {
            Ok(()) => {
                self.counters.to_linux += 1;
                doorbell.owed = true;
            }
            Err(PortError::Full) => self.counters.linux_full += 1,
            Err(PortError::Unavailable) => self.counters.linux_unavailable += 1,
        }
    }
}

#[cfg(test)]
mod tests;
