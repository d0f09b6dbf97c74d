//! netvm as a libp2p node, against the real thing: a host program built on
//! rust-libp2p (`tools/p2p-peer`) is dialed by netvm (a bootstrap peer) and
//! dials netvm (through a QEMU port forward); both directions complete
//! Noise, yamux, identify and ping. Through those connections the host peer
//! and the `chat` example dapp, installed and started from Linux's shell,
//! exchange `/elastos/msg/1.0.0` messages with receipts.

use std::time::{Duration, Instant};

use elastos_tests::dapps::{self, elastos};
use elastos_tests::peer::{field, free_port, netvm_peer_id, Peer};
use elastos_tests::shell::wait_for_shell;
use elastos_tests::system::LINUX_COMMAND_LINE;
use elastos_tests::{artifacts, boot, Error, Qemu, SystemOptions};

/// How long netvm may take to start its node and get an address.
/// What Linux's DHCP script prints when it applied a lease.
const LEASE_LINE: &str = "elastos: eth0 has ";
/// How long Linux may take to get its lease once its shell is up.
const LEASE_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection, an identify or a ping may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The port netvm listens on (the manifest's default).
const NETVM_PORT: u16 = 4001;

/// Installs the `chat` example from Linux's shell and starts it.
fn start_chat(qemu: &Qemu) -> Result<(), Error> {
    // The package comes over Linux's network, once it has its lease.
    qemu.wait_for_source("linux", LEASE_LINE, 1, LEASE_TIMEOUT)?;
    let server = dapps::serve_packages(&["chat"])?;
    let downloaded = dapps::download(qemu, &server, "chat.elastos")?;
    assert!(downloaded.contains("wget=0"), "{downloaded}");
    let (output, status) = elastos(qemu, "install /tmp/chat.elastos")?;
    assert_eq!(status, 0, "{output}");
    let (output, status) = elastos(qemu, "start chat")?;
    assert_eq!(status, 0, "{output}");
    Ok(())
}

/// Waits until `elastos logs chat` shows `line`; returns the logs.
fn wait_for_chat_log(qemu: &Qemu, line: &str) -> Result<String, Error> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let (logs, status) = elastos(qemu, "logs chat")?;
        assert_eq!(status, 0, "{logs}");
        if logs.contains(line) {
            return Ok(logs);
        }
        assert!(Instant::now() < deadline, "chat never logged `{line}`:\n{logs}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn netvm_and_a_rust_libp2p_peer_interoperate_both_ways() -> Result<(), Error> {
    let (mut host, host_id, host_port) =
        Peer::start_listening(7, Duration::from_millis(2000), STEP_TIMEOUT)?;
    let forwarded = free_port();
    let artifacts = artifacts()?;
    let options = SystemOptions {
        default_system: true,
        elastos: true,
        linux_command_line: Some(LINUX_COMMAND_LINE.into()),
        name: "p2p".into(),
        netdev: Some(format!("user,id=net0,hostfwd=tcp:127.0.0.1:{forwarded}-:{NETVM_PORT}")),
        // From the guests, QEMU's gateway 10.0.2.2 is the host's loopback.
        bootstrap: vec![format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}")],
        // netvm's lines say who it is and what it connected to.
        verbose: true,
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;

    // netvm prints its PeerId (which chainvm's node key gives it) and
    // where it listens; it dials the host peer, which learns the PeerId
    // whole (a console line may still be cut off by another VM's).
    let prefix = format!("p2p: listening on /ip4/10.0.2.15/tcp/{NETVM_PORT}/p2p/");
    qemu.wait_for_source("netvm", &prefix, 1, START_TIMEOUT)?;
    let connected = host.wait_for_event("connected", &["endpoint=listener"], STEP_TIMEOUT)?;
    let netvm_id = field(&connected, "peer").expect("`connected peer=ID`").to_string();
    assert!(netvm_id.starts_with("12D3KooW"), "{netvm_id}");
    let netvm = qemu.wait_for_source("netvm", &format!("{prefix}{netvm_id}"), 1, START_TIMEOUT)?;
    assert_eq!(netvm_peer_id(&netvm).as_deref(), Some(netvm_id.as_str()), "{netvm}");
    // netvm dials the host peer: the host sees it as a listener, and each
    // side identifies the other and gets pings through.
    let peer_field = format!("peer={netvm_id}");
    host.wait_for_event("connected", &[&peer_field, "endpoint=listener"], STEP_TIMEOUT)?;
    let identified = host.wait_for_event("identified", &[&peer_field], STEP_TIMEOUT)?;
    assert!(field(&identified, "agent").is_some_and(|agent| agent.starts_with("elastos-netvm/")));
    let protocols = field(&identified, "protocols").unwrap_or_default();
    for protocol in ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/elastos/msg/1.0.0"] {
        assert!(protocols.split(',').any(|listed| listed == protocol), "{identified}");
    }
    assert_eq!(field(&identified, "protocol-version"), Some("/elastos/1.0.0"), "{identified}");
    host.wait_for_event("ping", &[&peer_field], STEP_TIMEOUT)?;
    let dialed = format!("p2p: connected to {host_id} (dialed");
    qemu.wait_for_source("netvm", &dialed, 1, STEP_TIMEOUT)?;
    let identified_by_netvm = format!("p2p: identified {host_id} agent=p2p-peer/");
    qemu.wait_for_source("netvm", &identified_by_netvm, 1, STEP_TIMEOUT)?;
    qemu.wait_for_source("netvm", &format!("p2p: ping {host_id} rtt="), 1, STEP_TIMEOUT)?;

    // The host peer dials netvm through the port forward: a second
    // connection, accepted by netvm.
    host.command(&format!("dial /ip4/127.0.0.1/tcp/{forwarded}/p2p/{netvm_id}"))?;
    host.wait_for_event("connected", &[&peer_field, "endpoint=dialer"], STEP_TIMEOUT)?;
    // On this connection too, the host peer identifies netvm and pings it.
    host.wait_for_events("identified", &[&peer_field], 2, STEP_TIMEOUT)?;
    let pings = host.count_events("ping", &[]);
    host.wait_for_events("ping", &[&peer_field], pings + 2, STEP_TIMEOUT)?;
    let accepted = format!("p2p: connected to {host_id} (accepted");
    qemu.wait_for_source("netvm", &accepted, 1, STEP_TIMEOUT)?;
    qemu.wait_for_source("netvm", &identified_by_netvm, 2, STEP_TIMEOUT)?;

    // chat, installed and started from Linux's shell, registers its name
    // with netvm. A message from the host peer to it: delivered, with a
    // receipt, and chat's echo comes back to the host peer with one too.
    wait_for_shell(qemu)?;
    start_chat(qemu)?;
    let delivered = [peer_field.as_str(), "status=delivered"];
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        // chat's app VM registers its name with netvm once the dapp runs: a
        // message sent before that finds no recipient.
        let seen = host.count_events("receipt", &[&peer_field]);
        host.command(&format!("send {netvm_id} chat hello-chat"))?;
        let receipt = host.wait_for_new_event("receipt", &[&peer_field], seen, STEP_TIMEOUT)?;
        if field(&receipt, "status") == Some("delivered") {
            break;
        }
        assert_eq!(field(&receipt, "status"), Some("unknown-recipient"), "{receipt}");
        assert!(Instant::now() < deadline, "chat never registered: {receipt}");
        std::thread::sleep(Duration::from_secs(1));
    }
    let reply = host.wait_for_event(
        "message",
        &[&peer_field, "sender=chat", "recipient=host"],
        STEP_TIMEOUT,
    )?;
    assert_eq!(field(&reply, "length"), Some("16"), "`echo: hello-chat`: {reply}");
    let logs = wait_for_chat_log(qemu, "chat: receipt for message 0: delivered")?;
    assert!(logs.contains(&format!("chat: 10 bytes from host on {host_id}")), "{logs}");
    assert_eq!(host.count_events("receipt", &delivered), 1);

    // chat sends on request: `send PEER APP TEXT` makes it message the host
    // peer's application `host` with TEXT.
    host.command(&format!("send {netvm_id} chat send {host_id} host from-chat"))?;
    host.wait_for_events("receipt", &delivered, 2, STEP_TIMEOUT)?;
    let fields = [peer_field.as_str(), "sender=chat", "recipient=host"];
    let sent = host.wait_for_events("message", &fields, 2, STEP_TIMEOUT)?;
    assert_eq!(field(&sent, "length"), Some("9"), "`from-chat`: {sent}");
    wait_for_chat_log(qemu, "chat: receipt for message 1: delivered")?;

    // A message for an application netvm does not serve.
    let unknown = [peer_field.as_str(), "status=unknown-recipient"];
    let seen = host.count_events("receipt", &unknown);
    host.command(&format!("send {netvm_id} nobody hi"))?;
    host.wait_for_new_event("receipt", &unknown, seen, STEP_TIMEOUT)?;
    Ok(())
}
