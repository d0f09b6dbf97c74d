//! Safe Rust bindings to the Elastos host API, for dapps built for wasm32-unknown-unknown
//!
//! A dapp is an ordinary program: its entry runs once, and it waits for
//! events with [`wait`]. A minimal dapp:
//!
//! ```no_run
//! use elastos_sdk::{info, Event};
//!
//! fn main() {
//!     info!("started");
//!     loop {
//!         match elastos_sdk::wait(None) {
//!             Some(Event::Message(message)) => {
//!                 let _ = elastos_sdk::send(&message.peer, &message.app, &message.body);
//!             }
//!             Some(Event::Stop) => return,
//!             _ => {}
//!         }
//!     }
//! }
//!
//! elastos_sdk::main!(main);
//! ```
//!
//! [`main!`] exports the entry `elastos_main`. Every call answers a
//! [`Status`] when it fails (`Denied` when the dapp's manifest lacks the
//! capability). On the host, where there is no runtime, the calls go to the
//! stand-in of [`testing`], so dapps build, lint and test with plain cargo.
//! The host API is described in `docs/host-api.md`.
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]
#![deny(unsafe_op_in_unsafe_fn)]

mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use elastos_host_api::{
    event::MessageStatus, LogLevel, Status, BODY_MAX, KEY_MAX, NAME_MAX, VALUE_MAX,
};
use elastos_host_api::{event::EVENT_MAX, keys, KeyKind, IDENTITY_MAX, SIGNATURE_MAX};
use std::time::Duration;

/// The number the runtime gives a sent message; its receipt carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// A message from another dapp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// netvm's number for the delivery.
    pub delivery: u64,
    /// The sending node's PeerId, in base58 text (`12D3KooW...`).
    pub peer: String,
    /// The sending application's name.
    pub app: String,
    /// The message.
    pub body: Vec<u8>,
}

/// What [`wait`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message arrived (it counts as delivered).
    Message(Message),
    /// What became of a message this dapp sent.
    Receipt {
        /// The id [`send`] returned.
        id: MessageId,
        /// What became of it.
        status: MessageStatus,
    },
    /// The dapp should return from its entry soon.
    Stop,
}

/// A call's raw result as a value or a status.
fn check(result: i64) -> Result<u64, Status> {
    Status::check(result)
}

/// Writes a log line (at most 1024 bytes).
pub fn log(level: LogLevel, text: &str) -> Result<(), Status> {
    check(i64::from(sys::log(level as i32, text.as_bytes()))).map(drop)
}

/// Logs a formatted line at a level: `log!(LogLevel::Warn, "x = {}", x)`.
/// A failure to log is ignored.
#[macro_export]
macro_rules! log {
    ($level:expr, $($argument:tt)*) => {{
        let _ = $crate::log($level, &::std::format!($($argument)*));
    }};
}

/// Logs a formatted line at level info.
#[macro_export]
macro_rules! info {
    ($($argument:tt)*) => { $crate::log!($crate::LogLevel::Info, $($argument)*) };
}

/// Logs a formatted line at level warn.
#[macro_export]
macro_rules! warn {
    ($($argument:tt)*) => { $crate::log!($crate::LogLevel::Warn, $($argument)*) };
}

/// Logs a formatted line at level error.
#[macro_export]
macro_rules! error {
    ($($argument:tt)*) => { $crate::log!($crate::LogLevel::Error, $($argument)*) };
}

/// Exports `function` (a `fn()`) as the dapp's entry, `elastos_main`. On
/// WebAssembly a panic is logged (at level error) before the dapp traps.
#[macro_export]
macro_rules! main {
    ($function:path) => {
        /// The dapp's entry: the runtime calls it once.
        #[allow(unsafe_code)]
        #[no_mangle]
        pub extern "C" fn elastos_main() {
            $crate::install_panic_log();
            $function()
        }
    };
}

/// Makes a panic log its message before the dapp traps; [`main!`] calls it.
pub fn install_panic_log() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|information| {
        let _ = log(LogLevel::Error, &format!("panic: {information}"));
    }));
}

/// Clocks.
pub mod clock {
    use super::{check, sys, Status};
    use std::time::Duration;

