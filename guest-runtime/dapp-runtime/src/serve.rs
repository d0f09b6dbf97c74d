//! Serving one host call: capability check, range checks, limits, then the
//! work itself, given the dapp's linear memory, its state and the
//! [`Services`]. The order is fixed: a call without its capability answers
//! `DENIED` before anything else is looked at; then every range is checked
//! (a wild one stops the dapp); then lengths against limits; then rates.

use crate::{
    guest_memory::{self, Violation},
    host::{Call, Span},
    outcome::StopReason,
    policy::Admission,
    services::{Answer, Request, Services},
    state::{QueuedEvent, State, LOG_QUEUE_MAX},
};
use alloc::{string::String, vec::Vec};
use core::ops::Range;
use elastos_host_api::{
    event::Event, keys, peer, KeyKind, LogLevel, Status, BODY_MAX, IDENTITY_MAX, KEY_MAX, LOG_MAX,
    NAME_MAX, RANDOM_MAX, SIGNATURE_KIND_MAX, SIGNATURE_MAX, SIGNATURE_PAYLOAD_MAX, VALUE_MAX,
};

/// What becomes of a served call.
#[derive(Debug)]
pub(crate) enum Disposition {
    /// Resume the dapp with this result.
    Resume(i64),
    /// Block on chainvm; the answer is finished by [`finish`].
    Block { request: Request, pending: Pending },
    /// Wait for an event in `buffer` until `deadline`.
    Wait { buffer: Range<usize>, deadline: Option<u64> },
    /// Stop the dapp.
    Stop(StopReason),
    /// The dapp called `exit`.
    Exit(i32),
}

/// Where a blocked call's answer goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    Get {
        buffer: Range<usize>,
    },
    Write,
    List {
        buffer: Range<usize>,
    },
    /// Text or bytes written to `buffer`, the call returning an `i32`.
    Text {
        buffer: Range<usize>,
    },
}

/// A status as a call's result.
const fn status(status: Status) -> i64 {
    status.code() as i64
}

/// Serves `call`.
pub(crate) fn serve(
    call: Call,
    memory: &mut [u8],
    state: &mut State,
    services: &mut impl Services,
) -> Disposition {
    state.statistics.host_calls += 1;
    if let Some(capability) = call.capability() {
        if !state.grants.allows(capability) {
            state.statistics.denied_calls += 1;
            return Disposition::Resume(status(Status::Denied));
        }
    }
    match serve_granted(call, memory, state, services) {
        Ok(disposition) => disposition,
        Err(violation) => {
            Disposition::Stop(StopReason::HostApiViolation { function: call.function(), violation })
        }
    }
}

/// Serves `call` where the dapp made it, with what the state holds for the
/// slice, if it can be served so: `None` when the call must suspend the
/// dapp and be served by [`serve`] (it blocks or waits, needs the loop's
/// services, has a wild pointer, or the state has not what it needs).
/// Whatever it answers, [`serve`] would have answered the same.
pub(crate) fn serve_in_place(call: Call, memory: &mut [u8], state: &mut State) -> Option<i64> {
    if let Some(capability) = call.capability() {
        if !state.grants.allows(capability) {
            state.statistics.host_calls += 1;
            state.statistics.denied_calls += 1;
            return Some(status(Status::Denied));
        }
    }
    let size = memory.len();
    let range = |span: Span| guest_memory::range(span.0, span.1, size).ok();
    let result = match call {
        Call::ClockMonotonic => {
            let clock = state.lent.clock.as_ref()?;
            let now = clock.now.saturating_add(clock.elapsed()).max(state.lent.last_now);
            state.lent.last_now = now;
            clamp(now)
        }
        Call::ClockWall => {
            let clock = state.lent.clock.as_ref()?;
            clock.wall.map_or(status(Status::Unavailable), |wall| {
                clamp(wall.saturating_add(clock.elapsed()))
            })
        }
        Call::Random { buffer } => {
            let buffer = range(buffer)?;
            let lent = &mut state.lent;
            if buffer.len() > RANDOM_MAX {
                status(Status::TooLarge)
            } else {
                let end = lent.entropy_used.checked_add(buffer.len())?;
                let pool = lent.entropy.get_mut(lent.entropy_used..end)?;
                memory[buffer].copy_from_slice(pool);
                // Bytes handed out are not kept.
                pool.fill(0);
                lent.entropy_used = end;
                0
            }
        }
        Call::Log { level, text } => {
            let text = range(text)?;
            if state.lent.logs.len() >= LOG_QUEUE_MAX {
                return None;
            }
            match LogLevel::from_code(level) {
                None => status(Status::InvalidArgument),
                Some(_) if text.len() > LOG_MAX => status(Status::TooLarge),
                Some(level) => match core::str::from_utf8(&memory[text]) {
                    Err(_) => status(Status::InvalidArgument),
                    Ok(text) => {
                        state.statistics.lines_logged += 1;
                        state.lent.logs.push((level, String::from(text)));
                        0
                    }
                },
            }
        }
        Call::Verify { .. } => {
            let mut nothing = NoServices;
            match serve_granted(call, memory, state, &mut nothing) {
                Ok(Disposition::Resume(result)) => result,
                _ => return None,
            }
        }
        _ => return None,
    };
    state.statistics.host_calls += 1;
    Some(result)
}

