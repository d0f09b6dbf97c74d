//! The policy on made-up traffic: floods from one source and many, and
//! connection attempts beyond the caps.

use super::*;
use crate::testing::{
    arp_request, raw_frame, tcp_from_linux, tcp_to_linux, udp_to_linux, ACK, BROADCAST, FIN_ACK,
    GATEWAY_ADDRESS, GATEWAY_MAC, LINUX_ADDRESS, RST, SYN, SYN_ACK,
};

const START: Instant = Instant::from_millis_const(100_000);
const FLOODER: Ipv4Address = Ipv4Address::new(192, 0, 2, 66);
const BYSTANDER: Ipv4Address = Ipv4Address::new(198, 51, 100, 7);

/// Sends `count` copies of `frame` at `now`; returns how many passed.
fn passed(policy: &mut Policy, frame: &[u8], count: u64, now: Instant) -> u64 {
    (0..count).filter(|_| policy.inbound(frame, now) == Verdict::Pass).count() as u64
}

/// The remote address number `index` of a made-up crowd.
fn crowd(index: usize) -> Ipv4Address {
    Ipv4Address::new(203, 0, 113, index as u8)
}

#[test]
fn a_burst_passes_and_the_rest_of_a_flood_is_dropped() {
    let mut policy = Policy::new();
    let frame = udp_to_linux(FLOODER, 32);
    assert_eq!(passed(&mut policy, &frame, BURST + 500, START), BURST);
    assert_eq!(policy.inbound(&frame, START), Verdict::Drop(DropReason::RateLimited));
    let counters = policy.counters();
    assert_eq!(counters.passed, BURST);
    assert_eq!(counters.rate_limited, 501);
    assert_eq!(counters.dropped(), 501);
}

#[test]
fn the_bucket_refills_at_the_rate() {
    let mut policy = Policy::new();
    let frame = udp_to_linux(FLOODER, 32);
    assert_eq!(passed(&mut policy, &frame, BURST, START), BURST);
    // A twentieth of a second buys a twentieth of a second's packets.
    let later = START + Duration::from_millis(50);
    assert_eq!(passed(&mut policy, &frame, BURST, later), PACKETS_PER_SECOND / 20);
    // Refills come by the microsecond: nothing is lost to rounding.
    let mut now = later;
    let mut total = 0;
    for _ in 0..1000 {
        now += Duration::from_micros(1000);
        total += passed(&mut policy, &frame, 100, now);
    }
    assert_eq!(total, PACKETS_PER_SECOND);
    // A long silence fills the bucket, no more.
    let much_later = now + Duration::from_secs(3600);
    assert_eq!(passed(&mut policy, &frame, 2 * BURST, much_later), BURST);
}

#[test]
fn a_flood_from_one_source_leaves_the_others_alone() {
    let mut policy = Policy::new();
    let flood = udp_to_linux(FLOODER, 32);
    passed(&mut policy, &flood, 3 * BURST, START);
    assert_eq!(policy.inbound(&flood, START), Verdict::Drop(DropReason::RateLimited));
    let bystander = udp_to_linux(BYSTANDER, 32);
    assert_eq!(passed(&mut policy, &bystander, 10, START), 10);
    let reply = tcp_to_linux((GATEWAY_ADDRESS, 80), 40000, ACK);
    assert_eq!(policy.inbound(&reply, START), Verdict::Pass);
}

#[test]
fn frames_that_are_not_ipv4_share_one_bucket() {
    let mut policy = Policy::new();
    let arp = arp_request(GATEWAY_MAC, GATEWAY_ADDRESS, LINUX_ADDRESS);
    let other = raw_frame(GATEWAY_MAC, BROADCAST, 60, 0);
    let runt = [0u8; 6];
    assert_eq!(passed(&mut policy, &arp, BURST / 2, START), BURST / 2);
    assert_eq!(passed(&mut policy, &other, BURST / 2 - 1, START), BURST / 2 - 1);
    assert_eq!(policy.inbound(&runt, START), Verdict::Pass);
    assert_eq!(policy.inbound(&arp, START), Verdict::Drop(DropReason::RateLimited));
    // IPv4 is accounted elsewhere.
    assert_eq!(policy.inbound(&udp_to_linux(BYSTANDER, 0), START), Verdict::Pass);
}

