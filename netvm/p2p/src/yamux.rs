//! yamux: many independent, flow-controlled byte streams over one
//! connection, as hashicorp's specification and libp2p's
//! `/yamux/1.0.0` give it.
//!
//! Every frame starts with a 12-byte header: version (0), type (data,
//! window update, ping, go away), flags (SYN, ACK, FIN, RST), stream id
//! and length, the last two big-endian. The connection's dialer is the
//! client and opens odd stream ids, the listener even ones; stream 0
//! stands for the session itself. A stream opens with SYN on its first
//! frame and is acknowledged with ACK; each direction of each stream has
//! a window of 256 KiB that the receiver reopens with window updates as
//! it consumes data.
//!
//! [`Session`] does no I/O: [`Session::receive`] takes the bytes that
//! arrived, [`Session::poll_event`] reports what they meant, and
//! [`Session::transmit`] hands over the frames to send. Memory is bounded:
//! at most [`Config::max_streams`] streams, each holding at most
//! [`Config::max_buffered`] unread bytes; streams closed both ways or
//! reset are forgotten.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

/// The protocol name negotiated with multistream-select.
pub const PROTOCOL: &str = "/yamux/1.0.0";

/// Bytes in a frame header.
pub const HEADER_LENGTH: usize = 12;

/// The window each stream direction starts with, fixed by the
/// specification.
pub const INITIAL_WINDOW: u32 = 256 * 1024;

/// The most data bytes put in one outgoing frame, so that frames of
/// different streams interleave (rust-libp2p splits at the same size).
pub const MAXIMUM_FRAME_DATA: usize = 16 * 1024;

/// The most streams we keep open that the peer has not acknowledged yet;
/// rust-libp2p holds back its own openings at the same number.
pub const ACKNOWLEDGE_BACKLOG: usize = 256;

/// The most answers to the peer's pings that may wait for
/// [`Session::transmit`]; a peer pinging faster is a protocol error.
pub const MAXIMUM_PENDING_PONGS: usize = 64;

/// Go-away code: normal termination.
pub const GO_AWAY_NORMAL: u32 = 0;
/// Go-away code: the peer broke the protocol.
pub const GO_AWAY_PROTOCOL_ERROR: u32 = 1;
/// Go-away code: an internal error.
pub const GO_AWAY_INTERNAL_ERROR: u32 = 2;

/// The only protocol version.
const VERSION: u8 = 0;

/// Frame type: data for a stream.
const TYPE_DATA: u8 = 0;
/// Frame type: more window for a stream; the length is the increment.
const TYPE_WINDOW_UPDATE: u8 = 1;
/// Frame type: ping; the length is an opaque value.
const TYPE_PING: u8 = 2;
/// Frame type: go away; the length is the code.
const TYPE_GO_AWAY: u8 = 3;

/// Flag: opens a stream, or marks a ping as a request.
const FLAG_SYN: u16 = 1;
/// Flag: acknowledges a stream, or marks a ping as an answer.
const FLAG_ACK: u16 = 2;
/// Flag: the sender will send no more on this stream.
const FLAG_FIN: u16 = 4;
/// Flag: the stream is abandoned at once.
const FLAG_RST: u16 = 8;

/// The id that stands for the session.
const SESSION: StreamId = 0;

/// Which side of the connection this session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The connection's dialer: opens odd stream ids.
    Client,
    /// The connection's listener: opens even stream ids.
    Server,
}

/// A session's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The most streams open at once, both directions together. The
    /// peer's openings beyond it are refused with RST.
    pub max_streams: usize,
    /// The receive window each stream keeps open for the peer; values
    /// under [`INITIAL_WINDOW`] count as [`INITIAL_WINDOW`], which the
    /// specification grants every new stream.
    pub receive_window: u32,
    /// The most unread bytes a stream holds for its reader. A stream whose
    /// peer sends past it is reset; at or above `receive_window` this
    /// never happens to a peer that keeps to its window.
    pub max_buffered: usize,
}

impl Default for Config {
    /// 64 streams of the specification's 256 KiB window, each able to hold
    /// its whole window unread.
    fn default() -> Self {
        Self {
            max_streams: 64,
            receive_window: INITIAL_WINDOW,
            max_buffered: INITIAL_WINDOW as usize,
        }
    }
}

/// A stream's number within its session.
pub type StreamId = u32;

/// What happened on a session, reported by [`Session::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer opened this stream.
    Opened(StreamId),
    /// New bytes are readable on this stream.
    Data(StreamId),
    /// The peer will send no more on this stream (half close).
    Finished(StreamId),
    /// The stream was abandoned, by the peer or because it overflowed;
    /// it is forgotten.
    Reset(StreamId),
    /// The peer is closing the session, with this code.
    GoAway(u32),
    /// The peer answered our ping with this opaque value.
    Pong(u32),
}

/// Why a session or a call on it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YamuxError {
    /// A frame of a version other than 0.
    UnsupportedVersion,
    /// A frame of a type other than the four defined.
    UnknownFrameType,
    /// The peer opened a stream with an id of our parity, or id 0.
    WrongStreamParity,
    /// The peer opened a stream that is already open.
    DuplicateStream,
    /// A frame for a stream that was never opened.
    StreamNeverOpened,
    /// Data beyond the window we announced.
    WindowExceeded,
    /// A window update that overflows the window.
    WindowOverflow,
    /// Data after the peer closed its side of the stream.
    DataAfterFinish,
    /// More than [`MAXIMUM_PENDING_PONGS`] pings waiting for answers.
    TooManyPings,
    /// No open stream has this id.
    UnknownStream,
    /// We already closed our side of this stream.
    StreamClosed,
    /// [`Config::max_streams`] streams are open already.
    TooManyStreams,
    /// [`ACKNOWLEDGE_BACKLOG`] of our streams wait for the peer's ACK.
    AcknowledgeBacklog,
    /// The session is going away: no new streams.
    GoingAway,
    /// Every stream id of our parity has been used.
    StreamIdsExhausted,
}

impl core::fmt::Display for YamuxError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        let message = match self {
            Self::UnsupportedVersion => "yamux frame of an unsupported version",
            Self::UnknownFrameType => "yamux frame of an unknown type",
            Self::WrongStreamParity => "peer opened a stream with an id of the wrong parity",
            Self::DuplicateStream => "peer opened a stream that is already open",
            Self::StreamNeverOpened => "yamux frame for a stream never opened",
            Self::WindowExceeded => "peer sent more data than the window allows",
            Self::WindowOverflow => "window update overflows the window",
            Self::DataAfterFinish => "peer sent data after closing the stream",
            Self::TooManyPings => "peer pings faster than its answers are sent",
            Self::UnknownStream => "no open yamux stream has this id",
            Self::StreamClosed => "this side of the stream is already closed",
            Self::TooManyStreams => "the session's stream limit is reached",
            Self::AcknowledgeBacklog => "too many opened streams wait for the peer's ACK",
            Self::GoingAway => "the session is going away",
            Self::StreamIdsExhausted => "every stream id has been used",
        };
        formatter.write_str(message)
    }
}

