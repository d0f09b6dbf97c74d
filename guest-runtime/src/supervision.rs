//! What chainvm and an app VM say to each other on the channel between them
//! (`app-N-chainvm`): chainvm assigns the VM a dapp and sends it the module,
//! the app VM reports how the dapp runs, forwards its log lines, and asks
//! for its storage. docs/dapps.md tells the whole story.
//!
//! Each record is a kind byte and its fields; integers are little-endian, a
//! `bytes16` field is a u16 length and that many bytes, `bytes32` likewise
//! with a u32 length, and a `rest` field takes the rest of the record.
//!
//! | kind | record   | from    | fields                                                     |
//! |------|----------|---------|------------------------------------------------------------|
//! | 16   | idle     | app     | boot u32 (the VM's start count)                            |
//! | 17   | assign   | chainvm | run u32, module_length u32, module digest [32], wall_clock_ns u64, seed [32], manifest rest |
//! | 18   | chunk    | chainvm | run u32, offset u32, bytes rest                            |
//! | 19   | stop     | chainvm | run u32                                                    |
//! | 20   | state    | app     | run u32, state u8, detail rest (UTF-8)                     |
//! | 21   | log      | app     | run u32, level u8, text rest (UTF-8)                       |
//! | 22   | storage  | app     | run u32, request u32, operation u8, key bytes16, value rest|
//! | 23   | answer   | chainvm | run u32, request u32, status i32, value rest               |
//!
//! The storage record also carries the dapp's identity and signing requests
//! (operations 4 and 5: chainvm's signing service), answered like the others.
//!
//! `run` numbers each assignment, so that what belongs to an earlier run
//! (a late chunk, a late state) is told apart and dropped. The app VM trusts
//! chainvm: chainvm verified the package before it assigns it, and the app
//! VM checks the module against the digest it was given.

use core::fmt;

/// The kind byte of an idle report.
pub const KIND_IDLE: u8 = 16;
/// The kind byte of an assignment.
pub const KIND_ASSIGN: u8 = 17;
/// The kind byte of a module chunk.
pub const KIND_CHUNK: u8 = 18;
/// The kind byte of a stop request.
pub const KIND_STOP: u8 = 19;
/// The kind byte of a state report.
pub const KIND_STATE: u8 = 20;
/// The kind byte of a log line.
pub const KIND_LOG: u8 = 21;
/// The kind byte of a storage request.
pub const KIND_STORAGE: u8 = 22;
/// The kind byte of an answer to a storage request.
pub const KIND_ANSWER: u8 = 23;

/// The most module bytes in one chunk record.
pub const CHUNK_MAX: usize = 8192;
/// The longest record of this protocol: a storage request or answer with a
/// value of [`VALUE_MAX`] bytes and its fields.
pub const RECORD_MAX: usize = VALUE_MAX + 300;
/// The longest value a storage request or answer carries.
pub const VALUE_MAX: usize = 16 * 1024;
/// The longest storage key.
pub const KEY_MAX: usize = 255;
/// The longest log line or state detail carried.
pub const TEXT_MAX: usize = 512;

/// How a dapp's run stands, as the app VM reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// The module arrived and was loaded; the dapp is running.
    Running,
    /// The dapp made its first host call (for the cold-start figure).
    FirstCall,
    /// The dapp returned from its entry (detail: the exit code).
    Finished,
    /// The dapp was stopped on request.
    Stopped,
    /// The dapp was stopped for what it did (detail: why).
    Failed,
    /// The module could not be loaded (detail: why).
    LoadFailed,
}

impl RunState {
    /// The state's number.
    pub const fn code(self) -> u8 {
        match self {
            Self::Running => 0,
            Self::FirstCall => 1,
            Self::Finished => 2,
            Self::Stopped => 3,
            Self::Failed => 4,
            Self::LoadFailed => 5,
        }
    }

    /// The state numbered `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Running,
            1 => Self::FirstCall,
            2 => Self::Finished,
            3 => Self::Stopped,
            4 => Self::Failed,
            5 => Self::LoadFailed,
            _ => return None,
        })
    }

    /// Whether the run is over in this state.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Stopped | Self::Failed | Self::LoadFailed)
    }
}

/// A storage operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageOperation {
    /// Read the value of a key.
    Get,
    /// Write the value of a key.
    Put,
    /// Delete a key.
    Delete,
    /// List the keys that start with the key given (a prefix).
    List,
    /// The node's DID (key and value empty); the answer's value is the DID.
    Identity,
    /// Sign a payload: the key is the payload kind, the value the key's
    /// number (0 the node's, 1 the dapp's) and the payload; the answer's
    /// value is the 64-byte signature and the `did:key` that verifies it.
    Sign,
}

