//! `p2p-peer`: a host libp2p peer on rust-libp2p, for netvm's interop tests and benchmarks.
//!
//! It speaks what netvm speaks: TCP, Noise XX with ed25519 keys, yamux, identify
//! (protocol version `/elastos/1.0.0`), ping, and Elastos messages on `/elastos/msg/1.0.0`
//! ([`message`]).
//!
//! ```text
//! p2p-peer [--listen MULTIADDR]... [--dial MULTIADDR]... [--name NAME] [--key-seed N]
//!          [--ping-interval-ms N] [--agent STRING]
//! ```
//!
//! It prints one event a line on standard output, flushed at once: a first word naming
//! the event, then `key=value` fields whose values hold no spaces, so tests can split a line
//! at its spaces. Binary values (message bodies, names) print as themselves when they are
//! printable ASCII without spaces, otherwise as `hex=` and hexadecimal digits.
//!
//! ```text
//! peer-id 12D3KooW...
//! listening /ip4/127.0.0.1/tcp/34567/p2p/12D3KooW...
//! connected peer=12D3... endpoint=dialer|listener address=/ip4/...
//! identified peer=12D3... protocol-version=... agent=... protocols=/ipfs/id/1.0.0,... listen=/ip4/...,/ip4/... observed=/ip4/...
//! ping peer=12D3... rtt-us=1234
//! ping-failure peer=12D3... error=timeout|unsupported|other:...
//! message peer=12D3... id=7 sender=app recipient=host length=5 body=hello
//! refused peer=12D3... id=7 recipient=app status=unknown-recipient|too-large
//! receipt peer=12D3... id=7 status=delivered|unknown-recipient|unavailable|too-large|busy
//! request-failure peer=12D3... id=7 error=dial-failure|timeout|connection-closed|unsupported-protocols|io:...
//! closed peer=12D3... cause=graceful|keep-alive-timeout|io:...
//! sent peer=12D3... count=N bytes=B elapsed-us=U receipts-delivered=D
//! error free text, on one line
//! ```
//!
//! It reads commands from standard input, one a line ([`command`]); `quit` or the end of
//! standard input stops it with status 0:
//!
//! ```text
//! dial MULTIADDR
//! send PEER RECIPIENT TEXT
//! send-many PEER RECIPIENT LENGTH COUNT WINDOW
//! quit
//! ```
//!
//! Messages addressed to `--name` are printed and answered `delivered`; others are
//! answered `unknown-recipient` (or `too-large`) and printed as `refused`.

pub mod arguments;
pub mod command;
pub mod fields;
pub mod message;
pub mod node;
