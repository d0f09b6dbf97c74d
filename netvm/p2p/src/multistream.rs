//! multistream-select 1.0: how two peers agree on the protocol a
//! connection or stream speaks next.
//!
//! Every message is a line (ending in `\n`) behind its varint length. Both
//! sides start with the header `/multistream/1.0.0`; the dialer then
//! proposes protocol names one at a time and the listener answers each with
//! the name itself (agreed) or `na` (not available). A dialer may also ask
//! `ls` for the listener's list.
//!
//! Dialers are "lazy", as rust-libp2p's `V1Lazy`: the header and the first
//! proposal go out in one write, and data for the proposed protocol may
//! follow before any answer. The [`Listener`] therefore stops consuming
//! the moment it agrees, leaving those bytes in `input` for the next
//! layer; the [`Dialer`] likewise leaves whatever follows the listener's
//! confirmation.

use alloc::vec::Vec;

use crate::varint::{self, FrameError};

/// The longest protocol name accepted, in bytes. Every negotiation
/// message is held whole before it is parsed, so this bounds what a peer
/// can make us buffer. Real names are far shorter (`/yamux/1.0.0`,
/// `/ipfs/id/1.0.0`); 140 is the limit rust-libp2p long enforced, so no
/// name that ever worked with it is refused here.
pub const PROTOCOL_MAX: usize = 140;

/// How many `na` or `ls` answers one negotiation may take before it is
/// abandoned: a peer cannot keep us answering forever.
pub const MAXIMUM_ROUNDS: usize = 16;

/// The multistream-select 1.0 header line, without its newline.
pub const HEADER: &[u8] = b"/multistream/1.0.0";

/// The answer to a proposal the listener does not support.
const NOT_AVAILABLE: &[u8] = b"na";

/// The request for the listener's protocol list.
const LIST: &[u8] = b"ls";

/// Why a negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NegotiationError {
    /// The peer's first message is not `/multistream/1.0.0`.
    BadHeader,
    /// A message longer than a protocol name of [`PROTOCOL_MAX`] bytes.
    MessageTooLong,
    /// A message's length prefix is not a valid varint.
    BadLength,
    /// A message that is not one line ending in `\n`.
    NotALine,
    /// The listener answered something other than our proposal or `na`.
    UnexpectedMessage,
    /// The listener refused every protocol we proposed.
    AllRefused,
    /// The peer took more than [`MAXIMUM_ROUNDS`] refusals or listings.
    TooManyRounds,
}

impl core::fmt::Display for NegotiationError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::BadHeader => write!(formatter, "peer did not start with /multistream/1.0.0"),
            Self::MessageTooLong => {
                write!(formatter, "negotiation message over {} bytes", PROTOCOL_MAX + 1)
            }
            Self::BadLength => write!(formatter, "negotiation message length is not a varint"),
            Self::NotALine => write!(formatter, "negotiation message is not one line"),
            Self::UnexpectedMessage => {
                write!(formatter, "listener answered neither our proposal nor na")
            }
            Self::AllRefused => write!(formatter, "listener refused every proposed protocol"),
            Self::TooManyRounds => {
                write!(formatter, "negotiation took more than {MAXIMUM_ROUNDS} rounds")
            }
        }
    }
}

/// Appends `line` as one message: its varint length, the line and `\n`.
fn write_message(line: &[u8], output: &mut Vec<u8>) {
    varint::encode(line.len() as u64 + 1, output);
    output.extend_from_slice(line);
    output.push(b'\n');
}

/// Reads one message from the front of `input`: the line without its
/// newline and the bytes the message took, or `None` until it has all
/// arrived.
fn read_message(input: &[u8]) -> Result<Option<(&[u8], usize)>, NegotiationError> {
    let frame = varint::decode_frame(input, PROTOCOL_MAX + 1).map_err(|error| match error {
        FrameError::Varint(_) => NegotiationError::BadLength,
        FrameError::TooLong { .. } => NegotiationError::MessageTooLong,
    })?;
    let Some((body, taken)) = frame else {
        return Ok(None);
    };
    match body.split_last() {
        Some((b'\n', line)) if !line.contains(&b'\n') => Ok(Some((line, taken))),
        _ => Err(NegotiationError::NotALine),
    }
}

