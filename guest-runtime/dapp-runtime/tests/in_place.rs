//! Host calls answered where the dapp makes them, without suspending it:
//! the clocks (with a counter from the services), `random` from the pool,
//! `log` queued and written in order, denials; and the calls that must
//! still suspend.

mod common;

use common::{MockServices, MockStorage};
use elastos_dapp_runtime::{
    guest_memory::Violation, host_api::Status, Counter, Dapp, Grants, Limits, Outcome, Request,
    StopReason,
};
use std::sync::atomic::{AtomicU64, Ordering};

/// A counter at 1 GHz that moves 1000 ticks (1 µs) at every read.
fn microsecond_counter() -> u64 {
    static TICKS: AtomicU64 = AtomicU64::new(0);
    TICKS.fetch_add(1000, Ordering::Relaxed)
}

const COUNTER: Counter = Counter { read: microsecond_counter, frequency: 1_000_000_000 };

fn load(wat: &str, grants: Grants) -> Dapp {
    let module = wat::parse_str(wat).expect("the test's WAT parses");
    Dapp::load(&module, "elastos_main", grants, Limits::default()).expect("the module loads")
}

/// Clocks twice, the wall clock, a log line, 16 random bytes from the pool
/// and 300 past it, then a storage get that blocks. The exit code has a
/// bit per property that held: the first time at or after the slice's,
/// the second after the first, the wall clock at or after the services',
/// the two random buffers not all zero.
const CLOCKS_RANDOM_LOG: &str = r#"(module
    (import "elastos" "clock_monotonic" (func $now (result i64)))
    (import "elastos" "clock_wall" (func $wall (result i64)))
    (import "elastos" "random" (func $random (param i32 i32) (result i32)))
    (import "elastos" "log" (func $log (param i32 i32 i32) (result i32)))
    (import "elastos" "storage_get" (func $get (param i32 i32 i32 i32) (result i64)))
    (import "elastos" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "hello")
    (func $nonzero (param $at i32) (param $length i32) (result i32) (local $seen i32)
        (block (loop
            (br_if 1 (i32.eqz (local.get $length)))
            (local.set $seen (i32.or (local.get $seen) (i32.load8_u (local.get $at))))
            (local.set $at (i32.add (local.get $at) (i32.const 1)))
            (local.set $length (i32.sub (local.get $length) (i32.const 1)))
            (br 0)))
        (i32.ne (local.get $seen) (i32.const 0)))
    (func (export "elastos_main") (local $first i64) (local $second i64) (local $code i32)
        (local.set $first (call $now))
        (local.set $second (call $now))
        (if (i64.ge_u (local.get $first) (i64.const 5000)) (then (local.set $code (i32.const 1))))
        (if (i64.gt_u (local.get $second) (local.get $first))
            (then (local.set $code (i32.or (local.get $code) (i32.const 2)))))
        (if (i64.ge_u (call $wall) (i64.const 1700000000000000000))
            (then (local.set $code (i32.or (local.get $code) (i32.const 4)))))
        (drop (call $log (i32.const 2) (i32.const 0) (i32.const 5)))
        (drop (call $random (i32.const 1000) (i32.const 16)))
        (if (call $nonzero (i32.const 1000) (i32.const 16))
            (then (local.set $code (i32.or (local.get $code) (i32.const 8)))))
        (drop (call $random (i32.const 2000) (i32.const 300)))
        (if (call $nonzero (i32.const 2000) (i32.const 300))
            (then (local.set $code (i32.or (local.get $code) (i32.const 16)))))
        (drop (call $get (i32.const 0) (i32.const 5) (i32.const 3000) (i32.const 64)))
        (call $exit (local.get $code))))"#;

#[test]
fn clocks_random_and_log_are_answered_without_asking_the_services_each_time() {
    let mut dapp = load(CLOCKS_RANDOM_LOG, Grants::ALL);
    let mut services = MockServices {
        now: 5_000,
        tick: 1,
        wall: Some(1_700_000_000_000_000_000),
        counter: Some(COUNTER),
        ..MockServices::default()
    };
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("the get blocks") };
    assert_eq!(request, Request::StorageGet { key: b"hello".to_vec() });
    // The services' clock was read once, when the slice was lent its time;
    // the two clock calls read the counter.
    assert_eq!(services.now, 5_001);
    // The pool was filled once; the 300 bytes past it came from the services.
    assert_eq!(services.random_calls, 2);
    // The line logged in place was written before the request went out.
    assert_eq!(services.log_lines(), ["hello"]);
    dapp.answer(MockStorage::default().answer(&request)).unwrap();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 31 });
    let statistics = dapp.statistics();
    assert_eq!(statistics.host_calls, 8);
    assert_eq!(statistics.lines_logged, 1);
}