impl StorageOperation {
    /// The operation's number.
    pub const fn code(self) -> u8 {
        match self {
            Self::Get => 0,
            Self::Put => 1,
            Self::Delete => 2,
            Self::List => 3,
            Self::Identity => 4,
            Self::Sign => 5,
        }
    }

    /// The operation numbered `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Get,
            1 => Self::Put,
            2 => Self::Delete,
            3 => Self::List,
            4 => Self::Identity,
            5 => Self::Sign,
            _ => return None,
        })
    }
}

/// A decoded record, borrowing from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// The app VM runs nothing and waits for an assignment.
    Idle {
        /// How many times the VM has been started.
        boot: u32,
    },
    /// chainvm assigns the app VM a dapp; the module follows in chunks.
    Assign {
        /// The run's number.
        run: u32,
        /// The module's length in bytes.
        module_length: u32,
        /// The module's sha256.
        module_digest: &'a [u8; 32],
        /// Wall time when the assignment was sent, in nanoseconds since the
        /// Unix epoch (0 when chainvm has no clock).
        wall_clock_ns: u64,
        /// Seed of the dapp's random generator.
        seed: &'a [u8; 32],
        /// The package's manifest, in the package's own encoding.
        manifest: &'a [u8],
    },
    /// A piece of the module.
    Chunk {
        /// The run it belongs to.
        run: u32,
        /// Where the bytes go in the module.
        offset: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// chainvm asks the app VM to stop the dapp.
    Stop {
        /// The run to stop.
        run: u32,
    },
    /// The app VM reports the state of a run.
    State {
        /// The run.
        run: u32,
        /// Its state.
        state: RunState,
        /// Details (an exit code, a reason).
        detail: &'a [u8],
    },
    /// A line the dapp logged.
    Log {
        /// The run.
        run: u32,
        /// Its level (as the host API numbers them).
        level: u8,
        /// The text.
        text: &'a [u8],
    },
    /// The dapp asks for its storage.
    Storage {
        /// The run.
        run: u32,
        /// The app VM's number for the request.
        request: u32,
        /// What to do.
        operation: StorageOperation,
        /// The key (a prefix for `List`).
        key: &'a [u8],
        /// The value, for `Put`.
        value: &'a [u8],
    },
    /// chainvm answers a storage request.
    Answer {
        /// The run.
        run: u32,
        /// The request answered.
        request: u32,
        /// A host API status: 0 or more for success, negative for an error.
        status: i32,
        /// The value (`Get`) or the keys, each a u16 length and its bytes
        /// (`List`).
        value: &'a [u8],
    },
}

/// Why a record is not a supervision record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The kind byte is not one of this protocol's.
    NotSupervision,
    /// The record ends inside a field.
    Truncated,
    /// A field is over its limit.
    TooLong,
    /// An unknown state or operation number.
    UnknownCode(u8),
    /// Bytes after a fixed-size record.
    TrailingBytes,
}

impl fmt::Display for RecordError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::NotSupervision => write!(formatter, "not a supervision record"),
            Self::Truncated => write!(formatter, "supervision record cut short"),
            Self::TooLong => write!(formatter, "supervision record field over its limit"),
            Self::UnknownCode(code) => write!(formatter, "unknown state or operation {code}"),
            Self::TrailingBytes => write!(formatter, "bytes after the end of a supervision record"),
        }
    }
}

/// Reads a record from its front.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], RecordError> {
        if count > self.0.len() {
            return Err(RecordError::Truncated);
        }
        let (taken, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], RecordError> {
        // `take` returned exactly N bytes.
        self.take(N)?.try_into().map_err(|_| RecordError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(*self.array()?))
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(*self.array()?))
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        Ok(i32::from_le_bytes(*self.array()?))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(*self.array()?))
    }

    fn bytes16(&mut self, limit: usize) -> Result<&'a [u8], RecordError> {
        let length = usize::from(self.u16()?);
        if length > limit {
            return Err(RecordError::TooLong);
        }
        self.take(length)
    }

    fn rest(self, limit: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() > limit {
            return Err(RecordError::TooLong);
        }
        Ok(self.0)
    }

    fn end(self) -> Result<(), RecordError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RecordError::TrailingBytes)
        }
    }
}

