//! The signing service: dapps with the `sign` capability have chainvm sign
//! payloads under the node key or the key chainvm derives for them
//! ([`crate::keys`]), within the policy of their manifest's `[sign]`
//! section; a person approves or denies the requests that policy says need
//! it (`elastos requests`, `approve ID`, `deny ID` in Linux), and those left
//! waiting are refused after [`APPROVAL_TIMEOUT_NS`]. Every request is
//! written to the audit log in the store (`elastos audit`).
//!
//! # What is signed
//!
//! chainvm never signs a dapp's bytes as they are: it signs
//! [`signed_message`], `"elastos-signature/v1\0"`, the payload kind's length
//! (one byte), the kind, then the payload. A signature made for one kind
//! (`chat/v1`) does not pass for another, nor for a libp2p handshake, a
//! package or anything else the node key signs. The answer is the 64-byte
//! ed25519 signature followed by the `did:key` that verifies it.
//!
//! # The audit log
//!
//! One line a request under [`AUDIT_LOG`], appended (`Store::append`):
//! `TIME<tab>DAPP<tab>ACTION<tab>OUTCOME`, `TIME` in seconds since the Unix
//! epoch. The outcome names the key, the kind, the payload's length and the
//! first 16 bytes of its SHA-256 in hex, and whether it was allowed. A flood
//! of requests over the rate is written once a minute with the count.
//!
//! Lines gather in memory and are appended in one commit when
//! [`AUDIT_INTERVAL_NS`] has passed since the last write or
//! [`AUDIT_BATCH_MAX`] bytes wait (each commit of the store rewrites its
//! catalog, so a commit a signature would cost more than the signature):
//! `elastos audit` shows them at once; a power cut loses at most the last
//! second's lines.

use crate::keys::NodeKey;
use crate::supervisor::StorageRequest;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use elastos_control::{AuditEntry, PendingRequest};
use elastos_host_api::Status;
use elastos_package::{Approval, SignKey, SignPolicy};
use elastos_store::{BlockDevice, Store};
use guest_runtime::identity::NoKey;
use sha2::{Digest, Sha256};

/// The store key of the audit log.
pub const AUDIT_LOG: &[u8] = b"log/audit";
/// What every signed message starts with.
pub const SIGNATURE_DOMAIN: &[u8] = b"elastos-signature/v1\0";
/// How long a request waits for a person before it is refused.
pub const APPROVAL_TIMEOUT_NS: u64 = 60_000_000_000;
/// The most requests waiting for a person at once.
pub const PENDING_MAX: usize = 16;
/// The longest payload kind.
pub const KIND_MAX: usize = 64;
/// The longest payload.
pub const PAYLOAD_MAX: usize = 2048;
/// The longest audit lines wait in memory before they are written.
pub const AUDIT_INTERVAL_NS: u64 = 1_000_000_000;
/// Audit bytes in memory that are written at once.
pub const AUDIT_BATCH_MAX: usize = 8192;
/// One minute, in nanoseconds.
const MINUTE_NS: u64 = 60_000_000_000;

/// What chainvm signs for payload `payload` of kind `kind`.
pub fn signed_message(kind: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 1 + kind.len() + payload.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.push(kind.len().min(255) as u8);
    message.extend_from_slice(kind.as_bytes());
    message.extend_from_slice(payload);
    message
}

/// A signing request, as the app VM's record gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    /// The key asked for.
    pub key: SignKey,
    /// The payload kind.
    pub kind: String,
    /// The payload.
    pub payload: Vec<u8>,
}

impl SignRequest {
    /// The request a storage record carries for [`guest_runtime::supervision::StorageOperation::Sign`]:
    /// the kind in `key`, the key's number (0 node, 1 dapp) and the payload
    /// in `value`. `None` for a malformed one.
    pub fn from_record(kind: &[u8], value: &[u8]) -> Option<Self> {
        let (&key, payload) = value.split_first()?;
        let key = match key {
            0 => SignKey::Node,
            1 => SignKey::Dapp,
            _ => return None,
        };
        let kind = core::str::from_utf8(kind).ok()?;
        if kind.is_empty() || kind.len() > KIND_MAX || payload.len() > PAYLOAD_MAX {
            return None;
        }
        Some(Self { key, kind: kind.to_string(), payload: payload.to_vec() })
    }

