//! Dapps as a person uses them, from the Linux shell: packages downloaded
//! with `wget` from a server on the host, installed, listed, started,
//! stopped and removed with the `elastos` command; the `chat` dapp talks to
//! a rust-libp2p peer on the host through netvm and `notes` keeps its notes
//! in the Elastos store; bad packages are refused with a reason and lose
//! nothing; misbehaving dapps are stopped alone; and everything survives a
//! restart of the machine with the same disk, even one cut short by killing
//! QEMU in the middle of installs and writes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use elastos_package::{
    pack, signed_statement, Capabilities, Capability, Limits, Manifest, Package, PublisherKey,
    RestartPolicy, Version,
};
use elastos_tests::dapps::{
    download, elastos, package, run, serve, wait_for_network, DAPPS_VARIABLE,
};
use elastos_tests::peer::{netvm_peer_id, Peer};
use elastos_tests::shell::wait_for_shell;
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, Error, Qemu, SystemOptions};

/// How long netvm may take to start its node and get an address.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a message, a receipt or a dapp's state change may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(90);

/// The publisher key `cargo xtask dapp examples` signed the examples with.
fn example_key() -> [u8; 32] {
    let folder = PathBuf::from(std::env::var_os(DAPPS_VARIABLE).expect("cargo xtask test sets it"));
    let text = std::fs::read_to_string(folder.join("../example-publisher.key"))
        .expect("the example publisher key is beside the packages");
    let hex = text
        .lines()
        .find_map(|line| line.strip_prefix("secret-key = "))
        .expect("the key file names its secret key")
        .trim_matches('"');
    let mut key = [0u8; 32];
    for (index, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).expect("hex digits");
    }
    key
}

/// A manifest for a test dapp `name` with `capabilities`.
fn manifest(
    name: &str,
    version: Version,
    secret: &[u8; 32],
    capabilities: &[Capability],
) -> Manifest {
    Manifest {
        name: name.into(),
        version,
        description: String::new(),
        publisher: PublisherKey::from_secret_key(secret),
        entry: "elastos_main".into(),
        restart: RestartPolicy::Stop,
        capabilities: Capabilities::of(capabilities),
        limits: Limits {
            memory_pages: 16,
            fuel_per_slice: 100_000,
            cpu_budget: 20_000_000,
            messages_per_minute: 10,
            ..Limits::DEFAULT
        },
        sign: None,
    }
}

/// A package of the WebAssembly text `wat` as dapp `name`, signed with the
/// examples' key.
fn hostile(name: &str, wat: &str, capabilities: &[Capability]) -> Vec<u8> {
    let key = example_key();
    let module = wat::parse_str(wat).expect("the test's module is valid text");
    pack(&manifest(name, Version::new(1, 0, 0), &key, capabilities), &module, &key)
        .expect("the test's package packs")
}

/// The package `bytes` with its signature replaced by one of another key,
/// which also takes the public key's place: the manifest still names the
/// first publisher.
fn resigned(bytes: &[u8]) -> Vec<u8> {
    let package = Package::parse(bytes).expect("a valid package");
    let other = SigningKey::from_bytes(&[0x5a; 32]);
    let statement = signed_statement(&package.manifest_digest(), &package.module_digest());
    let mut copy = bytes.to_vec();
    copy[20..52].copy_from_slice(other.verifying_key().as_bytes());
    copy[116..180].copy_from_slice(&other.sign(&statement).to_bytes());
    copy
}

/// A package past the format's 16 MiB: chat's bytes, padded.
fn oversized(chat: &[u8]) -> Vec<u8> {
    let mut bytes = chat.to_vec();
    bytes.resize(elastos_package::MAXIMUM_PACKAGE_SIZE + 1, 0);
    bytes
}

