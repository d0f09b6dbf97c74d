//! The commands `p2p-peer` reads from standard input, one a line.

use libp2p::{Multiaddr, PeerId};

use crate::message::MAXIMUM_BODY_LENGTH;

/// The most messages `send-many` keeps awaiting receipts at once. Each takes a stream, and
/// yamux and the request-response behaviour bound the streams of a connection.
pub const MAXIMUM_WINDOW: usize = 256;

/// One command from standard input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `dial MULTIADDR`: open a connection.
    Dial(Multiaddr),
    /// `send PEER RECIPIENT TEXT`: send one message whose body is the rest of the line.
    Send {
        /// The peer to send to.
        peer: PeerId,
        /// The application addressed on that peer.
        recipient: String,
        /// The body, as UTF-8.
        text: String,
    },
    /// `send-many PEER RECIPIENT LENGTH COUNT WINDOW`: send `count` messages of `length`
    /// bytes, with at most `window` awaiting receipts at a time.
    SendMany {
        /// The peer to send to.
        peer: PeerId,
        /// The application addressed on that peer.
        recipient: String,
        /// Bytes in each body.
        length: usize,
        /// How many messages.
        count: u64,
        /// The most messages awaiting receipts at once.
        window: usize,
    },
    /// `quit`: stop the program.
    Quit,
}

/// What is wrong with a command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The first word is no command.
    #[error("unknown command {0:?}; the commands are dial, send, send-many and quit")]
    Unknown(String),
    /// Too few or too many words for the command.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// A word that is not a multiaddr.
    #[error("{value:?} is not a multiaddr: {reason}")]
    InvalidAddress {
        /// The word.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A word that is not a peer id.
    #[error("{0:?} is not a peer id")]
    InvalidPeer(String),
    /// A word that is not a number in range.
    #[error("{name} {value:?} is not a whole number from {minimum} to {maximum}")]
    InvalidNumber {
        /// What the number is.
        name: &'static str,
        /// The word.
        value: String,
        /// The smallest value allowed.
        minimum: u64,
        /// The largest value allowed.
        maximum: u64,
    },
}

/// The usage of `dial`.
const DIAL_USAGE: &str = "dial MULTIADDR";
/// The usage of `send`.
const SEND_USAGE: &str = "send PEER RECIPIENT TEXT";
/// The usage of `send-many`.
const SEND_MANY_USAGE: &str = "send-many PEER RECIPIENT LENGTH COUNT WINDOW";

/// Splits the first whitespace-separated word off `text`: the word and what follows it,
/// less the one space or tab that ended the word.
fn split_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    match text.find(char::is_whitespace) {
        Some(end) => {
            let separator = text[end..].chars().next().map_or(0, char::len_utf8);
            Some((&text[..end], &text[end + separator..]))
        }
        None => Some((text, "")),
    }
}

/// Parses `value` as a peer id.
fn parse_peer(value: &str) -> Result<PeerId, CommandError> {
    value.parse().map_err(|_| CommandError::InvalidPeer(value.into()))
}

/// Parses `value`, the `name` of the command, as a number from `minimum` to `maximum`.
fn parse_number(
    name: &'static str,
    value: &str,
    minimum: u64,
    maximum: u64,
) -> Result<u64, CommandError> {
    match value.parse::<u64>() {
        Ok(number) if (minimum..=maximum).contains(&number) => Ok(number),
        _ => Err(CommandError::InvalidNumber { name, value: value.into(), minimum, maximum }),
    }
}

