//! The `elastos` command in Linux: installs and manages dapps through the
//! Elastos side.
//!
//! Each run opens one vsock stream to the host's context id (2) on the
//! control port (5000), where chainvm answers; says hello with the protocol
//! version; sends one request; prints the answer, for a person or as JSON
//! (`--json`); and exits 0, or 1 with a one-line reason on standard error
//! (`elastos: install: package refused: ...`), or 2 for a command line it
//! does not understand. The messages are those of the `elastos-control`
//! crate, which the Elastos side shares.
//!
//! Setting `ELASTOS_CONTROL_SOCKET` to a Unix socket's path talks to that
//! socket instead, for trying the command against a stand-in server.
//!
//! - [`arguments`]: the command line.
//! - [`client`]: the protocol client over any byte stream.
//! - [`output`]: lines for a person, or JSON.
//! - [`vsock`]: the `AF_VSOCK` socket.

pub mod arguments;
pub mod client;
pub mod output;
#[cfg(target_os = "linux")]
pub mod vsock;

use arguments::{Command, Invocation};
use client::{Client, ClientError};
use elastos_control::{Request, CONTROL_PORT, HOST_CID};
use std::io::{self, Read, Write};

/// What a run prints and how it exits.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The exit status.
    pub code: i32,
}

impl Outcome {
    fn failure(invocation: &Invocation, kind: &str, line: String) -> Self {
        let stdout =
            if invocation.json { output::json_failure(kind, &line) } else { String::new() };
        Self { stdout, stderr: format!("elastos: {line}\n"), code: 1 }
    }
}

/// Where the command connects, for messages.
pub fn destination() -> String {
    match std::env::var_os("ELASTOS_CONTROL_SOCKET") {
        Some(path) => format!("Unix socket {}", path.to_string_lossy()),
        None => format!("vsock CID {HOST_CID} port {CONTROL_PORT}"),
    }
}

/// Runs one command: reads its input, connects with `connect`, asks, and
/// says what to print.
pub fn run<S, C>(invocation: &Invocation, connect: C) -> Outcome
where
    S: Read + Write,
    C: FnOnce() -> io::Result<S>,
{
    let name = invocation.command.name();
    let package;
    let request = match &invocation.command {
        Command::Install(path) => {
            package = match std::fs::read(path) {
                Ok(package) => package,
                Err(error) => {
                    let line = format!("{name}: cannot read {}: {error}", path.display());
                    return Outcome::failure(invocation, "command", line);
                }
            };
            Request::Install { package: &package }
        }
        Command::List => Request::List,
        Command::Start(dapp) => Request::Start { name: dapp },
        Command::Stop(dapp) => Request::Stop { name: dapp },
        Command::Remove(dapp) => Request::Remove { name: dapp },
        Command::Logs(dapp) => Request::Logs { name: dapp },
        Command::Status => Request::Status,
        Command::Requests => Request::Requests,
        Command::Approve(id) => Request::Approve { id: *id },
        Command::Deny(id) => Request::Deny { id: *id },
        Command::Audit => Request::Audit,
        Command::Identity => Request::Identity,
    };
    let stream = match connect() {
        Ok(stream) => stream,
        Err(error) => {
            let line = format!("cannot reach the Elastos side ({}): {error}", destination());
            return Outcome::failure(invocation, "unreachable", line);
        }
    };
    let answer = Client::connect(stream).and_then(|mut client| client.call(&request));
    match answer {
        Ok(response) => Outcome {
            stdout: if invocation.json {
                output::json(&response)
            } else {
                output::human(&response)
            },
            stderr: String::new(),
            code: 0,
        },
        Err(ClientError::Refused(error)) => {
            let line = format!("{name}: {error}");
            let mut outcome = Outcome::failure(invocation, "refused", line);
            if invocation.json {
                outcome.stdout = output::json(&elastos_control::Response::Error(error));
            }
            outcome
        }
        Err(error) => Outcome::failure(invocation, "connection", format!("{name}: {error}")),
    }
}