#[test]
fn a_new_source_takes_the_place_of_the_one_heard_from_least_recently() {
    let mut policy = Policy::new();
    // The table fills: a crowd, one source a microsecond, then a flooder that
    // empties its bucket.
    for index in 0..SOURCES - 1 {
        let now = START + Duration::from_micros(index as u64);
        assert_eq!(policy.inbound(&udp_to_linux(crowd(index), 0), now), Verdict::Pass);
    }
    let now = START + Duration::from_millis(1);
    let flood = udp_to_linux(FLOODER, 0);
    assert_eq!(passed(&mut policy, &flood, BURST + 1, now), BURST);
    // One more source takes the place of the one heard from least recently,
    // crowd(0); when that comes back, its fresh bucket is full.
    let newcomer = udp_to_linux(BYSTANDER, 0);
    assert_eq!(policy.inbound(&newcomer, now), Verdict::Pass);
    assert_eq!(passed(&mut policy, &udp_to_linux(crowd(0), 0), BURST, now), BURST);
    // The flooder, heard from last, kept its empty bucket throughout.
    assert_eq!(policy.inbound(&flood, now), Verdict::Drop(DropReason::RateLimited));
}

#[test]
fn inbound_connections_are_capped() {
    let mut policy = Policy::new();
    let mut opened = 0;
    for source in 0..MAX_INBOUND_CONNECTIONS {
        let syn = tcp_to_linux((crowd(source), 50000), 22, SYN);
        assert_eq!(policy.inbound(&syn, START), Verdict::Pass);
        opened += 1;
    }
    assert_eq!(policy.connections(START), opened);
    let one_more = tcp_to_linux((BYSTANDER, 50000), 22, SYN);
    assert_eq!(policy.inbound(&one_more, START), Verdict::Drop(DropReason::TooManyConnections));
    assert_eq!(policy.counters().too_many_connections, 1);
    // A retransmitted SYN of an open connection is no new connection.
    let again = tcp_to_linux((crowd(3), 50000), 22, SYN);
    assert_eq!(policy.inbound(&again, START), Verdict::Pass);
    // Segments of connections Linux opened are not counted or refused.
    let answer = tcp_to_linux((GATEWAY_ADDRESS, 8080), 41000, SYN_ACK);
    assert_eq!(policy.inbound(&answer, START), Verdict::Pass);
    let data = tcp_to_linux((GATEWAY_ADDRESS, 8080), 41000, ACK);
    assert_eq!(policy.inbound(&data, START), Verdict::Pass);
    assert_eq!(policy.connections(START), MAX_INBOUND_CONNECTIONS);
}

#[test]
fn one_source_gets_only_its_share_of_connections() {
    let mut policy = Policy::new();
    for port in 0..MAX_INBOUND_CONNECTIONS_PER_SOURCE as u16 {
        let syn = tcp_to_linux((FLOODER, 50000 + port), 80, SYN);
        assert_eq!(policy.inbound(&syn, START), Verdict::Pass);
    }
    let syn = tcp_to_linux((FLOODER, 60000), 80, SYN);
    assert_eq!(
        policy.inbound(&syn, START),
        Verdict::Drop(DropReason::TooManyConnectionsFromSource)
    );
    let syn = tcp_to_linux((BYSTANDER, 60000), 80, SYN);
    assert_eq!(policy.inbound(&syn, START), Verdict::Pass);
    assert_eq!(policy.counters().too_many_connections_from_source, 1);
}

