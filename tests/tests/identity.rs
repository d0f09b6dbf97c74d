//! The node's identity, held by chainvm: netvm's PeerId is chainvm's key,
//! the same after a restart of netvm and of the machine with the same disk, and another
//! with a fresh disk, as the rust-libp2p host peer sees it; `elastos status`
//! in Linux shows the node's DID, the `did:key` of that same key; and the
//! key's secret is in chainvm's memory and no other VM's (read through the
//! gdbstub); dapps get signatures the host verifies, under the node key and
//! their own, and a person approves and denies signing requests from
//! Linux's shell.

use std::path::Path;
use std::time::Duration;

use elastos_package::{
    pack, Approval, Capabilities, Capability, Limits, Manifest, PublisherKey, RestartPolicy,
    SignKeys, SignPolicy, Version,
};
use elastos_tests::dapps::{self, elastos};
use elastos_tests::peer::{field, Peer};
use elastos_tests::shell::wait_for_shell;
use elastos_tests::system::{the_system, LINUX_COMMAND_LINE};
use elastos_tests::{artifacts, boot, Error, Qemu, SystemOptions};
use sha2::{Digest, Sha256};

/// How long a connection may take (netvm must boot, get its address and
/// its key from chainvm first).
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

fn options(name: &str, disk: Option<&Path>, bootstrap: &str) -> SystemOptions {
    SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: name.into(),
        disk: disk.map(Path::to_path_buf),
        bootstrap: vec![bootstrap.to_string()],
        ..SystemOptions::default()
    }
}

/// The PeerId of the `seen`-th netvm connection the host peer accepts (0
/// for the first).
fn next_netvm_peer_id(host: &Peer, seen: usize) -> Result<String, Error> {
    let line = host.wait_for_new_event("connected", &["endpoint=listener"], seen, STEP_TIMEOUT)?;
    Ok(field(&line, "peer").expect("`connected peer=ID`").to_string())
}

/// The ed25519 public key a PeerId of the identity multihash names.
fn peer_id_key(peer_id: &str) -> [u8; 32] {
    let bytes = base58_decode(peer_id);
    // identity multihash (0x00, length 36) of the protobuf {Type: Ed25519, Data: 32 bytes}.
    assert_eq!(bytes[..6], [0x00, 0x24, 0x08, 0x01, 0x12, 0x20], "{peer_id}");
    bytes[6..].try_into().expect("32 bytes of key")
}

/// The ed25519 public key of a `did:key`.
fn did_key(did: &str) -> [u8; 32] {
    let bytes = base58_decode(did.strip_prefix("did:key:z").expect("a did:key"));
    assert_eq!(bytes[..2], [0xed, 0x01], "{did}");
    bytes[2..].try_into().expect("32 bytes of key")
}

fn base58_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut number: Vec<u8> = Vec::new();
    for character in text.bytes() {
        let mut carry =
            ALPHABET.iter().position(|&digit| digit == character).expect("base58") as u32;
        for byte in number.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            number.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&character| character == b'1').count();
    let mut bytes = vec![0u8; zeros];
    bytes.extend(number);
    bytes
}

/// The node's DID as `elastos status` shows it.
fn status_did(qemu: &Qemu) -> Result<String, Error> {
    wait_for_shell(qemu)?;
    let (status, code) = elastos(qemu, "status")?;
    assert_eq!(code, 0, "{status}");
    let did = status
        .split_whitespace()
        .find(|word| word.starts_with("did:key:z"))
        .unwrap_or_else(|| panic!("`elastos status` shows no did:key: {status}"));
    Ok(did.to_string())
}

/// The node's secret key, read from chainvm's key file on the disk image
/// (its magic, format version and algorithm, and a checksum that holds).
fn secret_on_disk(disk: &Path) -> [u8; 32] {
    let image = std::fs::read(disk).expect("the disk image reads");
    let file = image
        .windows(104)
        .find(|file| {
            file[..8] == *b"ELKY\x01\x01\x00\x00" && Sha256::digest(&file[..72])[..] == file[72..]
        })
        .expect("chainvm's key file is on its disk");
    file[8..40].try_into().expect("32 bytes")
}

