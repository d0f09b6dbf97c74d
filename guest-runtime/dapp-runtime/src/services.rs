//! What passes between the runtime and the app VM's loop: the services the
//! loop lends each `run` ([`Services`]), the events it pushes ([`Event`]),
//! the requests a blocked dapp makes ([`Request`]) and their answers
//! ([`Answer`]).

use alloc::{string::String, vec::Vec};
use elastos_host_api::{event::MessageStatus, LogLevel, Status};

/// What the app VM lends the dapp while it runs. Every call is made from
/// within [`crate::Dapp::run`] and must answer at once.
pub trait Services {
    /// Monotonic time in nanoseconds (the rate windows and `event_wait`'s
    /// deadlines use it too).
    fn now(&mut self) -> u64;
    /// Wall-clock time in nanoseconds since the Unix epoch, if the VM knows it.
    fn wall_clock(&mut self) -> Option<u64>;
    /// Fills `buffer` with random bytes.
    fn fill_random(&mut self, buffer: &mut [u8]);
    /// Writes a line the dapp logged.
    fn log(&mut self, level: LogLevel, text: &str);
    /// Hands a message to netvm: `body` for application `app` on the node
    /// whose binary PeerId is `peer`. Returns the message's id (below
    /// 2^63; its receipt comes back as an [`Event::Receipt`] with it), or
    /// why it cannot go (`Busy` when the channel is full, `Unavailable` when
    /// netvm is down).
    fn send(&mut self, peer: &[u8], app: &str, body: &[u8]) -> Result<u64, Status>;
    /// The dapp took the message of `delivery` (it was written to its
    /// buffer): netvm may answer the sender's peer `delivered`.
    fn delivered(&mut self, delivery: u64);
    /// The counter that [`Services::now`] and [`Services::wall_clock`]
    /// follow, if the runtime may read it itself. With one, `clock_monotonic`
    /// and `clock_wall` are answered inside the dapp's call (the time read
    /// at the slice's start, carried on by the counter) instead of
    /// suspending the dapp to ask these services.
    fn counter(&mut self) -> Option<Counter> {
        None
    }
}

/// A free-running counter: `read` returns its value, which goes up
/// `frequency` times a second and never goes back.
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    /// Reads the counter.
    pub read: fn() -> u64,
    /// Its ticks per second.
    pub frequency: u64,
}

/// An event for the dapp, pushed by the app VM's loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message from application `app` on the node with binary PeerId `peer`.
    Message {
        /// netvm's number for the delivery; [`Services::delivered`] gets it back.
        delivery: u64,
        /// The sending node's binary PeerId (a multihash).
        peer: Vec<u8>,
        /// The sending application's name.
        app: String,
        /// The message, at most [`elastos_host_api::BODY_MAX`] bytes.
        body: Vec<u8>,
    },
    /// What became of a message this dapp sent.
    Receipt {
        /// The id [`Services::send`] returned.
        id: u64,
        /// What became of it.
        status: MessageStatus,
    },
}

/// Why [`crate::Dapp::push_event`] refused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The dapp already has [`crate::EVENT_QUEUE_MAX`] events waiting: answer the
    /// sender `busy`.
    QueueFull,
    /// The dapp was not granted `message`: answer the sender `unknown
    /// recipient`.
    NotMessaging,
    /// A peer that is not a PeerId, a name or body over its limit.
    Malformed,
    /// The dapp has finished or was stopped.
    NotRunning,
}

/// A request a blocked dapp makes of chainvm, which keeps its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The value under `key`: answer [`Answer::Value`] or
    /// [`Answer::Status`] (`NotFound`).
    StorageGet {
        /// The key.
        key: Vec<u8>,
    },
    /// Store `value` under `key`, unless the dapp's keys and values would
    /// then pass `quota` bytes: answer [`Answer::Done`] or
    /// [`Answer::Status`] (`QuotaExceeded`).
    StoragePut {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// The dapp's storage quota in bytes (keys and values).
        quota: u64,
    },
    /// Remove `key`: answer [`Answer::Done`] or [`Answer::Status`]
    /// (`NotFound`).
    StorageDelete {
        /// The key.
        key: Vec<u8>,
    },
    /// The keys starting with `prefix`, in ascending order: answer
    /// [`Answer::Keys`].
    StorageList {
        /// The prefix (empty for every key).
        prefix: Vec<u8>,
    },
    /// The node's DID: answer [`Answer::Value`] with its text.
    Identity,
    /// Sign `payload` for `kind` with the node's key (`key` 0) or the dapp's
    /// own (1): answer [`Answer::Value`] with the 64-byte signature and the
    /// `did:key` that verifies it, or [`Answer::Status`] (`Denied`,
    /// `RateLimited`...).
    Sign {
        /// The key's number.
        key: u8,
        /// The payload kind.
        kind: Vec<u8>,
        /// The payload.
        payload: Vec<u8>,
    },
}

/// chainvm's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The value asked for.
    Value(Vec<u8>),
    /// The keys asked for.
    Keys(Vec<Vec<u8>>),
    /// A put or delete was done.
    Done,
    /// The request failed: `NotFound`, `QuotaExceeded`, `Unavailable`
    /// (chainvm down), `Failed`...
    Status(Status),
}

/// Why [`crate::Dapp::answer`] refused an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// The dapp is not blocked on a request.
    NotBlocked,
    /// The answer does not fit the request (keys for a get...); the dapp
    /// stays blocked.
    WrongKind,
}
