//! Runs the compute dapp both ways on the host: as a dapp, through the
//! runtime in slices of 100,000 fuel (as the app VM does), and its exported
//! `compute_workload(20000)` called straight on wasmi configured alike (as
//! `wasm-run` does in Linux), and prints the time of each: what slicing and
//! the runtime add to the interpreter.
//!
//! `cargo run --release -p elastos-dapp-runtime --example compute -- compute.wasm`

use elastos_dapp_runtime::{
    host_api::{LogLevel, Status, ENTRY_DEFAULT},
    Counter, Dapp, Grants, Limits, Outcome, Services,
};
use std::{sync::OnceLock, time::Instant};
use wasmi::{CompilationMode, Config, EnforcedLimits, Engine, Linker, Module, Store};

/// Nanoseconds since the first read: a 1 GHz counter.
fn nanoseconds() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A clock and a console.
struct Host;

impl Services for Host {
    fn now(&mut self) -> u64 {
        nanoseconds()
    }
    fn wall_clock(&mut self) -> Option<u64> {
        None
    }
    fn fill_random(&mut self, buffer: &mut [u8]) {
        buffer.fill(0);
    }
    fn log(&mut self, _: LogLevel, text: &str) {
        let _ = text;
    }
    fn send(&mut self, _: &[u8], _: &str, _: &[u8]) -> Result<u64, Status> {
        Err(Status::Unavailable)
    }
    fn delivered(&mut self, _: u64) {}
    fn counter(&mut self) -> Option<Counter> {
        Some(Counter { read: nanoseconds, frequency: 1_000_000_000 })
    }
}

/// Nanoseconds the dapp takes from its first slice to its end, and its slices.
fn as_dapp(module: &[u8]) -> (u128, u64) {
    let limits = Limits { cpu_budget: 1 << 50, ..Limits::default() };
    let mut dapp = match Dapp::load(module, ENTRY_DEFAULT, Grants::ALL, limits) {
        Ok(dapp) => dapp,
        Err(error) => panic!("the module does not load as a dapp: {error:?}"),
    };
    let start = Instant::now();
    loop {
        match dapp.run(&mut Host) {
            Outcome::Finished { .. } => {
                return (start.elapsed().as_nanos(), dapp.statistics().slices)
            }
            Outcome::Yielded => {}
            other => panic!("the dapp came to {other:?}"),
        }
    }
}

/// Nanoseconds of `compute_workload(20000)` called straight.
fn straight(module: &[u8]) -> u128 {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(CompilationMode::Eager)
        .enforced_limits(EnforcedLimits::strict())
        .allow_start_fn(false)
        .wasm_multi_memory(false);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, module).expect("the module is valid");
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::<()>::new(&engine);
    for import in module.imports() {
        if let wasmi::ExternType::Func(ty) = import.ty() {
            linker
                .func_new(import.module(), import.name(), ty.clone(), |_, _, _| {
                    Err(wasmi::Error::new("no host API here"))
                })
                .expect("each import is defined once");
        }
    }
    let instance = linker.instantiate_and_start(&mut store, &module).expect("it instantiates");
    let workload = instance
        .get_typed_func::<i32, i64>(&store, "compute_workload")
        .expect("the compute module exports compute_workload");
    store.set_fuel(u64::MAX / 2).expect("fuel metering is on");
    let start = Instant::now();
    workload.call(&mut store, 20_000).expect("the workload runs");
    start.elapsed().as_nanos()
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: compute MODULE.wasm");
    let module = std::fs::read(&path).expect("the module can be read");
    // Alternating runs, the quickest of each kept: the host is shared.
    let (mut direct, mut dapp, mut slices) = (u128::MAX, u128::MAX, 0);
    for _ in 0..3 {
        direct = direct.min(straight(&module));
        let (time, count) = as_dapp(&module);
        (dapp, slices) = (dapp.min(time), count);
    }
    println!("compute_workload(20000) called straight: {direct} ns (the quickest of 3)");
    println!("the compute dapp in {slices} slices: {dapp} ns (the quickest of 3)");
    println!("ratio (straight / dapp): {:.3}", direct as f64 / dapp as f64);
}
