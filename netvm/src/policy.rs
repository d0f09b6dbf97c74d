//! The traffic policy for frames from the network towards Linux: limits
//! against floods, applied by netvm before a frame enters Linux's ring.
//!
//! Two limits, both constants for now:
//!
//! - **A packet rate per source.** Every IPv4 source address has a token
//!   bucket of [`BURST`] packets that refills at [`PACKETS_PER_SECOND`];
//!   frames that are not IPv4 (ARP, IPv6, VLAN-tagged ones) share one more
//!   bucket. A frame that finds its bucket empty is dropped. The table holds
//!   [`SOURCES`] buckets; a new source takes the place of the one heard from
//!   least recently, whose bucket has had the longest to fill up again.
//! - **A cap on inbound TCP connections.** A SYN without ACK from the
//!   network opens a flow (remote address, remote port, Linux's port) in a
//!   table of [`MAX_INBOUND_CONNECTIONS`] entries, at most
//!   [`MAX_INBOUND_CONNECTIONS_PER_SOURCE`] of them for one remote address.
//!   A SYN that finds no room is dropped. A flow ends with a reset from
//!   either side, lingers [`CLOSING_TIMEOUT`] after a FIN, and expires when
//!   it stays silent: [`OPENING_TIMEOUT`] before the remote side's first
//!   ACK, [`IDLE_TIMEOUT`] after it. Connections Linux opens itself are not
//!   counted: their packets from the network carry an ACK.
//!
//! The policy only looks at frames; [`Policy::inbound`] judges a frame
//! going to Linux, and [`Policy::outbound`] watches Linux's own frames to
//! the network for the resets and FINs that end inbound flows.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket,
};

/// Packets a second one source may send Linux, over time.
pub const PACKETS_PER_SECOND: u64 = 25_000;
/// Packets one source may send Linux at once, on a full bucket.
pub const BURST: u64 = 4_096;
/// Sources with a bucket of their own at any time.
pub const SOURCES: usize = 64;
/// Inbound TCP connections to Linux at any time.
pub const MAX_INBOUND_CONNECTIONS: usize = 32;
/// Inbound TCP connections to Linux from one remote address at any time.
pub const MAX_INBOUND_CONNECTIONS_PER_SOURCE: usize = 8;
/// How long an inbound connection may wait for the remote side's first
/// ACK.
pub const OPENING_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an established inbound connection may stay silent.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an inbound connection counts after a FIN.
pub const CLOSING_TIMEOUT: Duration = Duration::from_secs(10);

/// Micro-packets in one packet: buckets count in millionths of a packet, so
/// that a refill of a few microseconds is not lost to rounding.
const MICRO: u64 = 1_000_000;

/// Whom a frame is accounted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An IPv4 packet's source address.
    Ipv4(Ipv4Address),
    /// Every frame that is not IPv4.
    Other,
}

/// Why the policy dropped a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The source's bucket was empty.
    RateLimited,
    /// A new inbound connection found the table full.
    TooManyConnections,
    /// A new inbound connection found its remote address at its cap.
    TooManyConnectionsFromSource,
}

/// What the policy says of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Drop it.
    Drop(DropReason),
}

/// What the policy let through and what it dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames passed.
    pub passed: u64,
    /// Frames dropped because their source's bucket was empty.
    pub rate_limited: u64,
    /// Connection attempts dropped because the table was full.
    pub too_many_connections: u64,
    /// Connection attempts dropped because their source was at its cap.
    pub too_many_connections_from_source: u64,
}

impl Counters {
    /// Every frame dropped.
    pub fn dropped(&self) -> u64 {
        self.rate_limited + self.too_many_connections + self.too_many_connections_from_source
    }
}

/// One source's token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    source: Source,
    /// Micro-packets in the bucket.
    tokens: u64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

impl Bucket {
    /// A full bucket for `source`.
    fn full(source: Source, now: Instant) -> Self {
        Self { source, tokens: BURST * MICRO, updated: now }
    }