    /// Time since an arbitrary start (the VM's boot), never going back.
    pub fn monotonic() -> Result<Duration, Status> {
        check(sys::clock_monotonic()).map(Duration::from_nanos)
    }

    /// Time since the Unix epoch, if the VM knows it (`Unavailable` if not).
    pub fn wall() -> Result<Duration, Status> {
        check(sys::clock_wall()).map(Duration::from_nanos)
    }
}

/// Fills `buffer` with random bytes (at most 4096 per call).
pub fn random(buffer: &mut [u8]) -> Result<(), Status> {
    for chunk in buffer.chunks_mut(elastos_host_api::RANDOM_MAX) {
        check(i64::from(sys::random(chunk)))?;
    }
    Ok(())
}

/// A random `u64`.
pub fn random_u64() -> Result<u64, Status> {
    let mut bytes = [0u8; 8];
    random(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Sends `body` (at most 4000 bytes) to application `app` on the node whose
/// PeerId is `peer` (base58 text). Its receipt comes later as an
/// [`Event::Receipt`] with the id returned.
pub fn send(peer: &str, app: &str, body: &[u8]) -> Result<MessageId, Status> {
    check(sys::message_send(peer.as_bytes(), app.as_bytes(), body)).map(MessageId)
}

/// Waits for the next event, at most `timeout` (for ever with `None`);
/// `None` when the time passed without one.
pub fn wait(timeout: Option<Duration>) -> Option<Event> {
    let timeout = match timeout {
        Some(timeout) => i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
        None => -1,
    };
    let mut buffer = vec![0u8; EVENT_MAX];
    loop {
        let result = sys::event_wait(&mut buffer, timeout);
        match check(i64::from(result)) {
            Ok(0) => return None,
            Ok(length) => return decode(&buffer[..length as usize]),
            Err(Status::BufferTooSmall) => {
                // Never with EVENT_MAX; grow to what the runtime asks anyway.
                let needed = u32::from_le_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
                buffer.resize((needed as usize).max(buffer.len() + 1), 0);
            }
            Err(_) => return None,
        }
    }
}

/// An owned [`Event`] from its encoding; `None` for bytes that are not one.
fn decode(bytes: &[u8]) -> Option<Event> {
    use elastos_host_api::event::Event as Encoded;
    Some(match Encoded::decode(bytes).ok()? {
        Encoded::Message { delivery, peer, app, body } => Event::Message(Message {
            delivery,
            peer: peer.to_string(),
            app: app.to_string(),
            body: body.to_vec(),
        }),
        Encoded::Receipt { id, status } => Event::Receipt { id: MessageId(id), status },
        Encoded::Stop => Event::Stop,
    })
}

/// Calls `call` with a buffer until it is large enough; the buffer's bytes
/// and the length the call reported.
fn with_buffer(first: usize, mut call: impl FnMut(&mut [u8]) -> i64) -> Result<Vec<u8>, Status> {
    let mut buffer = vec![0u8; first.max(4)];
    loop {
        match check(call(&mut buffer)) {
            Ok(length) => {
                buffer.truncate(length as usize);
                return Ok(buffer);
            }
            Err(Status::BufferTooSmall) => {
                let needed = u32::from_le_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
                if needed as usize <= buffer.len() {
                    return Err(Status::Failed);
                }
                buffer.resize(needed as usize, 0);
            }
            Err(status) => return Err(status),
        }
    }
}

/// The dapp's own storage, kept by chainvm (every call blocks until it
/// answers). Keys are 1 to 128 bytes, values at most 3840; the dapp's
/// quota and writes per minute are in its manifest.
pub mod storage {
    use super::*;

    /// The value under `key`, or `None`.
    pub fn get(key: &[u8]) -> Result<Option<Vec<u8>>, Status> {
        match with_buffer(VALUE_MAX, |buffer| sys::storage_get(key, buffer)) {
            Ok(value) => Ok(Some(value)),
            Err(Status::NotFound) => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Stores `value` under `key`.
    pub fn put(key: &[u8], value: &[u8]) -> Result<(), Status> {
        check(i64::from(sys::storage_put(key, value))).map(drop)
    }

    /// Removes `key`; whether it was there.
    pub fn delete(key: &[u8]) -> Result<bool, Status> {
        match check(i64::from(sys::storage_delete(key))) {
            Ok(_) => Ok(true),
            Err(Status::NotFound) => Ok(false),
            Err(status) => Err(status),
        }
    }

    /// The keys starting with `prefix`, in ascending order.
    pub fn list(prefix: &[u8]) -> Result<Vec<Vec<u8>>, Status> {
        let bytes = with_buffer(4096, |buffer| i64::from(sys::storage_list(prefix, buffer)))?;
        keys::decode(&bytes)
            .map(|key| key.map(<[u8]>::to_vec).map_err(|_| Status::Failed))
            .collect()
    }
}

/// The node's identity (its DID, in text). `Unavailable` until chainvm
/// serves identities.
pub fn identity() -> Result<String, Status> {
    let bytes = with_buffer(IDENTITY_MAX, |buffer| i64::from(sys::identity(buffer)))?;
    String::from_utf8(bytes).map_err(|_| Status::Failed)
}

/// Signs `payload` with the node's key, for the purpose `kind` (a domain
/// such as `"chat/v1"`, so a signature made for one use cannot pass for
/// another). `Unavailable` until chainvm serves signatures.
pub fn sign(kind: &str, payload: &[u8]) -> Result<Vec<u8>, Status> {
    with_buffer(SIGNATURE_MAX, |buffer| {
        i64::from(sys::sign(KeyKind::Node as i32, kind.as_bytes(), payload, buffer))
    })
}

/// Whether `signature` is `identity`'s over `payload` for `kind`.
pub fn verify(
    identity: &str,
    kind: &str,
    payload: &[u8],
    signature: &[u8],
) -> Result<bool, Status> {
    match check(i64::from(sys::verify(identity.as_bytes(), kind.as_bytes(), payload, signature))) {
        Ok(_) => Ok(true),
        Err(Status::InvalidSignature) => Ok(false),
        Err(status) => Err(status),
    }
}

/// Ends the dapp with `code` at once.
pub fn exit(code: i32) -> ! {
    sys::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_back_as_they_were_pushed() {
        testing::reset();
        testing::push_message(3, "12D3KooWPeer", "chat", b"hello");
        testing::push_receipt(9, MessageStatus::Unreachable);
        testing::push_stop();
        let message = Message {
            delivery: 3,
            peer: "12D3KooWPeer".into(),
            app: "chat".into(),
            body: b"hello".to_vec(),
        };
        assert_eq!(wait(None), Some(Event::Message(message)));
        assert_eq!(
            wait(None),
            Some(Event::Receipt { id: MessageId(9), status: MessageStatus::Unreachable })
        );
        assert_eq!(wait(None), Some(Event::Stop));
        assert_eq!(wait(Some(Duration::from_millis(5))), None);
    }

    #[test]
    fn storage_round_trips_and_lists_by_prefix() {
        testing::reset();
        storage::put(b"note/1", b"first").unwrap();
        storage::put(b"note/2", &[7; 5000]).unwrap();
        storage::put(b"other", b"x").unwrap();
        assert_eq!(storage::get(b"note/1").unwrap().as_deref(), Some(&b"first"[..]));
        // Larger than the first buffer: the call is made again.
        assert_eq!(storage::get(b"note/2").unwrap().map(|value| value.len()), Some(5000));
        assert_eq!(storage::get(b"none").unwrap(), None);
        assert_eq!(storage::list(b"note/").unwrap(), vec![b"note/1".to_vec(), b"note/2".to_vec()]);
        assert_eq!(storage::delete(b"other"), Ok(true));
        assert_eq!(storage::delete(b"other"), Ok(false));
    }

    #[test]
    fn logs_and_sends_are_recorded() {
        testing::reset();
        info!("count = {}", 3);
        assert_eq!(testing::take_logs(), vec![(LogLevel::Info, "count = 3".to_string())]);
        assert_eq!(send("12D3KooWPeer", "notes", b"list"), Ok(MessageId(1)));
        assert_eq!(
            testing::take_sent(),
            vec![("12D3KooWPeer".to_string(), "notes".to_string(), b"list".to_vec())]
        );
        assert_eq!(identity(), Err(Status::Unavailable));
        assert!(clock::monotonic().is_ok());
    }
}
