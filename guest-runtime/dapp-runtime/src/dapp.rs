//! One loaded dapp and its life: load, run in slices, block, wait, answer,
//! finish or be stopped.
//!
//! The entry runs as one wasmi resumable call. Fuel is the clock: each
//! slice gets `fuel-per-slice`; running out suspends the call
//! ([`Outcome::Yielded`]), so a dapp that never returns is preempted and
//! the app VM goes on serving its channels. Fuel is also the cpu budget:
//! since the dapp last waited (an `event_wait` that blocked or handed it an
//! event), it may use `cpu-budget` fuel; a slice never runs past the
//! budget, and the slice that reaches it stops the dapp.

use crate::{
    host::{self, Call},
    outcome::{LoadError, Name, Outcome, Statistics, StopReason, TrapKind},
    policy::{Grants, Limits},
    serve::{self, Disposition, Pending},
    services::{Answer, AnswerError, Event, PushError, Request, Services},
    state::{QueuedEvent, State},
};
use core::{mem, ops::Range};
use elastos_host_api::{peer, BODY_MAX, MODULE, NAME_MAX};
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, ExternType, Func, FuncType, Linker, Memory,
    Module, ResumableCall, ResumableCallHostTrap, ResumableCallOutOfFuel, Store, TrapCode, Val,
    ValType,
};

/// The most events that wait for a dapp; past it `push_event` answers
/// [`PushError::QueueFull`].
pub const EVENT_QUEUE_MAX: usize = 64;
/// The most value-stack slots (8 bytes each) a dapp's calls may use.
const STACK_SLOTS_MAX: usize = 128 * 1024;
/// The deepest call nesting a dapp may reach.
const RECURSION_DEPTH_MAX: usize = 1000;
/// The export a dapp's linear memory must have for host calls to reach it.
const MEMORY_EXPORT: &str = "memory";

/// Where the entry call is.
#[derive(Debug)]
enum Execution {
    /// Loaded; the entry has not been called.
    Ready,
    /// Out of fuel at the end of a slice; `required` fuel to go on.
    Preempted { call: ResumableCallOutOfFuel, required: u64 },
    /// In a storage call, waiting for chainvm (`result` once answered).
    Blocked { call: ResumableCallHostTrap, request: Request, pending: Pending, result: Option<i64> },
    /// In `event_wait` with nothing to hand over.
    Waiting { call: ResumableCallHostTrap, buffer: Range<usize>, deadline: Option<u64> },
    /// Returned, or called `exit`.
    Finished(i32),
    /// Stopped by the runtime.
    Stopped(StopReason),
}

/// A loaded dapp.
pub struct Dapp {
    store: Store<State>,
    entry: Func,
    memory: Option<Memory>,
    execution: Execution,
    /// Fuel used before the current slice.
    consumed: u64,
    /// Fuel the current slice started with (0 between slices).
    slice_fuel: u64,
    /// `consumed` when the dapp last waited.
    wait_mark: u64,
}

