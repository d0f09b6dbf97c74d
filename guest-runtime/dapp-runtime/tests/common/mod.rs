//! A mock app VM for the tests: services that record what the dapp did, and
//! a loop that runs a dapp until it waits, finishes or is stopped.
#![allow(dead_code)]

use elastos_dapp_runtime::{
    host_api::{LogLevel, Status},
    Answer, Counter, Dapp, Outcome, Request,
};
use std::collections::BTreeMap;

/// Services that record logs and sends, with a clock the test moves.
#[derive(Debug, Default)]
pub struct MockServices {
    pub now: u64,
    /// Nanoseconds the clock moves at every `now` call.
    pub tick: u64,
    pub wall: Option<u64>,
    pub logs: Vec<(LogLevel, String)>,
    pub sent: Vec<(Vec<u8>, String, Vec<u8>)>,
    pub delivered: Vec<u64>,
    pub next_id: u64,
    /// What `send` answers instead of an id, if set.
    pub refuse_sends: Option<Status>,
    pub random_calls: u64,
    /// The counter offered to the runtime, if any.
    pub counter: Option<Counter>,
}

impl elastos_dapp_runtime::Services for MockServices {
    fn now(&mut self) -> u64 {
        self.now += self.tick;
        self.now
    }

    fn wall_clock(&mut self) -> Option<u64> {
        self.wall
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        self.random_calls += 1;
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = (index as u8).wrapping_mul(31).wrapping_add(7);
        }
    }

    fn log(&mut self, level: LogLevel, text: &str) {
        self.logs.push((level, text.to_string()));
    }

    fn send(&mut self, peer: &[u8], app: &str, body: &[u8]) -> Result<u64, Status> {
        if let Some(status) = self.refuse_sends {
            return Err(status);
        }
        self.sent.push((peer.to_vec(), app.to_string(), body.to_vec()));
        self.next_id += 1;
        Ok(self.next_id)
    }

    fn delivered(&mut self, delivery: u64) {
        self.delivered.push(delivery);
    }

    fn counter(&mut self) -> Option<Counter> {
        self.counter
    }
}

impl MockServices {
    pub fn log_lines(&self) -> Vec<&str> {
        self.logs.iter().map(|(_, text)| text.as_str()).collect()
    }
}

/// The node key's secret the mock signs with (RFC 8032, test 1).
pub const MOCK_SECRET: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
/// Its did:key.
pub const MOCK_DID: &[u8] = b"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw";

/// chainvm's storage, in memory, with the quota counted as chainvm would.
#[derive(Debug, Default, Clone)]
pub struct MockStorage {
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
    pub requests: u64,
}

impl MockStorage {
    pub fn answer(&mut self, request: &Request) -> Answer {
        self.requests += 1;
        match request {
            Request::StorageGet { key } => match self.entries.get(key) {
                Some(value) => Answer::Value(value.clone()),
                None => Answer::Status(Status::NotFound),
            },
            Request::StoragePut { key, value, quota } => {
                let used: usize = self
                    .entries
                    .iter()
                    .filter(|(existing, _)| *existing != key)
                    .map(|(key, value)| key.len() + value.len())
                    .sum();
                if (used + key.len() + value.len()) as u64 > *quota {
                    return Answer::Status(Status::QuotaExceeded);
                }
                self.entries.insert(key.clone(), value.clone());
                Answer::Done
            }
            Request::StorageDelete { key } => match self.entries.remove(key) {
                Some(_) => Answer::Done,
                None => Answer::Status(Status::NotFound),
            },
            Request::StorageList { prefix } => Answer::Keys(
                self.entries.keys().filter(|key| key.starts_with(prefix)).cloned().collect(),
            ),
            // chainvm's signing service, with RFC 8032's first key as the
            // node's and no per-dapp key.
            Request::Identity => Answer::Value(MOCK_DID.to_vec()),
            Request::Sign { key: 0, kind, payload } => {
                use ed25519_dalek::Signer;
                let key = ed25519_dalek::SigningKey::from_bytes(&MOCK_SECRET);
                let message = elastos_dapp_runtime::signature::signed_message(kind, payload);
                let mut value = key.sign(&message).to_bytes().to_vec();
                value.extend_from_slice(MOCK_DID);
                Answer::Value(value)
            }
            Request::Sign { .. } => Answer::Status(Status::Denied),
        }
    }
}

/// Runs `dapp` (answering storage from `storage`) until it waits, finishes
/// or is stopped, or `slices` runs pass; returns the last outcome and the
/// number of `Yielded` outcomes seen.
pub fn run_until_settled(
    dapp: &mut Dapp,
    services: &mut MockServices,
    storage: &mut MockStorage,
    slices: usize,
) -> (Outcome, usize) {
    let mut yields = 0;
    for _ in 0..slices {
        match dapp.run(services) {
            Outcome::Yielded => yields += 1,
            Outcome::Blocked(request) => {
                let answer = storage.answer(&request);
                dapp.answer(answer).expect("the dapp is blocked on this request");
            }
            other => return (other, yields),
        }
    }
    (Outcome::Yielded, yields)
}