/// The chat example repacked as version `version`, by the examples' key or
/// another.
fn chat_as(version: Version, secret: &[u8; 32]) -> Vec<u8> {
    let original = package("chat").expect("the chat package was built");
    let parsed = Package::parse(&original).expect("a valid package");
    let mut manifest = parsed.manifest().clone();
    manifest.version = version;
    manifest.publisher = PublisherKey::from_secret_key(secret);
    pack(&manifest, parsed.module(), secret).expect("packs")
}

/// Polls `elastos list --json` until `predicate` holds of its text.
fn wait_for_list(
    qemu: &Qemu,
    what: &str,
    predicate: impl Fn(&str) -> bool,
) -> Result<String, Error> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let (text, status) = elastos(qemu, "list --json")?;
        assert_eq!(status, 0, "{text}");
        if predicate(&text) {
            return Ok(text);
        }
        assert!(Instant::now() < deadline, "`elastos list` never showed {what}: {text}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The JSON object of `name` in `elastos list --json`'s text, compact.
fn entry(list: &str, name: &str) -> Option<String> {
    fn find(value: &serde_json::Value, name: &str) -> Option<String> {
        match value {
            serde_json::Value::Object(object) => {
                if object.get("name").and_then(|value| value.as_str()) == Some(name) {
                    return Some(value.to_string());
                }
                object.values().find_map(|value| find(value, name))
            }
            serde_json::Value::Array(items) => items.iter().find_map(|value| find(value, name)),
            _ => None,
        }
    }
    let start = list.find('{')?;
    find(&serde_json::from_str(&list[start..]).ok()?, name)
}

/// How many dapps `elastos list --json` lists.
fn dapp_count(list: &str) -> usize {
    list.matches("\"publisher\"").count()
}

/// The `body=` field the host peer prints for a message of `text`:
/// printable ASCII without spaces as it is, anything else in hex.
fn body(text: &str) -> String {
    if text.bytes().all(|byte| byte.is_ascii_graphic()) && !text.starts_with("hex=") {
        format!("body={text}")
    } else {
        let digits: String = text.bytes().map(|byte| format!("{byte:02x}")).collect();
        format!("body=hex={digits}")
    }
}

fn options(name: &str, disk: &Path, bootstrap: Vec<String>) -> SystemOptions {
    SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: name.into(),
        disk: Some(disk.to_path_buf()),
        bootstrap,
        // netvm's PeerId is read from its console lines.
        verbose: true,
        ..SystemOptions::default()
    }
}