#[test]
fn the_peer_id_is_chainvm_s_key_and_lasts_with_the_disk() -> Result<(), Error> {
    let (host, host_id, host_port) =
        Peer::start_listening(21, Duration::from_millis(2000), STEP_TIMEOUT)?;
    let bootstrap = format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let disk = folder.path().join("elastos-disk.img");
    let artifacts = artifacts()?;

    // First boot, on a blank disk: chainvm makes the key; netvm dials the
    // host peer as it.
    let system = boot(&artifacts, &options("identity", Some(&disk), &bootstrap))?;
    let first = next_netvm_peer_id(&host, 0)?;
    let did = status_did(&system.qemu)?;
    assert_eq!(peer_id_key(&first), did_key(&did), "PeerId {first} and DID {did}");
    let console = system.qemu.console();
    assert!(!console.contains("damaged"), "{console}");

    // netvm faults and restarts: it asks chainvm again and is the same peer.
    let symbols = system.artifacts.hypervisor_symbols()?;
    let netvm = the_system(&options("identity", None, &bootstrap)).machine_index("netvm");
    let mut gdb = system.qemu.gdb()?;
    gdb.set_physical_memory_mode(true)?;
    gdb.write_memory(symbols.address("VM_INJECT_FAULT")? + netvm.expect("netvm") as u64, &[1])?;
    gdb.detach()?;
    system
        .qemu
        .wait_for_console("vm netvm faulted (fault injected by the debugger)", STEP_TIMEOUT)?;
    let restarted = next_netvm_peer_id(&host, 1)?;
    assert_eq!(restarted, first, "the PeerId changed across a restart of netvm");
    system.qemu.write_console(b"poweroff -f\n")?;
    system.qemu.wait_exit(STEP_TIMEOUT)?;
    drop(system);

    // The same disk: the same PeerId and DID.
    let system = boot(&artifacts, &options("identity-again", Some(&disk), &bootstrap))?;
    let again = next_netvm_peer_id(&host, 2)?;
    assert_eq!(again, first, "the PeerId changed across a restart with the same disk");
    assert_eq!(status_did(&system.qemu)?, did);
    system.qemu.write_console(b"poweroff -f\n")?;
    system.qemu.wait_exit(STEP_TIMEOUT)?;
    drop(system);

    // A fresh disk: a new identity.
    let system = boot(&artifacts, &options("identity-fresh", None, &bootstrap))?;
    let fresh = next_netvm_peer_id(&host, 3)?;
    assert_ne!(fresh, first, "a fresh disk kept the old PeerId");
    assert_eq!(peer_id_key(&fresh), did_key(&status_did(&system.qemu)?));
    drop(system);

    // A damaged key file is reported, and no identity is made in its place.
    let mut image = std::fs::read(&disk).expect("the disk image reads");
    let secret = secret_on_disk(&disk);
    let at = image.windows(32).position(|window| window == secret).expect("the secret");
    image[at] ^= 0x01;
    std::fs::write(&disk, &image).expect("the disk image writes");
    let system = boot(&artifacts, &options("identity-damaged", Some(&disk), &bootstrap))?;
    wait_for_shell(&system.qemu)?;
    system.qemu.wait_for_source(
        "chainvm",
        "the node key in the store is damaged",
        1,
        STEP_TIMEOUT,
    )?;
    let (status, _) = elastos(&system.qemu, "status")?;
    assert!(!status.contains("did:key:"), "{status}");
    Ok(())
}

/// Whether `memory` holds `secret` anywhere. Any copy covers a whole
/// aligned 8-byte word, which is `secret[k..k + 8]` for one `k` below 8: the
/// memory is read a word at a time (a gibibyte of Linux's RAM is searched
/// quickly even in a debug build) and a candidate word is checked whole.
fn contains(memory: &[u8], secret: &[u8; 32]) -> bool {
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    let candidates: Vec<u64> = (0..8).map(|offset| word(&secret[offset..offset + 8])).collect();
    memory.chunks_exact(8).enumerate().any(|(index, chunk)| {
        let value = word(chunk);
        candidates.iter().enumerate().any(|(offset, &candidate)| {
            value == candidate
                && (index * 8)
                    .checked_sub(offset)
                    .and_then(|start| memory.get(start..start + 32))
                    .is_some_and(|copy| copy == secret)
        })
    })
}

