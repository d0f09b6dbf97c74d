//! The app VM slots and the dapps running in them.
//!
//! chainvm decides which dapp runs in which app VM. An app VM that runs
//! nothing says `idle` (at every start of the VM, and after each run); to
//! start a dapp, chainvm sends it an `assign` with the package's manifest
//! and the module's length and digest, then the module in chunks as the
//! ring has room. The app VM answers with the run's states: `running` once
//! the module is loaded, then `finished`, `stopped`, `failed` or
//! `load-failed`. A dapp that fails is started again if its manifest says
//! so, up to its limit; an app VM that restarts under a dapp counts as the
//! dapp failing. Records are in `guest_runtime::supervision`.
//!
//! The supervisor is pure: it reads records, and sends through an
//! [`Outbox`]; answers to the `elastos` command that wait for a run
//! (`start`, `stop`) are kept as tickets and handed back through
//! [`Supervisor::take_completions`].

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use elastos_control::{ControlError, DappState, ErrorKind, Ticket, VmState, VmStatus};
use elastos_package::{Manifest, RestartPolicy};
use guest_runtime::supervision::{clip, Record, RunState, StorageOperation, CHUNK_MAX, TEXT_MAX};

/// Log lines kept per dapp (the oldest go first).
pub const LOG_LINES: usize = 200;
/// The longest log line kept.
pub const LOG_LINE_MAX: usize = 300;

/// Sends records to app VMs.
pub trait Outbox {
    /// Sends `record` to the app VM of slot `slot`; false if it did not fit
    /// (the ring is full, or the channel is down).
    fn send(&mut self, slot: usize, record: &[u8]) -> bool;
}

/// A storage request from a dapp, for the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageRequest {
    /// The slot it came from.
    pub slot: usize,
    /// The run.
    pub run: u32,
    /// The app VM's number for it.
    pub request: u32,
    /// The dapp asking (as chainvm assigned it: never what the app VM says).
    pub dapp: String,
    /// What to do.
    pub operation: StorageOperation,
    /// The key or prefix.
    pub key: Vec<u8>,
    /// The value to put.
    pub value: Vec<u8>,
}

/// What a slot is doing.
#[derive(Debug)]
enum SlotState {
    /// Not heard from since chainvm started (or since its channel went down).
    Unknown,
    /// Runs nothing.
    Idle,
    /// Getting a dapp's module.
    Loading {
        run: u32,
        dapp: String,
        module: Vec<u8>,
        sent: usize,
        /// The assignment, until the ring took it.
        assign: Option<Vec<u8>>,
    },
    /// Running a dapp.
    Running { run: u32, dapp: String },
    /// Asked to stop a dapp.
    Stopping { run: u32, dapp: String },
}

/// One app VM.
#[derive(Debug)]
struct Slot {
    /// The VM's name.
    vm: String,
    state: SlotState,
    /// Times the VM was seen starting again under a dapp.
    restarts: u32,
}

/// A dapp chainvm has started (or tried to) since it started.
#[derive(Debug, Default)]
struct DappRun {
    state: Option<DappState>,
    slot: Option<usize>,
    logs: VecDeque<String>,
    /// Restarts after failures so far.
    restarts: u32,
    /// Answers waiting for the dapp to run.
    starting: Vec<Ticket<elastos_control::DappInfo>>,
    /// Answers waiting for the dapp to stop.
    stopping: Vec<Ticket<elastos_control::DappInfo>>,
    /// Start it again once a slot is idle.
    restart_pending: bool,
}

/// A start the supervisor was asked for, with what it needs.
pub struct Assignment<'a> {
    /// The dapp's manifest.
    pub manifest: &'a Manifest,
    /// Its manifest in the package's encoding.
    pub manifest_bytes: &'a [u8],
    /// Its module.
    pub module: &'a [u8],
    /// The module's sha256.
    pub module_digest: [u8; 32],
    /// Wall time now, nanoseconds since the Unix epoch (0 if unknown).
    pub wall_clock_ns: u64,
    /// A seed for the dapp's random generator.
    pub seed: [u8; 32],
}