    /// Refills the bucket for the time since it was last brought up to
    /// date, then takes one packet if it holds one.
    fn take(&mut self, now: Instant) -> bool {
        if now > self.updated {
            let elapsed = (now - self.updated).total_micros();
            let refill = elapsed.saturating_mul(PACKETS_PER_SECOND);
            self.tokens = self.tokens.saturating_add(refill).min(BURST * MICRO);
            self.updated = now;
        }
        match self.tokens.checked_sub(MICRO) {
            Some(left) => {
                self.tokens = left;
                true
            }
            None => false,
        }
    }
}

/// Where an inbound connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FlowState {
    /// The remote side sent its SYN, and no ACK yet.
    Opening,
    /// The remote side acknowledged.
    Established,
    /// A FIN went by.
    Closing,
}

/// One inbound TCP connection to Linux.
#[derive(Clone, Copy, Debug)]
struct Flow {
    remote: Ipv4Address,
    remote_port: u16,
    local_port: u16,
    state: FlowState,
    /// When a packet of the flow last went by.
    seen: Instant,
}

impl Flow {
    /// Whether the flow has stayed silent longer than its state allows.
    fn expired(&self, now: Instant) -> bool {
        let timeout = match self.state {
            FlowState::Opening => OPENING_TIMEOUT,
            FlowState::Established => IDLE_TIMEOUT,
            FlowState::Closing => CLOSING_TIMEOUT,
        };
        now >= self.seen + timeout
    }

    /// Follows a packet of the flow; returns whether the flow ended.
    fn follow(&mut self, segment: &Segment, from_remote: bool, now: Instant) -> bool {
        self.seen = now;
        if segment.reset {
            return true;
        }
        if segment.finish {
            self.state = FlowState::Closing;
        } else if self.state == FlowState::Opening && from_remote && segment.acknowledge {
            self.state = FlowState::Established;
        }
        false
    }
}

/// The TCP facts the policy needs of a frame, oriented from Linux's side.
#[derive(Clone, Copy, Debug)]
struct Segment {
    remote: Ipv4Address,
    remote_port: u16,
    local_port: u16,
    synchronize: bool,
    acknowledge: bool,
    finish: bool,
    reset: bool,
}

/// A frame as the policy sees it.
#[derive(Clone, Copy, Debug)]
struct Parsed {
    source: Source,
    segment: Option<Segment>,
}

/// Reads what the policy needs of `frame`; `inbound` says whether it goes
/// to Linux (the remote end is then the source) or comes from it. Frames
/// too short for their own headers count as [`Source::Other`] without a
/// segment; IPv4 fragments after the first carry no TCP header.
fn parse(frame: &[u8], inbound: bool) -> Parsed {
    let other = Parsed { source: Source::Other, segment: None };
    let Ok(ethernet) = EthernetFrame::new_checked(frame) else {
        return other;
    };
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return other;
    }
    let Ok(ip) = Ipv4Packet::new_checked(ethernet.payload()) else {
        return other;
    };
    let source = Source::Ipv4(ip.src_addr());
    let tcp = (ip.next_header() == IpProtocol::Tcp && ip.frag_offset() == 0)
        .then(|| TcpPacket::new_checked(ip.payload()).ok())
        .flatten();
    let segment = tcp.map(|tcp| {
        let (remote, remote_port, local_port) = if inbound {
            (ip.src_addr(), tcp.src_port(), tcp.dst_port())
        } else {
            (ip.dst_addr(), tcp.dst_port(), tcp.src_port())
        };
        Segment {
            remote,
            remote_port,
            local_port,
            synchronize: tcp.syn(),
            acknowledge: tcp.ack(),
            finish: tcp.fin(),
            reset: tcp.rst(),
        }
    });
    Parsed { source, segment }
}