/// A frame header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    /// The frame type.
    kind: u8,
    /// SYN, ACK, FIN and RST bits.
    flags: u16,
    /// The stream, or [`SESSION`].
    stream: StreamId,
    /// Data length, window increment, ping value or go-away code.
    length: u32,
}

/// Appends a frame header to `output`.
fn write_header(kind: u8, flags: u16, stream: StreamId, length: u32, output: &mut Vec<u8>) {
    output.push(VERSION);
    output.push(kind);
    output.extend_from_slice(&flags.to_be_bytes());
    output.extend_from_slice(&stream.to_be_bytes());
    output.extend_from_slice(&length.to_be_bytes());
}

/// Decodes the header at the front of `input`, or `None` if fewer than
/// [`HEADER_LENGTH`] bytes are there.
fn read_header(input: &[u8]) -> Result<Option<Header>, YamuxError> {
    let Some(bytes) = input.first_chunk::<HEADER_LENGTH>() else {
        return Ok(None);
    };
    let [version, kind, ..] = *bytes;
    if version != VERSION {
        return Err(YamuxError::UnsupportedVersion);
    }
    if kind > TYPE_GO_AWAY {
        return Err(YamuxError::UnknownFrameType);
    }
    // Constant indices into a 12-byte array: checked when compiling.
    Ok(Some(Header {
        kind,
        flags: u16::from_be_bytes([bytes[2], bytes[3]]),
        stream: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        length: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
    }))
}

/// One open stream.
#[derive(Debug)]
struct Stream {
    /// Bytes the peer may still send before we reopen the window.
    receive_window: u32,
    /// Bytes we may still send before the peer reopens its window.
    send_window: u32,
    /// Bytes received and not read yet.
    buffer: VecDeque<u8>,
    /// We sent FIN.
    local_closed: bool,
    /// The peer sent FIN.
    remote_closed: bool,
    /// Flags owed on our next frame: SYN while an opening is unsent.
    pending_flags: u16,
    /// The peer acknowledged our opening (always true for its openings).
    acknowledged: bool,
    /// An [`Event::Data`] for this stream waits in the queue.
    data_event_queued: bool,
}

impl Stream {
    /// A stream with these windows, nothing buffered or closed.
    fn new(receive_window: u32, send_window: u32, pending_flags: u16, acknowledged: bool) -> Self {
        Self {
            receive_window,
            send_window,
            buffer: VecDeque::new(),
            local_closed: false,
            remote_closed: false,
            pending_flags,
            acknowledged,
            data_event_queued: false,
        }
    }
}

/// A data frame whose body is still arriving.
#[derive(Clone, Copy, Debug)]
struct Body {
    /// The stream it belongs to (which may be gone: then it is dropped).
    stream: StreamId,
    /// Body bytes still to come.
    remaining: u32,
    /// The frame's flags; FIN and RST take effect after the body.
    flags: u16,
}

/// One side of a yamux session.
#[derive(Debug)]
pub struct Session {
    /// Client or server.
    mode: Mode,
    /// Limits.
    config: Config,
    /// Open streams.
    streams: BTreeMap<StreamId, Stream>,
    /// The id our next opening takes; `None` once they ran out.
    next_outbound: Option<StreamId>,
    /// The highest id the peer has opened.
    highest_inbound: StreamId,
    /// Events not yet polled.
    events: VecDeque<Event>,
    /// Frames not yet transmitted.
    output: Vec<u8>,
    /// The data frame whose body is arriving.
    body: Option<Body>,
    /// Answers to pings queued since the last transmit.
    pending_pongs: usize,
    /// Our pings still waiting for answers.
    outstanding_pings: usize,
    /// We sent go away.
    local_go_away: bool,
    /// The peer sent go away.
    remote_go_away: bool,
    /// The protocol violation that ended the session.
    failed: Option<YamuxError>,
    /// Peer openings refused with RST.
    refused_streams: u64,
    /// Streams reset because the peer sent past [`Config::max_buffered`].
    overflowed_streams: u64,
}

impl Session {
    /// A session with no streams yet.
    pub fn new(mode: Mode, config: Config) -> Self {
        Self {
            mode,
            config,
            streams: BTreeMap::new(),
            next_outbound: Some(match mode {
                Mode::Client => 1,
                Mode::Server => 2,
            }),
            highest_inbound: 0,
            events: VecDeque::new(),
            output: Vec::new(),
            body: None,
            pending_pongs: 0,
            outstanding_pings: 0,
            local_go_away: false,
            remote_go_away: false,
            failed: None,
            refused_streams: 0,
            overflowed_streams: 0,
        }
    }

