//! Multiaddrs, the self-describing addresses libp2p passes around:
//! `/ip4/10.0.2.2/tcp/4001/p2p/12D3KooW...` in text, and on the wire
//! (identify's listen and observed addresses) each component as its
//! multicodec varint followed by its value, with variable-length values
//! behind a varint length.
//!
//! The protocols here are the ones a TCP and QUIC libp2p node meets in
//! practice; an address containing any other fails to parse with
//! [`MultiaddrError::UnknownProtocol`] (identify skips such addresses).

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use crate::identity::{IdentityError, PeerId};
use crate::varint::{self, VarintError};

/// The longest name (`dns`, `dns4`, `dns6`, `dnsaddr`, `sni`) accepted: a
/// DNS name is at most 253 characters.
pub const MAXIMUM_NAME_LENGTH: usize = 255;

/// Multicodec numbers of the supported protocols.
mod code {
    pub const IP4: u64 = 4;
    pub const TCP: u64 = 6;
    pub const IP6: u64 = 41;
    pub const DNS: u64 = 53;
    pub const DNS4: u64 = 54;
    pub const DNS6: u64 = 55;
    pub const DNSADDR: u64 = 56;
    pub const UDP: u64 = 273;
    pub const WEBRTC_DIRECT: u64 = 280;
    pub const WEBRTC: u64 = 281;
    pub const P2P_CIRCUIT: u64 = 290;
    pub const P2P: u64 = 421;
    pub const HTTPS: u64 = 443;
    pub const TLS: u64 = 448;
    pub const SNI: u64 = 449;
    pub const NOISE: u64 = 454;
    pub const QUIC: u64 = 460;
    pub const QUIC_V1: u64 = 461;
    pub const WEBTRANSPORT: u64 = 465;
    pub const WS: u64 = 477;
    pub const WSS: u64 = 478;
    pub const HTTP: u64 = 480;
}

/// Why bytes or text are not a multiaddr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiaddrError {
    /// Text that does not start with `/`, or has an empty component.
    InvalidText,
    /// A protocol name this module does not know.
    UnknownProtocolName,
    /// A protocol that takes a value is the last component of the text.
    MissingValue,
    /// A value that does not fit its protocol: a bad address, port or
    /// name (empty, over [`MAXIMUM_NAME_LENGTH`], not UTF-8 or with `/`).
    InvalidValue,
    /// A multicodec this module does not know, so the length of its value
    /// is unknown too.
    UnknownProtocol(u64),
    /// The bytes end inside a component.
    Truncated,
    /// A code or length that is not a valid varint.
    Varint(VarintError),
    /// The `/p2p/` value is not a PeerId.
    InvalidPeerId(IdentityError),
}

impl core::fmt::Display for MultiaddrError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::InvalidText => write!(formatter, "multiaddr text must be /name/value/..."),
            Self::UnknownProtocolName => write!(formatter, "unknown multiaddr protocol name"),
            Self::MissingValue => write!(formatter, "multiaddr protocol lacks its value"),
            Self::InvalidValue => write!(formatter, "invalid multiaddr protocol value"),
            Self::UnknownProtocol(code) => write!(formatter, "unknown multiaddr protocol {code}"),
            Self::Truncated => write!(formatter, "multiaddr bytes end inside a component"),
            Self::Varint(error) => write!(formatter, "multiaddr {error}"),
            Self::InvalidPeerId(error) => write!(formatter, "multiaddr /p2p/ value: {error}"),
        }
    }
}