/// Where either side of a negotiation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's header.
    Header,
    /// Exchanging proposals and answers.
    Negotiating,
    /// Agreed on the protocol at this index (of the listener's protocols
    /// or the dialer's proposals).
    Agreed(usize),
    /// Failed; every later call gives the same error.
    Failed(NegotiationError),
}

/// What a [`Listener`] and a [`Dialer`] do with each message; [`drive`]
/// does the rest.
trait Side {
    /// Where the negotiation is.
    fn state(&mut self) -> &mut State;

    /// Handles one message `line` (the state is `Header` or
    /// `Negotiating`), appending any answer to `output`; returns the
    /// state it leads to.
    fn handle(&mut self, line: &[u8], output: &mut Vec<u8>) -> Result<State, NegotiationError>;
}

/// Consumes messages from the front of `input` while `side` negotiates.
/// `Ok(Some(index))` once agreed, leaving the bytes after the agreement in
/// `input`; `Ok(None)` while more input is needed. A failure leaves the
/// failing message in `input` and is given again by every later call.
fn drive(
    side: &mut impl Side,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
) -> Result<Option<usize>, NegotiationError> {
    loop {
        match *side.state() {
            State::Agreed(index) => return Ok(Some(index)),
            State::Failed(error) => return Err(error),
            State::Header | State::Negotiating => {}
        }
        let (next, taken) = match read_message(input) {
            Ok(None) => return Ok(None),
            Ok(Some((line, taken))) => match side.handle(line, output) {
                Ok(next) => (next, taken),
                Err(error) => (State::Failed(error), 0),
            },
            Err(error) => (State::Failed(error), 0),
        };
        input.drain(..taken);
        *side.state() = next;
    }
}

/// The side that answers proposals: a connection's listener, or the side
/// of a stream that did not open it.
#[derive(Clone, Debug)]
pub struct Listener {
    /// The protocols we support, in the order given.
    protocols: Vec<&'static str>,
    /// Progress so far; `Agreed` holds an index into `protocols`.
    state: State,
    /// `na` and `ls` answers given so far.
    rounds: usize,
}