impl core::fmt::Debug for Dapp {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        formatter
            .debug_struct("Dapp")
            .field("execution", &self.execution)
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// Whether a function type is the host function's signature.
fn signature_matches(ty: &FuncType, function: &elastos_host_api::Function) -> bool {
    let same = |types: &[ValType], expected: &[elastos_host_api::ValueType]| {
        types.len() == expected.len()
            && types.iter().zip(expected).all(|(actual, expected)| {
                matches!(
                    (actual, expected),
                    (ValType::I32, elastos_host_api::ValueType::I32)
                        | (ValType::I64, elastos_host_api::ValueType::I64)
                )
            })
    };
    same(ty.params(), function.parameters) && same(ty.results(), function.results)
}

/// Splits the store into the dapp's linear memory (empty without one) and
/// its state.
fn split(store: &mut Store<State>, memory: Option<Memory>) -> (&mut [u8], &mut State) {
    match memory {
        Some(memory) => memory.data_and_store_mut(store),
        None => (&mut [], store.data_mut()),
    }
}

/// What a trap stops the dapp for.
fn classify(error: &wasmi::Error, memory_refused: bool) -> StopReason {
    let kind = match error.as_trap_code() {
        Some(TrapCode::UnreachableCodeReached) => TrapKind::Unreachable,
        Some(TrapCode::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
        Some(TrapCode::TableOutOfBounds) => TrapKind::TableOutOfBounds,
        Some(TrapCode::IndirectCallToNull) => TrapKind::IndirectCallToNull,
        Some(TrapCode::IntegerDivisionByZero) => TrapKind::IntegerDivisionByZero,
        Some(TrapCode::IntegerOverflow) => TrapKind::IntegerOverflow,
        Some(TrapCode::BadConversionToInteger) => TrapKind::BadConversionToInteger,
        Some(TrapCode::StackOverflow) => TrapKind::StackOverflow,
        Some(TrapCode::BadSignature) => TrapKind::BadSignature,
        Some(TrapCode::GrowthOperationLimited | TrapCode::OutOfSystemMemory) => {
            return StopReason::OutOfMemory
        }
        _ => TrapKind::Other,
    };
    // A program refused memory usually dies of it (a Rust allocation
    // failure aborts with `unreachable`).
    if memory_refused {
        StopReason::OutOfMemory
    } else {
        StopReason::Trap(kind)
    }
}

impl Dapp {
    /// Validates `module` and instantiates it under `grants` and `limits`,
    /// with `entry` (no parameters, no results) as the function `run` calls.
    pub fn load(
        module: &[u8],
        entry: &str,
        grants: Grants,
        limits: Limits,
    ) -> Result<Dapp, LoadError> {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .compilation_mode(CompilationMode::Eager)
            .enforced_limits(EnforcedLimits::strict())
            .allow_start_fn(false)
            .wasm_multi_memory(false)
            .set_max_recursion_depth(RECURSION_DEPTH_MAX)
            .set_max_stack_height(STACK_SLOTS_MAX)
            .set_max_cached_stacks(1);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, module).map_err(|_| LoadError::Invalid)?;
        for import in module.imports() {
            let name = || Name::new(&[import.module(), import.name()]);
            let offered = match import.module() == MODULE {
                true => elastos_host_api::find(import.name()),
                false => None,
            };
            let (Some(function), ExternType::Func(ty)) = (offered, import.ty()) else {
                return Err(LoadError::ForeignImport(name()));
            };
            if !signature_matches(ty, function) {
                return Err(LoadError::ImportSignature(name()));
            }
        }
        match module.get_export(entry) {
            Some(ExternType::Func(ty)) if ty.params().is_empty() && ty.results().is_empty() => {}
            Some(ExternType::Func(_)) => {
                return Err(LoadError::EntrySignature(Name::new(&[entry])))
            }
            _ => return Err(LoadError::NoEntry(Name::new(&[entry]))),
        }
        let mut store = Store::new(&engine, State::new(grants, limits));
        store.limiter(|state| &mut state.limiter);
        let mut linker = Linker::new(&engine);
        // Every name is defined once, so defining cannot fail.
        host::define(&mut linker).map_err(|_| LoadError::Instantiation)?;
        let instance = linker.instantiate_and_start(&mut store, &module).map_err(|_| {
            if store.data().limiter.refused {
                LoadError::MemoryTooLarge
            } else {
                LoadError::Instantiation
            }
        })?;
        let entry = instance
            .get_func(&store, entry)
            .ok_or_else(|| LoadError::NoEntry(Name::new(&[entry])))?;
        let memory = instance.get_memory(&store, MEMORY_EXPORT);
        store.data_mut().memory = memory;
        Ok(Dapp {
            store,
            entry,
            memory,
            execution: Execution::Ready,
            consumed: 0,
            slice_fuel: 0,
            wait_mark: 0,
        })
    }

    /// Runs the dapp for at most one slice of fuel, serving its host calls
    /// with `services`, and says where it got to.
    pub fn run(&mut self, services: &mut impl Services) -> Outcome {
        if !matches!(self.execution, Execution::Finished(_) | Execution::Stopped(_)) {
            serve::lend(self.store.data_mut(), services);
        }
        // The placeholder is replaced on every path below.
        let execution = mem::replace(&mut self.execution, Execution::Finished(0));
        let step = match execution {
            Execution::Finished(code) => return self.settle(Execution::Finished(code)),
            Execution::Stopped(reason) => return self.settle(Execution::Stopped(reason)),
            Execution::Blocked { call, request, pending, result: None } => {
                self.execution =
                    Execution::Blocked { call, request: request.clone(), pending, result: None };
                return Outcome::Blocked(request);
            }
            Execution::Blocked { call, pending, result: Some(result), .. } => {
                if let Err(reason) = self.begin_slice(0) {
                    return self.settle(Execution::Stopped(reason));
                }
                let value = match pending {
                    Pending::Get { .. } => Val::I64(result),
                    Pending::Write | Pending::List { .. } | Pending::Text { .. } => {
                        Val::I32(result as i32)
                    }
                };
                call.resume(&mut self.store, &[value], &mut [])
            }
            Execution::Waiting { call, buffer, deadline } => {
                let (memory, state) = split(&mut self.store, self.memory);
                let result = match serve::hand_event(memory, buffer.clone(), state, services) {
                    Some(result) => result,
                    None if deadline.is_some_and(|deadline| services.now() >= deadline) => 0,
                    None => {
                        self.execution = Execution::Waiting { call, buffer, deadline };
                        return Outcome::Waiting { until: deadline };
                    }
                };
                if let Err(reason) = self.begin_slice(0) {
                    return self.settle(Execution::Stopped(reason));
                }
                call.resume(&mut self.store, &[Val::I32(result as i32)], &mut [])
            }
            Execution::Preempted { call, required } => {
                if let Err(reason) = self.begin_slice(required) {
                    return self.settle(Execution::Stopped(reason));
                }
                call.resume(&mut self.store, &mut [])
            }
            Execution::Ready => {
                if let Err(reason) = self.begin_slice(0) {
                    return self.settle(Execution::Stopped(reason));
                }
                self.entry.call_resumable(&mut self.store, &[], &mut [])
            }
        };
        let outcome = self.drive(step, services);
        serve::write_logs(self.store.data_mut(), services);
        outcome
    }
}

impl Dapp {
    /// Carries the entry call on from `step` until the slice ends, the dapp
    /// blocks, waits, finishes or is stopped.
    fn drive(
        &mut self,
        mut step: Result<ResumableCall, wasmi::Error>,
        services: &mut impl Services,
    ) -> Outcome {
        loop {
            let call = match step {
                Ok(ResumableCall::Finished) => {
                    self.end_slice();
                    return self.settle(Execution::Finished(0));
                }
                Ok(ResumableCall::OutOfFuel(call)) => {
                    self.end_slice();
                    if self.consumed - self.wait_mark >= self.limits().cpu_budget {
                        return self.settle(Execution::Stopped(StopReason::CpuBudget));
                    }
                    let required = call.required_fuel();
                    self.execution = Execution::Preempted { call, required };
                    return Outcome::Yielded;
                }
                Ok(ResumableCall::HostTrap(call)) => call,
                Err(error) => {
                    self.end_slice();
                    let reason = classify(&error, self.store.data().limiter.refused);
                    return self.settle(Execution::Stopped(reason));
                }
            };
            // Only the host functions of `host` suspend the dapp, each with
            // its `Call`.
            let Some(&host_call) = call.host_error().downcast_ref::<Call>() else {
                self.end_slice();
                return self.settle(Execution::Stopped(StopReason::Trap(TrapKind::Other)));
            };
            let (memory, state) = split(&mut self.store, self.memory);
            // Lines logged in place come first.
            serve::write_logs(state, services);
            let disposition = serve::serve(host_call, memory, state, services);
            if mem::take(&mut self.store.data_mut().waited) {
                self.wait_mark = self.consumed_now();
            }
            match disposition {
                Disposition::Resume(result) => {
                    let value = match host_call.returns_i64() {
                        true => Val::I64(result),
                        false => Val::I32(result as i32),
                    };
                    step = call.resume(&mut self.store, &[value], &mut []);
                }
                Disposition::Block { request, pending } => {
                    self.end_slice();
                    let outcome = Outcome::Blocked(request.clone());
                    self.execution = Execution::Blocked { call, request, pending, result: None };
                    return outcome;
                }
                Disposition::Wait { buffer, deadline } => {
                    self.end_slice();
                    self.wait_mark = self.consumed;
                    self.execution = Execution::Waiting { call, buffer, deadline };
                    return Outcome::Waiting { until: deadline };
                }
                Disposition::Stop(reason) => {
                    self.end_slice();
                    return self.settle(Execution::Stopped(reason));
                }
                Disposition::Exit(code) => {
                    self.end_slice();
                    return self.settle(Execution::Finished(code));
                }
            }
        }
    }