/// One component of a multiaddr.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Protocol {
    /// `/ip4/1.2.3.4`: an IPv4 address.
    Ip4([u8; 4]),
    /// `/ip6/::1`: an IPv6 address.
    Ip6([u8; 16]),
    /// `/tcp/4001`: a TCP port.
    Tcp(u16),
    /// `/udp/4001`: a UDP port.
    Udp(u16),
    /// `/dns/example.com`: a name resolving to IPv4 or IPv6 addresses.
    Dns(String),
    /// `/dns4/example.com`: a name resolving to IPv4 addresses.
    Dns4(String),
    /// `/dns6/example.com`: a name resolving to IPv6 addresses.
    Dns6(String),
    /// `/dnsaddr/example.com`: a name whose TXT records hold multiaddrs.
    Dnsaddr(String),
    /// `/p2p/12D3KooW...` (also read as `/ipfs/`): the peer's identity.
    P2p(PeerId),
    /// `/p2p-circuit`: a relayed connection.
    P2pCircuit,
    /// `/quic`: QUIC draft-29.
    Quic,
    /// `/quic-v1`: QUIC version 1 (RFC 9000).
    QuicV1,
    /// `/webtransport`.
    WebTransport,
    /// `/tls`.
    Tls,
    /// `/sni/example.com`: the TLS server name.
    Sni(String),
    /// `/noise`.
    Noise,
    /// `/ws`: WebSocket.
    Ws,
    /// `/wss`: WebSocket over TLS.
    Wss,
    /// `/http`.
    Http,
    /// `/https`.
    Https,
    /// `/webrtc-direct`.
    WebRtcDirect,
    /// `/webrtc`.
    WebRtc,
}

impl Protocol {
    /// The multicodec number.
    pub fn code(&self) -> u64 {
        match self {
            Self::Ip4(_) => code::IP4,
            Self::Ip6(_) => code::IP6,
            Self::Tcp(_) => code::TCP,
            Self::Udp(_) => code::UDP,
            Self::Dns(_) => code::DNS,
            Self::Dns4(_) => code::DNS4,
            Self::Dns6(_) => code::DNS6,
            Self::Dnsaddr(_) => code::DNSADDR,
            Self::P2p(_) => code::P2P,
            Self::P2pCircuit => code::P2P_CIRCUIT,
            Self::Quic => code::QUIC,
            Self::QuicV1 => code::QUIC_V1,
            Self::WebTransport => code::WEBTRANSPORT,
            Self::Tls => code::TLS,
            Self::Sni(_) => code::SNI,
            Self::Noise => code::NOISE,
            Self::Ws => code::WS,
            Self::Wss => code::WSS,
            Self::Http => code::HTTP,
            Self::Https => code::HTTPS,
            Self::WebRtcDirect => code::WEBRTC_DIRECT,
            Self::WebRtc => code::WEBRTC,
        }
    }