/// Parses one line of standard input: `None` for a blank line.
pub fn parse_command(line: &str) -> Result<Option<Command>, CommandError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let Some((name, rest)) = split_word(line) else {
        return Ok(None);
    };
    let command = match name {
        "quit" if rest.trim().is_empty() => Command::Quit,
        "quit" => return Err(CommandError::Usage("quit")),
        "dial" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [address] => {
                Command::Dial(address.parse().map_err(|error: libp2p::multiaddr::Error| {
                    CommandError::InvalidAddress {
                        value: address.into(),
                        reason: error.to_string(),
                    }
                })?)
            }
            _ => return Err(CommandError::Usage(DIAL_USAGE)),
        },
        "send" => {
            let (peer, rest) = split_word(rest).ok_or(CommandError::Usage(SEND_USAGE))?;
            let (recipient, text) = split_word(rest).ok_or(CommandError::Usage(SEND_USAGE))?;
            Command::Send {
                peer: parse_peer(peer)?,
                recipient: recipient.into(),
                text: text.into(),
            }
        }
        "send-many" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [peer, recipient, length, count, window] => Command::SendMany {
                peer: parse_peer(peer)?,
                recipient: recipient.into(),
                length: parse_number("LENGTH", length, 0, MAXIMUM_BODY_LENGTH as u64)? as usize,
                count: parse_number("COUNT", count, 0, u64::MAX)?,
                window: parse_number("WINDOW", window, 1, MAXIMUM_WINDOW as u64)? as usize,
            },
            _ => return Err(CommandError::Usage(SEND_MANY_USAGE)),
        },
        other => return Err(CommandError::Unknown(other.into())),
    };
    Ok(Some(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed peer id, as text and parsed.
    fn peer() -> (String, PeerId) {
        let peer = PeerId::from_public_key(
            &libp2p::identity::Keypair::ed25519_from_bytes([1u8; 32])
                .expect("32 bytes make an ed25519 secret")
                .public(),
        );
        (peer.to_string(), peer)
    }

    #[test]
    fn blank_lines_and_quit() {
        assert_eq!(parse_command(""), Ok(None));
        assert_eq!(parse_command("   \r"), Ok(None));
        assert_eq!(parse_command("quit"), Ok(Some(Command::Quit)));
        assert_eq!(parse_command(" quit \r"), Ok(Some(Command::Quit)));
        assert_eq!(parse_command("quit now"), Err(CommandError::Usage("quit")));
    }

    #[test]
    fn dial_takes_one_address() {
        let command = parse_command("dial /ip4/127.0.0.1/tcp/4001").expect("valid");
        assert_eq!(command, Some(Command::Dial("/ip4/127.0.0.1/tcp/4001".parse().unwrap())));
        assert_eq!(parse_command("dial"), Err(CommandError::Usage(DIAL_USAGE)));
        assert!(matches!(parse_command("dial nowhere"), Err(CommandError::InvalidAddress { .. })));
    }

    #[test]
    fn send_keeps_the_rest_of_the_line() {
        let (text, peer) = peer();
        let command = parse_command(&format!("send {text} app hello  there \r")).expect("valid");
        let expected =
            Command::Send { peer, recipient: "app".into(), text: "hello  there ".into() };
        assert_eq!(command, Some(expected));
        let empty = parse_command(&format!("send {text} app")).expect("valid");
        assert_eq!(empty, Some(Command::Send { peer, recipient: "app".into(), text: "".into() }));
        assert_eq!(parse_command(&format!("send {text}")), Err(CommandError::Usage(SEND_USAGE)));
        assert_eq!(
            parse_command("send nobody app hi"),
            Err(CommandError::InvalidPeer("nobody".into()))
        );
    }

    #[test]
    fn send_many_checks_its_numbers() {
        let (text, peer) = peer();
        let command = parse_command(&format!("send-many {text} app 100 50 8")).expect("valid");
        let expected =
            Command::SendMany { peer, recipient: "app".into(), length: 100, count: 50, window: 8 };
        assert_eq!(command, Some(expected));
        assert!(matches!(
            parse_command(&format!("send-many {text} app 4001 1 1")),
            Err(CommandError::InvalidNumber { name: "LENGTH", maximum: 4000, .. })
        ));
        assert!(matches!(
            parse_command(&format!("send-many {text} app 1 1 0")),
            Err(CommandError::InvalidNumber { name: "WINDOW", minimum: 1, .. })
        ));
        assert!(matches!(
            parse_command(&format!("send-many {text} app 1 1 257")),
            Err(CommandError::InvalidNumber { name: "WINDOW", .. })
        ));
        assert_eq!(
            parse_command(&format!("send-many {text} app 1 1")),
            Err(CommandError::Usage(SEND_MANY_USAGE))
        );
        assert_eq!(parse_command("jump"), Err(CommandError::Unknown("jump".into())));
    }
}
