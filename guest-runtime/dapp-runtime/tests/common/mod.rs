//! A mock app VM for the tests: services that record what the dapp did, and
//! a loop that runs a dapp until it waits, finishes or is stopped.
#![allow(dead_code)]

use elastos_dapp_runtime::{
    host_api::{LogLevel, Status},
    Answer, Dapp, Outcome, Request,
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
}

impl MockServices {
    pub fn log_lines(&self) -> Vec<&str> {
        self.logs.iter().map(|(_, text)| text.as_str()).collect()
    }
}

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