    /// The name in text form.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ip4(_) => "ip4",
            Self::Ip6(_) => "ip6",
            Self::Tcp(_) => "tcp",
            Self::Udp(_) => "udp",
            Self::Dns(_) => "dns",
            Self::Dns4(_) => "dns4",
            Self::Dns6(_) => "dns6",
            Self::Dnsaddr(_) => "dnsaddr",
            Self::P2p(_) => "p2p",
            Self::P2pCircuit => "p2p-circuit",
            Self::Quic => "quic",
            Self::QuicV1 => "quic-v1",
            Self::WebTransport => "webtransport",
            Self::Tls => "tls",
            Self::Sni(_) => "sni",
            Self::Noise => "noise",
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Http => "http",
            Self::Https => "https",
            Self::WebRtcDirect => "webrtc-direct",
            Self::WebRtc => "webrtc",
        }
    }

    /// Appends the binary form: the code, then the value.
    fn encode(&self, output: &mut Vec<u8>) {
        varint::encode(self.code(), output);
        match self {
            Self::Ip4(address) => output.extend_from_slice(address),
            Self::Ip6(address) => output.extend_from_slice(address),
            Self::Tcp(port) | Self::Udp(port) => output.extend_from_slice(&port.to_be_bytes()),
            Self::Dns(name)
            | Self::Dns4(name)
            | Self::Dns6(name)
            | Self::Dnsaddr(name)
            | Self::Sni(name) => varint::encode_frame(name.as_bytes(), output),
            Self::P2p(peer_id) => varint::encode_frame(peer_id.as_bytes(), output),
            Self::P2pCircuit
            | Self::Quic
            | Self::QuicV1
            | Self::WebTransport
            | Self::Tls
            | Self::Noise
            | Self::Ws
            | Self::Wss
            | Self::Http
            | Self::Https
            | Self::WebRtcDirect
            | Self::WebRtc => {}
        }
    }

    /// Reads one component from the front of `rest`.
    fn decode(rest: &mut &[u8]) -> Result<Self, MultiaddrError> {
        let code = take_varint(rest)?;
        let protocol = match code {
            code::IP4 => Self::Ip4(take_array(rest)?),
            code::IP6 => Self::Ip6(take_array(rest)?),
            code::TCP => Self::Tcp(u16::from_be_bytes(take_array(rest)?)),
            code::UDP => Self::Udp(u16::from_be_bytes(take_array(rest)?)),
            code::DNS => Self::Dns(take_name(rest)?),
            code::DNS4 => Self::Dns4(take_name(rest)?),
            code::DNS6 => Self::Dns6(take_name(rest)?),
            code::DNSADDR => Self::Dnsaddr(take_name(rest)?),
            code::SNI => Self::Sni(take_name(rest)?),
            code::P2P => {
                let bytes = take_value(rest)?;
                Self::P2p(PeerId::from_bytes(bytes).map_err(MultiaddrError::InvalidPeerId)?)
            }
            code::P2P_CIRCUIT => Self::P2pCircuit,
            code::QUIC => Self::Quic,
            code::QUIC_V1 => Self::QuicV1,
            code::WEBTRANSPORT => Self::WebTransport,
            code::TLS => Self::Tls,
            code::NOISE => Self::Noise,
            code::WS => Self::Ws,
            code::WSS => Self::Wss,
            code::HTTP => Self::Http,
            code::HTTPS => Self::Https,
            code::WEBRTC_DIRECT => Self::WebRtcDirect,
            code::WEBRTC => Self::WebRtc,
            other => return Err(MultiaddrError::UnknownProtocol(other)),
        };
        Ok(protocol)
    }

    /// Reads one component from text: its name, and its value from
    /// `values` if it takes one.
    fn parse<'a>(
        name: &str,
        values: &mut impl Iterator<Item = &'a str>,
    ) -> Result<Self, MultiaddrError> {
        let mut value = || values.next().ok_or(MultiaddrError::MissingValue);
        let protocol = match name {
            "ip4" => Self::Ip4(
                Ipv4Addr::from_str(value()?).map_err(|_| MultiaddrError::InvalidValue)?.octets(),
            ),
            "ip6" => Self::Ip6(
                Ipv6Addr::from_str(value()?).map_err(|_| MultiaddrError::InvalidValue)?.octets(),
            ),
            "tcp" => Self::Tcp(parse_port(value()?)?),
            "udp" => Self::Udp(parse_port(value()?)?),
            "dns" => Self::Dns(parse_name(value()?)?),
            "dns4" => Self::Dns4(parse_name(value()?)?),
            "dns6" => Self::Dns6(parse_name(value()?)?),
            "dnsaddr" => Self::Dnsaddr(parse_name(value()?)?),
            "sni" => Self::Sni(parse_name(value()?)?),
            "p2p" | "ipfs" => {
                Self::P2p(PeerId::from_str(value()?).map_err(MultiaddrError::InvalidPeerId)?)
            }
            "p2p-circuit" => Self::P2pCircuit,
            "quic" => Self::Quic,
            "quic-v1" => Self::QuicV1,
            "webtransport" => Self::WebTransport,
            "tls" => Self::Tls,
            "noise" => Self::Noise,
            "ws" => Self::Ws,
            "wss" => Self::Wss,
            "http" => Self::Http,
            "https" => Self::Https,
            "webrtc-direct" => Self::WebRtcDirect,
            "webrtc" => Self::WebRtc,
            _ => return Err(MultiaddrError::UnknownProtocolName),
        };
        Ok(protocol)
    }
}