/// The policy's state: the buckets, the inbound flows and the counters.
pub struct Policy {
    buckets: [Option<Bucket>; SOURCES],
    flows: [Option<Flow>; MAX_INBOUND_CONNECTIONS],
    counters: Counters,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    /// No source heard from, no connection open.
    pub const fn new() -> Self {
        Self {
            buckets: [None; SOURCES],
            flows: [None; MAX_INBOUND_CONNECTIONS],
            counters: Counters {
                passed: 0,
                rate_limited: 0,
                too_many_connections: 0,
                too_many_connections_from_source: 0,
            },
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The inbound connections open at `now`.
    pub fn connections(&self, now: Instant) -> usize {
        self.flows.iter().flatten().filter(|flow| !flow.expired(now)).count()
    }

    /// Judges `frame`, from the network to Linux, at `now`, and counts the
    /// verdict.
    pub fn inbound(&mut self, frame: &[u8], now: Instant) -> Verdict {
        let parsed = parse(frame, true);
        let verdict = if !self.bucket(parsed.source, now).take(now) {
            Verdict::Drop(DropReason::RateLimited)
        } else if let Some(segment) = parsed.segment {
            self.admit(&segment, now)
        } else {
            Verdict::Pass
        };
        let counters = &mut self.counters;
        match verdict {
            Verdict::Pass => counters.passed += 1,
            Verdict::Drop(DropReason::RateLimited) => counters.rate_limited += 1,
            Verdict::Drop(DropReason::TooManyConnections) => counters.too_many_connections += 1,
            Verdict::Drop(DropReason::TooManyConnectionsFromSource) => {
                counters.too_many_connections_from_source += 1
            }
        }
        verdict
    }

    /// Watches `frame`, from Linux to the network, at `now`: Linux's resets
    /// and FINs end its inbound connections. Linux's frames are never
    /// dropped here.
    pub fn outbound(&mut self, frame: &[u8], now: Instant) {
        if let Some(segment) = parse(frame, false).segment {
            if let Some(index) = self.find(&segment) {
                self.follow(index, &segment, false, now);
            }
        }
    }

    /// The bucket of `source`, made (full) if it has none, in the place of
    /// the bucket heard from least recently if the table is full.
    fn bucket(&mut self, source: Source, now: Instant) -> &mut Bucket {
        let position = self
            .buckets
            .iter()
            .position(|bucket| bucket.is_some_and(|bucket| bucket.source == source));
        let index = position.unwrap_or_else(|| {
            let index = self
                .buckets
                .iter()
                .enumerate()
                .min_by_key(|(_, bucket)| bucket.map(|bucket| bucket.updated))
                .map_or(0, |(index, _)| index);
            self.buckets[index] = Some(Bucket::full(source, now));
            index
        });
        self.buckets[index].get_or_insert(Bucket::full(source, now))
    }

    /// The TCP part of the verdict on an inbound segment.
    fn admit(&mut self, segment: &Segment, now: Instant) -> Verdict {
        if let Some(index) = self.find(segment) {
            self.follow(index, segment, true, now);
            return Verdict::Pass;
        }
        if !segment.synchronize || segment.acknowledge || segment.reset {
            // Not a connection attempt: a packet of a connection Linux
            // opened, or one Linux will answer with a reset.
            return Verdict::Pass;
        }
        for flow in self.flows.iter_mut() {
            if flow.is_some_and(|flow| flow.expired(now)) {
                *flow = None;
            }
        }
        let from_source =
            self.flows.iter().flatten().filter(|flow| flow.remote == segment.remote).count();
        if from_source >= MAX_INBOUND_CONNECTIONS_PER_SOURCE {
            return Verdict::Drop(DropReason::TooManyConnectionsFromSource);
        }
        let Some(free) = self.flows.iter_mut().find(|flow| flow.is_none()) else {
            return Verdict::Drop(DropReason::TooManyConnections);
        };
        *free = Some(Flow {
            remote: segment.remote,
            remote_port: segment.remote_port,
            local_port: segment.local_port,
            state: FlowState::Opening,
            seen: now,
        });
        Verdict::Pass
    }

    /// The flow `segment` belongs to, if it is open.
    fn find(&self, segment: &Segment) -> Option<usize> {
        self.flows.iter().position(|flow| {
            flow.is_some_and(|flow| {
                flow.remote == segment.remote
                    && flow.remote_port == segment.remote_port
                    && flow.local_port == segment.local_port
            })
        })
    }

    /// Follows a segment of flow `index` (the flow may have expired in the
    /// meantime: it then counts as fresh activity, as the segment is).
    fn follow(&mut self, index: usize, segment: &Segment, from_remote: bool, now: Instant) {
        let slot = &mut self.flows[index];
        if let Some(flow) = slot {
            if flow.follow(segment, from_remote, now) {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
