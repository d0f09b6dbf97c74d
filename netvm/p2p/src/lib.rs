//! netvm's libp2p protocols, written without I/O: every part takes the
//! bytes that arrived and gives back the bytes to send, so the same code
//! runs on netvm's TCP sockets and in host tests that join two nodes with
//! a pair of buffers.
//!
//! The wire formats are libp2p's, as its specifications give them:
//! [`varint`] (unsigned varint), [`protobuf`] (the few messages libp2p
//! uses), [`identity`] (ed25519 keys and PeerIds), [`multiaddr`],
//! [`multistream`] (multistream-select 1.0), [`noise`] (Noise XX with the
//! libp2p handshake payload), [`yamux`], [`identify`] and [`ping`]. On top
//! of them [`message`] is the `/elastos/msg/1.0.0` request and receipt.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod connection;
pub mod identify;
pub mod identity;
pub mod message;
pub mod multiaddr;
pub mod multistream;
pub mod noise;
pub mod ping;
pub mod protobuf;
pub mod varint;
pub mod yamux;
