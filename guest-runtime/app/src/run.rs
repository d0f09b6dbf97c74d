//! The app VM's serving loop additions: its assignment from chainvm, the
//! dapp's run, and the records it exchanges with netvm and chainvm.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;
use elastos_dapp_runtime::{
    Answer, Dapp, Event, Grants, Limits, Outcome, PushError, Request, Services,
};
use elastos_host_api::{LogLevel, Status};
use elastos_package::{Capability, Manifest};
use guest_runtime::channel::{Change, Channel, Channels};
use guest_runtime::messaging::{self, Record as Message};
use guest_runtime::service::Handler;
use guest_runtime::supervision::{self, clip, Record, RunState, StorageOperation};
use guest_runtime::time::Instant;
use guest_runtime::warn;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// The most slices run in one pass of the loop before the channels are
/// served again.
const SLICES_PER_PASS: u32 = 4;
/// How long a dapp asked to stop has to return from its entry.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Records taken from a channel in one pass.
const RECORDS_PER_PASS: usize = 64;

/// A dapp being loaded or running.
struct Run {
    number: u32,
    name: String,
    manifest: Manifest,
    /// The module as it arrives; emptied once loaded.
    module: Vec<u8>,
    module_length: usize,
    module_digest: [u8; 32],
    dapp: Option<Dapp>,
    /// What the dapp waits for.
    wait: Wait,
    random: ChaCha20Rng,
    /// Wall time at `assigned`, in nanoseconds since the epoch (0: unknown).
    wall_clock_ns: u64,
    assigned: Instant,
    /// The next message id, and what each pending one is.
    next_message: u64,
    /// Storage requests by number.
    next_request: u32,
    pending_request: Option<u32>,
    /// What the pending request asked.
    pending_operation: Option<StorageOperation>,
    first_call_reported: bool,
    /// The dapp was asked to stop.
    stopping: bool,
    /// When a dapp asked to stop is stopped whether it returns or not.
    stop_deadline: Option<Instant>,
}

/// What a run waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Nothing: it can run.
    Nothing,
    /// An answer from chainvm.
    Answer,
    /// An event, or the deadline.
    Event(Option<u64>),
    /// Its module (still arriving).
    Module,
}

/// The app VM.
pub struct AppVm {
    run: Option<Run>,
    /// Told chainvm it is idle at this epoch of the chainvm channel.
    idle_reported: Option<u32>,
    /// The name registered with netvm, at that channel's epoch.
    registered: Option<(String, u32)>,
    boot: u32,
    record: Vec<u8>,
    started: Instant,
}

impl AppVm {
    /// The VM at start, idle.
    pub fn new() -> Self {
        let boot = guest_runtime::hypercall::machine_info()
            .map_or(0, |machine| machine.start_count as u32);
        Self {
            run: None,
            idle_reported: None,
            registered: None,
            boot,
            record: vec![0u8; supervision::RECORD_MAX.max(messaging::BODY_MAX + 200)],
            started: Instant::now(),
        }
    }
}

fn is_chainvm(channel: &Channel) -> bool {
    channel.name().ends_with("-chainvm")
}

fn is_netvm(channel: &Channel) -> bool {
    channel.name().ends_with("-netvm")
}

/// Sends `record` on `channel` and rings; false if it did not fit.
fn send_record(channel: &mut Channel, record: &Record<'_>) -> bool {
    let mut buffer = vec![0u8; supervision::RECORD_MAX];
    let Ok(length) = record.encode(&mut buffer) else { return false };
    if channel.send(&buffer[..length]).is_err() {
        return false;
    }
    let _ = channel.notify();
    true
}

fn send_message(channel: &mut Channel, record: &Message<'_>) -> bool {
    let mut buffer = vec![0u8; messaging::BODY_MAX + 200];
    let Ok(length) = record.encode(&mut buffer) else { return false };
    if channel.send(&buffer[..length]).is_err() {
        return false;
    }
    let _ = channel.notify();
    true
}

fn grants(manifest: &Manifest) -> Grants {
    let has = |capability| manifest.capabilities.contains(capability);
    Grants {
        log: has(Capability::Log),
        clock: has(Capability::Clock),
        random: has(Capability::Random),
        message: has(Capability::Message),
        storage: has(Capability::Storage),
        identity: has(Capability::Identity),
        sign: has(Capability::Sign),
    }
}

