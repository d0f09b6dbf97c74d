//! The gateway check: once netvm has an address, it pings its gateway and
//! reports whether and how fast it answers. On QEMU's user-mode network the
//! gateway (10.0.2.2) is QEMU itself, which answers echo requests, so a
//! report of an answer proves the NIC, its driver, ARP and IPv4 work end to
//! end without anything on the host.
//!
//! [`GatewayCheck`] decides when to send and what an answer means; the stack
//! moves the packets, built and parsed by [`emit_echo_request`] and
//! [`parse_echo_reply`].

use core::fmt;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, Ipv4Address};

/// Echo requests sent before the gateway counts as silent.
pub const ATTEMPTS: u16 = 5;
/// Time between echo requests, and the wait for the last one's answer.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// The payload of every echo request.
pub const ECHO_DATA: &[u8] = b"elastos netvm gateway check";

/// Bytes of an echo request carrying [`ECHO_DATA`].
pub const fn echo_request_length() -> usize {
    Icmpv4Repr::EchoRequest { ident: 0, seq_no: 0, data: ECHO_DATA }.buffer_len()
}

/// Writes an echo request with `ident` and `sequence` to `buffer`, which
/// must be [`echo_request_length`] bytes long.
pub fn emit_echo_request(ident: u16, sequence: u16, buffer: &mut [u8]) {
    let request = Icmpv4Repr::EchoRequest { ident, seq_no: sequence, data: ECHO_DATA };
    request.emit(&mut Icmpv4Packet::new_unchecked(buffer), &ChecksumCapabilities::default());
}

/// The identifier and sequence number of an echo reply with a correct
/// checksum; `None` for anything else.
pub fn parse_echo_reply(bytes: &[u8]) -> Option<(u16, u16)> {
    let packet = Icmpv4Packet::new_checked(bytes).ok()?;
    match Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()).ok()? {
        Icmpv4Repr::EchoReply { ident, seq_no, .. } => Some((ident, seq_no)),
        _ => None,
    }
}

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An echo reply came back.
    Answered {
        /// The gateway.
        gateway: Ipv4Address,
        /// From sending the request it answers to receiving the answer.
        round_trip: Duration,
    },
    /// No reply to any of [`ATTEMPTS`] requests.
    Silent {
        /// The gateway.
        gateway: Ipv4Address,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Answered { gateway, round_trip } => {
                let micros = round_trip.total_micros();
                write!(
                    formatter,
                    "gateway {gateway} answers ping in {}.{:03} ms",
                    micros / 1000,
                    micros % 1000
                )
            }
            Self::Silent { gateway } => {
                write!(formatter, "gateway {gateway} does not answer ping ({ATTEMPTS} tries)")
            }
        }
    }
}

/// What the check wants done now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the deadline, if any.
    Wait(Option<Instant>),
    /// Send an echo request with this sequence number to the gateway, then
    /// call [`GatewayCheck::sent`].
    Send {
        /// Where to.
        gateway: Ipv4Address,
        /// Its sequence number.
        sequence: u16,
    },
    /// The check is over.
    Report(Outcome),
}

/// Where the check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing to check (no address or no gateway yet), or done.
    Idle,
    /// Pinging `gateway`; `sent_at[n]` is when request `n` went out.
    Probing { gateway: Ipv4Address, sent: u16, sent_at: [Instant; ATTEMPTS as usize] },
}

/// Pings the gateway until it answers or [`ATTEMPTS`] requests go
/// unanswered.
#[derive(Clone, Debug)]
pub struct GatewayCheck {
    ident: u16,
    state: State,
}

impl GatewayCheck {
    /// A check whose echo requests carry `ident` (random, so that answers
    /// to another boot's requests do not count).
    pub const fn new(ident: u16) -> Self {
        Self { ident, state: State::Idle }
    }

    /// The identifier of its echo requests.
    pub const fn ident(&self) -> u16 {
        self.ident
    }

    /// Starts checking `gateway`, dropping any check under way.
    pub fn start(&mut self, gateway: Ipv4Address) {
        self.state =
            State::Probing { gateway, sent: 0, sent_at: [Instant::ZERO; ATTEMPTS as usize] };
    }