    /// Consumes complete frames, and the available part of a data frame's
    /// body, from the front of `input`; queues answers (pings, window
    /// updates, RSTs for refused streams). A protocol violation is an
    /// error that ends the session: the caller sends what
    /// [`transmit`](Self::transmit) gives (a go away with the
    /// protocol-error code) and closes the connection. Poll the events
    /// after every call.
    pub fn receive(&mut self, input: &mut Vec<u8>) -> Result<(), YamuxError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut consumed = 0;
        let result = self.receive_frames(input, &mut consumed);
        input.drain(..consumed);
        if let Err(error) = result {
            self.failed = Some(error);
            self.body = None;
            write_header(TYPE_GO_AWAY, 0, SESSION, GO_AWAY_PROTOCOL_ERROR, &mut self.output);
            self.local_go_away = true;
        }
        result
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Data(id) = event {
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.data_event_queued = false;
            }
        }
        Some(event)
    }

    /// Opens a stream. The peer learns of it with the stream's first frame
    /// (its SYN rides on the first write or the close), unless our window
    /// is larger than [`INITIAL_WINDOW`]: then a window update announcing
    /// the difference carries the SYN at once.
    pub fn open(&mut self) -> Result<StreamId, YamuxError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.local_go_away || self.remote_go_away {
            return Err(YamuxError::GoingAway);
        }
        if self.streams.len() >= self.config.max_streams {
            return Err(YamuxError::TooManyStreams);
        }
        if self.streams.values().filter(|stream| !stream.acknowledged).count()
            >= ACKNOWLEDGE_BACKLOG
        {
            return Err(YamuxError::AcknowledgeBacklog);
        }
        let id = self.next_outbound.ok_or(YamuxError::StreamIdsExhausted)?;
        self.next_outbound = id.checked_add(2);
        let window = self.window();
        let mut stream = Stream::new(window, INITIAL_WINDOW, FLAG_SYN, false);
        if window > INITIAL_WINDOW {
            write_header(
                TYPE_WINDOW_UPDATE,
                FLAG_SYN,
                id,
                window - INITIAL_WINDOW,
                &mut self.output,
            );
            stream.pending_flags = 0;
        }
        self.streams.insert(id, stream);
        Ok(id)
    }

    /// Takes up to `maximum` buffered bytes of `stream`, appending them to
    /// `output`; returns how many. Consuming reopens the peer's window: a
    /// window update is queued once half the window or more is owed.
    pub fn read(&mut self, stream: StreamId, output: &mut Vec<u8>, maximum: usize) -> usize {
        let window = self.window();
        let Some(entry) = self.streams.get_mut(&stream) else {
            return 0;
        };
        let count = maximum.min(entry.buffer.len());
        output.extend(entry.buffer.drain(..count));
        if !entry.remote_closed && self.failed.is_none() {
            let held = entry.buffer.len() as u64 + u64::from(entry.receive_window);
            let owed = u64::from(window).saturating_sub(held) as u32;
            if owed > 0 && owed >= window / 2 {
                let flags = core::mem::take(&mut entry.pending_flags);
                write_header(TYPE_WINDOW_UPDATE, flags, stream, owed, &mut self.output);
                entry.receive_window += owed;
            }
        }
        self.forget_if_done(stream);
        count
    }

    /// Queues as much of `data` on `stream` as the peer's window allows,
    /// in frames of at most [`MAXIMUM_FRAME_DATA`] bytes; returns the
    /// bytes accepted (0 while the window is shut).
    pub fn write(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, YamuxError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let entry = self.streams.get_mut(&stream).ok_or(YamuxError::UnknownStream)?;
        if entry.local_closed {
            return Err(YamuxError::StreamClosed);
        }
        let accepted = data.len().min(entry.send_window as usize);
        for chunk in data.get(..accepted).unwrap_or_default().chunks(MAXIMUM_FRAME_DATA) {
            let flags = core::mem::take(&mut entry.pending_flags);
            write_header(TYPE_DATA, flags, stream, chunk.len() as u32, &mut self.output);
            self.output.extend_from_slice(chunk);
        }
        entry.send_window -= accepted as u32;
        Ok(accepted)
    }

    /// Bytes `stream` may send before the peer reopens its window; 0 for
    /// a stream that is not open.
    pub fn send_window(&self, stream: StreamId) -> u32 {
        self.streams.get(&stream).map_or(0, |entry| entry.send_window)
    }

    /// Bytes of `stream` received and not read yet.
    pub fn buffered(&self, stream: StreamId) -> usize {
        self.streams.get(&stream).map_or(0, |entry| entry.buffer.len())
    }

    /// Half-closes `stream` with FIN: we send no more, the peer still may.
    /// The stream is forgotten once the peer closed too and all was read.
    pub fn close(&mut self, stream: StreamId) {
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        if entry.local_closed {
            return;
        }
        entry.local_closed = true;
        if self.failed.is_none() {
            let flags = FLAG_FIN | core::mem::take(&mut entry.pending_flags);
            write_header(TYPE_WINDOW_UPDATE, flags, stream, 0, &mut self.output);
        }
        self.forget_if_done(stream);
    }

    /// Abandons `stream` with RST and forgets it, with anything unread.
    pub fn reset(&mut self, stream: StreamId) {
        let Some(entry) = self.streams.remove(&stream) else {
            return;
        };
        // A stream whose SYN never went out is unknown to the peer.
        if entry.pending_flags & FLAG_SYN == 0 && self.failed.is_none() {
            write_header(TYPE_WINDOW_UPDATE, FLAG_RST, stream, 0, &mut self.output);
        }
    }

    /// Whether the session still keeps `stream`: opened and neither reset
    /// nor closed both ways with everything read.
    pub fn is_open(&self, stream: StreamId) -> bool {
        self.streams.contains_key(&stream)
    }

    /// Streams the session keeps.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Peer openings refused with RST because of [`Config::max_streams`]
    /// or a go away.
    pub fn refused_streams(&self) -> u64 {
        self.refused_streams
    }

    /// Streams reset because the peer sent more than
    /// [`Config::max_buffered`] unread bytes.
    pub fn overflowed_streams(&self) -> u64 {
        self.overflowed_streams
    }

    /// The protocol violation that ended the session, if one did.
    pub fn failure(&self) -> Option<YamuxError> {
        self.failed
    }

    /// Sends a ping carrying `opaque`; its answer is [`Event::Pong`].
    pub fn ping(&mut self, opaque: u32) {
        if self.failed.is_none() {
            write_header(TYPE_PING, FLAG_SYN, SESSION, opaque, &mut self.output);
            self.outstanding_pings = self.outstanding_pings.saturating_add(1);
        }
    }

    /// Tells the peer the session is closing, with `code` (one of the
    /// `GO_AWAY_` constants); no new streams are opened or accepted after.
    pub fn go_away(&mut self, code: u32) {
        if !self.local_go_away {
            write_header(TYPE_GO_AWAY, 0, SESSION, code, &mut self.output);
            self.local_go_away = true;
        }
    }

    /// Appends every queued frame to `output`.
    pub fn transmit(&mut self, output: &mut Vec<u8>) {
        output.append(&mut self.output);
        self.pending_pongs = 0;
    }

    /// Whether frames wait for [`transmit`](Self::transmit).
    pub fn has_pending_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// The window each stream keeps open for the peer.
    fn window(&self) -> u32 {
        self.config.receive_window.max(INITIAL_WINDOW)
    }

    /// Whether `stream` has the peer's parity (and so is the peer's to open).
    fn is_remote_id(&self, stream: StreamId) -> bool {
        let odd = stream % 2 == 1;
        stream != SESSION
            && match self.mode {
                Mode::Client => !odd,
                Mode::Server => odd,
            }
    }

    /// Whether no stream with this id was ever opened, by either side.
    /// (An id below the highest the peer used may also never have been
    /// opened, as openings can arrive out of order; such frames are
    /// dropped as late frames of a closed stream would be.)
    fn never_opened(&self, stream: StreamId) -> bool {
        if stream == SESSION {
            true
        } else if self.is_remote_id(stream) {
            stream > self.highest_inbound
        } else {
            self.next_outbound.is_some_and(|next| stream >= next)
        }
    }

    /// Handles frames from `input[*consumed..]` until it runs out,
    /// advancing `consumed` over what was handled.
    fn receive_frames(&mut self, input: &[u8], consumed: &mut usize) -> Result<(), YamuxError> {
        loop {
            let rest = input.get(*consumed..).unwrap_or_default();
            if let Some(body) = self.body {
                let take = rest.len().min(body.remaining as usize);
                if take == 0 && body.remaining > 0 {
                    return Ok(());
                }
                self.deliver(body.stream, rest.get(..take).unwrap_or_default());
                *consumed += take;
                let remaining = body.remaining - take as u32;
                if remaining > 0 {
                    self.body = Some(Body { remaining, ..body });
                    return Ok(());
                }
                self.body = None;
                self.end_frame(body.stream, body.flags);
                continue;
            }
            let Some(header) = read_header(rest)? else {
                return Ok(());
            };
            *consumed += HEADER_LENGTH;
            match header.kind {
                TYPE_PING => self.on_ping(header)?,
                TYPE_GO_AWAY => {
                    self.remote_go_away = true;
                    self.events.push_back(Event::GoAway(header.length));
                }
                _ => self.on_stream_frame(header)?,
            }
        }
    }

    /// Handles a ping: answers a request, reports an answer to ours.
    fn on_ping(&mut self, header: Header) -> Result<(), YamuxError> {
        if header.flags & FLAG_SYN != 0 {
            self.pending_pongs += 1;
            if self.pending_pongs > MAXIMUM_PENDING_PONGS {
                return Err(YamuxError::TooManyPings);
            }
            write_header(TYPE_PING, FLAG_ACK, SESSION, header.length, &mut self.output);
        } else if header.flags & FLAG_ACK != 0 && self.outstanding_pings > 0 {
            // Answers to pings we never sent are dropped, so a peer cannot
            // fill the event queue with them.
            self.outstanding_pings -= 1;
            self.events.push_back(Event::Pong(header.length));
        }
        Ok(())
    }

    /// Handles the header of a data or window update frame.
    fn on_stream_frame(&mut self, header: Header) -> Result<(), YamuxError> {
        let id = header.stream;
        let window = self.window();
        if header.flags & FLAG_SYN != 0 {
            if header.kind == TYPE_DATA && header.length > window {
                return Err(YamuxError::WindowExceeded);
            }
            self.accept(header)?;
        } else if !self.streams.contains_key(&id) && self.never_opened(id) {
            return Err(YamuxError::StreamNeverOpened);
        }
        let entry = self.streams.get_mut(&id);
        if header.kind == TYPE_WINDOW_UPDATE {
            if let Some(entry) = entry {
                if header.flags & FLAG_ACK != 0 {
                    entry.acknowledged = true;
                }
                // An opening's increment was counted by `accept`.
                if header.flags & FLAG_SYN == 0 {
                    entry.send_window = entry
                        .send_window
                        .checked_add(header.length)
                        .ok_or(YamuxError::WindowOverflow)?;
                }
            }
            self.end_frame(id, header.flags);
            return Ok(());
        }
        match entry {
            Some(entry) => {
                if header.flags & FLAG_ACK != 0 {
                    entry.acknowledged = true;
                }
                if entry.remote_closed && header.length > 0 {
                    return Err(YamuxError::DataAfterFinish);
                }
                entry.receive_window = entry
                    .receive_window
                    .checked_sub(header.length)
                    .ok_or(YamuxError::WindowExceeded)?;
            }
            // Late data of a stream we reset or refused: no more than a
            // window's worth can be under way.
            None if header.length > window => return Err(YamuxError::WindowExceeded),
            None => {}
        }
        self.body = Some(Body { stream: id, remaining: header.length, flags: header.flags });
        Ok(())
    }

    /// Handles the peer's opening of a stream: accepts it with ACK, or
    /// refuses it with RST when at the stream limit or going away.
    fn accept(&mut self, header: Header) -> Result<(), YamuxError> {
        let id = header.stream;
        if !self.is_remote_id(id) {
            return Err(YamuxError::WrongStreamParity);
        }
        if self.streams.contains_key(&id) {
            return Err(YamuxError::DuplicateStream);
        }
        self.highest_inbound = self.highest_inbound.max(id);
        if self.local_go_away
            || self.remote_go_away
            || self.streams.len() >= self.config.max_streams
        {
            write_header(TYPE_WINDOW_UPDATE, FLAG_RST, id, 0, &mut self.output);
            self.refused_streams += 1;
            return Ok(());
        }
        // The peer may announce a larger window in its opening update.
        let send_window = if header.kind == TYPE_WINDOW_UPDATE {
            INITIAL_WINDOW.checked_add(header.length).ok_or(YamuxError::WindowOverflow)?
        } else {
            INITIAL_WINDOW
        };
        let window = self.window();
        write_header(TYPE_WINDOW_UPDATE, FLAG_ACK, id, window - INITIAL_WINDOW, &mut self.output);
        self.streams.insert(id, Stream::new(window, send_window, 0, true));
        self.events.push_back(Event::Opened(id));
        Ok(())
    }

    /// Adds received bytes to `stream`'s buffer, or resets the stream if
    /// they would overflow it. Bytes for a stream that is gone are dropped.
    fn deliver(&mut self, stream: StreamId, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        if entry.buffer.len() + bytes.len() > self.config.max_buffered {
            self.streams.remove(&stream);
            write_header(TYPE_WINDOW_UPDATE, FLAG_RST, stream, 0, &mut self.output);
            self.overflowed_streams += 1;
            self.events.push_back(Event::Reset(stream));
            return;
        }
        entry.buffer.extend(bytes);
        if !entry.data_event_queued {
            entry.data_event_queued = true;
            self.events.push_back(Event::Data(stream));
        }
    }

    /// Applies a frame's FIN and RST, after its body.
    fn end_frame(&mut self, stream: StreamId, flags: u16) {
        if flags & FLAG_FIN != 0 {
            if let Some(entry) = self.streams.get_mut(&stream) {
                if !entry.remote_closed {
                    entry.remote_closed = true;
                    self.events.push_back(Event::Finished(stream));
                }
            }
            self.forget_if_done(stream);
        }
        if flags & FLAG_RST != 0 && self.streams.remove(&stream).is_some() {
            self.events.push_back(Event::Reset(stream));
        }
    }

    /// Forgets `stream` once both sides closed it and all of it was read.
    fn forget_if_done(&mut self, stream: StreamId) {
        let done = self.streams.get(&stream).is_some_and(|entry| {
            entry.local_closed && entry.remote_closed && entry.buffer.is_empty()
        });
        if done {
            self.streams.remove(&stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    /// The go away a session sends after a protocol violation.
    const GO_AWAY_PROTOCOL: [u8; 12] = [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    fn pair() -> (Session, Session) {
        (
            Session::new(Mode::Client, Config::default()),
            Session::new(Mode::Server, Config::default()),
        )
    }

    fn frame(kind: u8, flags: u16, stream: StreamId, length: u32) -> Vec<u8> {
        let mut output = Vec::new();
        write_header(kind, flags, stream, length, &mut output);
        output
    }

    /// Moves frames both ways until neither side has anything to send;
    /// any error fails the test.
    fn exchange(first: &mut Session, second: &mut Session) {
        loop {
            let mut wire = Vec::new();
            first.transmit(&mut wire);
            let quiet = wire.is_empty();
            second.receive(&mut wire).unwrap();
            assert!(wire.is_empty());
            second.transmit(&mut wire);
            if quiet && wire.is_empty() {
                return;
            }
            first.receive(&mut wire).unwrap();
            assert!(wire.is_empty());
        }
    }

    fn events(session: &mut Session) -> Vec<Event> {
        core::iter::from_fn(|| session.poll_event()).collect()
    }

    fn transmitted(session: &mut Session) -> Vec<u8> {
        let mut output = Vec::new();
        session.transmit(&mut output);
        output
    }

    fn read_all(session: &mut Session, stream: StreamId) -> Vec<u8> {
        let mut output = Vec::new();
        session.read(stream, &mut output, usize::MAX);
        output
    }

    #[test]
    fn the_exact_bytes_of_opening_a_stream() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        assert_eq!(stream, 1);
        // The SYN waits for the stream's first frame.
        assert!(!client.has_pending_output());
        assert_eq!(client.write(stream, b"hi"), Ok(2));
        let mut wire = transmitted(&mut client);
        assert_eq!(wire, [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, b'h', b'i']);
        server.receive(&mut wire).unwrap();
        assert_eq!(events(&mut server), [Event::Opened(1), Event::Data(1)]);
        // The server acknowledges at once with a window update.
        assert_eq!(transmitted(&mut server), [0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(read_all(&mut server, 1), b"hi");
        assert_eq!(server.open(), Ok(2));
        assert_eq!(server.open(), Ok(4));
        assert_eq!(client.open(), Ok(3));
    }

    #[test]
    fn data_flows_both_ways() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"request").unwrap();
        exchange(&mut client, &mut server);
        assert_eq!(events(&mut server), [Event::Opened(stream), Event::Data(stream)]);
        assert_eq!(read_all(&mut server, stream), b"request");
        server.write(stream, b"response").unwrap();
        exchange(&mut client, &mut server);
        assert_eq!(events(&mut client), [Event::Data(stream)]);
        assert_eq!(read_all(&mut client, stream), b"response");
        // Reading part of the buffer leaves the rest.
        server.write(stream, b"abcdef").unwrap();
        exchange(&mut client, &mut server);
        let mut part = Vec::new();
        assert_eq!(client.read(stream, &mut part, 4), 4);
        assert_eq!(part, b"abcd");
        assert_eq!(client.buffered(stream), 2);
    }

    /// Sends `length` bytes each way on one stream, each side reading all
    /// it has after every exchange; returns whether a writer ever found
    /// the window shut.
    fn transfer(client: &mut Session, server: &mut Session, length: usize) -> bool {
        let stream = client.open().unwrap();
        let outgoing: Vec<u8> = (0..length).map(|index| (index % 251) as u8).collect();
        let (mut client_sent, mut server_sent) = (0, 0);
        let (mut client_received, mut server_received) = (Vec::new(), Vec::new());
        let mut blocked = false;
        // The server can only write once it knows the stream.
        client_sent += client.write(stream, &outgoing[..1]).unwrap();
        exchange(client, server);
        while client_received.len() < length || server_received.len() < length {
            let remaining = &outgoing[client_sent..];
            let accepted = client.write(stream, remaining).unwrap();
            blocked |= accepted < remaining.len();
            client_sent += accepted;
            let remaining = &outgoing[server_sent..];
            let accepted = server.write(stream, remaining).unwrap();
            blocked |= accepted < remaining.len();
            server_sent += accepted;
            exchange(client, server);
            server.read(stream, &mut server_received, usize::MAX);
            client.read(stream, &mut client_received, usize::MAX);
            exchange(client, server);
        }
        assert_eq!(client_received, outgoing);
        assert_eq!(server_received, outgoing);
        blocked
    }

    #[test]
    fn more_than_a_window_each_way() {
        let (mut client, mut server) = pair();
        assert!(transfer(&mut client, &mut server, 3 * INITIAL_WINDOW as usize + 12_345));
    }

    #[test]
    fn a_shut_window_reopens_when_the_reader_reads() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        let data = vec![7u8; INITIAL_WINDOW as usize + 100];
        assert_eq!(client.write(stream, &data), Ok(INITIAL_WINDOW as usize));
        assert_eq!(client.send_window(stream), 0);
        assert_eq!(client.write(stream, &data), Ok(0));
        exchange(&mut client, &mut server);
        assert_eq!(server.buffered(stream), INITIAL_WINDOW as usize);
        // Reading less than half the window owes too little to update.
        let mut sink = Vec::new();
        server.read(stream, &mut sink, 1000);
        assert!(!server.has_pending_output());
        server.read(stream, &mut sink, INITIAL_WINDOW as usize / 2);
        exchange(&mut client, &mut server);
        assert_eq!(client.send_window(stream), INITIAL_WINDOW / 2 + 1000);
    }

    #[test]
    fn frames_are_split_at_the_frame_size() {
        let (mut client, _) = pair();
        let stream = client.open().unwrap();
        client.write(stream, &vec![1u8; MAXIMUM_FRAME_DATA + 1]).unwrap();
        let wire = transmitted(&mut client);
        assert_eq!(wire.len(), 2 * HEADER_LENGTH + MAXIMUM_FRAME_DATA + 1);
        assert_eq!(&wire[..12], &frame(TYPE_DATA, FLAG_SYN, 1, MAXIMUM_FRAME_DATA as u32)[..]);
        let second = &wire[HEADER_LENGTH + MAXIMUM_FRAME_DATA..][..12];
        assert_eq!(second, &frame(TYPE_DATA, 0, 1, 1)[..]);
    }

    #[test]
    fn frames_arriving_byte_by_byte() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"first").unwrap();
        client.write(stream, b"second").unwrap();
        client.close(stream);
        client.ping(9);
        let wire = transmitted(&mut client);
        let mut input = Vec::new();
        for byte in wire {
            input.push(byte);
            server.receive(&mut input).unwrap();
            // Headers wait whole; bodies are taken as they come.
            assert!(input.len() < HEADER_LENGTH);
        }
        assert!(input.is_empty());
        let seen = events(&mut server);
        assert_eq!(seen[0], Event::Opened(stream));
        assert_eq!(seen.last(), Some(&Event::Finished(stream)));
        assert_eq!(read_all(&mut server, stream), b"firstsecond");
        let mut answers = transmitted(&mut server);
        client.receive(&mut answers).unwrap();
        assert_eq!(events(&mut client), [Event::Pong(9)]);
    }

    #[test]
    fn half_close_then_forget() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"request").unwrap();
        client.close(stream);
        assert_eq!(client.write(stream, b"more"), Err(YamuxError::StreamClosed));
        exchange(&mut client, &mut server);
        assert_eq!(
            events(&mut server),
            [Event::Opened(stream), Event::Data(stream), Event::Finished(stream)]
        );
        // The server may still answer on its half.
        assert_eq!(read_all(&mut server, stream), b"request");
        server.write(stream, b"response").unwrap();
        server.close(stream);
        assert!(!server.is_open(stream));
        exchange(&mut client, &mut server);
        assert_eq!(events(&mut client), [Event::Data(stream), Event::Finished(stream)]);
        // Kept until the last byte is read.
        assert!(client.is_open(stream));
        assert_eq!(read_all(&mut client, stream), b"response");
        assert!(!client.is_open(stream));
        assert_eq!((client.stream_count(), server.stream_count()), (0, 0));
    }

    #[test]
    fn closing_before_writing_carries_the_syn() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.close(stream);
        let mut wire = transmitted(&mut client);
        assert_eq!(wire, frame(TYPE_WINDOW_UPDATE, FLAG_SYN | FLAG_FIN, 1, 0));
        server.receive(&mut wire).unwrap();
        assert_eq!(events(&mut server), [Event::Opened(1), Event::Finished(1)]);
    }

    #[test]
    fn reset_forgets_the_stream_on_both_sides() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"x").unwrap();
        exchange(&mut client, &mut server);
        events(&mut server);
        server.reset(stream);
        assert!(!server.is_open(stream));
        assert_eq!(transmitted(&mut server), frame(TYPE_WINDOW_UPDATE, FLAG_RST, 1, 0));
        server.reset(stream);
        client.receive(&mut frame(TYPE_WINDOW_UPDATE, FLAG_RST, 1, 0)).unwrap();
        assert_eq!(events(&mut client), [Event::Reset(stream)]);
        assert!(!client.is_open(stream));
        assert_eq!(client.write(stream, b"y"), Err(YamuxError::UnknownStream));
        // Late frames of a reset stream are dropped, not errors.
        server.receive(&mut [frame(TYPE_DATA, 0, 1, 3), b"abc".to_vec()].concat()).unwrap();
        assert_eq!(events(&mut server), []);
        // A stream whose SYN never went out is reset silently.
        let unsent = client.open().unwrap();
        client.reset(unsent);
        assert!(!client.has_pending_output());
    }

    #[test]
    fn ping_and_pong() {
        let (mut client, mut server) = pair();
        client.ping(0x01020304);
        let mut wire = transmitted(&mut client);
        assert_eq!(wire, [0, 2, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
        server.receive(&mut wire).unwrap();
        let mut answer = transmitted(&mut server);
        assert_eq!(answer, [0, 2, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4]);
        client.receive(&mut answer).unwrap();
        assert_eq!(events(&mut client), [Event::Pong(0x01020304)]);
        // An answer to no ping of ours is dropped.
        client.receive(&mut frame(TYPE_PING, FLAG_ACK, 0, 5)).unwrap();
        assert_eq!(events(&mut client), []);
    }

    #[test]
    fn go_away_stops_new_streams() {
        let (mut client, mut server) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"x").unwrap();
        client.go_away(GO_AWAY_NORMAL);
        client.go_away(GO_AWAY_NORMAL);
        let mut wire = transmitted(&mut client);
        assert_eq!(&wire[wire.len() - 12..], [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        server.receive(&mut wire).unwrap();
        assert_eq!(events(&mut server), [Event::Opened(1), Event::Data(1), Event::GoAway(0)]);
        assert_eq!(server.open(), Err(YamuxError::GoingAway));
        assert_eq!(client.open(), Err(YamuxError::GoingAway));
        // Streams already open go on.
        server.write(stream, b"still here").unwrap();
        exchange(&mut client, &mut server);
        assert_eq!(read_all(&mut client, stream), b"still here");
        // A peer opening after our go away is refused.
        server.receive(&mut frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 3, 0)).unwrap();
        assert_eq!(server.refused_streams(), 1);
    }

    #[test]
    fn streams_beyond_the_limit_are_refused() {
        let mut client = Session::new(Mode::Client, Config::default());
        let limited = Config { max_streams: 2, ..Config::default() };
        let mut server = Session::new(Mode::Server, limited);
        let streams: Vec<StreamId> = (0..3).map(|_| client.open().unwrap()).collect();
        assert_eq!(streams, [1, 3, 5]);
        for &stream in &streams {
            client.write(stream, b"hello").unwrap();
        }
        exchange(&mut client, &mut server);
        assert_eq!(
            events(&mut server),
            [Event::Opened(1), Event::Data(1), Event::Opened(3), Event::Data(3)]
        );
        assert_eq!(server.refused_streams(), 1);
        assert_eq!(events(&mut client), [Event::Reset(5)]);
        assert_eq!(server.open(), Err(YamuxError::TooManyStreams));
        // Once one closes, the peer may open again.
        client.close(1);
        server.close(1);
        exchange(&mut client, &mut server);
        read_all(&mut server, 1);
        assert!(!server.is_open(1));
        let next = client.open().unwrap();
        client.write(next, b"again").unwrap();
        exchange(&mut client, &mut server);
        assert_eq!(events(&mut server), [Event::Finished(1), Event::Opened(7), Event::Data(7)]);
    }

    #[test]
    fn our_own_openings_are_limited() {
        let limited = Config { max_streams: 3, ..Config::default() };
        let mut client = Session::new(Mode::Client, limited);
        for _ in 0..3 {
            client.open().unwrap();
        }
        assert_eq!(client.open(), Err(YamuxError::TooManyStreams));
        let many = Config { max_streams: 1000, ..Config::default() };
        let mut client = Session::new(Mode::Client, many);
        for _ in 0..ACKNOWLEDGE_BACKLOG {
            client.open().unwrap();
        }
        assert_eq!(client.open(), Err(YamuxError::AcknowledgeBacklog));
        // The peer's ACK makes room.
        client.receive(&mut frame(TYPE_WINDOW_UPDATE, FLAG_ACK, 1, 0)).unwrap();
        assert!(client.open().is_ok());
        let mut client = Session::new(Mode::Client, Config::default());
        client.next_outbound = Some(u32::MAX);
        assert_eq!(client.open(), Ok(u32::MAX));
        assert_eq!(client.open(), Err(YamuxError::StreamIdsExhausted));
    }

    #[test]
    fn a_reader_that_falls_behind_is_reset() {
        let mut client = Session::new(Mode::Client, Config::default());
        let small = Config { max_buffered: 1000, ..Config::default() };
        let mut server = Session::new(Mode::Server, small);
        let stream = client.open().unwrap();
        client.write(stream, &[1; 600]).unwrap();
        client.write(stream, &[2; 600]).unwrap();
        exchange(&mut client, &mut server);
        assert_eq!(
            events(&mut server),
            [Event::Opened(stream), Event::Data(stream), Event::Reset(stream)]
        );
        assert_eq!(server.overflowed_streams(), 1);
        assert_eq!(events(&mut client), [Event::Reset(stream)]);
        // In-flight data for it is dropped.
        server.receive(&mut [frame(TYPE_DATA, 0, stream, 4), vec![0; 4]].concat()).unwrap();
        assert_eq!(events(&mut server), []);
    }

    #[test]
    fn larger_windows_are_announced_and_honoured() {
        let large =
            Config { receive_window: 1024 * 1024, max_buffered: 1024 * 1024, ..Config::default() };
        let mut client = Session::new(Mode::Client, large);
        let mut server = Session::new(Mode::Server, large);
        let stream = client.open().unwrap();
        // 768 KiB more than the initial window, announced with the SYN.
        let opening = transmitted(&mut client);
        assert_eq!(opening, [0, 1, 0, 1, 0, 0, 0, 1, 0, 0x0c, 0, 0]);
        server.receive(&mut opening.clone()).unwrap();
        assert_eq!(server.send_window(stream), 1024 * 1024);
        let acknowledgement = transmitted(&mut server);
        assert_eq!(acknowledgement, [0, 1, 0, 2, 0, 0, 0, 1, 0, 0x0c, 0, 0]);
        client.receive(&mut acknowledgement.clone()).unwrap();
        assert_eq!(client.send_window(stream), 1024 * 1024);
        assert!(transfer(&mut client, &mut server, 3 * 1024 * 1024));
    }

    #[test]
    fn open_and_close_forever_in_bounded_memory() {
        let (mut client, mut server) = pair();
        for round in 0..5000u32 {
            let stream = client.open().unwrap();
            client.write(stream, &round.to_be_bytes()).unwrap();
            client.close(stream);
            exchange(&mut client, &mut server);
            events(&mut server);
            assert_eq!(read_all(&mut server, stream), round.to_be_bytes());
            server.write(stream, b"ok").unwrap();
            server.close(stream);
            exchange(&mut client, &mut server);
            events(&mut client);
            assert_eq!(read_all(&mut client, stream), b"ok");
            assert_eq!((client.stream_count(), server.stream_count()), (0, 0));
            // Openings that are reset at once leave nothing either.
            let reset = client.open().unwrap();
            client.write(reset, b"x").unwrap();
            client.reset(reset);
            exchange(&mut client, &mut server);
            assert_eq!(
                events(&mut server),
                [Event::Opened(reset), Event::Data(reset), Event::Reset(reset)]
            );
            assert_eq!(server.stream_count(), 0);
        }
        // A peer that opens and half-closes streams without end, never
        // reset by our side, hits the stream limit and is refused.
        let mut wire = Vec::new();
        for index in 0..1000u32 {
            wire.extend(frame(TYPE_DATA, FLAG_SYN | FLAG_FIN, 1_000_001 + 2 * index, 0));
        }
        server.receive(&mut wire).unwrap();
        assert_eq!(server.stream_count(), Config::default().max_streams);
        assert_eq!(server.refused_streams(), 1000 - 64);
    }

    /// Feeds `bytes` to a fresh server (after `setup`) and checks the
    /// violation is reported, answered with a go away and final.
    fn violation(setup: &[u8], bytes: &[u8], expected: YamuxError) {
        let mut server = Session::new(Mode::Server, Config::default());
        server.receive(&mut setup.to_vec()).unwrap();
        transmitted(&mut server);
        assert_eq!(server.receive(&mut bytes.to_vec()), Err(expected), "{bytes:?}");
        // Frames queued before the violation go first; the go away ends it.
        assert!(transmitted(&mut server).ends_with(&GO_AWAY_PROTOCOL));
        assert_eq!(server.receive(&mut Vec::new()), Err(expected));
        assert_eq!(server.failure(), Some(expected));
        assert_eq!(server.open(), Err(expected));
        server.ping(1);
        assert!(!server.has_pending_output());
    }

    #[test]
    fn protocol_violations_end_the_session() {
        let opening = frame(TYPE_WINDOW_UPDATE, FLAG_SYN, 1, 0);
        let closed = [opening.clone(), frame(TYPE_DATA, FLAG_FIN, 1, 0)].concat();
        let pings: Vec<u8> = (0..=MAXIMUM_PENDING_PONGS as u32)
            .flat_map(|value| frame(TYPE_PING, FLAG_SYN, 0, value))
            .collect();
        let cases: [(&[u8], &[u8], YamuxError); 12] = [
            (&[], &[1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], YamuxError::UnsupportedVersion),
            (&[], &[0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], YamuxError::UnknownFrameType),
            (&[], &frame(TYPE_DATA, 0, 7, 1), YamuxError::StreamNeverOpened),
            (&[], &frame(TYPE_WINDOW_UPDATE, 0, 0, 1), YamuxError::StreamNeverOpened),
            (&[], &frame(TYPE_DATA, FLAG_SYN, 2, 0), YamuxError::WrongStreamParity),
            (&[], &frame(TYPE_DATA, FLAG_SYN, 0, 0), YamuxError::WrongStreamParity),
            (&opening, &opening, YamuxError::DuplicateStream),
            (&opening, &frame(TYPE_DATA, 0, 1, INITIAL_WINDOW + 1), YamuxError::WindowExceeded),
            (&[], &frame(TYPE_DATA, FLAG_SYN, 1, INITIAL_WINDOW + 1), YamuxError::WindowExceeded),
            (&opening, &frame(TYPE_WINDOW_UPDATE, 0, 1, u32::MAX), YamuxError::WindowOverflow),
            (&closed, &frame(TYPE_DATA, 0, 1, 1), YamuxError::DataAfterFinish),
            (&[], &pings, YamuxError::TooManyPings),
        ];
        for (setup, bytes, expected) in cases {
            violation(setup, bytes, expected);
        }
        // A window's worth in pieces, then one byte more.
        let mut server = Session::new(Mode::Server, Config::default());
        let mut input = opening.clone();
        for _ in 0..4 {
            input.extend(frame(TYPE_DATA, 0, 1, INITIAL_WINDOW / 4));
            input.extend(vec![0; INITIAL_WINDOW as usize / 4]);
        }
        server.receive(&mut input).unwrap();
        assert_eq!(server.receive(&mut frame(TYPE_DATA, 0, 1, 1)), Err(YamuxError::WindowExceeded));
    }

    #[test]
    fn a_peer_may_acknowledge_on_a_data_frame() {
        let (mut client, _) = pair();
        let stream = client.open().unwrap();
        client.write(stream, b"x").unwrap();
        transmitted(&mut client);
        assert!(!client.streams[&stream].acknowledged);
        client
            .receive(&mut [frame(TYPE_DATA, FLAG_ACK, stream, 2), b"ok".to_vec()].concat())
            .unwrap();
        assert!(client.streams[&stream].acknowledged);
        assert_eq!(read_all(&mut client, stream), b"ok");
    }

    #[test]
    fn errors_read_clearly() {
        assert_eq!(
            alloc::format!("{}", YamuxError::WindowExceeded),
            "peer sent more data than the window allows"
        );
    }

    /// One step of a random conversation between two sessions.
    #[derive(Clone, Debug)]
    enum Step {
        Open(bool),
        Write(bool, usize, usize),
        Read(bool, usize, usize),
        Close(bool, usize),
        Reset(bool, usize),
        Ping(bool, u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any::<bool>().prop_map(Step::Open),
            (any::<bool>(), 0..8usize, 0..100_000usize)
                .prop_map(|(side, pick, length)| Step::Write(side, pick, length)),
            (any::<bool>(), 0..8usize, 0..100_000usize)
                .prop_map(|(side, pick, maximum)| Step::Read(side, pick, maximum)),
            (any::<bool>(), 0..8usize).prop_map(|(side, pick)| Step::Close(side, pick)),
            (any::<bool>(), 0..8usize).prop_map(|(side, pick)| Step::Reset(side, pick)),
            (any::<bool>(), any::<u32>()).prop_map(|(side, value)| Step::Ping(side, value)),
        ]
    }

    /// A frame with fields drawn near the values that matter.
    fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![9 => Just(0u8), 1 => any::<u8>()],
            0u8..5,
            0u16..16,
            0u32..8,
            prop_oneof![0u32..40, Just(INITIAL_WINDOW), any::<u32>()],
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(version, kind, flags, stream, length, body)| {
                let mut bytes = vec![version, kind];
                bytes.extend(flags.to_be_bytes());
                bytes.extend(stream.to_be_bytes());
                bytes.extend(length.to_be_bytes());
                bytes.extend(body);
                bytes
            })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for mode in [Mode::Client, Mode::Server] {
                let config = Config { max_buffered: 16, ..Config::default() };
                let mut session = Session::new(mode, config);
                let mut input = bytes.clone();
                let _ = session.receive(&mut input);
                events(&mut session);
                transmitted(&mut session);
            }
        }

        #[test]
        fn arbitrary_frames_never_panic(frames in proptest::collection::vec(raw_frame(), 0..30)) {
            for mode in [Mode::Client, Mode::Server] {
                let config = Config { max_streams: 3, max_buffered: 16, ..Config::default() };
                let mut session = Session::new(mode, config);
                let own = session.open().unwrap();
                session.write(own, b"x").unwrap();
                for frame in &frames {
                    let mut input = frame.clone();
                    if session.receive(&mut input).is_err() {
                        break;
                    }
                    while let Some(event) = session.poll_event() {
                        if let Event::Data(stream) = event {
                            session.read(stream, &mut Vec::new(), 5);
                        }
                    }
                    prop_assert!(session.stream_count() <= 3);
                }
            }
        }

        #[test]
        fn our_sessions_never_break_the_protocol(
            steps in proptest::collection::vec(step(), 0..60)
        ) {
            let config = Config { max_streams: 4, max_buffered: 300_000, ..Config::default() };
            let mut sides =
                [Session::new(Mode::Client, config), Session::new(Mode::Server, config)];
            let mut known: [Vec<StreamId>; 2] = [Vec::new(), Vec::new()];
            let data = vec![5u8; 100_000];
            for step in steps {
                let (side, pick) = match step {
                    Step::Open(side) | Step::Ping(side, _) => (side as usize, 0),
                    Step::Write(side, pick, _) | Step::Read(side, pick, _)
                    | Step::Close(side, pick) | Step::Reset(side, pick) => (side as usize, pick),
                };
                let stream = known[side].get(pick % known[side].len().max(1)).copied().unwrap_or(0);
                let session = &mut sides[side];
                match step {
                    Step::Open(_) => {
                        if let Ok(id) = session.open() {
                            known[side].push(id);
                        }
                    }
                    Step::Write(_, _, length) => {
                        let _ = session.write(stream, &data[..length]);
                    }
                    Step::Read(_, _, maximum) => {
                        session.read(stream, &mut Vec::new(), maximum);
                    }
                    Step::Close(_, _) => session.close(stream),
                    Step::Reset(_, _) => session.reset(stream),
                    Step::Ping(_, value) => session.ping(value),
                }
                let [first, second] = &mut sides;
                exchange(first, second);
                for (index, session) in sides.iter_mut().enumerate() {
                    while let Some(event) = session.poll_event() {
                        if let Event::Opened(id) = event {
                            known[index].push(id);
                        }
                    }
                    known[index].retain(|&id| session.is_open(id));
                    prop_assert!(session.stream_count() <= 4);
                }
            }
        }
    }
}