fn limits(manifest: &Manifest) -> Limits {
    let limits = manifest.limits;
    Limits {
        memory_pages: limits.memory_pages,
        fuel_per_slice: limits.fuel_per_slice,
        cpu_budget: limits.cpu_budget,
        messages_per_minute: limits.messages_per_minute,
        storage_quota: limits.storage_quota,
        storage_writes_per_minute: limits.storage_writes_per_minute,
    }
}

/// What the dapp borrows from the VM while it runs.
struct VmServices<'a> {
    run: &'a mut Run,
    channels: &'a mut Channels,
}

impl VmServices<'_> {
    fn chainvm(&mut self) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|channel| is_chainvm(channel))
    }

    fn netvm(&mut self) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|channel| is_netvm(channel))
    }
}

impl Services for VmServices<'_> {
    fn now(&mut self) -> u64 {
        self.run.assigned.elapsed().as_nanos() as u64
    }

    fn wall_clock(&mut self) -> Option<u64> {
        (self.run.wall_clock_ns != 0)
            .then(|| self.run.wall_clock_ns + self.run.assigned.elapsed().as_nanos() as u64)
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        self.run.random.fill_bytes(buffer);
    }

    fn log(&mut self, level: LogLevel, text: &str) {
        if !self.run.first_call_reported {
            self.run.first_call_reported = true;
            let run = self.run.number;
            if let Some(channel) = self.chainvm() {
                send_record(
                    channel,
                    &Record::State { run, state: RunState::FirstCall, detail: b"" },
                );
            }
        }
        if matches!(level, LogLevel::Error | LogLevel::Warn) {
            warn!("{}: {}: {}", self.run.name, level.name(), clip(text, 200));
        }
        let run = self.run.number;
        let record = Record::Log {
            run,
            level: level as u8,
            text: clip(text, supervision::TEXT_MAX).as_bytes(),
        };
        if let Some(channel) = self.chainvm() {
            send_record(channel, &record);
        }
    }

    fn send(&mut self, peer: &[u8], app: &str, body: &[u8]) -> Result<u64, Status> {
        let id = self.run.next_message;
        let record = Message::Send { id, peer, recipient: app.as_bytes(), body };
        let Some(channel) = self.netvm() else { return Err(Status::Unavailable) };
        if !channel.is_up() {
            return Err(Status::Unavailable);
        }
        if !send_message(channel, &record) {
            return Err(Status::Busy);
        }
        self.run.next_message += 1;
        Ok(id)
    }

    fn delivered(&mut self, delivery: u64) {
        if let Some(channel) = self.netvm() {
            send_message(
                channel,
                &Message::Accept { delivery, status: messaging::Status::Delivered },
            );
        }
    }

    fn counter(&mut self) -> Option<elastos_dapp_runtime::Counter> {
        // `now` and `wall_clock` are this counter, converted.
        Some(elastos_dapp_runtime::Counter {
            read: guest_runtime::time::counter,
            frequency: guest_runtime::time::frequency(),
        })
    }
}

impl AppVm {
    /// Tells chainvm this VM is idle, once per epoch of its channel.
    fn report_idle(&mut self, channels: &mut Channels) {
        if self.run.is_some() {
            return;
        }
        let Some(channel) = channels.iter_mut().find(|channel| is_chainvm(channel)) else {
            return;
        };
        if !channel.is_up() || self.idle_reported == Some(channel.epoch()) {
            return;
        }
        if send_record(channel, &Record::Idle { boot: self.boot }) {
            self.idle_reported = Some(channel.epoch());
        }
    }

    /// Registers the running dapp's name with netvm (or none), once per
    /// epoch of its channel.
    fn register(&mut self, channels: &mut Channels) {
        let wanted = self
            .run
            .as_ref()
            .filter(|run| {
                run.dapp.is_some() && run.manifest.capabilities.contains(Capability::Message)
            })
            .map(|run| run.name.clone());
        let Some(channel) = channels.iter_mut().find(|channel| is_netvm(channel)) else { return };
        if !channel.is_up() {
            return;
        }
        let epoch = channel.epoch();
        let current = self.registered.as_ref().filter(|(_, at)| *at == epoch).map(|(name, _)| name);
        let name = wanted.clone().unwrap_or_default();
        if current.map(String::as_str) == Some(name.as_str())
            || (current.is_none() && wanted.is_none() && self.registered.is_none())
        {
            return;
        }
        if send_message(channel, &Message::Register { name: name.as_bytes() }) {
            self.registered = wanted.map(|name| (name, epoch));
        }
    }