/// An answer to hand to the control server.
pub type Completion = (String, Ticket<elastos_control::DappInfo>, Result<DappState, ControlError>);

/// The slots and the runs.
pub struct Supervisor {
    slots: Vec<Slot>,
    runs: BTreeMap<String, DappRun>,
    next_run: u32,
    completions: Vec<Completion>,
    /// Lines worth the console (faults and restarts).
    notices: Vec<String>,
}

impl Supervisor {
    /// A supervisor of the app VMs named `vms`, slot `n` being `vms[n]`.
    pub fn new(vms: &[&str]) -> Self {
        let slots = vms
            .iter()
            .map(|vm| Slot { vm: (*vm).to_string(), state: SlotState::Unknown, restarts: 0 })
            .collect();
        Self {
            slots,
            runs: BTreeMap::new(),
            next_run: 1,
            completions: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// How many slots there are.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The state of `dapp` as far as this run of chainvm knows it.
    pub fn state(&self, dapp: &str) -> Option<DappState> {
        self.runs.get(dapp).and_then(|run| run.state.clone())
    }

    /// The slot `dapp` runs in, if any.
    pub fn slot_of(&self, dapp: &str) -> Option<usize> {
        self.runs.get(dapp).and_then(|run| run.slot)
    }

    /// `dapp`'s log lines, oldest first.
    pub fn logs(&self, dapp: &str) -> Vec<String> {
        self.runs.get(dapp).map(|run| run.logs.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether `dapp` is starting, running or stopping.
    pub fn is_active(&self, dapp: &str) -> bool {
        self.slots.iter().any(|slot| match &slot.state {
            SlotState::Loading { dapp: name, .. }
            | SlotState::Running { dapp: name, .. }
            | SlotState::Stopping { dapp: name, .. } => name == dapp,
            _ => false,
        })
    }

    /// A slot that runs nothing, if any.
    pub fn idle_slot(&self) -> Option<usize> {
        self.slots.iter().position(|slot| matches!(slot.state, SlotState::Idle))
    }

    /// The dapps waiting to be started again, for the caller to start when
    /// a slot is idle.
    pub fn restarts_pending(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|(_, run)| run.restart_pending)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Each slot's VM and state, for `elastos status`.
    pub fn status(&self) -> Vec<VmStatus> {
        self.slots
            .iter()
            .enumerate()
            .map(|(index, slot)| {
                let (state, dapp) = match &slot.state {
                    SlotState::Unknown => (VmState::Starting, None),
                    SlotState::Idle => (VmState::Idle, None),
                    SlotState::Loading { dapp, .. } => (VmState::Starting, Some(dapp.clone())),
                    SlotState::Running { dapp, .. } | SlotState::Stopping { dapp, .. } => {
                        (VmState::Running, Some(dapp.clone()))
                    }
                };
                VmStatus {
                    name: slot.vm.clone(),
                    state,
                    slot: Some(index as u32 + 1),
                    dapp,
                    restarts: slot.restarts,
                }
            })
            .collect()
    }

    /// Takes the lines worth printing on the console.
    pub fn take_notices(&mut self) -> Vec<String> {
        core::mem::take(&mut self.notices)
    }

    /// Takes the answers that are ready.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        core::mem::take(&mut self.completions)
    }

    fn log(&mut self, dapp: &str, line: String) {
        let run = self.runs.entry(dapp.to_string()).or_default();
        if run.logs.len() == LOG_LINES {
            run.logs.pop_front();
        }
        run.logs.push_back(line);
    }

    /// Starts `assignment`'s dapp in slot `slot` (which must be idle); the
    /// answer to `ticket`, if given, waits for it to run.
    pub fn start(
        &mut self,
        slot: usize,
        assignment: &Assignment<'_>,
        ticket: Option<Ticket<elastos_control::DappInfo>>,
        outbox: &mut impl Outbox,
    ) -> Result<(), ControlError> {
        let name = assignment.manifest.name.clone();
        let Some(target) = self.slots.get_mut(slot) else {
            return Err(ControlError::new(ErrorKind::Internal, "no such app slot"));
        };
        if !matches!(target.state, SlotState::Idle) {
            return Err(ControlError::new(ErrorKind::Busy, "that app slot is not free"));
        }
        let run = self.next_run;
        self.next_run = self.next_run.wrapping_add(1).max(1);
        let module_length = u32::try_from(assignment.module.len())
            .map_err(|_| ControlError::new(ErrorKind::Internal, "module too large"))?;
        let record = Record::Assign {
            run,
            module_length,
            module_digest: &assignment.module_digest,
            wall_clock_ns: assignment.wall_clock_ns,
            seed: &assignment.seed,
            manifest: assignment.manifest_bytes,
        };
        let mut buffer = vec_for(&record);
        let length = record
            .encode(&mut buffer)
            .map_err(|_| ControlError::new(ErrorKind::Internal, "the manifest is too long"))?;
        buffer.truncate(length);
        target.state = SlotState::Loading {
            run,
            dapp: name.clone(),
            module: assignment.module.to_vec(),
            sent: 0,
            assign: Some(buffer),
        };
        let vm = target.vm.clone();
        let entry = self.runs.entry(name.clone()).or_default();
        entry.slot = Some(slot);
        entry.restart_pending = false;
        if let Some(ticket) = ticket {
            entry.starting.push(ticket);
        }
        self.log(&name, format!("starting in {vm} (run {run})"));
        self.pump(outbox);
        Ok(())
    }

    /// Asks the slot running `dapp` to stop it; the answer to `ticket`
    /// waits for the stop.
    pub fn stop(
        &mut self,
        dapp: &str,
        ticket: Ticket<elastos_control::DappInfo>,
        outbox: &mut impl Outbox,
    ) -> Result<(), (Ticket<elastos_control::DappInfo>, ControlError)> {
        let Some(index) = self.slots.iter().position(|slot| match &slot.state {
            SlotState::Loading { dapp: name, .. } | SlotState::Running { dapp: name, .. } => {
                name == dapp
            }
            _ => false,
        }) else {
            if let Some(run) = self.runs.get_mut(dapp) {
                // A dapp waiting to be restarted is stopped by not restarting it.
                if run.restart_pending {
                    run.restart_pending = false;
                    run.state = Some(DappState::Stopped);
                    self.completions.push((dapp.to_string(), ticket, Ok(DappState::Stopped)));
                    return Ok(());
                }
            }
            return Err((ticket, ControlError::new(ErrorKind::InvalidState, "it is not running")));
        };
        let slot = &mut self.slots[index];
        let run = match &slot.state {
            SlotState::Loading { run, .. } | SlotState::Running { run, .. } => *run,
            _ => unreachable!("the slot was found running or loading"),
        };
        slot.state = SlotState::Stopping { run, dapp: dapp.to_string() };
        let mut buffer = [0u8; 8];
        // Five bytes: the kind and the run number.
        if let Ok(length) = (Record::Stop { run }).encode(&mut buffer) {
            let _ = outbox.send(index, &buffer[..length]);
        }
        let entry = self.runs.entry(dapp.to_string()).or_default();
        entry.stopping.push(ticket);
        entry.restart_pending = false;
        Ok(())
    }

    /// Sends the module chunks the rings have room for, and assignments
    /// that did not fit before.
    pub fn pump(&mut self, outbox: &mut impl Outbox) {
        let mut buffer = vec![0u8; CHUNK_MAX + 16];
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let SlotState::Loading { run, module, sent, assign, .. } = &mut slot.state else {
                continue;
            };
            if let Some(record) = assign {
                if !outbox.send(index, record) {
                    continue;
                }
                *assign = None;
            }
            while *sent < module.len() {
                let end = (*sent + CHUNK_MAX).min(module.len());
                let record =
                    Record::Chunk { run: *run, offset: *sent as u32, bytes: &module[*sent..end] };
                let Ok(length) = record.encode(&mut buffer) else { break };
                if !outbox.send(index, &buffer[..length]) {
                    break;
                }
                *sent = end;
            }
        }
    }

    /// Whether some module is still being sent.
    pub fn is_loading(&self) -> bool {
        self.slots.iter().any(|slot| {
            matches!(&slot.state, SlotState::Loading { sent, module, assign, .. }
                if assign.is_some() || *sent < module.len())
        })
    }

    /// A record from slot `slot`'s app VM. Returns a storage request for
    /// the caller to answer, if it was one.
    pub fn record(
        &mut self,
        slot: usize,
        record: &Record<'_>,
        policy_of: impl Fn(&str) -> Option<RestartPolicy>,
    ) -> Option<StorageRequest> {
        if slot >= self.slots.len() {
            return None;
        }
        match *record {
            Record::Idle { .. } => {
                self.vm_restarted(slot, "its app VM started again", &policy_of);
                self.slots[slot].state = SlotState::Idle;
                None
            }
            Record::State { run, state, detail } => {
                self.run_state(slot, run, state, detail, &policy_of);
                None
            }
            Record::Log { run, level, text } => {
                let dapp = self.dapp_of_run(slot, run)?;
                let text = String::from_utf8_lossy(text);
                let level = match level {
                    0 => "error",
                    1 => "warn",
                    2 => "info",
                    _ => "debug",
                };
                let line = format!("{level}: {}", clip(&text, LOG_LINE_MAX));
                self.log(&dapp, line);
                None
            }
            Record::Storage { run, request, operation, key, value } => {
                let dapp = self.dapp_of_run(slot, run)?;
                Some(StorageRequest {
                    slot,
                    run,
                    request,
                    dapp,
                    operation,
                    key: key.to_vec(),
                    value: value.to_vec(),
                })
            }
            // chainvm's own records, sent back by a confused app VM.
            Record::Assign { .. } | Record::Chunk { .. } | Record::Stop { .. } => None,
            Record::Answer { .. } => None,
        }
    }

    /// The dapp slot `slot` runs as run `run`, if that is what it runs.
    fn dapp_of_run(&self, slot: usize, run: u32) -> Option<String> {
        match &self.slots[slot].state {
            SlotState::Loading { run: current, dapp, .. }
            | SlotState::Running { run: current, dapp }
            | SlotState::Stopping { run: current, dapp }
                if *current == run =>
            {
                Some(dapp.clone())
            }
            _ => None,
        }
    }

    /// Slot `slot`'s channel went down (its VM stopped or faulted).
    pub fn channel_down(&mut self, slot: usize, policy_of: impl Fn(&str) -> Option<RestartPolicy>) {
        if slot >= self.slots.len() {
            return;
        }
        self.vm_restarted(slot, "its app VM stopped", &policy_of);
        self.slots[slot].state = SlotState::Unknown;
    }

    /// Whatever slot `slot` ran is over because its VM went away.
    fn vm_restarted(
        &mut self,
        slot: usize,
        reason: &str,
        policy_of: &impl Fn(&str) -> Option<RestartPolicy>,
    ) {
        let previous = core::mem::replace(&mut self.slots[slot].state, SlotState::Unknown);
        match previous {
            SlotState::Loading { dapp, .. } | SlotState::Running { dapp, .. } => {
                self.slots[slot].restarts += 1;
                self.run_over(&dapp, Outcome::Failed(reason.to_string()), policy_of);
            }
            SlotState::Stopping { dapp, .. } => self.run_over(&dapp, Outcome::Stopped, policy_of),
            SlotState::Unknown | SlotState::Idle => {}
        }
    }

    fn run_state(
        &mut self,
        slot: usize,
        run: u32,
        state: RunState,
        detail: &[u8],
        policy_of: &impl Fn(&str) -> Option<RestartPolicy>,
    ) {
        let Some(dapp) = self.dapp_of_run(slot, run) else { return };
        let detail = String::from_utf8_lossy(detail);
        let detail = clip(&detail, TEXT_MAX).to_string();
        match state {
            RunState::Running => {
                if let SlotState::Loading { .. } = self.slots[slot].state {
                    self.slots[slot].state = SlotState::Running { run, dapp: dapp.clone() };
                }
                let entry = self.runs.entry(dapp.clone()).or_default();
                entry.state = Some(DappState::Running);
                for ticket in core::mem::take(&mut entry.starting) {
                    self.completions.push((dapp.clone(), ticket, Ok(DappState::Running)));
                }
                self.log(&dapp, format!("running (run {run})"));
            }
            RunState::FirstCall => self.log(&dapp, format!("first host call (run {run})")),
            RunState::Finished => {
                self.slots[slot].state = SlotState::Idle;
                self.log(&dapp, format!("finished: {detail}"));
                self.run_over(&dapp, Outcome::Finished, policy_of);
            }
            RunState::Stopped => {
                self.slots[slot].state = SlotState::Idle;
                self.log(&dapp, "stopped".into());
                self.run_over(&dapp, Outcome::Stopped, policy_of);
            }
            RunState::Failed | RunState::LoadFailed => {
                self.slots[slot].state = SlotState::Idle;
                let reason = if state == RunState::LoadFailed {
                    format!("could not be loaded: {detail}")
                } else {
                    detail
                };
                self.run_over(&dapp, Outcome::Failed(reason), policy_of);
            }
        }
    }

    /// `dapp`'s run ended with `outcome`: answers whoever waits, and decides
    /// whether it runs again.
    fn run_over(
        &mut self,
        dapp: &str,
        outcome: Outcome,
        policy_of: &impl Fn(&str) -> Option<RestartPolicy>,
    ) {
        let entry = self.runs.entry(dapp.to_string()).or_default();
        entry.slot = None;
        let state = match &outcome {
            Outcome::Finished | Outcome::Stopped => DappState::Stopped,
            Outcome::Failed(reason) => DappState::Failed { reason: reason.clone() },
        };
        for ticket in core::mem::take(&mut entry.stopping) {
            self.completions.push((dapp.to_string(), ticket, Ok(DappState::Stopped)));
        }
        let restart = match (&outcome, policy_of(dapp)) {
            (Outcome::Failed(_), Some(RestartPolicy::Restart { limit })) => {
                limit.is_none_or(|limit| entry.restarts < limit)
            }
            _ => false,
        };
        if restart {
            entry.restarts += 1;
            entry.restart_pending = true;
        } else {
            let error = match &outcome {
                Outcome::Failed(reason) => ControlError::new(ErrorKind::Internal, reason.clone()),
                _ => ControlError::new(ErrorKind::InvalidState, "it stopped before it ran"),
            };
            for ticket in core::mem::take(&mut entry.starting) {
                self.completions.push((dapp.to_string(), ticket, Err(error.clone())));
            }
        }
        entry.state = Some(state);
        if let Outcome::Failed(reason) = &outcome {
            let line = if restart {
                format!("dapp {dapp} failed: {reason}; starting it again")
            } else {
                format!("dapp {dapp} failed: {reason}")
            };
            self.notices.push(line.clone());
            self.log(dapp, line);
        }
    }

    /// Sends the answer to storage request `request`.
    pub fn answer(
        &mut self,
        request: &StorageRequest,
        status: i32,
        value: &[u8],
        outbox: &mut impl Outbox,
    ) -> bool {
        let record = Record::Answer { run: request.run, request: request.request, status, value };
        let mut buffer = vec_for(&record);
        match record.encode(&mut buffer) {
            Ok(length) => outbox.send(request.slot, &buffer[..length]),
            Err(_) => false,
        }
    }
}

/// How a run ended.
enum Outcome {
    Finished,
    Stopped,
    Failed(String),
}

/// A buffer large enough for `record`.
fn vec_for(record: &Record<'_>) -> Vec<u8> {
    let payload = match record {
        Record::Assign { manifest, .. } => manifest.len(),
        Record::Answer { value, .. } => value.len(),
        _ => 0,
    };
    vec![0u8; payload + 128]
}

#[cfg(test)]
mod tests;
