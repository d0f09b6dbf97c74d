//! The example dapps (guest-runtime/examples/dapps), built for
//! wasm32-unknown-unknown by cargo and run under their own dapp.toml:
//! chat's echo, notes' storage surviving a reboot, compute across many
//! slices.

mod common;

use common::{run_until_settled, MockServices, MockStorage};
use elastos_dapp_runtime::{
    host_api::{event::MessageStatus, peer},
    Dapp, Event, Grants, Limits, Outcome,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Builds the examples once per test run; returns their output folder.
fn built() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(folder) = built.as_ref() {
        return folder.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(folder) => PathBuf::from(folder).join("dapps"),
        None => root.join("target/dapps"),
    };
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path"])
        .arg(root.join("guest-runtime/examples/dapps/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "building the example dapps failed (is the target installed? \
         rustup target add wasm32-unknown-unknown)"
    );
    let folder = target.join("wasm32-unknown-unknown/release");
    *built = Some(folder.clone());
    folder
}

/// An example's module, and its grants, limits and entry from its dapp.toml.
fn example(name: &str) -> (Vec<u8>, Grants, Limits, String) {
    let module = std::fs::read(built().join(format!("{name}.wasm"))).expect("the module was built");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/dapps")
        .join(name)
        .join("dapp.toml");
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dapp = &manifest["dapp"];
    assert_eq!(dapp["name"].as_str(), Some(name));
    let mut grants = Grants::default();
    for capability in dapp["capabilities"].as_array().unwrap() {
        match capability.as_str().unwrap() {
            "log" => grants.log = true,
            "clock" => grants.clock = true,
            "random" => grants.random = true,
            "message" => grants.message = true,
            "storage" => grants.storage = true,
            "identity" => grants.identity = true,
            "sign" => grants.sign = true,
            other => panic!("unknown capability {other}"),
        }
    }
    let limit = |key: &str| manifest["limits"][key].as_integer().unwrap() as u64;
    let limits = Limits {
        memory_pages: limit("memory-pages") as u32,
        fuel_per_slice: limit("fuel-per-slice"),
        cpu_budget: limit("cpu-budget"),
        messages_per_minute: limit("messages-per-minute") as u32,
        storage_quota: limit("storage-quota"),
        storage_writes_per_minute: limit("storage-writes-per-minute") as u32,
    };
    (module, grants, limits, dapp["entry"].as_str().unwrap().to_string())
}

fn load(name: &str) -> Dapp {
    let (module, grants, limits, entry) = example(name);
    Dapp::load(&module, &entry, grants, limits).expect("the example loads")
}

/// A binary ed25519 PeerId made of `byte`, and its text.
fn peer(byte: u8) -> (Vec<u8>, String) {
    let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    bytes.extend_from_slice(&[byte; 32]);
    let text = peer::encode(&bytes).unwrap().as_str().to_string();
    (bytes, text)
}

fn message(delivery: u64, from: &[u8], app: &str, body: &str) -> Event {
    Event::Message {
        delivery,
        peer: from.to_vec(),
        app: app.into(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn chat_echoes_sends_on_command_and_logs_receipts() {
    let mut dapp = load("chat");
    let mut services = MockServices::default();
    let mut storage = MockStorage::default();
    let (outcome, _) = run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(outcome, Outcome::Waiting { until: None });
    assert_eq!(services.log_lines(), ["chat: started"]);

    let (sender, sender_text) = peer(1);
    dapp.push_event(message(5, &sender, "talk", "hello")).unwrap();
    let (outcome, _) = run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(outcome, Outcome::Waiting { until: None });
    assert_eq!(services.sent, [(sender.clone(), "talk".to_string(), b"echo: hello".to_vec())]);
    assert_eq!(services.delivered, [5]);
    assert!(services
        .log_lines()
        .contains(&format!("chat: 5 bytes from talk on {sender_text}").as_str()));

    let (other, other_text) = peer(2);
    dapp.push_event(message(6, &sender, "talk", &format!("send {other_text} notes add milk")))
        .unwrap();
    run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(services.sent[1], (other, "notes".to_string(), b"add milk".to_vec()));
    assert!(services
        .log_lines()
        .contains(&format!("chat: sent message 2 to notes on {other_text}").as_str()));

    dapp.push_event(Event::Receipt { id: 2, status: MessageStatus::UnknownRecipient }).unwrap();
    run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(
        services.log_lines().last(),
        Some(&"chat: receipt for message 2: unknown-recipient")
    );

    dapp.request_stop();
    let (outcome, _) = run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(outcome, Outcome::Finished { code: 0 });
    let statistics = dapp.statistics();
    assert_eq!((statistics.messages_sent, statistics.messages_received), (2, 2));
    assert_eq!(statistics.receipts_received, 1);
}

/// Sends `body` to notes and returns the bodies of its answers.
fn ask(
    dapp: &mut Dapp,
    services: &mut MockServices,
    storage: &mut MockStorage,
    body: &str,
) -> Vec<String> {
    let (sender, _) = peer(3);
    let before = services.sent.len();
    dapp.push_event(message(1, &sender, "chat", body)).unwrap();
    let (outcome, _) = run_until_settled(dapp, services, storage, 1000);
    assert_eq!(outcome, Outcome::Waiting { until: None });
    services.sent[before..]
        .iter()
        .map(|(to, app, body)| {
            assert_eq!((to, app.as_str()), (&sender, "chat"));
            String::from_utf8(body.clone()).unwrap()
        })
        .collect()
}

#[test]
fn notes_keep_their_notes_in_storage_across_a_reboot() {
    let mut storage = MockStorage::default();
    let mut services = MockServices::default();
    let mut dapp = load("notes");
    let (outcome, _) = run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(outcome, Outcome::Waiting { until: None });
    assert_eq!(services.log_lines(), ["notes: 0 notes stored"]);
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, "add milk"), ["added note 1"]);
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, "add eggs and bread"), ["added note 2"]);
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, "count"), ["2 notes"]);
    assert_eq!(
        ask(&mut dapp, &mut services, &mut storage, "list"),
        ["1: milk\n2: eggs and bread\n"]
    );
    assert!(dapp.statistics().storage_requests >= 8);

    // A new instance (a reboot) finds them in storage.
    drop(dapp);
    let mut services = MockServices::default();
    let mut dapp = load("notes");
    run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(services.log_lines(), ["notes: 2 notes stored"]);
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, "add tea"), ["added note 3"]);
    assert_eq!(storage.entries.len(), 4);
}