#[test]
fn without_a_counter_the_clocks_ask_the_services_at_every_call() {
    let mut dapp = load(CLOCKS_RANDOM_LOG, Grants::ALL);
    let mut services = MockServices {
        now: 5_000,
        tick: 1,
        wall: Some(1_700_000_000_000_000_000),
        ..MockServices::default()
    };
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("the get blocks") };
    assert_eq!(services.now, 5_002);
    dapp.answer(MockStorage::default().answer(&request)).unwrap();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 31 });
}

#[test]
fn denials_and_wild_pointers_are_the_same_in_place() {
    let wat = r#"(module
        (import "elastos" "random" (func $random (param i32 i32) (result i32)))
        (import "elastos" "clock_monotonic" (func $now (result i64)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (if (i64.ne (call $now) (i64.const -1)) (then unreachable))
            (if (i32.ne (call $random (i32.const 0) (i32.const 8)) (i32.const -1)) (then unreachable))
            (drop (call $random (i32.const 65530) (i32.const 8)))
            (call $exit (i32.const 7))))"#;
    assert_eq!(Status::Denied.code(), -1);
    let grants = Grants { random: false, clock: false, ..Grants::ALL };
    let mut services = MockServices { counter: Some(COUNTER), ..MockServices::default() };
    // Denied twice, then the wild pointer is denied too: the dapp exits.
    let mut dapp = load(wat, grants);
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 7 });
    assert_eq!(dapp.statistics().denied_calls, 3);
    // Granted, the wild pointer stops the dapp (the clock must then not
    // answer -1, so grant only random and change the first check).
    let wat = wat.replace("(i64.ne (call $now) (i64.const -1))", "(i32.const 0)").replace(
        "(i32.ne (call $random (i32.const 0) (i32.const 8)) (i32.const -1))",
        "(i32.ne (call $random (i32.const 0) (i32.const 8)) (i32.const 0))",
    );
    let mut dapp = load(&wat, Grants::ALL);
    assert_eq!(
        dapp.run(&mut services),
        Outcome::Stopped(StopReason::HostApiViolation {
            function: "random",
            violation: Violation::OutOfBounds
        })
    );
}

#[test]
fn many_lines_logged_in_one_slice_are_written_in_order() {
    // 40 lines "0".."9" repeated, past the queue: the queue is written
    // whenever it is full, and the rest when the slice ends.
    let wat = r#"(module
        (import "elastos" "log" (func $log (param i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "0123456789")
        (func (export "elastos_main") (local $index i32)
            (block (loop
                (br_if 1 (i32.eq (local.get $index) (i32.const 40)))
                (if (call $log (i32.const 2) (i32.rem_u (local.get $index) (i32.const 10)) (i32.const 1))
                    (then unreachable))
                (local.set $index (i32.add (local.get $index) (i32.const 1)))
                (br 0)))))"#;
    let mut dapp = load(wat, Grants::ALL);
    let mut services = MockServices::default();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 0 });
    let expected: Vec<String> = (0..40).map(|index| (index % 10).to_string()).collect();
    assert_eq!(services.log_lines(), expected);
    assert_eq!(dapp.statistics().lines_logged, 40);
}

#[test]
fn time_in_place_never_goes_back_across_slices() {
    // A dapp reading the clock in a loop across many slices, trapping if a
    // reading is below the one before; the services' clock stands still,
    // behind the counter.
    let wat = r#"(module
        (import "elastos" "clock_monotonic" (func $now (result i64)))
        (memory (export "memory") 1)
        (func (export "elastos_main") (local $last i64) (local $time i64) (local $left i32)
            (local.set $left (i32.const 20000))
            (block (loop
                (br_if 1 (i32.eqz (local.get $left)))
                (local.set $time (call $now))
                (if (i64.lt_u (local.get $time) (local.get $last)) (then unreachable))
                (local.set $last (local.get $time))
                (local.set $left (i32.sub (local.get $left) (i32.const 1)))
                (br 0)))))"#;
    let mut dapp = load(wat, Grants::ALL);
    let mut services = MockServices { counter: Some(COUNTER), ..MockServices::default() };
    let mut yields = 0;
    loop {
        match dapp.run(&mut services) {
            Outcome::Yielded => yields += 1,
            Outcome::Finished { code: 0 } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(yields > 1, "only {yields} slices");
    assert_eq!(dapp.statistics().host_calls, 20_000);
}
