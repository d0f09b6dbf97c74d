//! The supervisor's decisions, driven by records as app VMs would send them.

use super::*;
use elastos_package::{Capabilities, Limits, PublisherKey, Version};

/// Records sent, per slot; a slot can be made full.
#[derive(Default)]
struct Rings {
    sent: Vec<(usize, Vec<u8>)>,
    full: bool,
}

impl Outbox for Rings {
    fn send(&mut self, slot: usize, record: &[u8]) -> bool {
        if self.full {
            return false;
        }
        self.sent.push((slot, record.to_vec()));
        true
    }
}

fn manifest(name: &str) -> Manifest {
    Manifest {
        name: name.into(),
        version: Version::new(1, 0, 0),
        description: String::new(),
        publisher: PublisherKey::from_secret_key(&[1; 32]),
        entry: "elastos_main".into(),
        restart: RestartPolicy::Stop,
        capabilities: Capabilities::NONE,
        limits: Limits::DEFAULT,
        sign: None,
    }
}

fn start(supervisor: &mut Supervisor, rings: &mut Rings, slot: usize, name: &str, module: &[u8]) {
    let manifest = manifest(name);
    let assignment = Assignment {
        manifest: &manifest,
        manifest_bytes: b"manifest",
        module,
        module_digest: [3; 32],
        wall_clock_ns: 5,
        seed: [4; 32],
    };
    supervisor.start(slot, &assignment, None, rings).unwrap();
}

