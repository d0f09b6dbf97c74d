//! Hostile and broken modules, written in WebAssembly text: each is refused
//! at load or stopped with the right reason, and the host API's blocking,
//! waiting, denial and rate rules hold.

mod common;

use common::{run_until_settled, MockServices, MockStorage};
use elastos_dapp_runtime::{
    guest_memory::Violation,
    host_api::{event::MessageStatus, function, peer, Status, FUNCTIONS},
    outcome::Name,
    Answer, Dapp, Event, Grants, Limits, LoadError, Outcome, PushError, Request, StopReason,
    TrapKind,
};

fn limits() -> Limits {
    Limits {
        memory_pages: 4,
        fuel_per_slice: 10_000,
        cpu_budget: 1_000_000,
        messages_per_minute: 10,
        storage_quota: 1024,
        storage_writes_per_minute: 10,
    }
}

fn load(wat: &str, grants: Grants, limits: Limits) -> Result<Dapp, LoadError> {
    let module = wat::parse_str(wat).expect("the test's WAT parses");
    Dapp::load(&module, "elastos_main", grants, limits)
}

fn load_ok(wat: &str) -> Dapp {
    load(wat, Grants::ALL, limits()).expect("the module loads")
}

/// The text of an ed25519 PeerId.
fn peer_text() -> String {
    let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    bytes.extend_from_slice(&[0x5a; 32]);
    peer::encode(&bytes).unwrap().as_str().to_string()
}

