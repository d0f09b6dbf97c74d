//! A light syntactic check of the libp2p addresses netvm dials at start:
//! `/ip4/A.B.C.D/tcp/PORT/p2p/PEERID` or `/dns4/NAME/tcp/PORT/p2p/PEERID`.
//!
//! Only the shape is checked here (the components, numbers in range, a
//! non-empty base58 peer id); netvm's own parser decodes the address fully.
//! The manifest checks (`system-manifest`, which includes this file) and the
//! host tools that add addresses from the command line use the same rules.

use core::fmt;

/// What is wrong with a bootstrap address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiaddrError {
    /// It is empty.
    Empty,
    /// It does not start with '/'.
    NotAbsolute,
    /// It has a character other than printable ASCII (or a space).
    UnexpectedCharacter,
    /// Its first protocol is neither `ip4` nor `dns4`.
    UnknownNetworkProtocol,
    /// The `ip4` address is not four decimal numbers from 0 to 255.
    MalformedIpv4,
    /// The `dns4` name is not dot-separated labels of letters, digits and '-'.
    MalformedHostName,
    /// The second protocol is not `tcp`.
    NotTcp,
    /// The TCP port is not a decimal number from 1 to 65535.
    PortOutOfRange,
    /// The third protocol is not `p2p`.
    MissingPeerId,
    /// The peer id is empty or has characters outside the base58 alphabet.
    MalformedPeerId,
    /// Components are missing, or follow the peer id.
    WrongComponentCount,
}

impl MultiaddrError {
    /// What is wrong, in words.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Empty => "it is empty",
            Self::NotAbsolute => "it does not start with '/'",
            Self::UnexpectedCharacter => {
                "it has a space or a character that is not printable ASCII"
            }
            Self::UnknownNetworkProtocol => "it does not start with /ip4/ or /dns4/",
            Self::MalformedIpv4 => "the ip4 address is not four numbers from 0 to 255",
            Self::MalformedHostName => {
                "the dns4 name is not dot-separated labels of letters, digits and '-'"
            }
            Self::NotTcp => "the address is not followed by /tcp/",
            Self::PortOutOfRange => "the TCP port is not a number from 1 to 65535",
            Self::MissingPeerId => "the port is not followed by /p2p/",
            Self::MalformedPeerId => "the peer id is empty or not base58",
            Self::WrongComponentCount => "it does not have exactly the six components",
        }
    }
}

impl fmt::Display for MultiaddrError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.description())
    }
}

/// The base58 alphabet of peer ids (Bitcoin's: no `0`, `O`, `I` or `l`).
const BASE58_ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The longest DNS name.
const HOST_NAME_MAX: usize = 253;
/// The longest label of a DNS name.
const LABEL_MAX: usize = 63;

/// Checks that `address` has the shape of a TCP multiaddr with a peer id:
/// `/ip4/A.B.C.D/tcp/PORT/p2p/PEERID` or `/dns4/NAME/tcp/PORT/p2p/PEERID`.
pub fn check_bootstrap_address(address: &str) -> Result<(), MultiaddrError> {
    if address.is_empty() {
        return Err(MultiaddrError::Empty);
    }
    if !address.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(MultiaddrError::UnexpectedCharacter);
    }
    let Some(rest) = address.strip_prefix('/') else {
        return Err(MultiaddrError::NotAbsolute);
    };
    let mut components = rest.split('/');
    let mut next = || components.next().ok_or(MultiaddrError::WrongComponentCount);
    match next()? {
        "ip4" => check_ipv4(next()?)?,
        "dns4" => check_host_name(next()?)?,
        _ => return Err(MultiaddrError::UnknownNetworkProtocol),
    }
    if next()? != "tcp" {
        return Err(MultiaddrError::NotTcp);
    }
    match decimal(next()?) {
        Some(1..=65535) => {}
        _ => return Err(MultiaddrError::PortOutOfRange),
    }
    if next()? != "p2p" {
        return Err(MultiaddrError::MissingPeerId);
    }
    let peer = next()?;
    if peer.is_empty() || !peer.bytes().all(|byte| BASE58_ALPHABET.contains(&byte)) {
        return Err(MultiaddrError::MalformedPeerId);
    }
    if components.next().is_some() {
        return Err(MultiaddrError::WrongComponentCount);
    }
    Ok(())
}