/// Writes a record from the front of a buffer.
struct Writer<'b> {
    buffer: &'b mut [u8],
    length: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let end = self.length + bytes.len();
        let slot = self.buffer.get_mut(self.length..end).ok_or(RecordError::TooLong)?;
        slot.copy_from_slice(bytes);
        self.length = end;
        Ok(())
    }

    fn limited(&mut self, bytes: &[u8], limit: usize) -> Result<(), RecordError> {
        if bytes.len() > limit {
            return Err(RecordError::TooLong);
        }
        self.put(bytes)
    }
}

/// The longest manifest an assignment carries.
pub const MANIFEST_MAX: usize = 8192;

impl<'a> Record<'a> {
    /// Reads a record (its kind byte first).
    pub fn decode(record: &'a [u8]) -> Result<Self, RecordError> {
        let Some((&kind, payload)) = record.split_first() else {
            return Err(RecordError::NotSupervision);
        };
        let mut cursor = Cursor(payload);
        let record = match kind {
            KIND_IDLE => {
                let boot = cursor.u32()?;
                cursor.end()?;
                Self::Idle { boot }
            }
            KIND_ASSIGN => Self::Assign {
                run: cursor.u32()?,
                module_length: cursor.u32()?,
                module_digest: cursor.array()?,
                wall_clock_ns: cursor.u64()?,
                seed: cursor.array()?,
                manifest: cursor.rest(MANIFEST_MAX)?,
            },
            KIND_CHUNK => Self::Chunk {
                run: cursor.u32()?,
                offset: cursor.u32()?,
                bytes: cursor.rest(CHUNK_MAX)?,
            },
            KIND_STOP => {
                let run = cursor.u32()?;
                cursor.end()?;
                Self::Stop { run }
            }
            KIND_STATE => {
                let run = cursor.u32()?;
                let code = cursor.u8()?;
                let state = RunState::from_code(code).ok_or(RecordError::UnknownCode(code))?;
                Self::State { run, state, detail: cursor.rest(TEXT_MAX)? }
            }
            KIND_LOG => {
                Self::Log { run: cursor.u32()?, level: cursor.u8()?, text: cursor.rest(TEXT_MAX)? }
            }
            KIND_STORAGE => {
                let run = cursor.u32()?;
                let request = cursor.u32()?;
                let code = cursor.u8()?;
                let operation =
                    StorageOperation::from_code(code).ok_or(RecordError::UnknownCode(code))?;
                let key = cursor.bytes16(KEY_MAX)?;
                Self::Storage { run, request, operation, key, value: cursor.rest(VALUE_MAX)? }
            }
            KIND_ANSWER => Self::Answer {
                run: cursor.u32()?,
                request: cursor.u32()?,
                status: cursor.i32()?,
                value: cursor.rest(VALUE_MAX)?,
            },
            _ => return Err(RecordError::NotSupervision),
        };
        Ok(record)
    }

    /// Writes the record to the front of `buffer`; returns its length.
    pub fn encode(&self, buffer: &mut [u8]) -> Result<usize, RecordError> {
        let mut writer = Writer { buffer, length: 0 };
        match *self {
            Self::Idle { boot } => {
                writer.put(&[KIND_IDLE])?;
                writer.put(&boot.to_le_bytes())?;
            }
            Self::Assign { run, module_length, module_digest, wall_clock_ns, seed, manifest } => {
                writer.put(&[KIND_ASSIGN])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&module_length.to_le_bytes())?;
                writer.put(module_digest)?;
                writer.put(&wall_clock_ns.to_le_bytes())?;
                writer.put(seed)?;
                writer.limited(manifest, MANIFEST_MAX)?;
            }
            Self::Chunk { run, offset, bytes } => {
                writer.put(&[KIND_CHUNK])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&offset.to_le_bytes())?;
                writer.limited(bytes, CHUNK_MAX)?;
            }
            Self::Stop { run } => {
                writer.put(&[KIND_STOP])?;
                writer.put(&run.to_le_bytes())?;
            }
            Self::State { run, state, detail } => {
                writer.put(&[KIND_STATE])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&[state.code()])?;
                writer.limited(detail, TEXT_MAX)?;
            }
            Self::Log { run, level, text } => {
                writer.put(&[KIND_LOG])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&[level])?;
                writer.limited(text, TEXT_MAX)?;
            }
            Self::Storage { run, request, operation, key, value } => {
                if key.len() > KEY_MAX {
                    return Err(RecordError::TooLong);
                }
                writer.put(&[KIND_STORAGE])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&request.to_le_bytes())?;
                writer.put(&[operation.code()])?;
                writer.put(&(key.len() as u16).to_le_bytes())?;
                writer.put(key)?;
                writer.limited(value, VALUE_MAX)?;
            }
            Self::Answer { run, request, status, value } => {
                writer.put(&[KIND_ANSWER])?;
                writer.put(&run.to_le_bytes())?;
                writer.put(&request.to_le_bytes())?;
                writer.put(&status.to_le_bytes())?;
                writer.limited(value, VALUE_MAX)?;
            }
        }
        Ok(writer.length)
    }

    /// Whether `kind` is one of this protocol's kinds.
    pub const fn is_supervision_kind(kind: u8) -> bool {
        matches!(kind, KIND_IDLE..=KIND_ANSWER)
    }
}