#[test]
fn an_infinite_loop_yields_every_slice_then_exhausts_its_budget() {
    let mut dapp = load_ok(r#"(module (func (export "elastos_main") (loop (br 0))))"#);
    let mut services = MockServices::default();
    let mut yields = 0;
    let outcome = loop {
        match dapp.run(&mut services) {
            Outcome::Yielded => yields += 1,
            other => break other,
        }
        assert!(yields < 1000, "the budget must stop the loop");
    };
    assert_eq!(outcome, Outcome::Stopped(StopReason::CpuBudget));
    // 1 000 000 fuel in slices of 10 000: about 100 slices, each ending in a
    // yield but the one that reaches the budget; never more fuel than that.
    let statistics = dapp.statistics();
    assert!((99..=100).contains(&yields), "{yields} yields");
    assert!(statistics.fuel_used <= 1_000_000, "{statistics:?}");
    assert!(statistics.fuel_used > 1_000_000 - 100, "{statistics:?}");
    assert!((100..=101).contains(&statistics.slices), "{statistics:?}");
    assert_eq!(dapp.stop_reason(), Some(StopReason::CpuBudget));
    // A stopped dapp stays stopped.
    assert_eq!(dapp.run(&mut services), Outcome::Stopped(StopReason::CpuBudget));
}

#[test]
fn waiting_restarts_the_cpu_budget() {
    // Burns about 600 000 fuel, then waits 1 ms, four times over: 2 400 000
    // in all, over the budget, but never 1 000 000 between two waits.
    let wat = r#"(module
        (import "elastos" "event_wait" (func $wait (param i32 i32 i64) (result i32)))
        (memory (export "memory") 1)
        (func (export "elastos_main") (local $round i32) (local $work i32)
            (loop $rounds
                (local.set $work (i32.const 100000))
                (loop $burn
                    (local.set $work (i32.sub (local.get $work) (i32.const 1)))
                    (br_if $burn (local.get $work)))
                (drop (call $wait (i32.const 0) (i32.const 64) (i64.const 1)))
                (local.set $round (i32.add (local.get $round) (i32.const 1)))
                (br_if $rounds (i32.lt_u (local.get $round) (i32.const 4))))))"#;
    let mut dapp = load_ok(wat);
    let mut services = MockServices::default();
    let mut waits = 0;
    loop {
        match dapp.run(&mut services) {
            Outcome::Yielded => {}
            Outcome::Waiting { until } => {
                waits += 1;
                services.now = until.expect("a timeout was given");
            }
            Outcome::Finished { code } => {
                assert_eq!(code, 0);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(waits, 4);
    assert!(dapp.statistics().fuel_used > 2_000_000, "{:?}", dapp.statistics());
}

#[test]
fn endless_memory_growth_is_refused_and_the_trap_after_is_out_of_memory() {
    let wat = r#"(module
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (loop $more
                (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
            unreachable))"#;
    let mut dapp = load_ok(wat);
    let (outcome, _) = run_until_settled(
        &mut dapp,
        &mut MockServices::default(),
        &mut MockStorage::default(),
        100,
    );
    assert_eq!(outcome, Outcome::Stopped(StopReason::OutOfMemory));
    assert_eq!(dapp.memory_size(), 4 * 65536);
}

#[test]
fn a_dapp_that_handles_a_refused_grow_goes_on() {
    let wat = r#"(module
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (if (i32.ne (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))))"#;
    let mut dapp = load_ok(wat);
    assert_eq!(dapp.run(&mut MockServices::default()), Outcome::Finished { code: 0 });
    assert_eq!(dapp.memory_size(), 65536);
}

#[test]
fn memory_over_the_limit_at_the_start_is_refused() {
    let wat = r#"(module (memory 5) (func (export "elastos_main")))"#;
    assert_eq!(load(wat, Grants::ALL, limits()).unwrap_err(), LoadError::MemoryTooLarge);
}

#[test]
fn traps_stop_the_dapp_with_their_kind() {
    let cases = [
        ("unreachable", TrapKind::Unreachable),
        ("(drop (i32.div_s (i32.const 1) (i32.const 0)))", TrapKind::IntegerDivisionByZero),
        ("(drop (i32.load (i32.const 70000)))", TrapKind::MemoryOutOfBounds),
    ];
    for (body, kind) in cases {
        let wat = format!(r#"(module (memory 1) (func (export "elastos_main") {body}))"#);
        let mut dapp = load_ok(&wat);
        assert_eq!(
            dapp.run(&mut MockServices::default()),
            Outcome::Stopped(StopReason::Trap(kind))
        );
    }
    let wat = r#"(module (func $deep (export "elastos_main") (call $deep)))"#;
    let mut dapp = load_ok(wat);
    let (outcome, _) = run_until_settled(
        &mut dapp,
        &mut MockServices::default(),
        &mut MockStorage::default(),
        100,
    );
    assert_eq!(outcome, Outcome::Stopped(StopReason::Trap(TrapKind::StackOverflow)));
}

/// A call of `name` with every pointer argument `pointer` and every length
/// `length`, other arguments zero.
fn wild_call(name: &str, pointer: i32, length: i32) -> Option<String> {
    let function = FUNCTIONS.iter().find(|function| function.name == name).unwrap();
    let (parameters, arguments): (&str, Vec<i32>) = match name {
        function::LOG => ("i32 i32 i32", vec![2, pointer, length]),
        function::RANDOM | function::IDENTITY => ("i32 i32", vec![pointer, length]),
        function::MESSAGE_SEND => {
            ("i32 i32 i32 i32 i32 i32", vec![pointer, length, pointer, length, pointer, length])
        }
        function::STORAGE_GET | function::STORAGE_PUT | function::STORAGE_LIST => {
            ("i32 i32 i32 i32", vec![pointer, length, pointer, length])
        }
        function::STORAGE_DELETE => ("i32 i32", vec![pointer, length]),
        function::SIGN => (
            "i32 i32 i32 i32 i32 i32 i32",
            vec![0, pointer, length, pointer, length, pointer, length],
        ),
        function::VERIFY => (
            "i32 i32 i32 i32 i32 i32 i32 i32",
            vec![pointer, length, pointer, length, pointer, length, pointer, length],
        ),
        function::EVENT_WAIT => {
            return Some(format!(
                r#"(module (import "elastos" "event_wait" (func $f (param i32 i32 i64) (result i32)))
                   (memory (export "memory") 1)
                   (func (export "elastos_main") (drop (call $f (i32.const {pointer}) (i32.const {length}) (i64.const 0)))))"#
            ))
        }
        _ => return None,
    };
    let result = if function.results[0] == elastos_dapp_runtime::host_api::ValueType::I64 {
        "i64"
    } else {
        "i32"
    };
    let arguments: String = arguments.iter().map(|value| format!("(i32.const {value}) ")).collect();
    Some(format!(
        r#"(module (import "elastos" "{name}" (func $f (param {parameters}) (result {result})))
           (memory (export "memory") 1)
           (func (export "elastos_main") (drop (call $f {arguments}))))"#
    ))
}

#[test]
fn wild_pointers_and_lengths_stop_the_dapp_at_every_host_call() {
    let cases = [
        (-1, 4, Violation::Negative),
        (16, -1, Violation::Negative),
        (65530, 100, Violation::OutOfBounds),
        (i32::MAX, 1, Violation::OutOfBounds),
        (65536, 1, Violation::OutOfBounds),
    ];
    let mut checked = 0;
    for function in FUNCTIONS {
        for (pointer, length, violation) in cases {
            let Some(wat) = wild_call(function.name, pointer, length) else { continue };
            let mut dapp = load_ok(&wat);
            let mut services = MockServices::default();
            let outcome = dapp.run(&mut services);
            assert_eq!(
                outcome,
                Outcome::Stopped(StopReason::HostApiViolation {
                    function: function.name,
                    violation
                }),
                "{} with pointer {pointer} and length {length}",
                function.name
            );
            assert!(services.sent.is_empty() && services.logs.is_empty());
            checked += 1;
        }
    }
    // Every function with a pointer (all but the clocks and exit).
    assert_eq!(checked, (FUNCTIONS.len() - 3) * cases.len());
}

fn sender(peer: &str, count: &str) -> String {
    format!(
        r#"(module
            (import "elastos" "message_send" (func $send (param i32 i32 i32 i32 i32 i32) (result i64)))
            (import "elastos" "exit" (func $exit (param i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "chat")
            (data (i32.const 16) "hello")
            (data (i32.const 64) "{peer}")
            (global $denied (mut i32) (i32.const 0))
            (func (export "elastos_main") (local $sent i32) (local $result i64)
                (loop $again
                    (local.set $result (call $send (i32.const 64) (i32.const {length})
                        (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 5)))
                    (if (i64.eq (local.get $result) (i64.const -1)) (then (call $exit (i32.const -1))))
                    (local.set $sent (i32.add (local.get $sent) (i32.const 1)))
                    (br_if $again (i32.lt_u (local.get $sent) (i32.const {count}))))))"#,
        length = peer.len()
    )
}

#[test]
fn a_message_flood_is_rate_limited_then_stopped() {
    let mut dapp = load_ok(&sender(&peer_text(), "100000"));
    let mut services = MockServices::default();
    let (outcome, _) =
        run_until_settled(&mut dapp, &mut services, &mut MockStorage::default(), 1000);
    assert_eq!(outcome, Outcome::Stopped(StopReason::MessageFlood));
    // 10 per minute went out; 256 refusals are tolerated, the 257th stops it.
    assert_eq!(services.sent.len(), 10);
    let statistics = dapp.statistics();
    assert_eq!(statistics.messages_sent, 10);
    assert_eq!(statistics.rate_limited_calls, 256);
    let (peer, app, body) = &services.sent[0];
    assert_eq!(peer::encode(peer).unwrap().as_str(), peer_text());
    assert_eq!((app.as_str(), body.as_slice()), ("chat", &b"hello"[..]));
}

#[test]
fn sending_within_the_rate_is_not_a_flood() {
    let mut dapp = load_ok(&sender(&peer_text(), "30"));
    let mut services = MockServices::default();
    let (outcome, _) =
        run_until_settled(&mut dapp, &mut services, &mut MockStorage::default(), 100);
    assert_eq!(outcome, Outcome::Finished { code: 0 });
    assert_eq!(services.sent.len(), 10);
    assert_eq!(dapp.statistics().rate_limited_calls, 20);
}

#[test]
fn a_bad_peer_is_an_invalid_argument() {
    let wat = r#"(module
        (import "elastos" "message_send" (func $send (param i32 i32 i32 i32 i32 i32) (result i64)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "chat 12D3KooW0OIl")
        (func (export "elastos_main")
            (call $exit (i32.wrap_i64 (call $send (i32.const 5) (i32.const 12)
                (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))))))"#;
    let mut dapp = load_ok(wat);
    let outcome = dapp.run(&mut MockServices::default());
    assert_eq!(outcome, Outcome::Finished { code: Status::InvalidArgument.code() });
}

#[test]
fn a_call_without_its_capability_is_denied_and_the_dapp_goes_on() {
    let grants = Grants { log: true, ..Grants::default() };
    let mut dapp = load(&sender(&peer_text(), "1"), grants, limits()).unwrap();
    let mut services = MockServices::default();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: Status::Denied.code() });
    assert!(services.sent.is_empty());
    assert_eq!(dapp.statistics().denied_calls, 1);
    // A message for a dapp that may not have them is refused.
    let event = Event::Receipt { id: 1, status: MessageStatus::Delivered };
    let mut dapp = load(&sender(&peer_text(), "1"), grants, limits()).unwrap();
    assert_eq!(dapp.push_event(event), Err(PushError::NotMessaging));
}