#[test]
fn the_search_finds_the_secret_at_every_alignment() {
    let secret: [u8; 32] = std::array::from_fn(|index| index as u8 * 7 + 1);
    for at in 0..24 {
        let mut memory = vec![0u8; 96];
        memory[at..at + 32].copy_from_slice(&secret);
        assert!(contains(&memory, &secret), "at {at}");
        memory[at + 31] ^= 1;
        assert!(!contains(&memory, &secret), "a changed copy at {at}");
    }
}

#[test]
fn the_node_key_is_in_chainvm_s_memory_alone() -> Result<(), Error> {
    let (host, host_id, host_port) =
        Peer::start_listening(22, Duration::from_millis(2000), STEP_TIMEOUT)?;
    let bootstrap = format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let disk = folder.path().join("elastos-disk.img");
    let artifacts = artifacts()?;
    let options = options("identity-memory", Some(&disk), &bootstrap);
    let system = boot(&artifacts, &options)?;
    // The key was used: netvm handshook as it, Linux asked for the DID.
    next_netvm_peer_id(&host, 0)?;
    status_did(&system.qemu)?;
    let secret = secret_on_disk(&disk);

    let mut gdb = system.qemu.gdb()?;
    gdb.set_reply_timeout(Duration::from_secs(60));
    let mut found = Vec::new();
    for machine in the_system(&options).machines {
        let dump = folder.path().join(format!("{}.ram", machine.name));
        let command = format!(
            "pmemsave {:#x} {:#x} \"{}\"",
            machine.memory.base,
            machine.memory.size,
            dump.display()
        );
        let said = gdb.monitor_command(&command)?;
        let memory = std::fs::read(&dump)
            .unwrap_or_else(|error| panic!("`{command}` saved nothing ({error}): {said:?}"));
        assert_eq!(memory.len() as u64, machine.memory.size, "{}", machine.name);
        if contains(&memory, &secret) {
            found.push(machine.name);
        }
        std::fs::remove_file(&dump).expect("the dump is removed");
    }
    // Found where it is kept (the search works), and nowhere else.
    assert_eq!(found, ["chainvm"]);
    gdb.detach()?;
    Ok(())
}