    /// The payload's digest, as the audit log and `elastos requests` show it.
    pub fn digest(&self) -> String {
        let digest = Sha256::digest(&self.payload);
        let mut text = String::from("sha256:");
        for byte in &digest[..16] {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    fn describe(&self) -> String {
        format!(
            "{} key, kind {}, {} bytes, {}",
            self.key.name(),
            self.kind,
            self.payload.len(),
            self.digest()
        )
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request is malformed (lengths, key number, text).
    BadRequest,
    /// The dapp's manifest has no `[sign]` policy.
    NotAllowed,
    /// The policy does not list the key.
    KeyNotAllowed,
    /// The policy does not list the payload kind.
    KindNotAllowed,
    /// Over the policy's rate.
    RateLimited,
    /// Too many requests wait for a person.
    Busy,
    /// A person denied it.
    Denied,
    /// Nobody approved it in time.
    TimedOut,
    /// chainvm has no node key.
    NoKey(NoKey),
}

impl Refusal {
    /// The host API status the dapp gets.
    pub fn status(self) -> Status {
        match self {
            Self::BadRequest => Status::InvalidArgument,
            Self::NotAllowed | Self::KeyNotAllowed | Self::KindNotAllowed => Status::Denied,
            Self::Denied | Self::TimedOut => Status::Denied,
            Self::RateLimited => Status::RateLimited,
            Self::Busy => Status::Busy,
            Self::NoKey(_) => Status::Unavailable,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Self::BadRequest => "malformed request",
            Self::NotAllowed => "no [sign] policy",
            Self::KeyNotAllowed => "key not in the policy",
            Self::KindNotAllowed => "payload kind not in the policy",
            Self::RateLimited => "over the rate limit",
            Self::Busy => "too many requests wait for approval",
            Self::Denied => "denied by a person",
            Self::TimedOut => "not approved in time",
            Self::NoKey(_) => "no node key",
        }
    }
}

/// What the policy says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Sign it now.
    Sign,
    /// A person must approve it.
    Ask,
    /// Refuse it.
    Refuse(Refusal),
}

/// The signatures a dapp had in the last minute.
#[derive(Debug, Default)]
pub struct RateWindow {
    times: VecDeque<u64>,
    /// Requests refused for the rate and not written yet, and when the last
    /// such line was written.
    suppressed: u64,
    last_written: Option<u64>,
}

impl RateWindow {
    /// Whether one more at `now` (nanoseconds) fits `per_minute`; counts it
    /// if so.
    pub fn admit(&mut self, now: u64, per_minute: u32) -> bool {
        while self.times.front().is_some_and(|&time| now.saturating_sub(time) >= MINUTE_NS) {
            self.times.pop_front();
        }
        if self.times.len() >= per_minute as usize {
            return false;
        }
        self.times.push_back(now);
        true
    }
}

/// What the policy `policy` (the manifest's `[sign]`) says of `request`,
/// given the dapp's rate window, at `now`.
pub fn decide(
    policy: Option<&SignPolicy>,
    request: &SignRequest,
    window: &mut RateWindow,
    now: u64,
) -> Decision {
    let Some(policy) = policy else { return Decision::Refuse(Refusal::NotAllowed) };
    if !policy.keys.contains(request.key) {
        return Decision::Refuse(Refusal::KeyNotAllowed);
    }
    if !policy.payload_kinds.contains(&request.kind) {
        return Decision::Refuse(Refusal::KindNotAllowed);
    }
    if !window.admit(now, policy.per_minute) {
        return Decision::Refuse(Refusal::RateLimited);
    }
    match policy.approval {
        Approval::Never => Decision::Sign,
        Approval::Always => Decision::Ask,
    }
}

/// A request waiting for a person.
#[derive(Debug)]
pub struct Waiting {
    /// Its number for `elastos approve` and `deny`.
    pub id: u64,
    /// The app VM's request it answers.
    pub origin: StorageRequest,
    /// What to sign.
    pub request: SignRequest,
    /// The dapp's publisher key (for its derived key).
    pub publisher: [u8; 32],
    /// When it is refused if nobody answered (monotonic nanoseconds).
    pub deadline: u64,
}

impl Waiting {
    /// As `elastos requests` lists it.
    pub fn pending(&self) -> PendingRequest {
        PendingRequest {
            id: self.id,
            dapp: self.origin.dapp.clone(),
            capability: "sign".to_string(),
            detail: self.request.describe(),
        }
    }
}

/// An answer for an app VM: the request it answers, a host API status (the
/// length of the value on success) and the value.
pub type Answer = (StorageRequest, i32, Vec<u8>);

/// The signing service's state.
pub struct SigningService {
    key: Result<NodeKey, NoKey>,
    windows: BTreeMap<String, RateWindow>,
    waiting: Vec<Waiting>,
    next_id: u64,
    /// Audit lines not in the store yet.
    audit: String,
    /// When they were last written (monotonic nanoseconds).
    audit_written: u64,
}

impl SigningService {
    /// The service signing with `key` (or refusing, without one).
    pub fn new(key: Result<NodeKey, NoKey>) -> Self {
        Self {
            key,
            windows: BTreeMap::new(),
            waiting: Vec::new(),
            next_id: 1,
            audit: String::new(),
            audit_written: 0,
        }
    }

    /// The node key, or why there is none.
    pub fn node_key(&self) -> Result<&NodeKey, NoKey> {
        self.key.as_ref().map_err(|reason| *reason)
    }

    /// The node's DID (empty without a key).
    pub fn did(&self) -> String {
        self.key.as_ref().map(NodeKey::did).unwrap_or_default()
    }

    /// The identity request `origin`: the node's DID.
    pub fn identity(&self) -> (i32, Vec<u8>) {
        match &self.key {
            Ok(key) => {
                let did = key.did().into_bytes();
                (did.len() as i32, did)
            }
            Err(_) => (Status::Unavailable.code(), Vec::new()),
        }
    }

    /// The signature of `request` and the DID that verifies it, as the
    /// answer's value.
    fn sign(&self, request: &SignRequest, dapp: &str, publisher: &[u8; 32]) -> (i32, Vec<u8>) {
        let key = match &self.key {
            Ok(key) => key,
            Err(reason) => return (Refusal::NoKey(*reason).status().code(), Vec::new()),
        };
        let message = signed_message(&request.kind, &request.payload);
        let (signature, did) = match request.key {
            SignKey::Node => (key.sign(&message), key.did()),
            SignKey::Dapp => {
                let derived = key.dapp_key(dapp, publisher);
                (derived.sign(&message), derived.did())
            }
        };
        let mut value = signature.to_vec();
        value.extend_from_slice(did.as_bytes());
        (value.len() as i32, value)
    }

    /// Serves a signing request of `origin`'s dapp under `policy`, at `now`
    /// (monotonic nanoseconds) and `wall_seconds`: the answer now, or `None`
    /// when it waits for a person.
    #[allow(clippy::too_many_arguments, reason = "one request's whole context")]
    pub fn request(
        &mut self,
        origin: StorageRequest,
        policy: Option<&SignPolicy>,
        publisher: [u8; 32],
        now: u64,
        wall_seconds: u64,
    ) -> Option<(i32, Vec<u8>)> {
        let dapp = origin.dapp.clone();
        let Some(request) = SignRequest::from_record(&origin.key, &origin.value) else {
            self.record(wall_seconds, &dapp, "sign", "refused: malformed request");
            return Some((Refusal::BadRequest.status().code(), Vec::new()));
        };
        if let Err(reason) = self.node_key() {
            let refusal = Refusal::NoKey(reason);
            self.write_refusal(now, wall_seconds, &dapp, &request, refusal);
            return Some((refusal.status().code(), Vec::new()));
        }
        let window = self.windows.entry(dapp.clone()).or_default();
        match decide(policy, &request, window, now) {
            Decision::Sign => {
                let answer = self.sign(&request, &dapp, &publisher);
                self.record(
                    wall_seconds,
                    &dapp,
                    "sign",
                    &format!("allowed: {}", request.describe()),
                );
                Some(answer)
            }
            Decision::Ask if self.waiting.len() >= PENDING_MAX => {
                self.write_refusal(now, wall_seconds, &dapp, &request, Refusal::Busy);
                Some((Refusal::Busy.status().code(), Vec::new()))
            }
            Decision::Ask => {
                let id = self.next_id;
                self.next_id += 1;
                self.record(
                    wall_seconds,
                    &dapp,
                    "sign",
                    &format!("waits for approval as request {id}: {}", request.describe()),
                );
                self.waiting.push(Waiting {
                    id,
                    origin,
                    request,
                    publisher,
                    deadline: now.saturating_add(APPROVAL_TIMEOUT_NS),
                });
                None
            }
            Decision::Refuse(refusal) => {
                self.write_refusal(now, wall_seconds, &dapp, &request, refusal);
                Some((refusal.status().code(), Vec::new()))
            }
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one refusal's whole context")]
    fn write_refusal(
        &mut self,
        now: u64,
        wall_seconds: u64,
        dapp: &str,
        request: &SignRequest,
        refusal: Refusal,
    ) {
        let mut outcome = format!("refused ({}): {}", refusal.text(), request.describe());
        if refusal == Refusal::RateLimited {
            let window = self.windows.entry(dapp.to_string()).or_default();
            if window.last_written.is_some_and(|last| now.saturating_sub(last) < MINUTE_NS) {
                window.suppressed += 1;
                return;
            }
            if window.suppressed > 0 {
                outcome.push_str(&format!(" ({} more refused for the rate)", window.suppressed));
            }
            window.suppressed = 0;
            window.last_written = Some(now);
        }
        self.record(wall_seconds, dapp, "sign", &outcome);
    }

    /// Adds a line to the audit log (in memory until [`Self::flush_audit`]).
    fn record(&mut self, wall_seconds: u64, dapp: &str, action: &str, outcome: &str) {
        self.audit.push_str(&audit_line(wall_seconds, dapp, action, outcome));
    }

    /// Appends the audit lines gathered to the log in the store, in one
    /// commit, when [`AUDIT_INTERVAL_NS`] has passed since the last write at
    /// `now`, when they pass [`AUDIT_BATCH_MAX`] bytes, or with `force`.
    pub fn flush_audit<D: BlockDevice>(
        &mut self,
        store: &mut Store<D>,
        now: u64,
        force: bool,
    ) -> Result<(), elastos_store::Error> {
        let due = now.saturating_sub(self.audit_written) >= AUDIT_INTERVAL_NS
            || self.audit.len() >= AUDIT_BATCH_MAX;
        if self.audit.is_empty() || !(due || force) {
            return Ok(());
        }
        store.append(AUDIT_LOG, self.audit.as_bytes())?;
        self.audit.clear();
        self.audit_written = now;
        Ok(())
    }

    /// The audit log, oldest first: the store's lines, then those not
    /// written yet.
    pub fn audit_entries<D: BlockDevice>(
        &self,
        store: &mut Store<D>,
    ) -> Result<Vec<AuditEntry>, elastos_store::Error> {
        let log = store.get(AUDIT_LOG)?.unwrap_or_default();
        let mut entries = parse_audit(&String::from_utf8_lossy(&log), 0);
        entries.extend(parse_audit(&self.audit, entries.len() as u64));
        Ok(entries)
    }

    /// The requests waiting for a person.
    pub fn pending(&self) -> Vec<PendingRequest> {
        self.waiting.iter().map(Waiting::pending).collect()
    }

    /// A person approved (`approve`) or denied request `id`: its listing and
    /// the answer for its app VM; `None` when no request has that number.
    pub fn decide_waiting(
        &mut self,
        id: u64,
        approve: bool,
        wall_seconds: u64,
    ) -> Option<(PendingRequest, Answer)> {
        let index = self.waiting.iter().position(|waiting| waiting.id == id)?;
        let waiting = self.waiting.remove(index);
        let listed = waiting.pending();
        let dapp = waiting.origin.dapp.clone();
        let (status, value) = if approve {
            self.record(
                wall_seconds,
                &dapp,
                "approve",
                &format!("request {id} signed: {}", listed.detail),
            );
            self.sign(&waiting.request, &dapp, &waiting.publisher)
        } else {
            self.record(
                wall_seconds,
                &dapp,
                "deny",
                &format!("request {id} refused: {}", listed.detail),
            );
            (Refusal::Denied.status().code(), Vec::new())
        };
        Some((listed, (waiting.origin, status, value)))
    }

    /// Refuses the requests nobody answered by `now`; their answers.
    pub fn expire(&mut self, now: u64, wall_seconds: u64) -> Vec<Answer> {
        let mut answers = Vec::new();
        let mut index = 0;
        while index < self.waiting.len() {
            if self.waiting[index].deadline > now {
                index += 1;
                continue;
            }
            let waiting = self.waiting.remove(index);
            let outcome = format!(
                "request {} not approved in time: {}",
                waiting.id,
                waiting.request.describe()
            );
            self.record(wall_seconds, &waiting.origin.dapp, "sign", &format!("refused: {outcome}"));
            answers.push((waiting.origin, Refusal::TimedOut.status().code(), Vec::new()));
        }
        answers
    }

    /// The earliest deadline of a waiting request.
    pub fn next_deadline(&self) -> Option<u64> {
        self.waiting.iter().map(|waiting| waiting.deadline).min()
    }

    /// Drops the waiting requests of slot `slot` (its app VM went away).
    pub fn forget_slot(&mut self, slot: usize) {
        self.waiting.retain(|waiting| waiting.origin.slot != slot);
    }
}

/// chainvm's parameter word 0 that has it measure its own signing at start
/// (`cargo xtask bench signing`): "SIGN".
pub const BENCHMARK_MODE: u64 = 0x4e47_4953;
/// Signatures in each benchmark run, in chainvm alone and through the
/// service (under the system's 600 a minute).
pub const BENCHMARK_SIGNATURES: u32 = 500;
/// The payload kind of the benchmark's signatures.
pub const BENCHMARK_KIND: &str = "bench";

/// Signs [`BENCHMARK_SIGNATURES`] messages as the service does (the
/// benchmark's 32-byte payload with its kind) with `key` alone, and returns
/// the counter ticks it took; the signatures are checked so none is skipped.
pub fn benchmark_alone(key: &NodeKey, counter: impl Fn() -> u64) -> (u64, bool) {
    let mut payload = [0u8; 32];
    let mut last = [0u8; 64];
    let start = counter();
    for index in 0..BENCHMARK_SIGNATURES {
        payload[..4].copy_from_slice(&index.to_le_bytes());
        last = key.sign(&signed_message(BENCHMARK_KIND, &payload));
    }
    let ticks = counter().saturating_sub(start);
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key());
    let signature = ed25519_dalek::Signature::from_bytes(&last);
    let valid = verifying.is_ok_and(|verifying| {
        verifying.verify_strict(&signed_message(BENCHMARK_KIND, &payload), &signature).is_ok()
    });
    (ticks, valid)
}

/// A line of the audit log.
fn audit_line(wall_seconds: u64, dapp: &str, action: &str, outcome: &str) -> String {
    let clean = |text: &str| text.replace(['\t', '\n'], " ");
    format!("{wall_seconds}\t{}\t{action}\t{}\n", clean(dapp), clean(outcome))
}

/// The entries of audit log text, numbered from `first`.
fn parse_audit(text: &str, first: u64) -> Vec<AuditEntry> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '\t');
            let time = fields.next()?.parse().ok()?;
            let dapp = fields.next()?;
            let action = fields.next()?.to_string();
            let outcome = fields.next()?.to_string();
            Some((time, dapp, action, outcome))
        })
        .enumerate()
        .map(|(index, (time, dapp, action, outcome))| AuditEntry {
            sequence: first + index as u64,
            time,
            dapp: (!dapp.is_empty()).then(|| dapp.to_string()),
            action,
            outcome,
        })
        .collect()
}

#[cfg(test)]
mod tests;