    fn limits(&self) -> Limits {
        self.store.data().limits
    }

    /// Gives the store the fuel of a slice: `fuel-per-slice`, cut to what
    /// is left of the cpu budget, but at least `required` (what wasmi needs
    /// to take its next step).
    fn begin_slice(&mut self, required: u64) -> Result<(), StopReason> {
        if mem::take(&mut self.store.data_mut().waited) {
            self.wait_mark = self.consumed;
        }
        let limits = self.limits();
        let remaining = limits.cpu_budget.saturating_sub(self.consumed - self.wait_mark);
        if remaining == 0 || required > remaining {
            return Err(StopReason::CpuBudget);
        }
        let fuel = limits.fuel_per_slice.clamp(1, remaining).max(required);
        // Fuel metering is on (`load`), so setting fuel cannot fail.
        self.store.set_fuel(fuel).map_err(|_| StopReason::CpuBudget)?;
        self.slice_fuel = fuel;
        self.store.data_mut().statistics.slices += 1;
        Ok(())
    }

    /// Fuel used so far, this slice included.
    fn consumed_now(&self) -> u64 {
        let left = self.store.get_fuel().unwrap_or(0);
        self.consumed + self.slice_fuel.saturating_sub(left)
    }

    /// Adds the slice's fuel to the total.
    fn end_slice(&mut self) {
        self.consumed = self.consumed_now();
        self.slice_fuel = 0;
        // Fuel metering is on (`load`); nothing runs until the next slice.
        let _ = self.store.set_fuel(0);
    }

