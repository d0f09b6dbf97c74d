//! The identify protocol (`/ipfs/id/1.0.0`, libp2p specification
//! identify/README.md): on a new stream the listener sends one `Identify`
//! protobuf describing itself and closes the stream. On the stream the
//! message is behind a varint length, at most [`MAXIMUM_MESSAGE_LENGTH`]
//! bytes as rust-libp2p allows; the connection code does that framing and
//! this module the message:
//!
//! ```protobuf
//! message Identify {
//!   optional string protocolVersion = 5;
//!   optional string agentVersion = 6;
//!   optional bytes publicKey = 1;
//!   repeated bytes listenAddrs = 2;
//!   optional bytes observedAddr = 4;
//!   repeated string protocols = 3;
//! }
//! ```
//!
//! Decoding is forgiving where peers differ: listen addresses with
//! protocols this crate does not know are skipped, a key that is not
//! ed25519 reads as no key, and unknown fields (such as rust-libp2p's
//! `signedPeerRecord = 8`) are read past.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::identity::PublicKey;
use crate::multiaddr::Multiaddr;
use crate::protobuf::{ProtobufError, Reader, Writer};

/// The protocol name negotiated with multistream-select.
pub const PROTOCOL: &str = "/ipfs/id/1.0.0";
/// The push variant: the sender pushes an `Identify` when its details
/// change.
pub const PUSH_PROTOCOL: &str = "/ipfs/id/push/1.0.0";
/// The longest `Identify` message rust-libp2p accepts.
pub const MAXIMUM_MESSAGE_LENGTH: usize = 4096;

/// `Identify.publicKey`.
const FIELD_PUBLIC_KEY: u32 = 1;
/// `Identify.listenAddrs`.
const FIELD_LISTEN_ADDRESSES: u32 = 2;
/// `Identify.protocols`.
const FIELD_PROTOCOLS: u32 = 3;
/// `Identify.observedAddr`.
const FIELD_OBSERVED_ADDRESS: u32 = 4;
/// `Identify.protocolVersion`.
const FIELD_PROTOCOL_VERSION: u32 = 5;
/// `Identify.agentVersion`.
const FIELD_AGENT_VERSION: u32 = 6;

/// Why bytes are not an `Identify` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyError {
    /// The protobuf is malformed: truncated, a field of the wrong wire
    /// type, or a string that is not UTF-8.
    Protobuf(ProtobufError),
}

impl core::fmt::Display for IdentifyError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Protobuf(error) => write!(formatter, "identify message: {error}"),
        }
    }
}

impl From<ProtobufError> for IdentifyError {
    fn from(error: ProtobufError) -> Self {
        Self::Protobuf(error)
    }
}

/// What a peer says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// The protocol family, such as `/ipfs/0.1.0` or `/elastos/1.0.0`.
    pub protocol_version: String,
    /// The implementation, such as `rust-libp2p/0.57.0`.
    pub agent_version: String,
    /// The peer's identity key; `None` if absent or not ed25519.
    pub public_key: Option<PublicKey>,
    /// The addresses the peer listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// The address the peer sees the other side of the connection at.
    pub observed_addr: Option<Multiaddr>,
    /// The protocols the peer accepts streams for.
    pub protocols: Vec<String>,
}