/// Services for a call that uses none (`verify`).
struct NoServices;

impl Services for NoServices {
    fn now(&mut self) -> u64 {
        0
    }
    fn wall_clock(&mut self) -> Option<u64> {
        None
    }
    fn fill_random(&mut self, _: &mut [u8]) {}
    fn log(&mut self, _: LogLevel, _: &str) {}
    fn send(&mut self, _: &[u8], _: &str, _: &[u8]) -> Result<u64, Status> {
        Err(Status::Unavailable)
    }
    fn delivered(&mut self, _: u64) {}
}

/// Writes the lines the dapp logged during the slice.
pub(crate) fn write_logs(state: &mut State, services: &mut impl Services) {
    for (level, text) in state.lent.logs.drain(..) {
        services.log(level, &text);
    }
}

/// Lends the state what the next slice's host functions need: the time
/// now and the counter (if the services offer one), and a full entropy
/// pool.
pub(crate) fn lend(state: &mut State, services: &mut impl Services) {
    let lent = &mut state.lent;
    lent.clock = services.counter().map(|counter| {
        let start = (counter.read)();
        let now = services.now();
        crate::state::SliceClock { counter, start, now, wall: services.wall_clock() }
    });
    if state.grants.random && lent.entropy_used > 0 {
        services.fill_random(&mut lent.entropy);
        lent.entropy_used = 0;
    }
}