#[test]
fn imports_the_host_api_does_not_offer_are_refused_by_name() {
    let wat = r#"(module (import "env" "socket" (func (param i32) (result i32))) (func (export "elastos_main")))"#;
    assert_eq!(
        load(wat, Grants::ALL, limits()).unwrap_err(),
        LoadError::ForeignImport(Name::new(&["env", "socket"]))
    );
    let wat = r#"(module (import "elastos" "spawn" (func)) (func (export "elastos_main")))"#;
    let error = load(wat, Grants::ALL, limits()).unwrap_err();
    assert_eq!(error.to_string(), "imports elastos.spawn, which the host API does not offer");
    let wat = r#"(module (import "elastos" "memory" (memory 1)) (func (export "elastos_main")))"#;
    assert_eq!(
        load(wat, Grants::ALL, limits()).unwrap_err(),
        LoadError::ForeignImport(Name::new(&["elastos", "memory"]))
    );
    let wat = r#"(module (import "elastos" "log" (func (param i32 i32) (result i32))) (func (export "elastos_main")))"#;
    assert_eq!(
        load(wat, Grants::ALL, limits()).unwrap_err(),
        LoadError::ImportSignature(Name::new(&["elastos", "log"]))
    );
}

#[test]
fn modules_without_a_proper_entry_or_not_wasm_are_refused() {
    let wat = r#"(module (func (export "main")))"#;
    assert_eq!(
        load(wat, Grants::ALL, limits()).unwrap_err(),
        LoadError::NoEntry(Name::new(&["elastos_main"]))
    );
    let wat = r#"(module (func (export "elastos_main") (param i32)))"#;
    assert!(matches!(load(wat, Grants::ALL, limits()), Err(LoadError::EntrySignature(_))));
    assert_eq!(
        Dapp::load(b"\0asm\x01\0\0\0\x01", "elastos_main", Grants::ALL, limits()).unwrap_err(),
        LoadError::Invalid
    );
    assert_eq!(
        Dapp::load(b"not wasm", "elastos_main", Grants::ALL, limits()).unwrap_err(),
        LoadError::Invalid
    );
    // Validation: a function whose body leaves the wrong type.
    let invalid = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x07\x10\x01\x0celastos_main\0\0\x0a\x06\x01\x04\0\x41\x01\x0b";
    assert_eq!(
        Dapp::load(invalid, "elastos_main", Grants::ALL, limits()).unwrap_err(),
        LoadError::Invalid
    );
    let wat = r#"(module (func $start) (start $start) (func (export "elastos_main")))"#;
    assert_eq!(load(wat, Grants::ALL, limits()).unwrap_err(), LoadError::Invalid);
}