impl core::fmt::Display for Protocol {
    /// One component in text: `/name` or `/name/value`.
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        write!(formatter, "/{}", self.name())?;
        match self {
            Self::Ip4(address) => write!(formatter, "/{}", Ipv4Addr::from(*address)),
            Self::Ip6(address) => write!(formatter, "/{}", Ipv6Addr::from(*address)),
            Self::Tcp(port) | Self::Udp(port) => write!(formatter, "/{port}"),
            Self::Dns(name)
            | Self::Dns4(name)
            | Self::Dns6(name)
            | Self::Dnsaddr(name)
            | Self::Sni(name) => write!(formatter, "/{name}"),
            Self::P2p(peer_id) => write!(formatter, "/{peer_id}"),
            _ => Ok(()),
        }
    }
}

/// Takes a multiformats varint from the front of `rest`.
fn take_varint(rest: &mut &[u8]) -> Result<u64, MultiaddrError> {
    let (value, length) =
        varint::decode(rest).map_err(MultiaddrError::Varint)?.ok_or(MultiaddrError::Truncated)?;
    *rest = rest.get(length..).unwrap_or_default();
    Ok(value)
}

/// Takes `N` bytes from the front of `rest`.
fn take_array<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], MultiaddrError> {
    let (taken, remaining) = rest.split_first_chunk::<N>().ok_or(MultiaddrError::Truncated)?;
    *rest = remaining;
    Ok(*taken)
}

/// Takes a varint-length-prefixed value from the front of `rest`.
fn take_value<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], MultiaddrError> {
    let length = take_varint(rest)?;
    let length = usize::try_from(length).map_err(|_| MultiaddrError::Truncated)?;
    if rest.len() < length {
        return Err(MultiaddrError::Truncated);
    }
    let (value, remaining) = rest.split_at(length);
    *rest = remaining;
    Ok(value)
}

/// Takes a length-prefixed name from the front of `rest`.
fn take_name(rest: &mut &[u8]) -> Result<String, MultiaddrError> {
    let bytes = take_value(rest)?;
    parse_name(core::str::from_utf8(bytes).map_err(|_| MultiaddrError::InvalidValue)?)
}

/// Checks a name: not empty, not too long, and free of `/` so that the
/// text form reads back.
fn parse_name(name: &str) -> Result<String, MultiaddrError> {
    if name.is_empty() || name.len() > MAXIMUM_NAME_LENGTH || name.contains('/') {
        return Err(MultiaddrError::InvalidValue);
    }
    Ok(name.to_string())
}

/// Parses a port: decimal digits only, at most 65535.
fn parse_port(text: &str) -> Result<u16, MultiaddrError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(MultiaddrError::InvalidValue);
    }
    text.parse().map_err(|_| MultiaddrError::InvalidValue)
}

/// A network address as a list of protocol components.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Multiaddr(Vec<Protocol>);

impl Multiaddr {
    /// The empty multiaddr.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a component.
    pub fn push(&mut self, protocol: Protocol) {
        self.0.push(protocol);
    }

    /// Removes and returns the last component.
    pub fn pop(&mut self) -> Option<Protocol> {
        self.0.pop()
    }

    /// This multiaddr with `protocol` appended.
    pub fn with(mut self, protocol: Protocol) -> Self {
        self.push(protocol);
        self
    }

    /// The components, first to last.
    pub fn iter(&self) -> core::slice::Iter<'_, Protocol> {
        self.0.iter()
    }

    /// How many components there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no components.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The binary form: each component's code varint and value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut output = Vec::new();
        for protocol in &self.0 {
            protocol.encode(&mut output);
        }
        output
    }

    /// Reads the binary form; every byte must belong to a component.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MultiaddrError> {
        let mut rest = bytes;
        let mut protocols = Vec::new();
        while !rest.is_empty() {
            protocols.push(Protocol::decode(&mut rest)?);
        }
        Ok(Self(protocols))
    }

    /// The peer this address reaches: the value of its last `/p2p/`
    /// component (a relayed address names the relay in an earlier one).
    pub fn peer_id(&self) -> Option<&PeerId> {
        self.0.iter().rev().find_map(|protocol| match protocol {
            Protocol::P2p(peer_id) => Some(peer_id),
            _ => None,
        })
    }

    /// The IPv4 address and TCP port if the multiaddr starts with
    /// `/ip4/A/tcp/P`.
    pub fn tcp_endpoint(&self) -> Option<([u8; 4], u16)> {
        match self.0.as_slice() {
            [Protocol::Ip4(address), Protocol::Tcp(port), ..] => Some((*address, *port)),
            _ => None,
        }
    }
}