fn serve_granted(
    call: Call,
    memory: &mut [u8],
    state: &mut State,
    services: &mut impl Services,
) -> Result<Disposition, Violation> {
    let size = memory.len();
    let range = |span: Span| guest_memory::range(span.0, span.1, size);
    let resume = |result: i64| Ok(Disposition::Resume(result));
    match call {
        Call::Log { level, text } => {
            let text = range(text)?;
            let Some(level) = LogLevel::from_code(level) else {
                return resume(status(Status::InvalidArgument));
            };
            if text.len() > LOG_MAX {
                return resume(status(Status::TooLarge));
            }
            let Ok(text) = core::str::from_utf8(&memory[text]) else {
                return resume(status(Status::InvalidArgument));
            };
            state.statistics.lines_logged += 1;
            services.log(level, text);
            resume(0)
        }
        Call::ClockMonotonic => resume(clamp(services.now())),
        Call::ClockWall => resume(services.wall_clock().map_or(status(Status::Unavailable), clamp)),
        Call::Random { buffer } => {
            let buffer = range(buffer)?;
            if buffer.len() > RANDOM_MAX {
                return resume(status(Status::TooLarge));
            }
            services.fill_random(&mut memory[buffer]);
            resume(0)
        }
        Call::MessageSend { peer, app, body } => {
            let (peer, app, body) = (range(peer)?, range(app)?, range(body)?);
            if body.len() > BODY_MAX {
                return resume(status(Status::TooLarge));
            }
            let peer =
                core::str::from_utf8(&memory[peer]).ok().and_then(|text| peer::decode(text).ok());
            let app = core::str::from_utf8(&memory[app]).ok();
            let (Some(peer), Some(app)) = (peer, app) else {
                return resume(status(Status::InvalidArgument));
            };
            if app.is_empty() || app.len() > NAME_MAX {
                return resume(status(Status::InvalidArgument));
            }
            match state.message_rate.admit(services.now()) {
                Admission::Allowed => {}
                Admission::Limited => {
                    state.statistics.rate_limited_calls += 1;
                    return resume(status(Status::RateLimited));
                }
                Admission::Flood => return Ok(Disposition::Stop(StopReason::MessageFlood)),
            }
            match services.send(peer.as_bytes(), app, &memory[body]) {
                Ok(id) => match i64::try_from(id) {
                    Ok(id) => {
                        state.statistics.messages_sent += 1;
                        resume(id)
                    }
                    Err(_) => resume(status(Status::Failed)),
                },
                Err(refused) => resume(status(refused)),
            }
        }
        Call::EventWait { buffer, timeout_milliseconds } => {
            let buffer = range(buffer)?;
            if let Some(result) = hand_event(memory, buffer.clone(), state, services) {
                return resume(result);
            }
            if timeout_milliseconds == 0 {
                return resume(0);
            }
            let deadline = u64::try_from(timeout_milliseconds).ok().map(|milliseconds| {
                services.now().saturating_add(milliseconds.saturating_mul(1_000_000))
            });
            state.waited = true;
            Ok(Disposition::Wait { buffer, deadline })
        }
        Call::StorageGet { key, buffer } => {
            let (key, buffer) = (range(key)?, range(buffer)?);
            if let Err(refused) = check_key(&memory[key.clone()], false) {
                return resume(status(refused));
            }
            state.statistics.storage_requests += 1;
            Ok(Disposition::Block {
                request: Request::StorageGet { key: memory[key].to_vec() },
                pending: Pending::Get { buffer },
            })
        }
        Call::StoragePut { key, value } => {
            let (key, value) = (range(key)?, range(value)?);
            if let Err(refused) = check_key(&memory[key.clone()], false) {
                return resume(status(refused));
            }
            if value.len() > VALUE_MAX {
                return resume(status(Status::TooLarge));
            }
            if (key.len() + value.len()) as u64 > state.limits.storage_quota {
                return resume(status(Status::QuotaExceeded));
            }
            if let Some(refused) = admit_write(state, services) {
                return Ok(refused);
            }
            state.statistics.storage_requests += 1;
            Ok(Disposition::Block {
                request: Request::StoragePut {
                    key: memory[key].to_vec(),
                    value: memory[value].to_vec(),
                    quota: state.limits.storage_quota,
                },
                pending: Pending::Write,
            })
        }
        Call::StorageDelete { key } => {
            let key = range(key)?;
            if let Err(refused) = check_key(&memory[key.clone()], false) {
                return resume(status(refused));
            }
            if let Some(refused) = admit_write(state, services) {
                return Ok(refused);
            }
            state.statistics.storage_requests += 1;
            Ok(Disposition::Block {
                request: Request::StorageDelete { key: memory[key].to_vec() },
                pending: Pending::Write,
            })
        }
        Call::StorageList { prefix, buffer } => {
            let (prefix, buffer) = (range(prefix)?, range(buffer)?);
            if let Err(refused) = check_key(&memory[prefix.clone()], true) {
                return resume(status(refused));
            }
            state.statistics.storage_requests += 1;
            Ok(Disposition::Block {
                request: Request::StorageList { prefix: memory[prefix].to_vec() },
                pending: Pending::List { buffer },
            })
        }
        Call::Identity { buffer } => {
            let buffer = range(buffer)?;
            Ok(Disposition::Block { request: Request::Identity, pending: Pending::Text { buffer } })
        }
        Call::Sign { key_kind, kind, payload, signature } => {
            let (kind, payload, signature) = (range(kind)?, range(payload)?, range(signature)?);
            let Some(key) = KeyKind::from_code(key_kind) else {
                return resume(status(Status::InvalidArgument));
            };
            if kind.len() > SIGNATURE_KIND_MAX || payload.len() > SIGNATURE_PAYLOAD_MAX {
                return resume(status(Status::TooLarge));
            }
            if kind.is_empty() {
                return resume(status(Status::InvalidArgument));
            }
            Ok(Disposition::Block {
                request: Request::Sign {
                    key: key as u8,
                    kind: memory[kind].to_vec(),
                    payload: memory[payload].to_vec(),
                },
                pending: Pending::Text { buffer: signature },
            })
        }
        Call::Verify { identity, kind, payload, signature } => {
            let ranges = [range(identity)?, range(kind)?, range(payload)?, range(signature)?];
            let limits = [IDENTITY_MAX, SIGNATURE_KIND_MAX, SIGNATURE_PAYLOAD_MAX, SIGNATURE_MAX];
            if ranges.iter().zip(limits).any(|(range, limit)| range.len() > limit) {
                return resume(status(Status::TooLarge));
            }
            let [identity, kind, payload, signature] = ranges;
            let result = crate::signature::verify(
                &memory[identity],
                &memory[kind],
                &memory[payload],
                &memory[signature],
            );
            resume(result.map_or_else(status, |()| 0))
        }
        Call::Exit { code } => Ok(Disposition::Exit(code)),
    }
}