const WAITER: &str = r#"(module
    (import "elastos" "event_wait" (func $wait (param i32 i32 i64) (result i32)))
    (import "elastos" "exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (global $capacity (mut i32) (i32.const 8))
    (func (export "elastos_main") (local $result i32)
        (loop $again
            (local.set $result (call $wait (i32.const 100) (global.get $capacity) (i64.const -1)))
            ;; Too small: read the length needed from the buffer and try again.
            (if (i32.eq (local.get $result) (i32.const -3))
                (then (global.set $capacity (i32.load (i32.const 100))) (br $again)))
            ;; A stop request ends the dapp with exit code 7.
            (if (i32.eq (i32.load8_u (i32.const 100)) (i32.const 3)) (then (call $exit (i32.const 7))))
            (br $again))))"#;

#[test]
fn events_wait_for_the_dapp_and_a_small_buffer_learns_the_size_needed() {
    let mut dapp = load_ok(WAITER);
    let mut services = MockServices::default();
    assert_eq!(dapp.run(&mut services), Outcome::Waiting { until: None });
    // Nothing arrived: still waiting, nothing ran.
    assert_eq!(dapp.run(&mut services), Outcome::Waiting { until: None });
    let mut peer_bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    peer_bytes.extend_from_slice(&[0x5a; 32]);
    let message = Event::Message {
        delivery: 41,
        peer: peer_bytes,
        app: "chat".into(),
        body: b"hi there".to_vec(),
    };
    dapp.push_event(message).unwrap();
    assert_eq!(dapp.events_queued(), 1);
    assert_eq!(dapp.run(&mut services), Outcome::Waiting { until: None });
    assert_eq!(dapp.events_queued(), 0);
    assert_eq!(services.delivered, vec![41]);
    let statistics = dapp.statistics();
    assert_eq!(statistics.messages_received, 1);
    dapp.request_stop();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 7 });
    assert_eq!(
        dapp.push_event(Event::Receipt { id: 1, status: MessageStatus::Busy }),
        Err(PushError::NotRunning)
    );
}

