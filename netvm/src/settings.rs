//! netvm's libp2p settings, read from the text on its parameter page.
//!
//! The host writes the text from the system manifest and `cargo xtask run`'s
//! options (`boards::staging::netvm_parameters`): lines of `KEY VALUE...`,
//!
//! ```text
//! listen-port 4001
//! bootstrap /ip4/10.0.2.2/tcp/4002/p2p/12D3KooW...
//! app-channel app-1-netvm
//! ```
//!
//! A line `ping-interval-ms N` sets how often each connection is pinged
//! (the benchmarks ping every second); the default is
//! [`DEFAULT_PING_INTERVAL_MS`].
//!
//! `app-channel CHANNEL` says that channel CHANNEL leads to an app VM: its
//! app VM may register the application (dapp) it runs, and messages for that
//! name go to it (`guest_runtime::messaging`). A line that cannot be read is
//! skipped and reported; the rest still counts. Without a page (all zero)
//! netvm listens on [`DEFAULT_PORT`], dials nobody and serves no
//! application.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use elastos_p2p::multiaddr::Multiaddr;

/// The port netvm listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 4001;
/// Milliseconds between two pings of a connection unless told otherwise.
pub const DEFAULT_PING_INTERVAL_MS: u64 = 15_000;
/// The most bootstrap peers kept.
pub const BOOTSTRAP_MAX: usize = 16;
/// The most app channels kept.
pub const APP_CHANNELS_MAX: usize = 16;

/// What the parameter page says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The TCP port to listen on.
    pub listen_port: u16,
    /// Peers to dial at start (each with a `/p2p/` component).
    pub bootstrap: Vec<Multiaddr>,
    /// The channels that lead to app VMs.
    pub app_channels: Vec<String>,
    /// Milliseconds between two pings of a connection.
    pub ping_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen_port: DEFAULT_PORT,
            bootstrap: Vec::new(),
            app_channels: Vec::new(),
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
        }
    }
}

/// A line that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "parameter line {}: {}", self.line, self.problem)
    }
}

impl Settings {
    /// Reads the page's bytes (the text ends at the first zero byte).
    /// Returns the settings and the lines it skipped.
    pub fn parse(page: &[u8]) -> (Self, Vec<LineError>) {
        let end = page.iter().position(|&byte| byte == 0).unwrap_or(page.len());
        let mut settings = Self::default();
        let mut errors = Vec::new();
        let Ok(text) = core::str::from_utf8(&page[..end]) else {
            errors.push(LineError { line: 0, problem: "the page is not UTF-8 text".into() });
            return (settings, errors);
        };
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            if let Err(problem) = settings.apply(line) {
                errors.push(LineError { line: line_number, problem });
            }
        }
        (settings, errors)
    }

    /// Applies one line.
    fn apply(&mut self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        let Some(key) = words.next() else { return Ok(()) };
        let values: Vec<&str> = words.collect();
        match (key, values.as_slice()) {
            ("listen-port", [port]) => match port.parse::<u16>() {
                Ok(port) if port > 0 => self.listen_port = port,
                _ => return Err(alloc::format!("`{port}` is not a port")),
            },
            ("ping-interval-ms", [interval]) => match interval.parse::<u64>() {
                Ok(interval) if (100..=3_600_000).contains(&interval) => {
                    self.ping_interval_ms = interval
                }
                _ => return Err(alloc::format!("`{interval}` is not 100 to 3600000 milliseconds")),
            },
            ("bootstrap", [address]) => {
                let address: Multiaddr = address
                    .parse()
                    .map_err(|error| alloc::format!("bootstrap `{address}`: {error}"))?;
                if address.peer_id().is_none() {
                    return Err(alloc::format!("bootstrap `{address}` has no /p2p/ PeerId"));
                }
                if address.tcp_endpoint().is_none() {
                    return Err(alloc::format!("bootstrap `{address}` is not /ip4/../tcp/.."));
                }
                if self.bootstrap.len() == BOOTSTRAP_MAX {
                    return Err(alloc::format!("more than {BOOTSTRAP_MAX} bootstrap peers"));
                }
                self.bootstrap.push(address);
            }
            ("app-channel", [channel]) => {
                if self.app_channels.len() == APP_CHANNELS_MAX {
                    return Err(alloc::format!("more than {APP_CHANNELS_MAX} app channels"));
                }
                self.app_channels.push(channel.to_string());
            }
            _ => return Err(alloc::format!("cannot read `{line}`")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn a_full_page_is_read() {
        let text = alloc::format!(
            "listen-port 4100\nbootstrap /ip4/10.0.2.2/tcp/4002/p2p/{PEER}\napp-channel app-1-netvm\n\
             ping-interval-ms 1000\n"
        );
        let mut page = [0u8; 4096];
        page[..text.len()].copy_from_slice(text.as_bytes());
        let (settings, errors) = Settings::parse(&page);
        assert_eq!(errors, []);
        assert_eq!(settings.listen_port, 4100);
        assert_eq!(settings.ping_interval_ms, 1000);
        assert_eq!(settings.bootstrap.len(), 1);
        assert_eq!(settings.bootstrap[0].tcp_endpoint(), Some(([10, 0, 2, 2], 4002)));
        assert_eq!(settings.app_channels, ["app-1-netvm"]);
    }

    #[test]
    fn an_empty_page_gives_the_defaults() {
        let (settings, errors) = Settings::parse(&[0; 4096]);
        assert_eq!((settings, errors), (Settings::default(), Vec::new()));
    }

    #[test]
    fn bad_lines_are_skipped_and_reported() {
        let text = alloc::format!(
            "listen-port 0\nlisten-port 99999\nbootstrap /ip4/1.2.3.4/tcp/5\nbootstrap nonsense\n\
             bootstrap /dns4/x/udp/1/p2p/{PEER}\nwhat is this\napp-channel\n\
             app-channel app-1-netvm\nping-interval-ms 5\n"
        );
        let (settings, errors) = Settings::parse(text.as_bytes());
        let lines: Vec<usize> = errors.iter().map(|error| error.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 9]);
        assert_eq!(settings.ping_interval_ms, DEFAULT_PING_INTERVAL_MS);
        assert_eq!(settings.listen_port, DEFAULT_PORT);
        assert!(settings.bootstrap.is_empty());
        assert_eq!(settings.app_channels.len(), 1);
        assert_eq!(Settings::parse(&[0xff, 0xfe]).1.len(), 1);
    }
}