/// Text cut to at most `limit` bytes at a character boundary.
pub fn clip(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record<'static>> {
        static DIGEST: [u8; 32] = [7; 32];
        static SEED: [u8; 32] = [9; 32];
        vec![
            Record::Idle { boot: 3 },
            Record::Assign {
                run: 1,
                module_length: 70_000,
                module_digest: &DIGEST,
                wall_clock_ns: 1_700_000_000_000_000_000,
                seed: &SEED,
                manifest: b"{\"name\":\"chat\"}",
            },
            Record::Chunk { run: 1, offset: 8192, bytes: &[0xab; CHUNK_MAX] },
            Record::Stop { run: 2 },
            Record::State { run: 1, state: RunState::Failed, detail: b"cpu budget spent" },
            Record::Log { run: 1, level: 2, text: "noté".as_bytes() },
            Record::Storage {
                run: 1,
                request: 5,
                operation: StorageOperation::Put,
                key: b"notes/1",
                value: b"buy milk",
            },
            Record::Storage {
                run: 1,
                request: 6,
                operation: StorageOperation::List,
                key: b"",
                value: b"",
            },
            Record::Answer { run: 1, request: 5, status: -4, value: b"" },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        let mut buffer = vec![0u8; RECORD_MAX];
        for record in records() {
            let length = record.encode(&mut buffer).unwrap();
            assert_eq!(Record::decode(&buffer[..length]), Ok(record));
            assert!(Record::is_supervision_kind(buffer[0]));
            // Every strict prefix of a fixed-size part is cut short or refused.
            for cut in 1..length.min(80) {
                if let Ok(decoded) = Record::decode(&buffer[..cut]) {
                    assert_ne!(decoded, record, "a prefix of {cut} bytes decoded as the whole");
                }
            }
        }
    }

    #[test]
    fn bad_records_are_refused() {
        assert_eq!(Record::decode(&[]), Err(RecordError::NotSupervision));
        assert_eq!(Record::decode(&[4, 0]), Err(RecordError::NotSupervision));
        assert_eq!(Record::decode(&[KIND_IDLE, 1, 0, 0]), Err(RecordError::Truncated));
        assert_eq!(Record::decode(&[KIND_IDLE, 1, 0, 0, 0, 9]), Err(RecordError::TrailingBytes));
        assert_eq!(
            Record::decode(&[KIND_STATE, 0, 0, 0, 0, 99]),
            Err(RecordError::UnknownCode(99))
        );
        let mut storage = vec![KIND_STORAGE, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        storage.extend_from_slice(&(KEY_MAX as u16 + 1).to_le_bytes());
        storage.extend_from_slice(&[b'k'; KEY_MAX + 1]);
        assert_eq!(Record::decode(&storage), Err(RecordError::TooLong));
        let mut chunk = vec![KIND_CHUNK, 0, 0, 0, 0, 0, 0, 0, 0];
        chunk.extend_from_slice(&[0; CHUNK_MAX + 1]);
        assert_eq!(Record::decode(&chunk), Err(RecordError::TooLong));
        let mut small = [0u8; 8];
        assert_eq!(Record::Stop { run: 1 }.encode(&mut small[..4]), Err(RecordError::TooLong));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for length in 0..600 {
            let mut bytes = vec![0u8; length];
            for byte in &mut bytes {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            if let Some(first) = bytes.first_mut() {
                *first = KIND_IDLE + (state % 9) as u8;
            }
            let _ = Record::decode(&bytes);
        }
    }

    #[test]
    fn text_is_clipped_at_character_boundaries() {
        assert_eq!(clip("hello", 10), "hello");
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
    }
}