/// A time as a non-negative `i64`.
fn clamp(nanoseconds: u64) -> i64 {
    i64::try_from(nanoseconds).unwrap_or(i64::MAX)
}

/// Checks a key (or, with `prefix`, a possibly empty prefix).
fn check_key(key: &[u8], prefix: bool) -> Result<(), Status> {
    if key.is_empty() && !prefix {
        Err(Status::InvalidArgument)
    } else if key.len() > KEY_MAX {
        Err(Status::TooLarge)
    } else {
        Ok(())
    }
}

/// Counts a storage write against the rate: `None` if admitted.
fn admit_write(state: &mut State, services: &mut impl Services) -> Option<Disposition> {
    match state.storage_rate.admit(services.now()) {
        Admission::Allowed => None,
        Admission::Limited => {
            state.statistics.rate_limited_calls += 1;
            Some(Disposition::Resume(status(Status::RateLimited)))
        }
        Admission::Flood => Some(Disposition::Stop(StopReason::StorageFlood)),
    }
}

/// The result of a call that found `buffer` too small for `needed` bytes:
/// `needed` goes in the buffer's first 4 bytes when it has them.
fn too_small(memory: &mut [u8], buffer: Range<usize>, needed: usize) -> i64 {
    if let Some(slot) =
        buffer.len().checked_sub(4).and_then(|_| memory.get_mut(buffer.start..buffer.start + 4))
    {
        slot.copy_from_slice(&(needed as u32).to_le_bytes());
    }
    status(Status::BufferTooSmall)
}

/// Hands the next event (a stop request first) to the dapp's `buffer`:
/// the result for `event_wait`, or `None` when there is none.
pub(crate) fn hand_event(
    memory: &mut [u8],
    buffer: Range<usize>,
    state: &mut State,
    services: &mut impl Services,
) -> Option<i64> {
    let event = if state.stop_requested {
        Event::Stop
    } else {
        match state.events.front()? {
            QueuedEvent::Message { delivery, peer, app, body } => {
                Event::Message { delivery: *delivery, peer: peer.as_str(), app, body }
            }
            QueuedEvent::Receipt { id, status } => Event::Receipt { id: *id, status: *status },
        }
    };
    let needed = event.encoded_length();
    if needed > buffer.len() {
        return Some(too_small(memory, buffer, needed));
    }
    // The buffer was checked to hold `needed` bytes.
    let written = event.encode(&mut memory[buffer]).unwrap_or(0);
    state.waited = true;
    if !state.stop_requested {
        match state.events.pop_front() {
            Some(QueuedEvent::Message { delivery, .. }) => {
                state.statistics.messages_received += 1;
                services.delivered(delivery);
            }
            Some(QueuedEvent::Receipt { .. }) => state.statistics.receipts_received += 1,
            None => {}
        }
    }
    Some(written as i64)
}

/// Turns chainvm's `answer` into the blocked call's result, writing what it
/// carries to the dapp's buffer. Gives the answer back if it does not fit
/// the request.
pub(crate) fn finish(pending: &Pending, answer: Answer, memory: &mut [u8]) -> Result<i64, Answer> {
    match (pending, answer) {
        (_, Answer::Status(refused)) => Ok(status(refused)),
        (Pending::Get { buffer }, Answer::Value(value)) => {
            if value.len() > buffer.len() {
                return Ok(too_small(memory, buffer.clone(), value.len()));
            }
            memory[buffer.start..buffer.start + value.len()].copy_from_slice(&value);
            Ok(value.len() as i64)
        }
        (Pending::Text { buffer }, Answer::Value(value)) => {
            if value.len() > buffer.len() {
                return Ok(too_small(memory, buffer.clone(), value.len()));
            }
            memory[buffer.start..buffer.start + value.len()].copy_from_slice(&value);
            Ok(value.len() as i64)
        }
        (Pending::Write, Answer::Done) => Ok(0),
        (Pending::List { buffer }, Answer::Keys(keys)) => {
            let slices: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            match keys::encode(slices.iter().copied(), &mut memory[buffer.clone()]) {
                Ok(length) => Ok(length as i64),
                Err(keys::KeysError::BufferTooSmall { needed }) => {
                    Ok(too_small(memory, buffer.clone(), needed))
                }
                Err(_) => Ok(status(Status::Failed)),
            }
        }
        (_, answer) => Err(answer),
    }
}