    /// Takes chainvm's records.
    fn serve_chainvm(&mut self, channels: &mut Channels) {
        for _ in 0..RECORDS_PER_PASS {
            let Some(channel) = channels.iter_mut().find(|channel| is_chainvm(channel)) else {
                return;
            };
            let length = match channel.receive(&mut self.record) {
                Ok(Some(length)) => length,
                _ => return,
            };
            let record = self.record[..length].to_vec();
            match Record::decode(&record) {
                Ok(Record::Assign {
                    run,
                    module_length,
                    module_digest,
                    wall_clock_ns,
                    seed,
                    manifest,
                }) => {
                    self.assign(
                        channels,
                        run,
                        module_length,
                        module_digest,
                        wall_clock_ns,
                        seed,
                        manifest,
                    );
                }
                Ok(Record::Chunk { run, offset, bytes }) => {
                    self.chunk(channels, run, offset, bytes)
                }
                Ok(Record::Stop { run }) => {
                    if let Some(current) = self.run.as_mut().filter(|current| current.number == run)
                    {
                        current.stopping = true;
                        match current.dapp.as_mut() {
                            Some(dapp) => {
                                // The dapp hears of it at its next wait (or
                                // now, if it waits); past the grace period
                                // it is stopped whatever it does.
                                dapp.request_stop();
                                current.stop_deadline = Some(Instant::now() + STOP_GRACE);
                                if matches!(current.wait, Wait::Event(_)) {
                                    current.wait = Wait::Nothing;
                                }
                            }
                            None => self.finish(channels, RunState::Stopped, String::new()),
                        }
                    }
                }
                Ok(Record::Answer { run, request, status, value }) => {
                    self.answer(run, request, status, value);
                }
                // A ping from chainvm's side, or something else: not ours.
                _ => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments, reason = "the fields of one assignment record")]
    fn assign(
        &mut self,
        channels: &mut Channels,
        number: u32,
        module_length: u32,
        module_digest: &[u8; 32],
        wall_clock_ns: u64,
        seed: &[u8; 32],
        manifest: &[u8],
    ) {
        if let Some(current) = self.run.take() {
            warn!("assignment of run {number} while run {} was on: it is dropped", current.number);
        }
        let manifest = match Manifest::decode(manifest) {
            Ok(manifest) => manifest,
            Err(error) => {
                let detail = format!("the manifest does not decode: {error}");
                report_state(channels, number, RunState::LoadFailed, &detail);
                self.idle_reported = None;
                return;
            }
        };
        self.run = Some(Run {
            number,
            name: manifest.name.clone(),
            manifest,
            module: Vec::with_capacity(module_length as usize),
            module_length: module_length as usize,
            module_digest: *module_digest,
            dapp: None,
            wait: Wait::Module,
            random: ChaCha20Rng::from_seed(*seed),
            wall_clock_ns,
            assigned: Instant::now(),
            next_message: 0,
            next_request: 0,
            pending_request: None,
            pending_operation: None,
            first_call_reported: false,
            stopping: false,
            stop_deadline: None,
        });
        if module_length == 0 {
            self.load(channels);
        }
    }

    fn chunk(&mut self, channels: &mut Channels, number: u32, offset: u32, bytes: &[u8]) {
        let Some(run) = self.run.as_mut().filter(|run| run.number == number) else { return };
        if run.wait != Wait::Module
            || offset as usize != run.module.len()
            || run.module.len() + bytes.len() > run.module_length
        {
            let detail = "the module arrived out of order";
            report_state(channels, number, RunState::LoadFailed, detail);
            self.run = None;
            self.idle_reported = None;
            return;
        }
        run.module.extend_from_slice(bytes);
        if run.module.len() == run.module_length {
            self.load(channels);
        }
    }

    /// Checks and loads the whole module.
    fn load(&mut self, channels: &mut Channels) {
        let Some(run) = self.run.as_mut() else { return };
        let module = core::mem::take(&mut run.module);
        let digest: [u8; 32] = Sha256::digest(&module).into();
        let result = if digest != run.module_digest {
            Err(String::from("the module does not match its digest"))
        } else {
            Dapp::load(&module, &run.manifest.entry, grants(&run.manifest), limits(&run.manifest))
                .map_err(|error| format!("{error}"))
        };
        drop(module);
        match result {
            Ok(dapp) => {
                // What the VM holds for the dapp, for `cargo xtask bench host-call`.
                guest_runtime::println!(
                    "dapp {} loaded: heap_used={} memory={}",
                    run.name,
                    guest_runtime::heap::usage().0,
                    dapp.memory_size()
                );
                run.dapp = Some(dapp);
                run.wait = Wait::Nothing;
                let number = run.number;
                report_state(channels, number, RunState::Running, "");
            }
            Err(detail) => {
                let number = run.number;
                warn!("dapp {} could not be loaded: {detail}", run.name);
                report_state(channels, number, RunState::LoadFailed, &detail);
                self.run = None;
                self.idle_reported = None;
            }
        }
    }

    fn answer(&mut self, number: u32, request: u32, status: i32, value: &[u8]) {
        let Some(run) = self.run.as_mut().filter(|run| run.number == number) else { return };
        if run.pending_request != Some(request) {
            return;
        }
        let Some(dapp) = run.dapp.as_mut() else { return };
        let answer = if status < 0 {
            Answer::Status(Status::from_code(i64::from(status)).unwrap_or(Status::Failed))
        } else {
            match run.pending_operation {
                Some(
                    StorageOperation::Get | StorageOperation::Identity | StorageOperation::Sign,
                ) => Answer::Value(value.to_vec()),
                Some(StorageOperation::List) => Answer::Keys(decode_keys(value)),
                _ => Answer::Done,
            }
        };
        if dapp.answer(answer).is_ok() {
            run.pending_request = None;
            run.wait = Wait::Nothing;
        }
    }

    /// Takes netvm's records: deliveries for the dapp and receipts.
    fn serve_netvm(&mut self, channels: &mut Channels) {
        for _ in 0..RECORDS_PER_PASS {
            let Some(channel) = channels.iter_mut().find(|channel| is_netvm(channel)) else {
                return;
            };
            let length = match channel.receive(&mut self.record) {
                Ok(Some(length)) => length,
                _ => return,
            };
            let event = match Message::decode(&self.record[..length]) {
                Ok(Message::Deliver { delivery, peer, sender, body }) => {
                    let Ok(app) = core::str::from_utf8(sender) else {
                        send_message(
                            channel,
                            &Message::Accept {
                                delivery,
                                status: messaging::Status::UnknownRecipient,
                            },
                        );
                        continue;
                    };
                    Event::Message {
                        delivery,
                        peer: peer.to_vec(),
                        app: app.into(),
                        body: body.to_vec(),
                    }
                }
                Ok(Message::Receipt { id, status }) => Event::Receipt { id, status },
                _ => continue,
            };
            let delivery = match &event {
                Event::Message { delivery, .. } => Some(*delivery),
                Event::Receipt { .. } => None,
            };
            let pushed = match self.run.as_mut().and_then(|run| run.dapp.as_mut()) {
                Some(dapp) => dapp.push_event(event),
                None => Err(PushError::NotRunning),
            };
            match pushed {
                Ok(()) => {
                    if let Some(run) = self.run.as_mut() {
                        if matches!(run.wait, Wait::Event(_)) {
                            run.wait = Wait::Nothing;
                        }
                    }
                }
                Err(error) => {
                    if let Some(delivery) = delivery {
                        let status = match error {
                            PushError::QueueFull => messaging::Status::Busy,
                            PushError::NotMessaging => messaging::Status::UnknownRecipient,
                            PushError::Malformed => messaging::Status::TooLarge,
                            PushError::NotRunning => messaging::Status::Unavailable,
                        };
                        let channel = channels.iter_mut().find(|channel| is_netvm(channel));
                        if let Some(channel) = channel {
                            send_message(channel, &Message::Accept { delivery, status });
                        }
                    }
                }
            }
        }
    }

    /// Runs the dapp for a few slices; returns when to be called again.
    fn run_dapp(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
        for _ in 0..SLICES_PER_PASS {
            let run = self.run.as_mut()?;
            if let Some(deadline) = run.stop_deadline {
                if now >= deadline {
                    let detail = String::from("it did not return in time after the stop request");
                    self.finish(channels, RunState::Stopped, detail);
                    return None;
                }
            }
            match run.wait {
                Wait::Module | Wait::Answer => return run.stop_deadline,
                Wait::Event(Some(until)) if run.assigned.elapsed().as_nanos() as u64 >= until => {}
                Wait::Event(Some(until)) => {
                    let left = until.saturating_sub(run.assigned.elapsed().as_nanos() as u64);
                    return Some(now + Duration::from_nanos(left));
                }
                Wait::Event(None) => return run.stop_deadline,
                Wait::Nothing => {}
            }
            let mut dapp = run.dapp.take()?;
            let outcome = dapp.run(&mut VmServices { run, channels });
            run.dapp = Some(dapp);
            match outcome {
                Outcome::Yielded => run.wait = Wait::Nothing,
                Outcome::Waiting { until } => run.wait = Wait::Event(until),
                Outcome::Blocked(request) => {
                    run.wait = Wait::Answer;
                    let number = run.next_request;
                    run.next_request = run.next_request.wrapping_add(1);
                    run.pending_request = Some(number);
                    let (operation, key, value): (StorageOperation, Vec<u8>, Vec<u8>) =
                        match request {
                            Request::StorageGet { key } => (StorageOperation::Get, key, Vec::new()),
                            Request::StoragePut { key, value, .. } => {
                                (StorageOperation::Put, key, value)
                            }
                            Request::StorageDelete { key } => {
                                (StorageOperation::Delete, key, Vec::new())
                            }
                            Request::StorageList { prefix } => {
                                (StorageOperation::List, prefix, Vec::new())
                            }
                            Request::Identity => {
                                (StorageOperation::Identity, Vec::new(), Vec::new())
                            }
                            // The kind in the key, the key's number and the
                            // payload in the value (chainvm's signing service).
                            Request::Sign { key, kind, payload } => {
                                let mut value = Vec::with_capacity(1 + payload.len());
                                value.push(key);
                                value.extend_from_slice(&payload);
                                (StorageOperation::Sign, kind, value)
                            }
                        };
                    run.pending_operation = Some(operation);
                    let record = Record::Storage {
                        run: run.number,
                        request: number,
                        operation,
                        key: &key,
                        value: &value,
                    };
                    let sent = channels
                        .iter_mut()
                        .find(|channel| is_chainvm(channel))
                        .is_some_and(|channel| channel.is_up() && send_record(channel, &record));
                    if !sent {
                        // chainvm cannot take it: the dapp hears it is unavailable.
                        if let Some(dapp) = run.dapp.as_mut() {
                            if dapp.answer(Answer::Status(Status::Unavailable)).is_ok() {
                                run.pending_request = None;
                                run.wait = Wait::Nothing;
                            }
                        }
                    }
                    return None;
                }
                Outcome::Finished { code } => {
                    let state = if run.stopping { RunState::Stopped } else { RunState::Finished };
                    self.finish(channels, state, format!("exit code {code}"));
                    return None;
                }
                Outcome::Stopped(reason) => {
                    let name = run.name.clone();
                    let detail = format!("{reason}");
                    warn!("dapp {name} stopped: {detail}");
                    self.finish(channels, RunState::Failed, detail);
                    return None;
                }
            }
        }
        Some(now)
    }

    /// The run is over: says how, forgets the dapp, and is idle again.
    fn finish(&mut self, channels: &mut Channels, state: RunState, detail: String) {
        let Some(run) = self.run.take() else { return };
        report_state(channels, run.number, state, &detail);
        drop(run);
        self.idle_reported = None;
        self.register(channels);
    }
}

/// The keys of a list answer: each a u16 length and its bytes.
fn decode_keys(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    while bytes.len() >= 2 {
        let length = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
        let Some(key) = bytes.get(2..2 + length) else { break };
        keys.push(key.to_vec());
        bytes = &bytes[2 + length..];
    }
    keys
}

fn report_state(channels: &mut Channels, run: u32, state: RunState, detail: &str) {
    let record =
        Record::State { run, state, detail: clip(detail, supervision::TEXT_MAX).as_bytes() };
    if let Some(channel) = channels.iter_mut().find(|channel| is_chainvm(channel)) {
        send_record(channel, &record);
    }
}

impl Handler for AppVm {
    fn claims(&self, channel: &Channel) -> bool {
        is_chainvm(channel) || is_netvm(channel)
    }

    fn channel_changed(&mut self, channel: &Channel, change: Change) {
        let _ = change;
        if is_chainvm(channel) {
            // chainvm went away or came back: it knows nothing of this run
            // any more. Drop the dapp; the VM says it is idle again.
            if let Some(run) = self.run.take() {
                warn!("chainvm restarted: dapp {} is stopped", run.name);
            }
            self.idle_reported = None;
        }
        if is_netvm(channel) {
            self.registered = None;
        }
    }

    fn tick(&mut self, channels: &mut Channels, now: Instant) -> Option<Instant> {
        let _ = self.started;
        self.serve_chainvm(channels);
        self.serve_netvm(channels);
        self.report_idle(channels);
        self.register(channels);
        self.run_dapp(channels, now)
    }
}