#[test]
fn notes_report_a_full_quota() {
    let (module, grants, mut limits, entry) = example("notes");
    limits.storage_quota = 64;
    let mut dapp = Dapp::load(&module, &entry, grants, limits).unwrap();
    let (mut services, mut storage) = (MockServices::default(), MockStorage::default());
    run_until_settled(&mut dapp, &mut services, &mut storage, 100);
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, "add short"), ["added note 1"]);
    let long = format!("add {}", "x".repeat(40));
    assert_eq!(ask(&mut dapp, &mut services, &mut storage, &long), ["error: quota-exceeded"]);
}

#[test]
fn compute_finishes_across_many_slices_with_the_native_result() {
    let mut dapp = load("compute");
    let mut services = MockServices { tick: 1000, ..MockServices::default() };
    let (outcome, yields) =
        run_until_settled(&mut dapp, &mut services, &mut MockStorage::default(), 1_000_000);
    assert_eq!(outcome, Outcome::Finished { code: 0 });
    assert!(yields > 100, "only {yields} slices");
    let mut digest: [u8; 32] = Sha256::digest(b"elastos compute").into();
    for _ in 1..20_000 {
        digest = Sha256::digest(digest).into();
    }
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    let lines = services.log_lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(&format!("compute: result={hex} in ")), "{}", lines[0]);
    assert!(lines[0].ends_with("ns"));
    let statistics = dapp.statistics();
    assert_eq!(statistics.slices as usize, yields + 1);
}