#[test]
fn the_event_queue_is_bounded_and_events_are_checked() {
    let mut dapp = load_ok(WAITER);
    let receipt = Event::Receipt { id: 1, status: MessageStatus::Delivered };
    for _ in 0..elastos_dapp_runtime::EVENT_QUEUE_MAX {
        dapp.push_event(receipt.clone()).unwrap();
    }
    assert_eq!(dapp.push_event(receipt), Err(PushError::QueueFull));
    let mut dapp = load_ok(WAITER);
    let bad_peer =
        Event::Message { delivery: 1, peer: b"not a peer".to_vec(), app: "a".into(), body: vec![] };
    assert_eq!(dapp.push_event(bad_peer), Err(PushError::Malformed));
}

#[test]
fn a_wait_with_a_timeout_returns_zero_at_its_deadline() {
    let wat = r#"(module
        (import "elastos" "event_wait" (func $wait (param i32 i32 i64) (result i32)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (call $exit (i32.add (i32.const 100) (call $wait (i32.const 0) (i32.const 64) (i64.const 250))))))"#;
    let mut dapp = load_ok(wat);
    let mut services = MockServices { now: 1_000, ..MockServices::default() };
    assert_eq!(dapp.run(&mut services), Outcome::Waiting { until: Some(250_001_000) });
    services.now = 250_000_999;
    assert_eq!(dapp.run(&mut services), Outcome::Waiting { until: Some(250_001_000) });
    services.now = 250_001_000;
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 100 });
}

#[test]
fn storage_blocks_until_answered_and_answers_must_fit() {
    let wat = r#"(module
        (import "elastos" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
        (import "elastos" "storage_get" (func $get (param i32 i32 i32 i32) (result i64)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "key")
        (data (i32.const 8) "value")
        (func (export "elastos_main")
            (if (call $put (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 5)) (then unreachable))
            (call $exit (i32.wrap_i64 (call $get (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 64))))))"#;
    let mut dapp = load_ok(wat);
    let mut services = MockServices::default();
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("the put blocks") };
    assert_eq!(
        request,
        Request::StoragePut { key: b"key".to_vec(), value: b"value".to_vec(), quota: 1024 }
    );
    // Running again without an answer changes nothing.
    assert_eq!(dapp.run(&mut services), Outcome::Blocked(request));
    assert_eq!(
        dapp.answer(Answer::Keys(vec![])),
        Err(elastos_dapp_runtime::AnswerError::WrongKind)
    );
    dapp.answer(Answer::Done).unwrap();
    assert_eq!(dapp.answer(Answer::Done), Err(elastos_dapp_runtime::AnswerError::NotBlocked));
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("the get blocks") };
    assert_eq!(request, Request::StorageGet { key: b"key".to_vec() });
    dapp.answer(Answer::Value(b"value".to_vec())).unwrap();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: 5 });
    assert_eq!(dapp.statistics().storage_requests, 2);
}

#[test]
fn a_storage_write_flood_is_stopped_and_a_value_over_the_quota_refused() {
    let wat = r#"(module
        (import "elastos" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (if (i32.ne (call $put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 2000)) (i32.const -6))
                (then unreachable))
            (loop $again (drop (call $put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))) (br $again))))"#;
    let mut dapp = load_ok(wat);
    let mut storage = MockStorage::default();
    let (outcome, _) =
        run_until_settled(&mut dapp, &mut MockServices::default(), &mut storage, 1000);
    assert_eq!(outcome, Outcome::Stopped(StopReason::StorageFlood));
    assert_eq!(storage.requests, 10);
}

