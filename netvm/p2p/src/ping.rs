//! The libp2p ping protocol, `/ipfs/ping/1.0.0`: on a stream of its own
//! the dialer writes 32 random bytes and the listener sends them back;
//! the dialer may repeat this on the same stream as often as it likes.
//! The random bytes come from the caller, as all randomness in this crate.

use alloc::vec::Vec;

/// The protocol name negotiated with multistream-select.
pub const PROTOCOL: &str = "/ipfs/ping/1.0.0";

/// Bytes in one ping and in its echo.
pub const PAYLOAD: usize = 32;

/// Why a ping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingError {
    /// The echo differs from the bytes we sent.
    Mismatch,
    /// The peer sent bytes while no ping was waiting for its echo.
    Unsolicited,
}

impl core::fmt::Display for PingError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Mismatch => write!(formatter, "ping echo differs from the payload sent"),
            Self::Unsolicited => write!(formatter, "peer sent ping bytes nobody asked for"),
        }
    }
}

/// The listener's side: echoes every payload.
#[derive(Clone, Debug, Default)]
pub struct Responder {
    /// Payloads echoed so far.
    answered: u64,
}

impl Responder {
    /// A responder that has answered nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Echoes every complete payload at the front of `input` to `output`,
    /// leaving a partial one in `input` until the rest arrives.
    pub fn receive(&mut self, input: &mut Vec<u8>, output: &mut Vec<u8>) {
        let whole = input.len() - input.len() % PAYLOAD;
        output.extend(input.drain(..whole));
        self.answered += (whole / PAYLOAD) as u64;
    }

    /// Payloads echoed so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }
}

/// The dialer's side: sends one payload at a time and checks its echo.
#[derive(Clone, Debug, Default)]
pub struct Pinger {
    /// The payload waiting for its echo.
    waiting: Option<[u8; PAYLOAD]>,
}

impl Pinger {
    /// A pinger with no ping under way.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `payload` (random bytes from the caller) to `output` and
    /// waits for its echo; returns whether it was sent. One ping at a
    /// time: while one waits for its echo, nothing is sent.
    pub fn send(&mut self, payload: [u8; PAYLOAD], output: &mut Vec<u8>) -> bool {
        if self.waiting.is_some() {
            return false;
        }
        output.extend_from_slice(&payload);
        self.waiting = Some(payload);
        true
    }

    /// Checks the echo at the front of `input`: `Ok(Some(()))` once it has
    /// arrived and matches (it is drained), `Ok(None)` while it is still
    /// incomplete.
    pub fn receive(&mut self, input: &mut Vec<u8>) -> Result<Option<()>, PingError> {
        let Some(payload) = self.waiting else {
            return if input.is_empty() { Ok(None) } else { Err(PingError::Unsolicited) };
        };
        let Some(echo) = input.get(..PAYLOAD) else {
            return if payload.starts_with(input) { Ok(None) } else { Err(PingError::Mismatch) };
        };
        if echo != payload {
            return Err(PingError::Mismatch);
        }
        input.drain(..PAYLOAD);
        self.waiting = None;
        Ok(Some(()))
    }

    /// Whether a ping waits for its echo.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload(seed: u8) -> [u8; PAYLOAD] {
        core::array::from_fn(|index| seed.wrapping_mul(31).wrapping_add(index as u8))
    }

    #[test]
    fn a_ping_is_echoed_and_repeated_on_the_same_stream() {
        let mut pinger = Pinger::new();
        let mut responder = Responder::new();
        for round in 0..3 {
            let mut to_responder = Vec::new();
            assert!(pinger.send(payload(round), &mut to_responder));
            assert_eq!(to_responder, payload(round));
            assert!(pinger.is_waiting());
            let mut to_pinger = Vec::new();
            responder.receive(&mut to_responder, &mut to_pinger);
            assert!(to_responder.is_empty());
            assert_eq!(pinger.receive(&mut to_pinger), Ok(Some(())));
            assert!(to_pinger.is_empty());
            assert!(!pinger.is_waiting());
        }
        assert_eq!(responder.answered(), 3);
    }

    #[test]
    fn byte_by_byte() {
        let mut pinger = Pinger::new();
        let mut responder = Responder::new();
        let mut wire = Vec::new();
        assert!(pinger.send(payload(7), &mut wire));
        let mut responder_input = Vec::new();
        let mut echo = Vec::new();
        for byte in wire {
            responder_input.push(byte);
            responder.receive(&mut responder_input, &mut echo);
        }
        assert_eq!(echo, payload(7));
        let mut pinger_input = Vec::new();
        let mut result = Ok(None);
        for byte in echo {
            assert_eq!(result, Ok(None));
            pinger_input.push(byte);
            result = pinger.receive(&mut pinger_input);
        }
        assert_eq!(result, Ok(Some(())));
    }

    #[test]
    fn the_responder_keeps_a_partial_payload() {
        let mut responder = Responder::new();
        let mut input = [payload(1).as_slice(), payload(2).as_slice(), &[9, 9, 9]].concat();
        let mut output = Vec::new();
        responder.receive(&mut input, &mut output);
        assert_eq!(output, [payload(1), payload(2)].concat());
        assert_eq!(input, [9, 9, 9]);
        assert_eq!(responder.answered(), 2);
    }

    #[test]
    fn a_wrong_echo_is_an_error() {
        let mut pinger = Pinger::new();
        assert!(pinger.send(payload(1), &mut Vec::new()));
        assert_eq!(pinger.receive(&mut payload(2).to_vec()), Err(PingError::Mismatch));
        // A wrong first byte is caught before the rest arrives.
        let mut pinger = Pinger::new();
        assert!(pinger.send(payload(1), &mut Vec::new()));
        assert_eq!(pinger.receive(&mut alloc::vec![payload(1)[0] ^ 1]), Err(PingError::Mismatch));
    }

    #[test]
    fn unsolicited_bytes_and_overlapping_pings_are_refused() {
        let mut pinger = Pinger::new();
        assert_eq!(pinger.receive(&mut Vec::new()), Ok(None));
        assert_eq!(pinger.receive(&mut alloc::vec![1]), Err(PingError::Unsolicited));
        assert!(pinger.send(payload(1), &mut Vec::new()));
        let mut output = Vec::new();
        assert!(!pinger.send(payload(2), &mut output));
        assert!(output.is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut pinger = Pinger::new();
            let _ = pinger.receive(&mut bytes.clone());
            assert!(pinger.send(payload(3), &mut Vec::new()));
            let _ = pinger.receive(&mut bytes.clone());
            let mut responder = Responder::new();
            let mut input = bytes.clone();
            let mut output = Vec::new();
            responder.receive(&mut input, &mut output);
            prop_assert_eq!([output, input].concat(), bytes);
        }
    }
}
