//! The node's identity, held by chainvm: netvm's PeerId is chainvm's key,
//! the same after a restart of the machine with the same disk and another
//! with a fresh disk, as the rust-libp2p host peer sees it; `elastos status`
//! in Linux shows the node's DID, the `did:key` of that same key; and the
//! key's secret is in chainvm's memory and no other VM's (read through the
//! gdbstub).

use std::path::Path;
use std::time::Duration;

use elastos_tests::dapps::elastos;
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
    system.qemu.write_console(b"poweroff -f\n")?;
    system.qemu.wait_exit(STEP_TIMEOUT)?;
    drop(system);

    // The same disk: the same PeerId and DID.
    let system = boot(&artifacts, &options("identity-again", Some(&disk), &bootstrap))?;
    let again = next_netvm_peer_id(&host, 1)?;
    assert_eq!(again, first, "the PeerId changed across a restart with the same disk");
    assert_eq!(status_did(&system.qemu)?, did);
    system.qemu.write_console(b"poweroff -f\n")?;
    system.qemu.wait_exit(STEP_TIMEOUT)?;
    drop(system);

    // A fresh disk: a new identity.
    let system = boot(&artifacts, &options("identity-fresh", None, &bootstrap))?;
    let fresh = next_netvm_peer_id(&host, 2)?;
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
        if memory.windows(32).any(|window| window == secret) {
            found.push(machine.name);
        }
        std::fs::remove_file(&dump).expect("the dump is removed");
    }
    // Found where it is kept (the search works), and nowhere else.
    assert_eq!(found, ["chainvm"]);
    gdb.detach()?;
    Ok(())
}