#[test]
fn identity_signing_and_verification_go_through_chainvm_and_the_runtime() {
    // identity into 100; sign "vote" over "ballot" into 400; verify with the
    // DID at 100 and the signature's first 64 bytes: 0; then verify a
    // changed payload: INVALID_SIGNATURE. Exit code: the sum of results
    // (DID length + signature-and-DID length + 0 + INVALID_SIGNATURE).
    let wat = r#"(module
        (import "elastos" "identity" (func $identity (param i32 i32) (result i32)))
        (import "elastos" "sign" (func $sign (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
        (import "elastos" "verify" (func $verify (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "vote")
        (data (i32.const 8) "ballot")
        (data (i32.const 16) "ballow")
        (func (export "elastos_main") (local $did i32) (local $signed i32) (local $good i32) (local $bad i32)
            (local.set $did (call $identity (i32.const 100) (i32.const 256)))
            (local.set $signed (call $sign (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 8) (i32.const 6) (i32.const 400) (i32.const 128)))
            (local.set $good (call $verify (i32.const 100) (local.get $did) (i32.const 0) (i32.const 4) (i32.const 8) (i32.const 6) (i32.const 400) (i32.const 64)))
            (local.set $bad (call $verify (i32.const 100) (local.get $did) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 6) (i32.const 400) (i32.const 64)))
            (call $exit (i32.add (i32.add (local.get $did) (local.get $signed)) (i32.add (local.get $good) (local.get $bad))))))"#;
    let mut dapp = load_ok(wat);
    let mut services = MockServices::default();
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("identity blocks") };
    assert_eq!(request, Request::Identity);
    let mut storage = MockStorage::default();
    dapp.answer(storage.answer(&request)).unwrap();
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("sign blocks") };
    assert_eq!(
        request,
        Request::Sign { key: 0, kind: b"vote".to_vec(), payload: b"ballot".to_vec() }
    );
    dapp.answer(storage.answer(&request)).unwrap();
    let did = common::MOCK_DID.len() as i32;
    let expected = did + 64 + did + Status::InvalidSignature.code();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: expected });

    // Without the capabilities: denied before anything else.
    let grants = Grants { identity: false, sign: false, ..Grants::ALL };
    let mut dapp = load(wat, grants, limits()).unwrap();
    assert_eq!(
        dapp.run(&mut MockServices::default()),
        Outcome::Finished { code: 4 * Status::Denied.code() }
    );
}

#[test]
fn signing_refusals_and_bad_arguments_reach_the_dapp() {
    // A key kind that does not exist, an empty kind, a kind too long: no
    // request at all; a refusal from chainvm comes back as its status.
    let wat = r#"(module
        (import "elastos" "sign" (func $sign (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
        (import "elastos" "exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "elastos_main")
            (if (i32.ne (call $sign (i32.const 7) (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 400) (i32.const 128)) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $sign (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 400) (i32.const 128)) (i32.const -2)) (then unreachable))
            (if (i32.ne (call $sign (i32.const 0) (i32.const 0) (i32.const 65) (i32.const 0) (i32.const 0) (i32.const 400) (i32.const 128)) (i32.const -4)) (then unreachable))
            (call $exit (call $sign (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 400) (i32.const 128)))))"#;
    let mut dapp = load_ok(wat);
    let mut services = MockServices::default();
    let Outcome::Blocked(request) = dapp.run(&mut services) else { panic!("the last sign blocks") };
    assert!(matches!(request, Request::Sign { key: 1, .. }));
    dapp.answer(MockStorage::default().answer(&request)).unwrap();
    assert_eq!(dapp.run(&mut services), Outcome::Finished { code: Status::Denied.code() });
}

#[test]
fn the_benchmark_modules_make_the_calls_they_promise() {
    let module = elastos_dapp_runtime::benchmark::host_call_module(1000);
    let mut dapp = Dapp::load(&module, "elastos_main", Grants::ALL, limits()).unwrap();
    let mut services = MockServices { tick: 1, ..MockServices::default() };
    let (outcome, _) =
        run_until_settled(&mut dapp, &mut services, &mut MockStorage::default(), 100);
    assert_eq!(outcome, Outcome::Finished { code: 0 });
    assert_eq!(dapp.statistics().host_calls, 1000);
    assert_eq!(services.now, 1000);

    let module = elastos_dapp_runtime::benchmark::blocking_call_module(50);
    let mut dapp = Dapp::load(&module, "elastos_main", Grants::ALL, limits()).unwrap();
    let mut blocked = 0;
    loop {
        match dapp.run(&mut services) {
            Outcome::Blocked(Request::StorageGet { key }) => {
                assert_eq!(key, [0]);
                blocked += 1;
                dapp.answer(Answer::Value(vec![1, 2, 3])).unwrap();
            }
            Outcome::Finished { code: 0 } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(blocked, 50);
}
