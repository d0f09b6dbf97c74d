//! On the host, where there is no runtime, the SDK's calls go to an
//! in-process stand-in (one per thread) so a dapp's logic can be unit-tested
//! with `cargo test`: logs and sent messages are recorded, storage is a map,
//! events are queued by the test, and the clock is the machine's.
//!
//! ```
//! use elastos_sdk::{testing, Event};
//! testing::push_message(7, "12D3KooWExample", "chat", b"hello");
//! match elastos_sdk::wait(None) {
//!     Some(Event::Message(message)) => assert_eq!(message.body, b"hello"),
//!     other => panic!("{other:?}"),
//! }
//! ```

use crate::{LogLevel, MessageStatus};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

/// The stand-in's state.
#[derive(Default)]
struct Host {
    logs: Vec<(LogLevel, String)>,
    sent: Vec<(String, String, Vec<u8>)>,
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    events: VecDeque<Vec<u8>>,
    next_id: i64,
}

thread_local! {
    static HOST: RefCell<Host> = RefCell::new(Host::default());
}

fn with<R>(work: impl FnOnce(&mut Host) -> R) -> R {
    HOST.with(|host| work(&mut host.borrow_mut()))
}

/// Queues a message event for the next `wait`.
pub fn push_message(delivery: u64, peer: &str, app: &str, body: &[u8]) {
    let event = elastos_host_api::event::Event::Message { delivery, peer, app, body };
    push(event);
}

/// Queues a receipt event for the next `wait`.
pub fn push_receipt(id: u64, status: MessageStatus) {
    push(elastos_host_api::event::Event::Receipt { id, status });
}

/// Queues a stop event for the next `wait`.
pub fn push_stop() {
    push(elastos_host_api::event::Event::Stop);
}

fn push(event: elastos_host_api::event::Event) {
    let mut buffer = vec![0u8; event.encoded_length()];
    // The buffer has the event's length.
    let _ = event.encode(&mut buffer);
    with(|host| host.events.push_back(buffer));
}

/// Takes the lines logged so far.
pub fn take_logs() -> Vec<(LogLevel, String)> {
    with(|host| std::mem::take(&mut host.logs))
}

/// Takes the messages sent so far: (peer, app, body).
pub fn take_sent() -> Vec<(String, String, Vec<u8>)> {
    with(|host| std::mem::take(&mut host.sent))
}

/// Forgets everything: logs, messages, storage and events.
pub fn reset() {
    with(|host| *host = Host::default());
}

/// The stand-ins for the host functions.
pub(crate) mod stubs {
    use super::with;
    use crate::{LogLevel, Status};

    fn status(status: Status) -> i32 {
        status.code()
    }

    fn too_small(buffer: &mut [u8], needed: usize) -> i32 {
        if let Some(slot) = buffer.get_mut(..4) {
            slot.copy_from_slice(&(needed as u32).to_le_bytes());
        }
        status(Status::BufferTooSmall)
    }

    pub(crate) fn log(level: i32, text: &[u8]) -> i32 {
        let Some(level) = LogLevel::from_code(level) else {
            return status(Status::InvalidArgument);
        };
        let text = String::from_utf8_lossy(text).into_owned();
        with(|host| host.logs.push((level, text)));
        0
    }

    pub(crate) fn clock_monotonic() -> i64 {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as i64
    }

    pub(crate) fn clock_wall() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::from(Status::Unavailable.code()), |time| time.as_nanos() as i64)
    }

    pub(crate) fn random(buffer: &mut [u8]) -> i32 {
        // Not random: a counter, so tests see the same bytes every time.
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = index as u8;
        }
        0
    }

    pub(crate) fn message_send(peer: &[u8], app: &[u8], body: &[u8]) -> i64 {
        let peer = String::from_utf8_lossy(peer).into_owned();
        let app = String::from_utf8_lossy(app).into_owned();
        with(|host| {
            host.sent.push((peer, app, body.to_vec()));
            host.next_id += 1;
            host.next_id
        })
    }

    pub(crate) fn event_wait(buffer: &mut [u8], _timeout_milliseconds: i64) -> i32 {
        with(|host| {
            let Some(event) = host.events.front() else { return 0 };
            if event.len() > buffer.len() {
                return too_small(buffer, event.len());
            }
            buffer[..event.len()].copy_from_slice(event);
            let length = event.len() as i32;
            host.events.pop_front();
            length
        })
    }

    pub(crate) fn storage_get(key: &[u8], buffer: &mut [u8]) -> i64 {
        with(|host| match host.storage.get(key) {
            None => i64::from(status(Status::NotFound)),
            Some(value) if value.len() > buffer.len() => i64::from(too_small(buffer, value.len())),
            Some(value) => {
                buffer[..value.len()].copy_from_slice(value);
                value.len() as i64
            }
        })
    }

    pub(crate) fn storage_put(key: &[u8], value: &[u8]) -> i32 {
        with(|host| host.storage.insert(key.to_vec(), value.to_vec()));
        0
    }

    pub(crate) fn storage_delete(key: &[u8]) -> i32 {
        match with(|host| host.storage.remove(key)) {
            Some(_) => 0,
            None => status(Status::NotFound),
        }
    }

    pub(crate) fn storage_list(prefix: &[u8], buffer: &mut [u8]) -> i32 {
        let keys: Vec<Vec<u8>> = with(|host| {
            host.storage.keys().filter(|key| key.starts_with(prefix)).cloned().collect()
        });
        match elastos_host_api::keys::encode(keys.iter().map(Vec::as_slice), buffer) {
            Ok(length) => length as i32,
            Err(elastos_host_api::keys::KeysError::BufferTooSmall { needed }) => {
                too_small(buffer, needed)
            }
            Err(_) => status(Status::Failed),
        }
    }

    pub(crate) fn identity(_buffer: &mut [u8]) -> i32 {
        status(Status::Unavailable)
    }

    pub(crate) fn sign(
        _key_kind: i32,
        _kind: &[u8],
        _payload: &[u8],
        _signature: &mut [u8],
    ) -> i32 {
        status(Status::Unavailable)
    }

    pub(crate) fn verify(
        _identity: &[u8],
        _kind: &[u8],
        _payload: &[u8],
        _signature: &[u8],
    ) -> i32 {
        status(Status::Unavailable)
    }

    pub(crate) fn exit(code: i32) -> ! {
        panic!("the dapp called exit({code})")
    }
}
