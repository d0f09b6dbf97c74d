//! The app VM's channel benchmark, run instead of the serving loop when word
//! 0 of its parameter page is [`BENCHMARK`] (`cargo xtask bench` sets it).
//!
//! It measures, in counter ticks (under QEMU's `-icount shift=0` a tick is 16
//! guest instructions):
//!
//! - a 64-byte ping-pong with chainvm, which shares the app's CPU, and with
//!   netvm, on another CPU: send, ring the doorbell, wait for the pong;
//! - 4 KiB data messages streamed to netvm as fast as its ring takes them,
//!   closed by a ping whose pong proves netvm took them all;
//! - a plain copy of the same 4 KiB buffers inside the app VM, the baseline.
//!
//! Each figure is printed as `benchmark channel NAME key=value ...`, then
//! `benchmark channel done`, and the VM stops.
//!
//! With word 0 set to [`HOST_CALL`] it measures a host call's round trip in
//! the runtime instead ([`host_call`]), without channels.

use core::time::Duration;
use guest_runtime::channel::{Channel, ChannelError, Channels};
use guest_runtime::gic::Gic;
use guest_runtime::message::{Message, MESSAGE_MAX, PAYLOAD_MAX};
use guest_runtime::time::{self, Instant};
use guest_runtime::{hypercall, println};

/// The parameter word that selects the benchmark.
pub const BENCHMARK: u64 = 1;
/// The parameter word that selects the host call benchmark.
pub const HOST_CALL: u64 = 2;
/// Host calls per measured run of the host call module.
const HOST_CALLS: u32 = 100_000;

/// Round trips per ping-pong measurement.
const ROUND_TRIPS: u64 = 2000;
/// 4 KiB messages streamed (16 MiB).
const DATA_MESSAGES: u64 = 4096;
/// Bytes of each streamed message's payload.
const DATA_SIZE: usize = 4096;
/// Bytes of a ping-pong message, kind byte included.
const PING_SIZE: usize = 64;
/// The longest any single wait may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs the benchmark and stops the VM.
pub fn run() -> ! {
    // The figures are what the host asked for: print them however quiet the
    // VM was told to be.
    guest_runtime::console::set_verbose(true);
    let machine = hypercall::machine_info()
        .unwrap_or_else(|status| fail("VM_INFO", format_args!("{status:?}")));
    let mut channels = Channels::discover(machine.channel_count);
    let Some(mut gic) = Gic::take() else { fail("the GIC", "already taken") };
    for channel in channels.iter() {
        if let Err(error) = gic.enable_shared_interrupt(channel.info().doorbell) {
            fail(channel.name(), error);
        }
    }
    let same_cpu = find(&channels, "-chainvm");
    let other_cpu = find(&channels, "-netvm");
    // The peers start when they start: wait for both channels.
    let start = Instant::now();
    while !channels.iter().all(|channel| channel.is_up()) {
        for channel in channels.iter_mut() {
            channel.refresh();
        }
        if start.elapsed() > PATIENCE {
            fail("the channels", "never came up");
        }
        gic.wait_for_interrupt(Instant::now() + Duration::from_millis(10));
    }
    let frequency = time::frequency();
    for (name, index) in [("round-trip-same-cpu", same_cpu), ("round-trip-other-cpu", other_cpu)] {
        let channel = channels.get_mut(index).expect("found above");
        let ticks = ping_pong(channel, &mut gic);
        println!(
            "benchmark channel {name} iterations={ROUND_TRIPS} ticks={ticks} frequency={frequency}"
        );
    }
    let channel = channels.get_mut(other_cpu).expect("found above");
    let ticks = stream(channel, &mut gic);
    let copy_ticks = copy_baseline();
    println!(
        "benchmark channel throughput messages={DATA_MESSAGES} bytes={} ticks={ticks} copy_ticks={copy_ticks} frequency={frequency}",
        DATA_MESSAGES * DATA_SIZE as u64
    );
    println!("benchmark channel done");
    hypercall::stop(hypercall_abi::stop_code::DONE)
}

fn fail(what: &str, why: impl core::fmt::Display) -> ! {
    guest_runtime::warn!("benchmark channel failed: {what}: {why}");
    hypercall::stop_failed()
}

/// The index of the channel whose name ends with `suffix` (`-chainvm`).
fn find(channels: &Channels, suffix: &str) -> usize {
    channels
        .iter()
        .find(|channel| channel.name().ends_with(suffix))
        .map(|channel| channel.index())
        .unwrap_or_else(|| fail(suffix, "no such channel"))
}

/// Sends `message`, ringing the peer and waiting while the ring is full.
fn send(channel: &mut Channel, gic: &mut Gic, message: &[u8]) {
    let start = Instant::now();
    loop {
        match channel.send(message) {
            Ok(()) => return,
            Err(ChannelError::Full) => {
                let _ = channel.notify();
                gic.wait_for_interrupt(Instant::now() + Duration::from_millis(100));
            }
            Err(error) => fail(channel.name(), error),
        }
        if start.elapsed() > PATIENCE {
            fail(channel.name(), "no room in the ring");
        }
    }
}