fn state(run: u32, state: RunState, detail: &'static [u8]) -> Record<'static> {
    Record::State { run, state, detail }
}

fn restart_never(_: &str) -> Option<RestartPolicy> {
    Some(RestartPolicy::Stop)
}

fn restart_twice(_: &str) -> Option<RestartPolicy> {
    Some(RestartPolicy::Restart { limit: Some(2) })
}

#[test]
fn a_start_sends_the_assignment_then_the_module_in_chunks() {
    let mut supervisor = Supervisor::new(&["app-1", "app-2"]);
    let mut rings = Rings::default();
    assert_eq!(supervisor.idle_slot(), None, "no slot is idle before it says so");
    supervisor.record(1, &Record::Idle { boot: 1 }, restart_never);
    assert_eq!(supervisor.idle_slot(), Some(1));
    let module = vec![0x61u8; CHUNK_MAX * 2 + 10];
    start(&mut supervisor, &mut rings, 1, "chat", &module);
    assert_eq!(rings.sent.len(), 4);
    let Ok(Record::Assign { run, module_length, manifest, .. }) = Record::decode(&rings.sent[0].1)
    else {
        panic!("the first record is the assignment");
    };
    assert_eq!((module_length as usize, manifest), (module.len(), &b"manifest"[..]));
    let mut joined = Vec::new();
    for (slot, record) in &rings.sent[1..] {
        assert_eq!(*slot, 1);
        let Ok(Record::Chunk { run: chunk_run, offset, bytes }) = Record::decode(record) else {
            panic!("chunks follow");
        };
        assert_eq!((chunk_run, offset as usize), (run, joined.len()));
        joined.extend_from_slice(bytes);
    }
    assert_eq!(joined, module);
    assert!(supervisor.is_active("chat"));
    supervisor.record(1, &state(run, RunState::Running, b""), restart_never);
    assert_eq!(supervisor.state("chat"), Some(DappState::Running));
    assert_eq!(supervisor.slot_of("chat"), Some(1));
}

#[test]
fn a_full_ring_holds_the_rest_for_the_next_pump() {
    let mut supervisor = Supervisor::new(&["app-1"]);
    let mut rings = Rings { full: true, ..Rings::default() };
    supervisor.record(0, &Record::Idle { boot: 1 }, restart_never);
    start(&mut supervisor, &mut rings, 0, "chat", &[1; 100]);
    assert!(rings.sent.is_empty());
    assert!(supervisor.is_loading());
    rings.full = false;
    supervisor.pump(&mut rings);
    assert_eq!(rings.sent.len(), 2);
    assert!(!supervisor.is_loading());
}

#[test]
fn states_of_other_runs_are_ignored() {
    let mut supervisor = Supervisor::new(&["app-1"]);
    let mut rings = Rings::default();
    supervisor.record(0, &Record::Idle { boot: 1 }, restart_never);
    start(&mut supervisor, &mut rings, 0, "chat", &[1; 10]);
    supervisor.record(0, &state(99, RunState::Running, b""), restart_never);
    assert_eq!(supervisor.state("chat"), None);
    let storage = Record::Storage {
        run: 99,
        request: 1,
        operation: StorageOperation::Get,
        key: b"k",
        value: b"",
    };
    assert_eq!(supervisor.record(0, &storage, restart_never), None);
}

#[test]
fn a_failed_dapp_restarts_within_its_limit_then_stays_failed() {
    let mut supervisor = Supervisor::new(&["app-1"]);
    let mut rings = Rings::default();
    supervisor.record(0, &Record::Idle { boot: 1 }, restart_twice);
    for round in 0..3u32 {
        start(&mut supervisor, &mut rings, 0, "loop", &[1; 10]);
        let run = round + 1;
        supervisor.record(0, &state(run, RunState::Running, b""), restart_twice);
        supervisor.record(0, &state(run, RunState::Failed, b"cpu budget spent"), restart_twice);
        assert_eq!(
            supervisor.state("loop"),
            Some(DappState::Failed { reason: "cpu budget spent".into() })
        );
        let pending = supervisor.restarts_pending();
        if round < 2 {
            assert_eq!(pending, ["loop"], "round {round}");
        } else {
            assert!(pending.is_empty(), "the limit of two restarts is spent");
        }
    }
    let notices = supervisor.take_notices();
    assert_eq!(notices.len(), 3);
    assert!(notices[0].contains("starting it again"), "{notices:?}");
    assert!(!notices[2].contains("starting it again"), "{notices:?}");
}

#[test]
fn an_app_vm_that_restarts_under_its_dapp_fails_the_dapp() {
    let mut supervisor = Supervisor::new(&["app-1", "app-2"]);
    let mut rings = Rings::default();
    supervisor.record(0, &Record::Idle { boot: 1 }, restart_never);
    start(&mut supervisor, &mut rings, 0, "chat", &[1; 10]);
    supervisor.record(0, &state(1, RunState::Running, b""), restart_never);
    supervisor.channel_down(0, restart_never);
    assert_eq!(
        supervisor.state("chat"),
        Some(DappState::Failed { reason: "its app VM stopped".into() })
    );
    assert_eq!(supervisor.idle_slot(), None);
    supervisor.record(0, &Record::Idle { boot: 2 }, restart_never);
    assert_eq!(supervisor.idle_slot(), Some(0));
    let status = supervisor.status();
    assert_eq!(status[0].restarts, 1);
    assert_eq!(status[1].state, VmState::Starting);
}

#[test]
fn logs_keep_the_latest_lines_of_the_current_run() {
    let mut supervisor = Supervisor::new(&["app-1"]);
    let mut rings = Rings::default();
    supervisor.record(0, &Record::Idle { boot: 1 }, restart_never);
    start(&mut supervisor, &mut rings, 0, "chat", &[1; 10]);
    for line in 0..LOG_LINES + 5 {
        let text = format!("line {line}");
        supervisor.record(
            0,
            &Record::Log { run: 1, level: 2, text: text.as_bytes() },
            restart_never,
        );
    }
    supervisor.record(0, &Record::Log { run: 7, level: 2, text: b"other run" }, restart_never);
    let logs = supervisor.logs("chat");
    assert_eq!(logs.len(), LOG_LINES);
    assert_eq!(logs.last().map(String::as_str), Some("info: line 204"));
    assert!(!logs.iter().any(|line| line.contains("other run")));
}