    /// Enters a final state and says so.
    fn settle(&mut self, execution: Execution) -> Outcome {
        let outcome = match &execution {
            Execution::Finished(code) => Outcome::Finished { code: *code },
            Execution::Stopped(reason) => Outcome::Stopped(*reason),
            _ => Outcome::Yielded,
        };
        self.execution = execution;
        outcome
    }

    /// Gives a blocked dapp chainvm's answer to its request; the next `run`
    /// resumes it.
    pub fn answer(&mut self, answer: Answer) -> Result<(), AnswerError> {
        let Execution::Blocked { pending, result, .. } = &mut self.execution else {
            return Err(AnswerError::NotBlocked);
        };
        if result.is_some() {
            return Err(AnswerError::NotBlocked);
        }
        let (memory, _) = split(&mut self.store, self.memory);
        *result = Some(serve::finish(pending, answer, memory).map_err(|_| AnswerError::WrongKind)?);
        Ok(())
    }

    /// Queues an event for the dapp's next `event_wait`. A message goes
    /// only to a dapp granted `message`, and counts as delivered when
    /// handed over ([`Services::delivered`]).
    pub fn push_event(&mut self, event: Event) -> Result<(), PushError> {
        if matches!(self.execution, Execution::Finished(_) | Execution::Stopped(_)) {
            return Err(PushError::NotRunning);
        }
        let state = self.store.data_mut();
        if !state.grants.message {
            return Err(PushError::NotMessaging);
        }
        if state.events.len() >= EVENT_QUEUE_MAX {
            return Err(PushError::QueueFull);
        }
        let queued = match event {
            Event::Message { delivery, peer, app, body } => {
                let peer = peer::encode(&peer).map_err(|_| PushError::Malformed)?;
                if app.is_empty() || app.len() > NAME_MAX || body.len() > BODY_MAX {
                    return Err(PushError::Malformed);
                }
                QueuedEvent::Message { delivery, peer, app, body }
            }
            Event::Receipt { id, status } => QueuedEvent::Receipt { id, status },
        };
        state.events.push_back(queued);
        Ok(())
    }

    /// Asks the dapp to return from its entry: from now on every
    /// `event_wait` hands it a stop event. Call `run` to let it see it.
    pub fn request_stop(&mut self) {
        self.store.data_mut().stop_requested = true;
    }

    /// Events queued and not yet handed over.
    pub fn events_queued(&self) -> usize {
        self.store.data().events.len()
    }

    /// What the dapp has done so far.
    pub fn statistics(&self) -> Statistics {
        let mut statistics = self.store.data().statistics;
        statistics.fuel_used = self.consumed_now();
        statistics
    }

    /// Why the runtime stopped the dapp, if it did.
    pub fn stop_reason(&self) -> Option<StopReason> {
        match self.execution {
            Execution::Stopped(reason) => Some(reason),
            _ => None,
        }
    }

    /// The size of the dapp's linear memory in bytes.
    pub fn memory_size(&self) -> usize {
        self.memory.map_or(0, |memory| memory.data(&self.store).len())
    }
}