impl Info {
    /// The `Identify` protobuf, fields in number order. Empty version
    /// strings and absent values are left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        if let Some(public_key) = &self.public_key {
            writer.bytes(FIELD_PUBLIC_KEY, &public_key.encode_protobuf());
        }
        for address in &self.listen_addrs {
            writer.bytes(FIELD_LISTEN_ADDRESSES, &address.to_bytes());
        }
        for protocol in &self.protocols {
            writer.string(FIELD_PROTOCOLS, protocol);
        }
        if let Some(address) = &self.observed_addr {
            writer.bytes(FIELD_OBSERVED_ADDRESS, &address.to_bytes());
        }
        if !self.protocol_version.is_empty() {
            writer.string(FIELD_PROTOCOL_VERSION, &self.protocol_version);
        }
        if !self.agent_version.is_empty() {
            writer.string(FIELD_AGENT_VERSION, &self.agent_version);
        }
        writer.into_bytes()
    }

    /// Reads an `Identify` protobuf (without its length prefix).
    pub fn decode(bytes: &[u8]) -> Result<Self, IdentifyError> {
        let mut info = Self::default();
        let mut reader = Reader::new(bytes);
        while let Some((field, value)) = reader.next_field()? {
            match field {
                FIELD_PUBLIC_KEY => {
                    info.public_key = PublicKey::decode_protobuf(value.bytes(field)?).ok();
                }
                FIELD_LISTEN_ADDRESSES => {
                    if let Ok(address) = Multiaddr::from_bytes(value.bytes(field)?) {
                        info.listen_addrs.push(address);
                    }
                }
                FIELD_PROTOCOLS => info.protocols.push(value.string(field)?.to_string()),
                FIELD_OBSERVED_ADDRESS => {
                    info.observed_addr = Multiaddr::from_bytes(value.bytes(field)?).ok();
                }
                FIELD_PROTOCOL_VERSION => {
                    info.protocol_version = value.string(field)?.to_string();
                }
                FIELD_AGENT_VERSION => info.agent_version = value.string(field)?.to_string(),
                _ => {}
            }
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Keypair;
    use alloc::vec;
    use core::str::FromStr;
    use proptest::prelude::*;

    fn example() -> Info {
        Info {
            protocol_version: "/ipfs/0.1.0".to_string(),
            agent_version: "elastos-netvm/0.1.0".to_string(),
            public_key: Some(Keypair::from_secret([3; 32]).public()),
            listen_addrs: vec![
                Multiaddr::from_str("/ip4/10.0.2.15/tcp/4001").unwrap(),
                Multiaddr::from_str("/ip6/::1/tcp/4001").unwrap(),
            ],
            observed_addr: Some(Multiaddr::from_str("/ip4/192.0.2.7/tcp/50123").unwrap()),
            protocols: vec![
                "/ipfs/id/1.0.0".to_string(),
                "/ipfs/ping/1.0.0".to_string(),
                "/elastos/msg/1.0.0".to_string(),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let info = example();
        let encoded = info.encode();
        assert!(encoded.len() <= MAXIMUM_MESSAGE_LENGTH);
        assert_eq!(Info::decode(&encoded), Ok(info));
        assert_eq!(Info::decode(&Info::default().encode()), Ok(Info::default()));
        assert!(Info::default().encode().is_empty());
    }

    #[test]
    fn a_message_as_rust_libp2p_writes_it() {
        // Fields in the order of rust-libp2p's structs.proto, built by hand
        // from the specification's field numbers, with a signed peer record
        // (field 8) and a listen address over a transport this crate does not
        // know (/memory/1234, code 777) that must be skipped.
        let key = Keypair::from_secret([4; 32]).public();
        let mut message = Vec::new();
        let mut field = |number: u8, value: &[u8]| {
            message.push(number << 3 | 2);
            message.push(value.len() as u8);
            message.extend_from_slice(value);
        };
        field(5, b"/ipfs/0.1.0");
        field(6, b"rust-libp2p/0.57.0");
        field(1, &key.encode_protobuf());
        field(2, &[0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]);
        field(2, &[0x89, 0x06, 0, 0, 0, 0, 0, 0, 0x04, 0xd2]);
        field(
            2,
            &[
                0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x91, 0x02, 0x0f, 0xa1, 0xcc,
                0x03,
            ],
        );
        field(4, &[0x04, 10, 0, 2, 15, 0x06, 0xc3, 0x50]);
        field(3, b"/ipfs/id/1.0.0");
        field(3, b"/ipfs/ping/1.0.0");
        field(8, &[0x0a, 0x01, 0x00]);
        let info = Info::decode(&message).unwrap();
        assert_eq!(info.protocol_version, "/ipfs/0.1.0");
        assert_eq!(info.agent_version, "rust-libp2p/0.57.0");
        assert_eq!(info.public_key, Some(key));
        assert_eq!(
            info.listen_addrs,
            [
                Multiaddr::from_str("/ip4/127.0.0.1/tcp/4001").unwrap(),
                Multiaddr::from_str("/ip6/::1/udp/4001/quic").unwrap(),
            ]
        );
        assert_eq!(
            info.observed_addr,
            Some(Multiaddr::from_str("/ip4/10.0.2.15/tcp/50000").unwrap())
        );
        assert_eq!(info.protocols, ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
    }

    #[test]
    fn a_non_ed25519_key_reads_as_none() {
        let mut writer = Writer::new();
        // The specification's secp256k1 public key.
        writer.bytes(
            1,
            &[
                0x08, 0x02, 0x12, 0x21, 0x03, 0x77, 0x77, 0xe9, 0x94, 0xe4, 0x52, 0xc2, 0x16, 0x04,
                0xf9, 0x1d, 0xe0, 0x93, 0xce, 0x41, 0x5f, 0x54, 0x32, 0xf7, 0x01, 0xdd, 0x8c, 0xd1,
                0xa7, 0xa6, 0xfe, 0xa0, 0xe6, 0x30, 0xbf, 0xca, 0x99,
            ],
        );
        writer.string(6, "go-libp2p");
        let info = Info::decode(&writer.into_bytes()).unwrap();
        assert_eq!(info.public_key, None);
        assert_eq!(info.agent_version, "go-libp2p");
    }

    #[test]
    fn malformed_messages_are_refused() {
        let encoded = example().encode();
        assert_eq!(
            Info::decode(&encoded[..encoded.len() - 1]),
            Err(IdentifyError::Protobuf(ProtobufError::Truncated))
        );
        assert_eq!(
            Info::decode(&[0x2a, 0x01, 0xff]),
            Err(IdentifyError::Protobuf(ProtobufError::InvalidUtf8 { field: 5 }))
        );
        assert_eq!(
            Info::decode(&[0x18, 0x01]),
            Err(IdentifyError::Protobuf(ProtobufError::WrongWireType { field: 3 }))
        );
        assert_eq!(Info::decode(&[0x0b]), Err(IdentifyError::Protobuf(ProtobufError::Group)));
    }

    fn info_strategy() -> impl Strategy<Value = Info> {
        (
            "[ -~]{0,20}",
            "[ -~]{0,20}",
            proptest::option::of(any::<[u8; 32]>()),
            proptest::collection::vec((any::<[u8; 4]>(), any::<u16>()), 0..4),
            proptest::option::of((any::<[u8; 16]>(), any::<u16>())),
            proptest::collection::vec("/[a-z/0-9.]{1,20}", 0..5),
        )
            .prop_map(
                |(protocol_version, agent_version, secret, listen, observed, protocols)| Info {
                    protocol_version,
                    agent_version,
                    public_key: secret.map(|secret| Keypair::from_secret(secret).public()),
                    listen_addrs: listen
                        .into_iter()
                        .map(|(address, port)| {
                            Multiaddr::new()
                                .with(crate::multiaddr::Protocol::Ip4(address))
                                .with(crate::multiaddr::Protocol::Tcp(port))
                        })
                        .collect(),
                    observed_addr: observed.map(|(address, port)| {
                        Multiaddr::new()
                            .with(crate::multiaddr::Protocol::Ip6(address))
                            .with(crate::multiaddr::Protocol::Udp(port))
                            .with(crate::multiaddr::Protocol::QuicV1)
                    }),
                    protocols,
                },
            )
    }

    proptest! {
        #[test]
        fn every_info_round_trips(info in info_strategy()) {
            prop_assert_eq!(Info::decode(&info.encode()), Ok(info));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Info::decode(&bytes);
        }

        #[test]
        fn damaged_messages_never_panic(index in 0usize..400, byte in any::<u8>()) {
            let mut encoded = example().encode();
            let index = index % encoded.len();
            encoded[index] = byte;
            let _ = Info::decode(&encoded);
        }
    }
}
