//! The command line of `p2p-peer`.

use std::time::Duration;

use libp2p::Multiaddr;

/// The usage text printed for `--help` and after a command-line mistake.
pub const USAGE: &str = "\
usage: p2p-peer [--listen MULTIADDR]... [--dial MULTIADDR]... [--name NAME] [--key-seed N]
                [--ping-interval-ms N] [--agent STRING]

  --listen MULTIADDR      listen on this address, e.g. /ip4/127.0.0.1/tcp/0 (repeatable)
  --dial MULTIADDR        dial this address once started (repeatable)
  --name NAME             the recipient name answered for Elastos messages (default: host)
  --key-seed N            derive the ed25519 key from the number N instead of at random
  --ping-interval-ms N    milliseconds between pings on each connection (default: 1000)
  --agent STRING          the agent version identify sends (default: p2p-peer/VERSION)

Commands on standard input, one a line:
  dial MULTIADDR
  send PEER RECIPIENT TEXT
  send-many PEER RECIPIENT LENGTH COUNT WINDOW
  quit";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arguments {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Addresses to dial once started.
    pub dial: Vec<Multiaddr>,
    /// The recipient name this peer answers to.
    pub name: String,
    /// The number the ed25519 key is derived from, or `None` for a random key.
    pub key_seed: Option<u64>,
    /// Time between pings on each connection.
    pub ping_interval: Duration,
    /// The agent version identify sends.
    pub agent: String,
    /// Whether `--help` was given: print [`USAGE`] and do nothing else.
    pub help: bool,
}

impl Default for Arguments {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            dial: Vec::new(),
            name: "host".into(),
            key_seed: None,
            ping_interval: Duration::from_millis(1000),
            agent: default_agent(),
            help: false,
        }
    }
}

/// The agent version sent when `--agent` is not given: `p2p-peer/` and the crate version.
pub fn default_agent() -> String {
    format!("p2p-peer/{}", env!("CARGO_PKG_VERSION"))
}

/// What is wrong with a command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    /// A flag this program does not know.
    #[error("unknown option {0:?}")]
    UnknownFlag(String),
    /// A flag given last, without its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// A value that is not a multiaddr.
    #[error("{flag} {value:?} is not a multiaddr: {reason}")]
    InvalidAddress {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A value that is not a number in range.
    #[error("{flag} {value:?} is not a whole number from {minimum} to {maximum}")]
    InvalidNumber {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// The smallest value allowed.
        minimum: u64,
        /// The largest value allowed.
        maximum: u64,
    },
    /// An empty `--name`.
    #[error("--name must not be empty")]
    EmptyName,
}

/// Parses `flag`'s `value` as a number from `minimum` to `maximum`.
fn parse_number(flag: &str, value: &str, minimum: u64, maximum: u64) -> Result<u64, ArgumentError> {
    match value.parse::<u64>() {
        Ok(number) if (minimum..=maximum).contains(&number) => Ok(number),
        _ => Err(ArgumentError::InvalidNumber {
            flag: flag.into(),
            value: value.into(),
            minimum,
            maximum,
        }),
    }
}

/// Parses `flag`'s `value` as a multiaddr.
fn parse_address(flag: &str, value: &str) -> Result<Multiaddr, ArgumentError> {
    value.parse().map_err(|error: libp2p::multiaddr::Error| ArgumentError::InvalidAddress {
        flag: flag.into(),
        value: value.into(),
        reason: error.to_string(),
    })
}

/// Parses the arguments after the program name. Each flag takes its value as the next
/// argument or after `=` in the same one.
pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Arguments, ArgumentError> {
    let mut parsed = Arguments::default();
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        if argument == "--help" || argument == "-h" {
            parsed.help = true;
            continue;
        }
        let (flag, inline_value) = match argument.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (argument, None),
        };
        if !matches!(
            flag.as_str(),
            "--listen" | "--dial" | "--name" | "--key-seed" | "--ping-interval-ms" | "--agent"
        ) {
            return Err(ArgumentError::UnknownFlag(flag));
        }
        let value: String = match inline_value.or_else(|| arguments.next()) {
            Some(value) => value,
            None => return Err(ArgumentError::MissingValue(flag)),
        };
        match flag.as_str() {
            "--listen" => parsed.listen.push(parse_address(&flag, &value)?),
            "--dial" => parsed.dial.push(parse_address(&flag, &value)?),
            "--name" if value.is_empty() => return Err(ArgumentError::EmptyName),
            "--name" => parsed.name = value,
            "--key-seed" => parsed.key_seed = Some(parse_number(&flag, &value, 0, u64::MAX)?),
            "--ping-interval-ms" => {
                let milliseconds = parse_number(&flag, &value, 1, 3_600_000)?;
                parsed.ping_interval = Duration::from_millis(milliseconds);
            }
            _ => parsed.agent = value,
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the words of `line`.
    fn parse_line(line: &str) -> Result<Arguments, ArgumentError> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_apply_without_flags() {
        let arguments = parse_line("").expect("no flags is fine");
        assert_eq!(arguments, Arguments::default());
        assert_eq!(arguments.name, "host");
        assert_eq!(arguments.ping_interval, Duration::from_millis(1000));
        assert!(arguments.agent.starts_with("p2p-peer/"));
    }

    #[test]
    fn every_flag_is_read() {
        let arguments = parse_line(
            "--listen /ip4/127.0.0.1/tcp/0 --listen=/ip4/0.0.0.0/tcp/4001 \
             --dial /ip4/10.0.2.15/tcp/4001 --name app --key-seed 7 \
             --ping-interval-ms=250 --agent elastos-test",
        )
        .expect("valid flags");
        assert_eq!(arguments.listen.len(), 2);
        assert_eq!(arguments.listen[1].to_string(), "/ip4/0.0.0.0/tcp/4001");
        assert_eq!(arguments.dial[0].to_string(), "/ip4/10.0.2.15/tcp/4001");
        assert_eq!(arguments.name, "app");
        assert_eq!(arguments.key_seed, Some(7));
        assert_eq!(arguments.ping_interval, Duration::from_millis(250));
        assert_eq!(arguments.agent, "elastos-test");
        assert!(!arguments.help);
        assert!(parse_line("--help").expect("help").help);
    }

    #[test]
    fn mistakes_are_reported() {
        assert_eq!(parse_line("--port 1"), Err(ArgumentError::UnknownFlag("--port".into())));
        assert_eq!(parse_line("--name"), Err(ArgumentError::MissingValue("--name".into())));
        assert_eq!(parse_line("--name="), Err(ArgumentError::EmptyName));
        assert!(matches!(
            parse_line("--listen 127.0.0.1:4001"),
            Err(ArgumentError::InvalidAddress { .. })
        ));
        assert!(matches!(
            parse_line("--ping-interval-ms 0"),
            Err(ArgumentError::InvalidNumber { minimum: 1, .. })
        ));
        assert!(matches!(parse_line("--key-seed -1"), Err(ArgumentError::InvalidNumber { .. })));
    }
}