/// Writes `tag`, a space and `length` bytes at `data` (in hex when `hex`)
/// as a log line; `status` logs an i32 as 4 little-endian bytes in hex.
const EMIT: &str = r#"
  (data (i32.const 32) "0123456789abcdef")
  (func $emit (param $tag i32) (param $data i32) (param $len i32) (param $hex i32)
    (local $i i32) (local $out i32) (local $byte i32)
    (i32.store8 (i32.const 4096) (local.get $tag))
    (i32.store8 (i32.const 4097) (i32.const 32))
    (local.set $out (i32.const 4098))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $byte (i32.load8_u (i32.add (local.get $data) (local.get $i))))
        (if (local.get $hex)
          (then
            (i32.store8 (local.get $out)
              (i32.load8_u (i32.add (i32.const 32) (i32.shr_u (local.get $byte) (i32.const 4)))))
            (i32.store8 (i32.add (local.get $out) (i32.const 1))
              (i32.load8_u (i32.add (i32.const 32) (i32.and (local.get $byte) (i32.const 15)))))
            (local.set $out (i32.add (local.get $out) (i32.const 2))))
          (else
            (i32.store8 (local.get $out) (local.get $byte))
            (local.set $out (i32.add (local.get $out) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (drop (call $log (i32.const 2) (i32.const 4096) (i32.sub (local.get $out) (i32.const 4096)))))
  (func $status (param $tag i32) (param $value i32)
    (i32.store (i32.const 3000) (local.get $value))
    (call $emit (local.get $tag) (i32.const 3000) (i32.const 4) (i32.const 1)))
  (func $signed (param $tag i32) (param $length i32)
    (if (i32.gt_s (local.get $length) (i32.const 0))
      (then (call $emit (local.get $tag) (i32.const 2000) (local.get $length) (i32.const 1)))))
"#;

const IMPORTS: &str = r#"
  (import "elastos" "identity" (func $identity (param i32 i32) (result i32)))
  (import "elastos" "sign" (func $sign (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "elastos" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "vote")
  (data (i32.const 16) "ballot-1")
"#;

/// Signs "ballot-1" as a "vote" with the node key (N) and its own (D), then
/// asks for a kind its policy lacks (K); logs its DID (I) and each status.
const SIGNER: &str = r#"
  (func (export "elastos_main") (local $n i32)
    (local.set $n (call $identity (i32.const 1000) (i32.const 256)))
    (call $status (i32.const 105) (local.get $n))
    (if (i32.gt_s (local.get $n) (i32.const 0))
      (then (call $emit (i32.const 73) (i32.const 1000) (local.get $n) (i32.const 0))))
    (local.set $n (call $sign (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 8) (i32.const 2000) (i32.const 128)))
    (call $status (i32.const 110) (local.get $n))
    (call $signed (i32.const 78) (local.get $n))
    (local.set $n (call $sign (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 8) (i32.const 2000) (i32.const 128)))
    (call $status (i32.const 100) (local.get $n))
    (call $signed (i32.const 68) (local.get $n))
    (local.set $n (call $sign (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 16) (i32.const 8) (i32.const 2000) (i32.const 128)))
    (call $status (i32.const 75) (local.get $n)))
"#;

/// Asks twice for a node signature that needs a person's approval; logs
/// each status (A, B) and the first signature (N).
const APPROVER: &str = r#"
  (func (export "elastos_main") (local $n i32)
    (local.set $n (call $sign (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 8) (i32.const 2000) (i32.const 128)))
    (call $status (i32.const 65) (local.get $n))
    (call $signed (i32.const 78) (local.get $n))
    (local.set $n (call $sign (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 8) (i32.const 2000) (i32.const 128)))
    (call $status (i32.const 66) (local.get $n)))
"#;

/// A package of dapp `name` running `body`, allowed to sign "vote" payloads.
fn signing_dapp(name: &str, body: &str, keys: SignKeys, approval: Approval) -> Vec<u8> {
    let secret = [0x42u8; 32];
    let manifest = Manifest {
        name: name.into(),
        version: Version::new(1, 0, 0),
        description: String::new(),
        publisher: PublisherKey::from_secret_key(&secret),
        entry: "elastos_main".into(),
        restart: RestartPolicy::Stop,
        capabilities: Capabilities::of(&[Capability::Log, Capability::Identity, Capability::Sign]),
        limits: Limits::DEFAULT,
        sign: Some(SignPolicy {
            keys,
            payload_kinds: vec!["vote".into()],
            per_minute: 60,
            approval,
        }),
    };
    let module = wat::parse_str(format!("(module {IMPORTS} {EMIT} {body})")).expect("valid text");
    pack(&manifest, &module, &secret).expect("the test's package packs")
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|index| u8::from_str_radix(&text[2 * index..2 * index + 2], 16).expect("hex"))
        .collect()
}

/// The value logged under `tag` by `dapp`, waiting for it.
fn logged(qemu: &Qemu, dapp: &str, tag: &str) -> Result<String, Error> {
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let (logs, _) = elastos(qemu, &format!("logs {dapp}"))?;
        let prefix = format!("info: {tag} ");
        if let Some(value) = logs.lines().find_map(|line| line.split(&prefix).nth(1)) {
            return Ok(value.trim().to_string());
        }
        assert!(std::time::Instant::now() < deadline, "{dapp} never logged {tag}: {logs}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A status logged under `tag`.
fn logged_status(qemu: &Qemu, dapp: &str, tag: &str) -> Result<i32, Error> {
    let bytes = hex_decode(&logged(qemu, dapp, tag)?);
    Ok(i32::from_le_bytes(bytes.try_into().expect("4 bytes")))
}

/// Checks a logged signature-and-DID over the test's vote; returns the DID.
fn check_signature(value: &str) -> String {
    let bytes = hex_decode(value);
    let signature = ed25519_dalek::Signature::from_bytes(bytes[..64].try_into().expect("64 bytes"));
    let did = String::from_utf8(bytes[64..].to_vec()).expect("a DID");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&did_key(&did)).expect("a key");
    let mut message = b"elastos-signature/v1\0\x04vote".to_vec();
    message.extend_from_slice(b"ballot-1");
    key.verify_strict(&message, &signature).expect("the host verifies chainvm's signature");
    assert!(key.verify_strict(b"ballot-1", &signature).is_err(), "not over the bare payload");
    did
}

/// The id of the first signing request `elastos requests` lists for `dapp`.
fn wait_for_request(qemu: &Qemu, dapp: &str) -> Result<u64, Error> {
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let (text, status) = elastos(qemu, "requests")?;
        assert_eq!(status, 0, "{text}");
        let found = text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?.parse().ok()?;
            (words.next()? == dapp && words.next()? == "sign").then_some(id)
        });
        if let Some(id) = found {
            return Ok(id);
        }
        assert!(std::time::Instant::now() < deadline, "no request of {dapp}: {text}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn dapps_get_signatures_the_host_verifies_and_a_person_approves_or_denies() -> Result<(), Error> {
    let server = dapps::serve(vec![
        (
            "signer.elastos".into(),
            signing_dapp("signer", SIGNER, SignKeys { node: true, dapp: true }, Approval::Never),
        ),
        (
            "approver.elastos".into(),
            signing_dapp(
                "approver",
                APPROVER,
                SignKeys { node: true, dapp: false },
                Approval::Always,
            ),
        ),
    ]);
    let artifacts = artifacts()?;
    let options = SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: "identity-signing".into(),
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;
    let node_did = status_did(qemu)?;
    dapps::wait_for_network(qemu)?;
    for name in ["signer", "approver"] {
        let downloaded = dapps::download(qemu, &server, &format!("{name}.elastos"))?;
        assert!(downloaded.contains("wget=0"), "{downloaded}");
        let (output, status) = elastos(qemu, &format!("install /tmp/{name}.elastos"))?;
        assert_eq!(status, 0, "{output}");
    }

    // Without approval: the node key's signature and the dapp's own, each
    // with the DID that verifies it; a kind outside the policy is denied.
    let (output, status) = elastos(qemu, "start signer")?;
    assert_eq!(status, 0, "{output}");
    assert_eq!(logged(qemu, "signer", "I")?, node_did);
    assert_eq!(check_signature(&logged(qemu, "signer", "N")?), node_did);
    let dapp_did = check_signature(&logged(qemu, "signer", "D")?);
    assert_ne!(dapp_did, node_did, "the dapp's key is its own");
    assert_eq!(logged_status(qemu, "signer", "K")?, -1, "a kind outside the policy is denied");

    // With approval: approved from the shell, then denied.
    let (output, status) = elastos(qemu, "start approver")?;
    assert_eq!(status, 0, "{output}");
    let first = wait_for_request(qemu, "approver")?;
    let (output, status) = elastos(qemu, &format!("approve {first}"))?;
    assert_eq!(status, 0, "{output}");
    assert!(output.contains(&format!("approved request {first}")), "{output}");
    assert_eq!(logged_status(qemu, "approver", "A")?, 64 + node_did.len() as i32);
    assert_eq!(check_signature(&logged(qemu, "approver", "N")?), node_did);
    let second = wait_for_request(qemu, "approver")?;
    assert_ne!(second, first);
    let (output, status) = elastos(qemu, &format!("deny {second}"))?;
    assert_eq!(status, 0, "{output}");
    assert_eq!(logged_status(qemu, "approver", "B")?, -1, "a denied request is refused");
    let (output, status) = elastos(qemu, &format!("approve {second}"))?;
    assert_ne!(status, 0, "a request answered already: {output}");

    // The audit log has every request: who, what digest, allowed or not.
    let (audit, status) = elastos(qemu, "audit")?;
    assert_eq!(status, 0, "{audit}");
    assert_eq!(
        audit.matches("signer sign: allowed: node key, kind vote, 8 bytes, sha256:").count(),
        1,
        "{audit}"
    );
    assert_eq!(audit.matches("signer sign: allowed: dapp key").count(), 1, "{audit}");
    assert!(audit.contains("signer sign: refused (payload kind not in the policy)"), "{audit}");
    assert!(audit.contains(&format!("approver approve: request {first} signed")), "{audit}");
    assert!(audit.contains(&format!("approver deny: request {second} refused")), "{audit}");
    Ok(())
}