/// Checks a dotted-quad IPv4 address.
fn check_ipv4(text: &str) -> Result<(), MultiaddrError> {
    let mut count = 0;
    for part in text.split('.') {
        count += 1;
        if part.len() > 3 || !matches!(decimal(part), Some(0..=255)) {
            return Err(MultiaddrError::MalformedIpv4);
        }
    }
    if count != 4 {
        return Err(MultiaddrError::MalformedIpv4);
    }
    Ok(())
}

/// Checks a DNS name: labels of 1 to 63 letters, digits and '-', not
/// starting or ending with '-', at most 253 bytes in all.
fn check_host_name(text: &str) -> Result<(), MultiaddrError> {
    if text.is_empty() || text.len() > HOST_NAME_MAX {
        return Err(MultiaddrError::MalformedHostName);
    }
    for label in text.split('.') {
        let well_formed = !label.is_empty()
            && label.len() <= LABEL_MAX
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        if !well_formed {
            return Err(MultiaddrError::MalformedHostName);
        }
    }
    Ok(())
}

/// The value of a non-empty string of at most five decimal digits.
fn decimal(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0, |value, digit| value * 10 + u32::from(digit - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";

    #[test]
    fn ip4_and_dns4_addresses_with_a_peer_id_pass() {
        for address in [
            format!("/ip4/10.0.2.2/tcp/4002/p2p/{PEER}"),
            format!("/ip4/0.0.0.0/tcp/1/p2p/{PEER}"),
            format!("/ip4/255.255.255.255/tcp/65535/p2p/{PEER}"),
            format!("/dns4/bootstrap.libp2p.io/tcp/4001/p2p/{PEER}"),
            format!("/dns4/localhost/tcp/4001/p2p/{PEER}"),
            "/ip4/10.0.2.2/tcp/4002/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN".into(),
        ] {
            assert_eq!(check_bootstrap_address(&address), Ok(()), "{address}");
        }
    }

    #[test]
    fn each_malformed_part_is_named() {
        use MultiaddrError::*;
        let cases = [
            (String::new(), Empty),
            (format!("ip4/10.0.2.2/tcp/4002/p2p/{PEER}"), NotAbsolute),
            (format!("/ip4/10.0.2.2/tcp/4002/p2p/{PEER} "), UnexpectedCharacter),
            (format!("/ip4/10.0.2.2/tcp/4002/p2p/{PEER}\n"), UnexpectedCharacter),
            (format!("/ip6/::1/tcp/4002/p2p/{PEER}"), UnknownNetworkProtocol),
            (format!("/ip4/10.0.2.256/tcp/4002/p2p/{PEER}"), MalformedIpv4),
            (format!("/ip4/10.0.2/tcp/4002/p2p/{PEER}"), MalformedIpv4),
            (format!("/ip4/10.0.2.2.1/tcp/4002/p2p/{PEER}"), MalformedIpv4),
            (format!("/ip4/10.0.2.0002/tcp/4002/p2p/{PEER}"), MalformedIpv4),
            (format!("/ip4//tcp/4002/p2p/{PEER}"), MalformedIpv4),
            (format!("/dns4/-peer.example/tcp/4002/p2p/{PEER}"), MalformedHostName),
            (format!("/dns4/peer..example/tcp/4002/p2p/{PEER}"), MalformedHostName),
            (format!("/dns4/peer_one/tcp/4002/p2p/{PEER}"), MalformedHostName),
            (format!("/ip4/10.0.2.2/udp/4002/p2p/{PEER}"), NotTcp),
            (format!("/ip4/10.0.2.2/tcp/0/p2p/{PEER}"), PortOutOfRange),
            (format!("/ip4/10.0.2.2/tcp/65536/p2p/{PEER}"), PortOutOfRange),
            (format!("/ip4/10.0.2.2/tcp/port/p2p/{PEER}"), PortOutOfRange),
            (format!("/ip4/10.0.2.2/tcp/4002/ipfs/{PEER}"), MissingPeerId),
            ("/ip4/10.0.2.2/tcp/4002/p2p/".into(), MalformedPeerId),
            ("/ip4/10.0.2.2/tcp/4002/p2p/12D3KooW0OIl".into(), MalformedPeerId),
            ("/ip4/10.0.2.2/tcp/4002".into(), WrongComponentCount),
            (format!("/ip4/10.0.2.2/tcp/4002/p2p/{PEER}/ws"), WrongComponentCount),
        ];
        for (address, error) in cases {
            assert_eq!(check_bootstrap_address(&address), Err(error), "{address:?}");
        }
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            MultiaddrError::PortOutOfRange.to_string(),
            "the TCP port is not a number from 1 to 65535"
        );
    }
}