impl From<Protocol> for Multiaddr {
    fn from(protocol: Protocol) -> Self {
        Self(alloc::vec![protocol])
    }
}

impl FromIterator<Protocol> for Multiaddr {
    fn from_iter<I: IntoIterator<Item = Protocol>>(iterator: I) -> Self {
        Self(iterator.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Multiaddr {
    type Item = &'a Protocol;
    type IntoIter = core::slice::Iter<'a, Protocol>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl core::fmt::Display for Multiaddr {
    /// The text form, `/ip4/10.0.2.2/tcp/4001`; the empty multiaddr is "".
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        self.0.iter().try_for_each(|protocol| write!(formatter, "{protocol}"))
    }
}

impl FromStr for Multiaddr {
    type Err = MultiaddrError;

    /// Reads the text form. `/ipfs/` is read as `/p2p/`; one trailing `/`
    /// is allowed; "" and "/" are the empty multiaddr.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Ok(Self::new());
        }
        let body = text.strip_prefix('/').ok_or(MultiaddrError::InvalidText)?;
        let body = body.strip_suffix('/').unwrap_or(body);
        let mut protocols = Vec::new();
        if body.is_empty() {
            return Ok(Self(protocols));
        }
        let mut parts = body.split('/');
        while let Some(name) = parts.next() {
            if name.is_empty() {
                return Err(MultiaddrError::InvalidText);
            }
            protocols.push(Protocol::parse(name, &mut parts)?);
        }
        Ok(Self(protocols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn the_specification_examples() {
        // multiformats/multiaddr: test/multiaddr.feature and the README.
        let examples = [
            ("/ip4/192.0.2.42/tcp/443", "04c000022a0601bb"),
            ("/ip4/127.0.0.1/udp/1234", "047f000001910204d2"),
        ];
        for (text, bytes) in examples {
            let address = Multiaddr::from_str(text).unwrap();
            assert_eq!(address.to_bytes(), hex(bytes), "{text}");
            assert_eq!(Multiaddr::from_bytes(&hex(bytes)), Ok(address.clone()));
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn text_round_trips() {
        let examples = [
            "/ip4/10.0.2.2/tcp/4001",
            "/ip6/::1/tcp/4001",
            "/ip6/2001:db8::ff00:42:8329/udp/4001/quic-v1",
            "/ip6/::ffff:192.0.2.1/tcp/1",
            "/dns/example.com/tcp/443/wss",
            "/dns4/bootstrap.libp2p.io/tcp/443/tls/sni/bootstrap.libp2p.io/ws",
            "/dns6/ipv6.example/udp/443/quic",
            "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
            "/ip4/1.2.3.4/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN/p2p-circuit",
            "/ip4/1.2.3.4/udp/443/quic-v1/webtransport",
            "/ip4/1.2.3.4/udp/443/webrtc-direct",
            "/ip4/1.2.3.4/tcp/80/http",
            "/ip4/1.2.3.4/tcp/443/https",
            "/ip4/1.2.3.4/tcp/4001/noise/webrtc",
            "/ip4/0.0.0.0/tcp/0/ws",
            "/p2p-circuit",
            "",
        ];
        for text in examples {
            let address = Multiaddr::from_str(text).unwrap();
            assert_eq!(address.to_string(), text);
            assert_eq!(Multiaddr::from_bytes(&address.to_bytes()), Ok(address));
        }
    }

    #[test]
    fn peer_ids_and_endpoints() {
        let text = alloc::format!("/ip4/10.0.2.2/tcp/4001/p2p/{PEER}");
        let address = Multiaddr::from_str(&text).unwrap();
        assert_eq!(address.tcp_endpoint(), Some(([10, 0, 2, 2], 4001)));
        assert_eq!(address.peer_id(), Some(&PeerId::from_str(PEER).unwrap()));
        assert_eq!(address.len(), 3);
        // `/ipfs/` reads as `/p2p/` and prints as it.
        let legacy = Multiaddr::from_str(&alloc::format!("/ip4/10.0.2.2/tcp/4001/ipfs/{PEER}"));
        assert_eq!(legacy.as_ref(), Ok(&address));
        assert_eq!(legacy.unwrap().to_string(), text);
        // The binary /p2p/ component: code 421 (a5 03), length 38, multihash.
        let bytes = address.to_bytes();
        assert_eq!(bytes[..10], [0x04, 10, 0, 2, 2, 0x06, 0x0f, 0xa1, 0xa5, 0x03]);
        assert_eq!(bytes[10], 38);
        assert_eq!(bytes[11..], *PeerId::from_str(PEER).unwrap().as_bytes());

        let quic = Multiaddr::from_str("/ip4/10.0.2.2/udp/4001/quic-v1").unwrap();
        assert_eq!(quic.tcp_endpoint(), None);
        assert_eq!(quic.peer_id(), None);
        let dns = Multiaddr::from_str("/dns4/example.com/tcp/4001").unwrap();
        assert_eq!(dns.tcp_endpoint(), None);

        let built = Multiaddr::new()
            .with(Protocol::Ip4([10, 0, 2, 2]))
            .with(Protocol::Tcp(4001))
            .with(Protocol::P2p(PeerId::from_str(PEER).unwrap()));
        assert_eq!(built, address);
        assert_eq!(built.iter().map(Protocol::code).collect::<Vec<_>>(), [4, 6, 421]);
        let mut popped = built.clone();
        assert!(matches!(popped.pop(), Some(Protocol::P2p(_))));
        assert_eq!(popped.peer_id(), None);
    }

    #[test]
    fn trailing_slash_and_empty() {
        assert_eq!(
            Multiaddr::from_str("/ip4/1.2.3.4/tcp/5/"),
            Multiaddr::from_str("/ip4/1.2.3.4/tcp/5")
        );
        assert_eq!(Multiaddr::from_str("/"), Ok(Multiaddr::new()));
        assert_eq!(Multiaddr::from_bytes(&[]), Ok(Multiaddr::new()));
    }

    #[test]
    fn bad_text_is_refused() {
        let cases = [
            ("ip4/1.2.3.4", MultiaddrError::InvalidText),
            ("//ip4/1.2.3.4", MultiaddrError::InvalidText),
            ("/ip4/1.2.3.4//tcp/1", MultiaddrError::InvalidText),
            ("/ip4", MultiaddrError::MissingValue),
            ("/ip4/1.2.3.4/tcp", MultiaddrError::MissingValue),
            ("/ip4/1.2.3", MultiaddrError::InvalidValue),
            ("/ip4/256.0.0.1", MultiaddrError::InvalidValue),
            ("/ip6/1.2.3.4", MultiaddrError::InvalidValue),
            ("/ip6/::1::2", MultiaddrError::InvalidValue),
            ("/tcp/65536", MultiaddrError::InvalidValue),
            ("/tcp/+80", MultiaddrError::InvalidValue),
            ("/tcp/-1", MultiaddrError::InvalidValue),
            ("/udp/", MultiaddrError::MissingValue),
            ("/onion3/abc:1", MultiaddrError::UnknownProtocolName),
            ("/IP4/1.2.3.4", MultiaddrError::UnknownProtocolName),
            ("/p2p/notapeerid", MultiaddrError::InvalidPeerId(IdentityError::InvalidText)),
        ];
        for (text, error) in cases {
            assert_eq!(Multiaddr::from_str(text), Err(error), "{text}");
        }
        let long = alloc::format!("/dns/{}", "a".repeat(MAXIMUM_NAME_LENGTH + 1));
        assert_eq!(Multiaddr::from_str(&long), Err(MultiaddrError::InvalidValue));
    }

    #[test]
    fn bad_bytes_are_refused() {
        let good = Multiaddr::from_str(&alloc::format!("/ip4/1.2.3.4/tcp/80/p2p/{PEER}"))
            .unwrap()
            .to_bytes();
        for end in 1..good.len() {
            let expected =
                if end == 5 || end == 8 { Ok(()) } else { Err(MultiaddrError::Truncated) };
            assert_eq!(Multiaddr::from_bytes(&good[..end]).map(|_| ()), expected, "{end}");
        }
        // Onion3 (445) is a real protocol, but not one of ours.
        assert_eq!(Multiaddr::from_bytes(&[0xbd, 0x03]), Err(MultiaddrError::UnknownProtocol(445)));
        assert_eq!(
            Multiaddr::from_bytes(&[0x84, 0x80, 0x00]),
            Err(MultiaddrError::Varint(VarintError::NotMinimal))
        );
        // A /p2p/ value that is not a multihash, and names that are not UTF-8 or hold '/'.
        assert_eq!(
            Multiaddr::from_bytes(&[0xa5, 0x03, 0x02, 0x55, 0x00]),
            Err(MultiaddrError::InvalidPeerId(IdentityError::InvalidMultihash))
        );
        assert_eq!(Multiaddr::from_bytes(&[0x35, 0x01, 0xff]), Err(MultiaddrError::InvalidValue));
        assert_eq!(
            Multiaddr::from_bytes(&[0x35, 0x03, b'a', b'/', b'b']),
            Err(MultiaddrError::InvalidValue)
        );
        assert_eq!(Multiaddr::from_bytes(&[0x35, 0x00]), Err(MultiaddrError::InvalidValue));
    }

    fn protocol_strategy() -> impl Strategy<Value = Protocol> {
        let name = "[a-z0-9.-]{1,20}";
        prop_oneof![
            any::<[u8; 4]>().prop_map(Protocol::Ip4),
            any::<[u8; 16]>().prop_map(Protocol::Ip6),
            any::<u16>().prop_map(Protocol::Tcp),
            any::<u16>().prop_map(Protocol::Udp),
            name.prop_map(Protocol::Dns),
            name.prop_map(Protocol::Dns4),
            name.prop_map(Protocol::Dns6),
            name.prop_map(Protocol::Dnsaddr),
            name.prop_map(Protocol::Sni),
            any::<[u8; 32]>().prop_map(|secret| Protocol::P2p(
                crate::identity::Keypair::from_secret(secret).public().peer_id()
            )),
            Just(Protocol::P2pCircuit),
            Just(Protocol::Quic),
            Just(Protocol::QuicV1),
            Just(Protocol::WebTransport),
            Just(Protocol::Tls),
            Just(Protocol::Noise),
            Just(Protocol::Ws),
            Just(Protocol::Wss),
            Just(Protocol::Http),
            Just(Protocol::Https),
            Just(Protocol::WebRtcDirect),
            Just(Protocol::WebRtc),
        ]
    }

    proptest! {
        #[test]
        fn every_address_round_trips(protocols in proptest::collection::vec(protocol_strategy(), 0..8)) {
            let address: Multiaddr = protocols.into_iter().collect();
            prop_assert_eq!(Multiaddr::from_bytes(&address.to_bytes()), Ok(address.clone()));
            prop_assert_eq!(Multiaddr::from_str(&address.to_string()), Ok(address));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(address) = Multiaddr::from_bytes(&bytes) {
                prop_assert_eq!(address.to_bytes(), bytes);
                prop_assert_eq!(Multiaddr::from_str(&address.to_string()), Ok(address));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(/[a-z0-9:.-]{0,12}){0,6}/?") {
            if let Ok(address) = Multiaddr::from_str(&text) {
                prop_assert_eq!(Multiaddr::from_bytes(&address.to_bytes()), Ok(address));
            }
        }

        #[test]
        fn any_text_never_panics(text in ".{0,60}") {
            let _ = Multiaddr::from_str(&text);
        }
    }

    #[test]
    fn collecting_components() {
        let address: Multiaddr = vec![Protocol::Tcp(1)].into_iter().collect();
        assert_eq!(address, Multiaddr::from(Protocol::Tcp(1)));
        assert_eq!((&address).into_iter().count(), 1);
    }
}