    /// Stops checking (the address went away).
    pub fn stop(&mut self) {
        self.state = State::Idle;
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Action {
        let State::Probing { gateway, sent, sent_at } = self.state else {
            return Action::Wait(None);
        };
        let next = match sent {
            0 => now,
            sent => sent_at[usize::from(sent) - 1] + INTERVAL,
        };
        if now < next {
            Action::Wait(Some(next))
        } else if sent == ATTEMPTS {
            self.state = State::Idle;
            Action::Report(Outcome::Silent { gateway })
        } else {
            Action::Send { gateway, sequence: sent }
        }
    }

    /// The request [`Action::Send`] asked for went out at `now`.
    pub fn sent(&mut self, now: Instant) {
        if let State::Probing { sent, sent_at, .. } = &mut self.state {
            if *sent < ATTEMPTS {
                sent_at[usize::from(*sent)] = now;
                *sent += 1;
            }
        }
    }

    /// An echo reply with `ident` and `sequence` came from `from` at `now`.
    /// Returns the outcome if it answers one of this check's requests.
    pub fn received(
        &mut self,
        from: Ipv4Address,
        ident: u16,
        sequence: u16,
        now: Instant,
    ) -> Option<Outcome> {
        let State::Probing { gateway, sent, sent_at } = self.state else {
            return None;
        };
        if from != gateway || ident != self.ident || sequence >= sent {
            return None;
        }
        self.state = State::Idle;
        let round_trip = now - sent_at[usize::from(sequence)];
        Some(Outcome::Answered { gateway, round_trip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);

    fn at(millis: i64) -> Instant {
        Instant::from_millis(millis)
    }

    #[test]
    fn requests_round_trip_through_the_wire_format() {
        let mut request = vec![0u8; echo_request_length()];
        emit_echo_request(0x1234, 7, &mut request);
        let packet = Icmpv4Packet::new_checked(&request[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()).unwrap(),
            Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 7, data: ECHO_DATA }
        );
        // A request is not a reply.
        assert_eq!(parse_echo_reply(&request), None);
        // The reply a gateway sends back: type 0, same identifier, sequence
        // and data.
        let mut reply = request.clone();
        Icmpv4Repr::EchoReply { ident: 0x1234, seq_no: 7, data: ECHO_DATA }.emit(
            &mut Icmpv4Packet::new_unchecked(&mut reply[..]),
            &ChecksumCapabilities::default(),
        );
        assert_eq!(reply[0], 0);
        assert_eq!(parse_echo_reply(&reply), Some((0x1234, 7)));
        // A damaged reply, a truncated one.
        reply[10] ^= 1;
        assert_eq!(parse_echo_reply(&reply), None);
        assert_eq!(parse_echo_reply(&reply[..4]), None);
    }

    #[test]
    fn an_answer_ends_the_check_with_its_round_trip() {
        let mut check = GatewayCheck::new(99);
        assert_eq!(check.poll(at(0)), Action::Wait(None), "nothing to check yet");
        check.start(GATEWAY);
        assert_eq!(check.poll(at(10)), Action::Send { gateway: GATEWAY, sequence: 0 });
        check.sent(at(10));
        assert_eq!(check.poll(at(500)), Action::Wait(Some(at(1010))));
        assert_eq!(check.poll(at(1010)), Action::Send { gateway: GATEWAY, sequence: 1 });
        check.sent(at(1010));
        // The late answer to the first request counts, measured from its own
        // request.
        let outcome = check.received(GATEWAY, 99, 0, at(1012));
        assert_eq!(
            outcome,
            Some(Outcome::Answered { gateway: GATEWAY, round_trip: Duration::from_millis(1002) })
        );
        assert_eq!(check.poll(at(5000)), Action::Wait(None), "the check is over");
        assert_eq!(check.received(GATEWAY, 99, 1, at(5001)), None);
    }

    #[test]
    fn answers_to_other_requests_do_not_count() {
        let mut check = GatewayCheck::new(99);
        check.start(GATEWAY);
        check.sent(at(0));
        assert_eq!(check.received(Ipv4Address::new(10, 0, 2, 3), 99, 0, at(1)), None);
        assert_eq!(check.received(GATEWAY, 98, 0, at(1)), None, "another identifier");
        assert_eq!(check.received(GATEWAY, 99, 1, at(1)), None, "not sent yet");
        assert!(check.received(GATEWAY, 99, 0, at(3)).is_some());
    }

    #[test]
    fn a_gateway_that_never_answers_is_silent() {
        let mut check = GatewayCheck::new(1);
        check.start(GATEWAY);
        let mut now = 0;
        for sequence in 0..ATTEMPTS {
            assert_eq!(check.poll(at(now)), Action::Send { gateway: GATEWAY, sequence });
            check.sent(at(now));
            now += 1000;
        }
        assert_eq!(check.poll(at(now - 1)), Action::Wait(Some(at(now))));
        assert_eq!(check.poll(at(now)), Action::Report(Outcome::Silent { gateway: GATEWAY }));
        assert_eq!(check.poll(at(now + 1)), Action::Wait(None));
    }

    #[test]
    fn a_request_that_could_not_go_is_asked_for_again() {
        let mut check = GatewayCheck::new(1);
        check.start(GATEWAY);
        assert_eq!(check.poll(at(0)), Action::Send { gateway: GATEWAY, sequence: 0 });
        // Not sent (the socket was full): the same request is due.
        assert_eq!(check.poll(at(5)), Action::Send { gateway: GATEWAY, sequence: 0 });
        check.stop();
        assert_eq!(check.poll(at(6)), Action::Wait(None));
    }

    #[test]
    fn outcomes_read_as_the_console_prints_them() {
        let answered =
            Outcome::Answered { gateway: GATEWAY, round_trip: Duration::from_micros(1234) };
        assert_eq!(answered.to_string(), "gateway 10.0.2.2 answers ping in 1.234 ms");
        assert_eq!(
            Outcome::Silent { gateway: GATEWAY }.to_string(),
            "gateway 10.0.2.2 does not answer ping (5 tries)"
        );
    }
}
