//! The command line: `elastos [--json] [--timeout SECONDS] COMMAND [ARGUMENT]`.

use std::path::PathBuf;
use std::time::Duration;

/// What `elastos --help` prints.
pub const USAGE: &str = "\
usage: elastos [--json] [--timeout SECONDS] COMMAND [ARGUMENT]

Manage the dapps of the Elastos side of this machine.

commands:
  install FILE   verify a signed dapp package and install it
  list           the installed dapps
  start NAME     start a dapp in an app VM
  stop NAME      stop a running dapp
  remove NAME    remove an installed dapp
  logs NAME      a dapp's log lines
  status         the node's identity and each VM
  requests       capability requests waiting for your decision
  approve ID     grant a pending request
  deny ID        refuse a pending request
  audit          the audit log
  identity       the node's DID and its DID document

options:
  --json             print one JSON document on standard output
  --timeout SECONDS  how long to wait for an answer (default 60)
  -h, --help         print this help
  -V, --version      print the version
";

/// What to ask the Elastos side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `install FILE`.
    Install(PathBuf),
    /// `list`.
    List,
    /// `start NAME`.
    Start(String),
    /// `stop NAME`.
    Stop(String),
    /// `remove NAME`.
    Remove(String),
    /// `logs NAME`.
    Logs(String),
    /// `status`.
    Status,
    /// `requests`.
    Requests,
    /// `approve ID`.
    Approve(u64),
    /// `deny ID`.
    Deny(u64),
    /// `audit`.
    Audit,
    /// `identity`.
    Identity,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Install(_) => "install",
            Self::List => "list",
            Self::Start(_) => "start",
            Self::Stop(_) => "stop",
            Self::Remove(_) => "remove",
            Self::Logs(_) => "logs",
            Self::Status => "status",
            Self::Requests => "requests",
            Self::Approve(_) => "approve",
            Self::Deny(_) => "deny",
            Self::Audit => "audit",
            Self::Identity => "identity",
        }
    }
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The command.
    pub command: Command,
    /// `--json`.
    pub json: bool,
    /// `--timeout`.
    pub timeout: Duration,
}

/// What the command line asks for besides a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run a command.
    Run(Invocation),
    /// Print the help.
    Help,
    /// Print the version.
    Version,
}

/// A command line that makes no sense, with the reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses the arguments after the program's name.
pub fn parse(arguments: &[String]) -> Result<Parsed, UsageError> {
    let mut json = false;
    let mut timeout = Duration::from_secs(60);
    let mut words = Vec::new();
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        match argument.as_str() {
            "--json" => json = true,
            "-h" | "--help" | "help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--timeout" => {
                let value = iterator
                    .next()
                    .ok_or_else(|| UsageError("--timeout needs a number of seconds".into()))?;
                let seconds: u64 =
                    value.parse().ok().filter(|&seconds| seconds > 0).ok_or_else(|| {
                        UsageError(format!("--timeout {value}: not a positive number of seconds"))
                    })?;
                timeout = Duration::from_secs(seconds);
            }
            option if option.starts_with("--") => {
                return Err(UsageError(format!("unknown option {option}")))
            }
            word => words.push(word.to_string()),
        }
    }
    let mut words = words.into_iter();
    let name = words.next().ok_or_else(|| UsageError("no command given".into()))?;
    let mut operand =
        |what: &str| words.next().ok_or_else(|| UsageError(format!("{name} needs {what}")));
    let identifier = |text: String| {
        text.parse::<u64>()
            .map_err(|_| UsageError(format!("{name}: {text} is not a request id (a number)")))
    };
    let command = match name.as_str() {
        "install" => Command::Install(PathBuf::from(operand("a package file")?)),
        "list" => Command::List,
        "start" => Command::Start(operand("a dapp name")?),
        "stop" => Command::Stop(operand("a dapp name")?),
        "remove" => Command::Remove(operand("a dapp name")?),
        "logs" => Command::Logs(operand("a dapp name")?),
        "status" => Command::Status,
        "requests" => Command::Requests,
        "approve" => Command::Approve(identifier(operand("a request id")?)?),
        "deny" => Command::Deny(identifier(operand("a request id")?)?),
        "audit" => Command::Audit,
        "identity" => Command::Identity,
        other => return Err(UsageError(format!("unknown command {other}"))),
    };
    if let Some(extra) = words.next() {
        return Err(UsageError(format!("{}: unexpected argument {extra}", command.name())));
    }
    Ok(Parsed::Run(Invocation { command, json, timeout }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands_and_options() {
        let Ok(Parsed::Run(invocation)) = parse(&words("install app.elastos --json")) else {
            panic!("install parses")
        };
        assert_eq!(invocation.command, Command::Install("app.elastos".into()));
        assert!(invocation.json);
        let Ok(Parsed::Run(invocation)) = parse(&words("--timeout 5 approve 12")) else {
            panic!("approve parses")
        };
        assert_eq!(invocation.command, Command::Approve(12));
        assert_eq!(invocation.timeout, Duration::from_secs(5));
        assert!(!invocation.json);
        assert_eq!(parse(&words("status --help")), Ok(Parsed::Help));
        assert_eq!(parse(&words("-V")), Ok(Parsed::Version));
        let Ok(Parsed::Run(invocation)) = parse(&words("identity --json")) else {
            panic!("identity parses")
        };
        assert_eq!(invocation.command, Command::Identity);
        assert!(invocation.json);
    }

    #[test]
    fn mistakes_are_explained() {
        let error = |line: &str| parse(&words(line)).unwrap_err().0;
        assert_eq!(error(""), "no command given");
        assert_eq!(error("start"), "start needs a dapp name");
        assert_eq!(error("deny twelve"), "deny: twelve is not a request id (a number)");
        assert_eq!(error("list extra"), "list: unexpected argument extra");
        assert_eq!(error("identity extra"), "identity: unexpected argument extra");
        assert_eq!(error("frobnicate"), "unknown command frobnicate");
        assert_eq!(error("--timeout 0 list"), "--timeout 0: not a positive number of seconds");
        assert_eq!(error("--verbose list"), "unknown option --verbose");
    }
}
