//! Times a host call's round trip on the host: `benchmark::host_call_module`
//! run to its end, its clock calls answered in place (services offering a
//! counter) and by suspending the dapp (services offering none), against
//! the same module making no call; and, for wasmi's own share, the module
//! on plain wasmi with a host function that returns 0.
//!
//! `cargo run --release -p elastos-dapp-runtime --example host_call [CALLS]`

use elastos_dapp_runtime::{
    benchmark::host_call_module,
    host_api::{LogLevel, Status, ENTRY_DEFAULT},
    Counter, Dapp, Grants, Limits, Outcome, Services,
};
use std::{sync::OnceLock, time::Instant};

/// Nanoseconds since the first read: a 1 GHz counter.
fn nanoseconds() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The clock, with or without the counter behind it.
struct Clock {
    counter: bool,
}

impl Services for Clock {
    fn now(&mut self) -> u64 {
        nanoseconds()
    }
    fn wall_clock(&mut self) -> Option<u64> {
        None
    }
    fn fill_random(&mut self, buffer: &mut [u8]) {
        buffer.fill(0);
    }
    fn log(&mut self, _: LogLevel, _: &str) {}
    fn send(&mut self, _: &[u8], _: &str, _: &[u8]) -> Result<u64, Status> {
        Err(Status::Unavailable)
    }
    fn delivered(&mut self, _: u64) {}
    fn counter(&mut self) -> Option<Counter> {
        self.counter.then_some(Counter { read: nanoseconds, frequency: 1_000_000_000 })
    }
}

/// Nanoseconds to run the module making `calls` calls to its end.
fn time(calls: u32, counter: bool) -> u128 {
    let limits = Limits { fuel_per_slice: 1 << 40, cpu_budget: 1 << 50, ..Limits::default() };
    let module = host_call_module(calls);
    let mut dapp = match Dapp::load(&module, ENTRY_DEFAULT, Grants::ALL, limits) {
        Ok(dapp) => dapp,
        Err(error) => panic!("the host call module does not load: {error:?}"),
    };
    let mut services = Clock { counter };
    let start = Instant::now();
    loop {
        match dapp.run(&mut services) {
            Outcome::Finished { .. } => return start.elapsed().as_nanos(),
            Outcome::Yielded => {}
            other => panic!("the host call module came to {other:?}"),
        }
    }
}

/// Nanoseconds to run the module making `calls` calls on plain wasmi (fuel
/// metering on), its `clock_monotonic` a function returning 0.
fn time_plain(calls: u32) -> u128 {
    use wasmi::{Caller, Config, Engine, Linker, Module, Store};
    let mut config = Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = Module::new(&engine, host_call_module(calls)).expect("the module is valid");
    let mut store = Store::new(&engine, ());
    store.set_fuel(u64::MAX / 2).expect("fuel metering is on");
    let mut linker = Linker::<()>::new(&engine);
    linker
        .func_wrap("elastos", "clock_monotonic", |_: Caller<()>| -> i64 { 0 })
        .expect("defined once");
    let instance = linker.instantiate_and_start(&mut store, &module).expect("it instantiates");
    let entry = instance.get_typed_func::<(), ()>(&store, ENTRY_DEFAULT).expect("an entry");
    let start = Instant::now();
    entry.call(&mut store, ()).expect("it runs");
    start.elapsed().as_nanos()
}

fn main() {
    let calls = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    time(10, true);
    let baseline = time(0, true);
    let in_place = time(calls, true);
    let suspended = time(calls, false);
    let plain = time_plain(calls).saturating_sub(time_plain(0));
    let per_call = |total: u128| (total.saturating_sub(baseline)) as f64 / f64::from(calls);
    println!("{calls} clock_monotonic calls, the empty loop {baseline} ns");
    println!("answered in place: {in_place} ns, {:.1} ns a call", per_call(in_place));
    println!("suspending the dapp: {suspended} ns, {:.1} ns a call", per_call(suspended));
    println!(
        "plain wasmi, a host function returning 0: {:.1} ns a call",
        plain as f64 / f64::from(calls)
    );
}