impl Listener {
    /// A listener that accepts any of `protocols`. Names longer than
    /// [`PROTOCOL_MAX`] can never be agreed.
    pub fn new(protocols: &[&'static str]) -> Self {
        Self { protocols: protocols.to_vec(), state: State::Header, rounds: 0 }
    }

    /// Consumes negotiation messages from the front of `input`, appends
    /// answers to `output`. `Ok(Some(index))` once a proposal is agreed
    /// (an index into `protocols`); the bytes after it stay in `input`.
    /// `Ok(None)` while more input is needed.
    pub fn receive(
        &mut self,
        input: &mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> Result<Option<usize>, NegotiationError> {
        drive(self, input, output)
    }

    /// Appends the answer to `ls`: one message holding every protocol as
    /// its own length-prefixed line, closed by an empty line.
    fn write_list(&self, output: &mut Vec<u8>) {
        let mut list = Vec::new();
        for name in &self.protocols {
            write_message(name.as_bytes(), &mut list);
        }
        list.push(b'\n');
        varint::encode_frame(&list, output);
    }
}

impl Side for Listener {
    fn state(&mut self) -> &mut State {
        &mut self.state
    }

    fn handle(&mut self, line: &[u8], output: &mut Vec<u8>) -> Result<State, NegotiationError> {
        if self.state == State::Header {
            if line != HEADER {
                return Err(NegotiationError::BadHeader);
            }
            write_message(HEADER, output);
            return Ok(State::Negotiating);
        }
        if let Some(index) = self.protocols.iter().position(|name| name.as_bytes() == line) {
            write_message(line, output);
            return Ok(State::Agreed(index));
        }
        self.rounds += 1;
        if self.rounds > MAXIMUM_ROUNDS {
            return Err(NegotiationError::TooManyRounds);
        }
        if line == LIST {
            self.write_list(output);
        } else {
            write_message(NOT_AVAILABLE, output);
        }
        Ok(State::Negotiating)
    }
}

/// The side that proposes: a connection's dialer, or the opener of a
/// stream.
#[derive(Clone, Debug)]
pub struct Dialer {
    /// What we propose, in order of preference.
    proposals: Vec<&'static str>,
    /// The proposal awaiting an answer.
    current: usize,
    /// Progress so far; `Agreed` holds an index into `proposals`.
    state: State,
}

impl Dialer {
    /// Writes the header and the first proposal to `output`, in one go.
    /// With no proposals, only the header goes out and the negotiation
    /// fails with [`NegotiationError::AllRefused`].
    pub fn new(proposals: &[&'static str], output: &mut Vec<u8>) -> Self {
        write_message(HEADER, output);
        let state = match proposals.first() {
            Some(first) => {
                write_message(first.as_bytes(), output);
                State::Header
            }
            None => State::Failed(NegotiationError::AllRefused),
        };
        Self { proposals: proposals.to_vec(), current: 0, state }
    }

    /// Consumes the listener's answers from the front of `input`; after an
    /// `na` the next proposal is appended to `output`. `Ok(Some(index))`
    /// once the listener confirmed `proposals[index]`; the bytes after the
    /// confirmation stay in `input`. `Ok(None)` while more input is needed.
    pub fn receive(
        &mut self,
        input: &mut Vec<u8>,
        output: &mut Vec<u8>,
    ) -> Result<Option<usize>, NegotiationError> {
        drive(self, input, output)
    }
}

impl Side for Dialer {
    fn state(&mut self) -> &mut State {
        &mut self.state
    }

    fn handle(&mut self, line: &[u8], output: &mut Vec<u8>) -> Result<State, NegotiationError> {
        if self.state == State::Header {
            if line != HEADER {
                return Err(NegotiationError::BadHeader);
            }
            return Ok(State::Negotiating);
        }
        let proposal = self.proposals.get(self.current).ok_or(NegotiationError::AllRefused)?;
        if line == proposal.as_bytes() {
            return Ok(State::Agreed(self.current));
        }
        if line != NOT_AVAILABLE {
            return Err(NegotiationError::UnexpectedMessage);
        }
        self.current += 1;
        if self.current > MAXIMUM_ROUNDS {
            return Err(NegotiationError::TooManyRounds);
        }
        let next = self.proposals.get(self.current).ok_or(NegotiationError::AllRefused)?;
        write_message(next.as_bytes(), output);
        Ok(State::Negotiating)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    const NOISE: &str = "/noise";
    const YAMUX: &str = "/yamux/1.0.0";

    /// The dialer's opening for `/noise`, as the specification's framing
    /// gives it: 0x13 = 19 bytes of header line, 0x07 = 7 of `/noise\n`.
    const NOISE_OPENING: &[u8] = b"\x13/multistream/1.0.0\n\x07/noise\n";

    /// Runs a dialer against a listener, moving bytes `chunk` at a time,
    /// until both agree; returns what each side agreed on.
    fn negotiate(
        dialer_proposals: &[&'static str],
        listener_protocols: &[&'static str],
        chunk: usize,
    ) -> (Result<Option<usize>, NegotiationError>, Result<Option<usize>, NegotiationError>) {
        let mut to_listener = Vec::new();
        let mut dialer = Dialer::new(dialer_proposals, &mut to_listener);
        let mut listener = Listener::new(listener_protocols);
        let mut to_dialer = Vec::new();
        let mut listener_input = Vec::new();
        let mut dialer_input = Vec::new();
        let mut dialer_result = Ok(None);
        let mut listener_result = Ok(None);
        for _ in 0..10_000 {
            if !to_listener.is_empty() {
                let take = chunk.min(to_listener.len());
                listener_input.extend(to_listener.drain(..take));
            }
            listener_result = listener.receive(&mut listener_input, &mut to_dialer);
            if !to_dialer.is_empty() {
                let take = chunk.min(to_dialer.len());
                dialer_input.extend(to_dialer.drain(..take));
            }
            dialer_result = dialer.receive(&mut dialer_input, &mut to_listener);
            let finished =
                |result: &Result<Option<usize>, NegotiationError>| !matches!(result, Ok(None));
            if finished(&dialer_result)
                && (finished(&listener_result) || dialer_result.is_err())
                && to_listener.is_empty()
                && to_dialer.is_empty()
            {
                break;
            }
        }
        (dialer_result, listener_result)
    }

    #[test]
    fn the_dialer_opens_with_header_and_proposal_in_one_write() {
        let mut output = Vec::new();
        Dialer::new(&[NOISE], &mut output);
        assert_eq!(output, NOISE_OPENING);
    }

    #[test]
    fn the_listener_answers_header_and_echo() {
        let mut listener = Listener::new(&[YAMUX, NOISE]);
        let mut input = NOISE_OPENING.to_vec();
        let mut output = Vec::new();
        assert_eq!(listener.receive(&mut input, &mut output), Ok(Some(1)));
        assert_eq!(output, NOISE_OPENING);
        assert!(input.is_empty());
        // Agreed for good: later calls neither consume nor answer.
        input.extend_from_slice(b"noise handshake");
        assert_eq!(listener.receive(&mut input, &mut output), Ok(Some(1)));
        assert_eq!(input, b"noise handshake");
        assert_eq!(output, NOISE_OPENING);
    }

    #[test]
    fn pipelined_data_is_left_for_the_next_layer() {
        let mut listener = Listener::new(&[NOISE]);
        let mut input = NOISE_OPENING.to_vec();
        input.extend_from_slice(&[0x00, 0x20, 0xaa, 0xbb]);
        let mut output = Vec::new();
        assert_eq!(listener.receive(&mut input, &mut output), Ok(Some(0)));
        assert_eq!(input, [0x00, 0x20, 0xaa, 0xbb]);

        let mut dialer_output = Vec::new();
        let mut dialer = Dialer::new(&[NOISE], &mut dialer_output);
        let mut answer = output.clone();
        answer.extend_from_slice(b"reply");
        assert_eq!(dialer.receive(&mut answer, &mut dialer_output), Ok(Some(0)));
        assert_eq!(answer, b"reply");
    }

    #[test]
    fn byte_by_byte_negotiation_agrees() {
        let (dialer, listener) = negotiate(&[YAMUX], &[NOISE, YAMUX], 1);
        assert_eq!(dialer, Ok(Some(0)));
        assert_eq!(listener, Ok(Some(1)));
    }

    #[test]
    fn a_refused_proposal_moves_to_the_next() {
        let (dialer, listener) = negotiate(&["/tls/1.0.0", NOISE], &[NOISE], 1000);
        assert_eq!(dialer, Ok(Some(1)));
        assert_eq!(listener, Ok(Some(0)));
        let (dialer, listener) = negotiate(&["/mplex/6.7.0", "/tls/1.0.0", YAMUX], &[YAMUX], 3);
        assert_eq!(dialer, Ok(Some(2)));
        assert_eq!(listener, Ok(Some(0)));
    }

    #[test]
    fn the_exact_bytes_of_a_refusal() {
        let mut dialer_output = Vec::new();
        let mut dialer = Dialer::new(&["/tls/1.0.0", NOISE], &mut dialer_output);
        let mut listener = Listener::new(&[NOISE]);
        let mut listener_output = Vec::new();
        assert_eq!(listener.receive(&mut dialer_output, &mut listener_output), Ok(None));
        assert_eq!(listener_output, b"\x13/multistream/1.0.0\n\x03na\n");
        let mut second = Vec::new();
        assert_eq!(dialer.receive(&mut listener_output, &mut second), Ok(None));
        assert_eq!(second, b"\x07/noise\n");
    }

    #[test]
    fn every_proposal_refused() {
        let (dialer, listener) = negotiate(&["/tls/1.0.0", "/secio/1.0.0"], &[NOISE], 1000);
        assert_eq!(dialer, Err(NegotiationError::AllRefused));
        assert_eq!(listener, Ok(None));
        let mut output = Vec::new();
        let mut dialer = Dialer::new(&[], &mut output);
        assert_eq!(output, b"\x13/multistream/1.0.0\n");
        assert_eq!(dialer.receive(&mut Vec::new(), &mut output), Err(NegotiationError::AllRefused));
    }

    #[test]
    fn ls_lists_the_protocols() {
        let mut listener = Listener::new(&[NOISE, YAMUX]);
        let mut input = b"\x13/multistream/1.0.0\n\x03ls\n".to_vec();
        let mut output = Vec::new();
        assert_eq!(listener.receive(&mut input, &mut output), Ok(None));
        let mut expected = b"\x13/multistream/1.0.0\n".to_vec();
        // One message of 23 bytes: "/noise\n" behind its length 7, then
        // "/yamux/1.0.0\n" behind its length 13, then the closing newline.
        expected.extend_from_slice(b"\x17\x07/noise\n\x0d/yamux/1.0.0\n\n");
        assert_eq!(output, expected);
        // A proposal after the listing still works.
        let mut input = b"\x0d/yamux/1.0.0\n".to_vec();
        assert_eq!(listener.receive(&mut input, &mut output), Ok(Some(1)));
    }

    #[test]
    fn a_bad_header_is_refused() {
        let mut listener = Listener::new(&[NOISE]);
        let mut input = b"\x13/multistream/2.0.0\n".to_vec();
        assert_eq!(listener.receive(&mut input, &mut Vec::new()), Err(NegotiationError::BadHeader));
        // The failure sticks.
        assert_eq!(
            listener.receive(&mut NOISE_OPENING.to_vec(), &mut Vec::new()),
            Err(NegotiationError::BadHeader)
        );
        let mut output = Vec::new();
        let mut dialer = Dialer::new(&[NOISE], &mut output);
        let mut input = b"\x07/noise\n".to_vec();
        assert_eq!(dialer.receive(&mut input, &mut output), Err(NegotiationError::BadHeader));
    }

    #[test]
    fn malformed_messages_are_refused() {
        let cases: [(&[u8], NegotiationError); 5] = [
            (b"\x05hello", NegotiationError::NotALine),
            (b"\x00", NegotiationError::NotALine),
            (b"\x05a\nb\n\n", NegotiationError::NotALine),
            (b"\x80\x00", NegotiationError::BadLength),
            (b"\x8e\x01", NegotiationError::MessageTooLong),
        ];
        for (bytes, error) in cases {
            let mut listener = Listener::new(&[NOISE]);
            assert_eq!(listener.receive(&mut bytes.to_vec(), &mut Vec::new()), Err(error));
        }
    }

    #[test]
    fn the_longest_protocol_name_is_accepted() {
        let name: &'static str = alloc::boxed::Box::leak("/".repeat(PROTOCOL_MAX).into_boxed_str());
        let (dialer, listener) = negotiate(&[name], &[name], 7);
        assert_eq!(dialer, Ok(Some(0)));
        assert_eq!(listener, Ok(Some(0)));
        let too_long: &'static str =
            alloc::boxed::Box::leak("/".repeat(PROTOCOL_MAX + 1).into_boxed_str());
        let mut input = Vec::new();
        Dialer::new(&[too_long], &mut input);
        let mut listener = Listener::new(&[too_long]);
        assert_eq!(
            listener.receive(&mut input, &mut Vec::new()),
            Err(NegotiationError::MessageTooLong)
        );
    }

    #[test]
    fn a_peer_cannot_keep_us_answering() {
        let mut listener = Listener::new(&[NOISE]);
        let mut input = b"\x13/multistream/1.0.0\n".to_vec();
        for _ in 0..MAXIMUM_ROUNDS {
            input.extend_from_slice(b"\x03ls\n\x05/tls\n");
        }
        let mut output = Vec::new();
        assert_eq!(listener.receive(&mut input, &mut output), Err(NegotiationError::TooManyRounds));

        let proposals = vec!["/unknown"; MAXIMUM_ROUNDS + 2];
        let mut output = Vec::new();
        let mut dialer = Dialer::new(&proposals, &mut output);
        let mut input = b"\x13/multistream/1.0.0\n".to_vec();
        for _ in 0..MAXIMUM_ROUNDS {
            input.extend_from_slice(b"\x03na\n");
        }
        assert_eq!(dialer.receive(&mut input, &mut output), Ok(None));
        input.extend_from_slice(b"\x03na\n");
        assert_eq!(dialer.receive(&mut input, &mut output), Err(NegotiationError::TooManyRounds));
    }

    #[test]
    fn the_dialer_refuses_an_unexpected_answer() {
        let mut output = Vec::new();
        let mut dialer = Dialer::new(&[NOISE], &mut output);
        let mut input = b"\x13/multistream/1.0.0\n\x05/tls\n".to_vec();
        assert_eq!(
            dialer.receive(&mut input, &mut output),
            Err(NegotiationError::UnexpectedMessage)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut listener = Listener::new(&[NOISE, YAMUX]);
            let mut input = bytes.clone();
            let before = input.len();
            let _ = listener.receive(&mut input, &mut Vec::new());
            prop_assert!(input.len() <= before);

            let mut output = Vec::new();
            let mut dialer = Dialer::new(&[YAMUX, NOISE], &mut output);
            let mut input = bytes.clone();
            let _ = dialer.receive(&mut input, &mut output);

            // After a valid header too, so the proposal paths see the bytes.
            let mut listener = Listener::new(&[NOISE]);
            let mut input = b"\x13/multistream/1.0.0\n".to_vec();
            input.extend_from_slice(&bytes);
            let _ = listener.receive(&mut input, &mut Vec::new());
            let mut input = b"\x13/multistream/1.0.0\n".to_vec();
            input.extend_from_slice(&bytes);
            let _ = dialer.receive(&mut input, &mut output);
        }

        #[test]
        fn any_chunking_agrees(
            chunk in 1usize..64,
            trailing in proptest::collection::vec(any::<u8>(), 0..32)
        ) {
            let (dialer, listener) = negotiate(&["/tls/1.0.0", YAMUX], &[NOISE, YAMUX], chunk);
            prop_assert_eq!(dialer, Ok(Some(1)));
            prop_assert_eq!(listener, Ok(Some(1)));

            // Data pipelined behind the proposal survives however it is split.
            let mut bytes = NOISE_OPENING.to_vec();
            bytes.extend_from_slice(&trailing);
            let mut listener = Listener::new(&[NOISE]);
            let mut input = Vec::new();
            let mut output = Vec::new();
            let mut agreed = Ok(None);
            for piece in bytes.chunks(chunk) {
                input.extend_from_slice(piece);
                agreed = listener.receive(&mut input, &mut output);
            }
            prop_assert_eq!(agreed, Ok(Some(0)));
            prop_assert_eq!(input, trailing);
            prop_assert_eq!(output, NOISE_OPENING);
        }
    }
}