/// Waits for the pong carrying `counter`.
fn wait_for_pong(channel: &mut Channel, gic: &mut Gic, counter: u64) {
    let mut buffer = [0u8; MESSAGE_MAX];
    let start = Instant::now();
    loop {
        match channel.receive(&mut buffer) {
            Ok(Some(length)) => {
                if let Ok(Message::Pong(payload)) = Message::decode(&buffer[..length]) {
                    if payload.get(..8) == Some(&counter.to_le_bytes()[..]) {
                        return;
                    }
                }
            }
            Ok(None) => {
                gic.wait_for_interrupt(Instant::now() + Duration::from_millis(100));
            }
            Err(error) => fail(channel.name(), error),
        }
        if start.elapsed() > PATIENCE {
            fail(channel.name(), "no pong");
        }
    }
}

/// [`ROUND_TRIPS`] ping-pongs of [`PING_SIZE`]-byte messages; returns ticks.
fn ping_pong(channel: &mut Channel, gic: &mut Gic) -> u64 {
    let mut ping = [0u8; PING_SIZE - 1];
    let mut record = [0u8; PING_SIZE];
    let start = time::counter();
    for counter in 0..ROUND_TRIPS {
        ping[..8].copy_from_slice(&counter.to_le_bytes());
        let length = Message::Ping(&ping).encode(&mut record).expect("64 bytes fit");
        send(channel, gic, &record[..length]);
        let _ = channel.notify();
        wait_for_pong(channel, gic, counter);
    }
    time::counter() - start
}

/// Streams [`DATA_MESSAGES`] data messages, then a ping whose pong closes
/// the measurement; returns ticks.
fn stream(channel: &mut Channel, gic: &mut Gic) -> u64 {
    let payload = [0xa5u8; DATA_SIZE];
    let mut record = [0u8; MESSAGE_MAX];
    let length = Message::Data(&payload[..DATA_SIZE.min(PAYLOAD_MAX)])
        .encode(&mut record)
        .expect("a data message fits MESSAGE_MAX");
    let start = time::counter();
    for _ in 0..DATA_MESSAGES {
        send(channel, gic, &record[..length]);
        let _ = channel.notify();
    }
    let closing = u64::MAX.to_le_bytes();
    let ping_length = Message::Ping(&closing).encode(&mut record).expect("9 bytes fit");
    send(channel, gic, &record[..ping_length]);
    let _ = channel.notify();
    wait_for_pong(channel, gic, u64::MAX);
    time::counter() - start
}

/// Copies the same 4 KiB buffers [`DATA_MESSAGES`] times; returns ticks.
fn copy_baseline() -> u64 {
    let source = [0xa5u8; DATA_SIZE];
    let mut destination = [0u8; DATA_SIZE];
    let start = time::counter();
    for round in 0..DATA_MESSAGES {
        destination.copy_from_slice(core::hint::black_box(&source));
        core::hint::black_box(&mut destination)[0] = round as u8;
    }
    time::counter() - start
}

/// What the host call benchmark lends the runtime: the counter as the
/// monotonic clock, as the serving loop does; nothing else is called.
struct BenchmarkServices {
    start: Instant,
}

impl elastos_dapp_runtime::Services for BenchmarkServices {
    fn now(&mut self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn wall_clock(&mut self) -> Option<u64> {
        None
    }

    fn fill_random(&mut self, buffer: &mut [u8]) {
        buffer.fill(0);
    }

    fn log(&mut self, _level: elastos_host_api::LogLevel, _text: &str) {}

    fn send(
        &mut self,
        _peer: &[u8],
        _app: &str,
        _body: &[u8],
    ) -> Result<u64, elastos_host_api::Status> {
        Err(elastos_host_api::Status::Unavailable)
    }

    fn delivered(&mut self, _delivery: u64) {}

    fn counter(&mut self) -> Option<elastos_dapp_runtime::Counter> {
        Some(elastos_dapp_runtime::Counter { read: time::counter, frequency: time::frequency() })
    }
}

/// Loads `elastos_dapp_runtime::benchmark::host_call_module(calls)` and runs
/// it to its end; returns the ticks of the runs alone (not the load).
fn time_host_calls(calls: u32) -> u64 {
    use elastos_dapp_runtime::{benchmark::host_call_module, Dapp, Grants, Limits, Outcome};
    let module = host_call_module(calls);
    let limits = Limits { fuel_per_slice: 1 << 40, cpu_budget: 1 << 50, ..Limits::default() };
    let mut dapp = Dapp::load(&module, elastos_host_api::ENTRY_DEFAULT, Grants::ALL, limits)
        .unwrap_or_else(|error| fail("the host call module", error));
    let mut services = BenchmarkServices { start: Instant::now() };
    let start = time::counter();
    loop {
        match dapp.run(&mut services) {
            Outcome::Finished { .. } => break,
            Outcome::Yielded => {}
            other => fail("the host call module", format_args!("{other:?}")),
        }
    }
    time::counter() - start
}

/// The host call benchmark: the module making [`HOST_CALLS`] calls of
/// `clock_monotonic` against the same module making none, each loaded then
/// run to its end in one slice; prints
/// `benchmark host-call calls=N ticks=T baseline_ticks=B frequency=F` and
/// stops the VM.
pub fn host_call() -> ! {
    guest_runtime::heap::init();
    // A first run warms what wasmi allocates once.
    time_host_calls(10);
    let baseline_ticks = time_host_calls(0);
    let ticks = time_host_calls(HOST_CALLS);
    let (used, _) = guest_runtime::heap::usage();
    println!(
        "benchmark host-call calls={HOST_CALLS} ticks={ticks} baseline_ticks={baseline_ticks} frequency={} heap_used={used}",
        time::frequency()
    );
    hypercall::stop(hypercall_abi::stop_code::DONE)
}