#[test]
fn resets_and_fins_from_either_side_end_connections() {
    let mut policy = Policy::new();
    let remote = (FLOODER, 50000);
    let fill = |policy: &mut Policy, first_port: u16, now: Instant| {
        for port in first_port..first_port + MAX_INBOUND_CONNECTIONS_PER_SOURCE as u16 {
            policy.inbound(&tcp_to_linux(remote, port, SYN), now);
        }
    };
    fill(&mut policy, 1, START);
    assert_eq!(policy.connections(START), MAX_INBOUND_CONNECTIONS_PER_SOURCE);
    // Linux refuses one (a closed port), the remote side aborts another.
    policy.outbound(&tcp_from_linux(1, remote, RST), START);
    policy.inbound(&tcp_to_linux(remote, 2, RST), START);
    assert_eq!(policy.connections(START), MAX_INBOUND_CONNECTIONS_PER_SOURCE - 2);
    // A FIN lets the connection linger a little, then it is gone.
    policy.inbound(&tcp_to_linux(remote, 3, ACK), START);
    policy.outbound(&tcp_from_linux(3, remote, FIN_ACK), START);
    let lingering = START + CLOSING_TIMEOUT - Duration::from_millis(1);
    assert_eq!(policy.connections(lingering), MAX_INBOUND_CONNECTIONS_PER_SOURCE - 2);
    // The room made is used again.
    let syn = tcp_to_linux(remote, 100, SYN);
    assert_eq!(policy.inbound(&syn, START), Verdict::Pass);
    let syn = tcp_to_linux(remote, 101, SYN);
    assert_eq!(policy.inbound(&syn, START), Verdict::Pass);
    let syn = tcp_to_linux(remote, 102, SYN);
    assert_eq!(
        policy.inbound(&syn, START),
        Verdict::Drop(DropReason::TooManyConnectionsFromSource)
    );
}

#[test]
fn silent_connections_expire() {
    let mut policy = Policy::new();
    let remote = (FLOODER, 50000);
    // Two half-open connections and one the remote side acknowledged.
    policy.inbound(&tcp_to_linux(remote, 1, SYN), START);
    policy.inbound(&tcp_to_linux(remote, 2, SYN), START);
    policy.inbound(&tcp_to_linux(remote, 3, SYN), START);
    policy.outbound(&tcp_from_linux(3, remote, SYN_ACK), START);
    policy.inbound(&tcp_to_linux(remote, 3, ACK), START);
    // Linux's own answers do not establish a connection: port 2 stays
    // half-open.
    policy.outbound(&tcp_from_linux(2, remote, SYN_ACK), START);
    assert_eq!(policy.connections(START), 3);
    let after_opening = START + OPENING_TIMEOUT;
    assert_eq!(policy.connections(after_opening), 1);
    // Traffic keeps an established connection alive.
    let busy = START + IDLE_TIMEOUT - Duration::from_secs(1);
    policy.inbound(&tcp_to_linux(remote, 3, ACK), busy);
    assert_eq!(policy.connections(START + IDLE_TIMEOUT), 1);
    assert_eq!(policy.connections(busy + IDLE_TIMEOUT), 0);
}

#[test]
fn expired_connections_make_room_for_new_ones() {
    let mut policy = Policy::new();
    for source in 0..MAX_INBOUND_CONNECTIONS {
        policy.inbound(&tcp_to_linux((crowd(source), 50000), 22, SYN), START);
    }
    let syn = tcp_to_linux((BYSTANDER, 50000), 22, SYN);
    assert_eq!(policy.inbound(&syn, START), Verdict::Drop(DropReason::TooManyConnections));
    let later = START + OPENING_TIMEOUT;
    assert_eq!(policy.inbound(&syn, later), Verdict::Pass);
    assert_eq!(policy.connections(later), 1);
}

#[test]
fn a_rate_limited_syn_opens_no_connection() {
    let mut policy = Policy::new();
    passed(&mut policy, &udp_to_linux(FLOODER, 0), BURST, START);
    let syn = tcp_to_linux((FLOODER, 50000), 22, SYN);
    assert_eq!(policy.inbound(&syn, START), Verdict::Drop(DropReason::RateLimited));
    assert_eq!(policy.connections(START), 0);
}

#[test]
fn later_fragments_are_rate_limited_only() {
    let mut policy = Policy::new();
    // A fragment at offset 8 of a TCP packet: its payload is no TCP header,
    // even though it looks like a SYN.
    let mut frame = tcp_to_linux((FLOODER, 50000), 22, SYN);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_frag_offset(8);
    ip.fill_checksum();
    for _ in 0..2 * MAX_INBOUND_CONNECTIONS {
        assert_eq!(policy.inbound(&frame, START), Verdict::Pass);
    }
    assert_eq!(policy.connections(START), 0);
}