#[test]
fn a_person_installs_runs_and_keeps_dapps() -> Result<(), Error> {
    let (mut host, host_id, host_port) =
        Peer::start_listening(11, Duration::from_millis(2000), STEP_TIMEOUT)?;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let disk = folder.path().join("elastos-disk.img");
    let key = example_key();
    let chat = package("chat")?;
    let mut truncated = chat.clone();
    truncated.truncate(chat.len() / 2);
    let mut tampered = chat.clone();
    let last = tampered.len() - 7;
    tampered[last] ^= 0x20;
    let mut unsigned = chat.clone();
    unsigned[116..180].fill(0);
    let flood = format!(
        r#"(module
            (import "elastos" "message_send" (func $send (param i32 i32 i32 i32 i32 i32) (result i64)))
            (memory (export "memory") 1)
            (data (i32.const 0) "{host_id}")
            (data (i32.const 100) "host")
            (func (export "elastos_main")
              (loop $again
                (drop (call $send (i32.const 0) (i32.const {}) (i32.const 100) (i32.const 4) (i32.const 100) (i32.const 4)))
                (br $again))))"#,
        host_id.len()
    );
    let server = serve(vec![
        ("chat.elastos".into(), chat.clone()),
        ("notes.elastos".into(), package("notes")?),
        ("truncated.elastos".into(), truncated),
        ("tampered.elastos".into(), tampered),
        ("unsigned.elastos".into(), unsigned),
        ("resigned.elastos".into(), resigned(&chat)),
        ("older.elastos".into(), chat_as(Version::new(0, 9, 0), &key)),
        ("stranger.elastos".into(), chat_as(Version::new(2, 0, 0), &[0x77; 32])),
        ("garbage.elastos".into(), b"this is not a package at all".repeat(40)),
        ("oversized.elastos".into(), oversized(&chat)),
        (
            "loop.elastos".into(),
            hostile("loop", r#"(module (func (export "elastos_main") (loop $l (br $l))))"#, &[]),
        ),
        (
            "grow.elastos".into(),
            hostile(
                "grow",
                r#"(module (memory 1) (func (export "elastos_main")
                    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
                    unreachable))"#,
                &[],
            ),
        ),
        (
            "trap.elastos".into(),
            hostile("trap", r#"(module (func (export "elastos_main") unreachable))"#, &[]),
        ),
        (
            "wild.elastos".into(),
            hostile(
                "wild",
                r#"(module (import "elastos" "log" (func $log (param i32 i32 i32) (result i32)))
                    (memory 1)
                    (func (export "elastos_main")
                      (drop (call $log (i32.const 2) (i32.const 0x7ffffff0) (i32.const 4096)))))"#,
                &[Capability::Log],
            ),
        ),
        ("flood.elastos".into(), hostile("flood", &flood, &[Capability::Message])),
    ]);
    let bootstrap = vec![format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}")];
    let artifacts = artifacts()?;

    // First boot: a fresh disk.
    let system = boot(&artifacts, &options("dapps", &disk, bootstrap.clone()))?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    wait_for_network(qemu)?;
    let netvm = qemu.wait_for_source("netvm", "p2p: listening on /ip4/", 1, START_TIMEOUT)?;
    let netvm_id = netvm_peer_id(&netvm).expect("netvm prints its PeerId");
    let peer_field = format!("peer={netvm_id}");
    host.wait_for_event("identified", &[&peer_field], START_TIMEOUT)?;

    // Install from the shell: wget, then elastos install.
    for name in ["chat", "notes"] {
        let fetched = download(qemu, &server, &format!("{name}.elastos"))?;
        assert!(fetched.ends_with("wget=0"), "{fetched}");
        let (text, status) = elastos(qemu, &format!("install /tmp/{name}.elastos"))?;
        assert_eq!(status, 0, "{text}");
        assert!(text.contains(&format!("installed {name} 1.0.0")), "{text}");
    }
    let (list, status) = elastos(qemu, "list")?;
    assert_eq!(status, 0, "{list}");
    assert!(
        list.contains("chat") && list.contains("notes") && list.contains("installed"),
        "{list}"
    );

    // Start both; each runs alone in an app VM.
    for name in ["chat", "notes"] {
        let (text, status) = elastos(qemu, &format!("start {name}"))?;
        assert_eq!(status, 0, "{text}");
    }
    wait_for_list(qemu, "chat and notes running", |list| {
        entry(list, "chat").is_some_and(|chat| chat.contains("running"))
            && entry(list, "notes").is_some_and(|notes| notes.contains("running"))
    })?;
    let (again, status) = elastos(qemu, "start chat")?;
    assert_ne!(status, 0, "a running dapp cannot start twice: {again}");
    assert!(again.contains("already running"), "{again}");

    // The host peer talks to chat through netvm: chat echoes, and sends
    // when asked.
    host.command(&format!("send {netvm_id} chat hello-chat"))?;
    host.wait_for_event("receipt", &[&peer_field, "status=delivered"], STEP_TIMEOUT)?;
    let echo = host.wait_for_event(
        "message",
        &[&peer_field, "sender=chat", "recipient=host"],
        STEP_TIMEOUT,
    )?;
    assert!(echo.ends_with(&body("echo: hello-chat")), "{echo}");
    host.command(&format!("send {netvm_id} chat send {host_id} host from-chat"))?;
    let sent = host.wait_for_event(
        "message",
        &[&peer_field, "sender=chat", "body=from-chat"],
        STEP_TIMEOUT,
    )?;
    assert!(sent.contains("from-chat"), "{sent}");
    // An application nobody runs is unknown.
    host.command(&format!("send {netvm_id} nobody hi"))?;
    host.wait_for_event("receipt", &[&peer_field, "status=unknown-recipient"], STEP_TIMEOUT)?;

    // notes keeps what peers tell it in the store.
    for text in ["add buy milk", "add call home", "count"] {
        host.command(&format!("send {netvm_id} notes {text}"))?;
    }
    let two = body("2 notes");
    let count =
        host.wait_for_event("message", &[&peer_field, "sender=notes", &two], STEP_TIMEOUT)?;
    assert!(count.ends_with(&two), "{count}");
    let (logs, status) = elastos(qemu, "logs chat")?;
    assert_eq!(status, 0, "{logs}");
    assert!(logs.contains("chat: started"), "{logs}");
    assert!(logs.contains("receipt for message"), "{logs}");

    // Bad packages: each refused with its reason; nothing installed is lost.
    let refusals = [
        ("truncated", "package refused"),
        ("tampered", "package refused"),
        ("unsigned", "package refused"),
        ("resigned", "package refused"),
        ("older", "older than the installed version"),
        ("stranger", "another publisher"),
        ("garbage", "package refused"),
        ("oversized", "may be at most"),
    ];
    for (name, reason) in refusals {
        let fetched = download(qemu, &server, &format!("{name}.elastos"))?;
        assert!(fetched.ends_with("wget=0"), "{fetched}");
        let (text, status) = elastos(qemu, &format!("install /tmp/{name}.elastos"))?;
        assert_ne!(status, 0, "{name} was accepted: {text}");
        assert!(text.starts_with("elastos: install: "), "{name}: {text}");
        assert!(text.contains(reason), "{name}: {text}");
        assert_eq!(text.lines().count(), 1, "{name}: one line: {text}");
    }
    let (missing, status) = elastos(qemu, "install /tmp/no-such-file.elastos")?;
    assert_ne!(status, 0, "{missing}");
    let list = wait_for_list(qemu, "the same two dapps", |list| {
        entry(list, "chat").is_some_and(|chat| chat.contains("\"version\":\"1.0.0\""))
            && entry(list, "notes").is_some()
    })?;
    assert_eq!(dapp_count(&list), 2, "{list}");

    // Misbehaving dapps are stopped alone, with the reason; chat answers on.
    let hostile_dapps = [
        ("loop", "cpu budget"),
        ("grow", "out of memory"),
        ("trap", "trap"),
        ("wild", "host API violation"),
        ("flood", "message flood"),
    ];
    for (name, reason) in hostile_dapps {
        download(qemu, &server, &format!("{name}.elastos"))?;
        let (text, status) = elastos(qemu, &format!("install /tmp/{name}.elastos"))?;
        assert_eq!(status, 0, "{text}");
        let _ = elastos(qemu, &format!("start {name}"))?;
        let list = wait_for_list(qemu, &format!("{name} failed"), |list| {
            entry(list, name).is_some_and(|entry| entry.contains("failed"))
        })?;
        let failed = entry(&list, name).unwrap_or_default();
        let failed = failed.to_lowercase();
        assert!(failed.contains(&reason.to_lowercase()), "{name}: {failed}");
        assert!(entry(&list, "chat").is_some_and(|chat| chat.contains("running")), "{list}");
        let (text, status) = elastos(qemu, &format!("remove {name}"))?;
        assert_eq!(status, 0, "{text}");
        let before = host.count_events("message", &[&peer_field, "sender=chat"]);
        host.command(&format!("send {netvm_id} chat still-there-{name}"))?;
        host.wait_for_events("message", &[&peer_field, "sender=chat"], before + 1, STEP_TIMEOUT)?;
    }
    let (status_text, status) = elastos(qemu, "status")?;
    assert_eq!(status, 0, "{status_text}");
    assert!(status_text.contains("netvm") && status_text.contains("running"), "{status_text}");
    // The node's DID document, for the DID `status` shows.
    let (identity, status) = elastos(qemu, "identity --json")?;
    assert_eq!(status, 0, "{identity}");
    let start = identity.find('{').expect("a JSON document");
    let identity: serde_json::Value = serde_json::from_str(&identity[start..]).expect("JSON");
    let did = identity["did"].as_str().expect("a DID");
    assert!(did.starts_with("did:key:z6Mk") && status_text.contains(did), "{identity}");
    assert_eq!(identity["document"]["id"].as_str(), Some(did), "{identity}");

    // Stop and remove chat; notes runs on.
    let (text, status) = elastos(qemu, "stop chat")?;
    assert_eq!(status, 0, "{text}");
    let (text, status) = elastos(qemu, "remove chat")?;
    assert_eq!(status, 0, "{text}");
    let (text, status) = elastos(qemu, "remove chat")?;
    assert_ne!(status, 0, "{text}");
    assert!(text.contains("not found") || text.contains("no dapp"), "{text}");
    host.command(&format!("send {netvm_id} chat gone"))?;
    host.wait_for_event("receipt", &[&peer_field, "status=unknown-recipient"], STEP_TIMEOUT)?;
    run(qemu, "sync", STEP_TIMEOUT)?;
    qemu.write_console(b"poweroff -f\n")?;
    qemu.wait_exit(STEP_TIMEOUT)?;
    drop(system);

    // Second boot, same disk: notes is still installed, starts again by
    // itself, and its notes are intact; chat stays removed.
    let system = boot(&artifacts, &options("dapps-again", &disk, bootstrap.clone()))?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    wait_for_network(qemu)?;
    let list = wait_for_list(qemu, "notes running again", |list| {
        entry(list, "notes").is_some_and(|notes| notes.contains("running"))
    })?;
    assert!(entry(&list, "chat").is_none(), "{list}");
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let (logs, _) = elastos(qemu, "logs notes")?;
        if logs.contains("notes: 2 notes stored") {
            break;
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_secs(1));
    }

    // Power is cut while an install and notes' writes are under way.
    for number in 0..20 {
        host.command(&format!("send {netvm_id} notes add note-{number}"))?;
    }
    download(qemu, &server, "chat.elastos")?;
    qemu.write_console(b"elastos install /tmp/chat.elastos\n")?;
    // A different moment at every run; printed, so a failure can be replayed.
    let nanoseconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let cut = Duration::from_millis(u64::from(nanoseconds % 1500));
    eprintln!("cutting the power {} ms after the install began", cut.as_millis());
    std::thread::sleep(cut);
    qemu.kill();
    drop(system);

    // Third boot: the store opens; chat is wholly installed or not at all;
    // notes has its first two notes and some of the twenty.
    let system = boot(&artifacts, &options("dapps-after-cut", &disk, bootstrap))?;
    let qemu = &system.qemu;
    wait_for_shell(qemu)?;
    let list = wait_for_list(qemu, "notes running after the cut", |list| {
        entry(list, "notes").is_some_and(|notes| notes.contains("running"))
    })?;
    if entry(&list, "chat").is_some() {
        let (text, status) = elastos(qemu, "start chat")?;
        assert_eq!(status, 0, "a chat installed before the cut is whole: {text}");
    }
    let chainvm = elastos_tests::qemu::source_text(&qemu.console(), "chainvm");
    assert!(!chainvm.contains("not usable"), "{chainvm}");
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let (logs, _) = elastos(qemu, "logs notes")?;
        let stored = logs
            .lines()
            .filter_map(|line| {
                line.split("notes: ").nth(1)?.strip_suffix(" notes stored")?.parse::<u32>().ok()
            })
            .next_back();
        if let Some(stored) = stored {
            assert!((2..=22).contains(&stored), "{logs}");
            break;
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}
