//! netvm as a libp2p node, against the real thing: a host program built on
//! rust-libp2p (`tools/p2p-peer`) is dialed by netvm (a bootstrap peer) and
//! dials netvm (through a QEMU port forward); both directions complete
//! Noise, yamux, identify and ping. Through those connections the host peer
//! and the app VM exchange `/elastos/msg/1.0.0` messages with receipts.

use std::time::Duration;

use elastos_tests::peer::{field, free_port, netvm_peer_id, Peer};
use elastos_tests::{artifacts, boot, Error, SystemOptions};

/// How long netvm may take to start its node and get an address.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection, an identify or a ping may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The port netvm listens on (the manifest's default).
const NETVM_PORT: u16 = 4001;

#[test]
fn netvm_and_a_rust_libp2p_peer_interoperate_both_ways() -> Result<(), Error> {
    let (mut host, host_id, host_port) =
        Peer::start_listening(7, Duration::from_millis(2000), STEP_TIMEOUT)?;
    let forwarded = free_port();
    let artifacts = artifacts()?;
    let options = SystemOptions {
        default_system: true,
        elastos: true,
        name: "p2p".into(),
        netdev: Some(format!("user,id=net0,hostfwd=tcp:127.0.0.1:{forwarded}-:{NETVM_PORT}")),
        // From the guests, QEMU's gateway 10.0.2.2 is the host's loopback.
        bootstrap: vec![format!("/ip4/10.0.2.2/tcp/{host_port}/p2p/{host_id}")],
        ..SystemOptions::default()
    };
    let system = boot(&artifacts, &options)?;
    let qemu = &system.qemu;

    // netvm prints who it is and where it listens.
    // (The line after the PeerId's shows that one is whole.)
    let netvm = qemu.wait_for_source("netvm", "p2p: listening on TCP port", 1, START_TIMEOUT)?;
    let netvm_id = netvm_peer_id(&netvm).expect("netvm prints its PeerId");
    assert!(netvm_id.starts_with("12D3KooW"), "{netvm_id}");
    let listening = format!("p2p: listening on /ip4/10.0.2.15/tcp/{NETVM_PORT}/p2p/{netvm_id}");
    qemu.wait_for_source("netvm", &listening, 1, START_TIMEOUT)?;

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

    // A message from the host peer to the app VM: delivered, with a receipt,
    // and the app's reply comes back to the host peer with one too.
    host.command(&format!("send {netvm_id} app hello-app"))?;
    host.wait_for_event("receipt", &[&peer_field, "status=delivered"], STEP_TIMEOUT)?;
    let received = format!("message from {host_id} (host): hello-app");
    qemu.wait_for_source("app", &received, 1, STEP_TIMEOUT)?;
    let reply = host.wait_for_event(
        "message",
        &[&peer_field, "sender=app", "recipient=host"],
        STEP_TIMEOUT,
    )?;
    assert_eq!(field(&reply, "length"), Some("16"), "`reply: hello-app`: {reply}");
    qemu.wait_for_source("app", "receipt for message 0: delivered", 1, STEP_TIMEOUT)?;

    // A message for an application netvm does not serve.
    host.command(&format!("send {netvm_id} nobody hi"))?;
    host.wait_for_event("receipt", &[&peer_field, "status=unknown-recipient"], STEP_TIMEOUT)?;
    Ok(())
}
