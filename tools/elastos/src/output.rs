//! What the command prints: lines for a person, or one JSON document.

use elastos_control::{DappInfo, DappState, Response, VmState};
use std::fmt::Write;

/// Text from the Elastos side with control characters replaced, so it cannot
/// move the cursor or change the terminal.
fn printable(text: &str) -> String {
    text.chars().map(|character| if character.is_control() { '?' } else { character }).collect()
}

fn dapp_state(state: &DappState) -> String {
    match state {
        DappState::Installed => "installed".into(),
        DappState::Running => "running".into(),
        DappState::Stopped => "stopped".into(),
        DappState::Failed { reason } => format!("failed: {}", printable(reason)),
    }
}

fn vm_state(state: &VmState) -> String {
    match state {
        VmState::Idle => "idle".into(),
        VmState::Starting => "starting".into(),
        VmState::Running => "running".into(),
        VmState::Stopped => "stopped".into(),
        VmState::Failed { reason } => format!("failed: {}", printable(reason)),
    }
}

fn capabilities(dapp: &DappInfo) -> String {
    if dapp.capabilities.is_empty() {
        "none".into()
    } else {
        dapp.capabilities
            .iter()
            .map(|capability| printable(capability))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn slot(slot: Option<u32>) -> String {
    slot.map_or_else(|| "-".into(), |slot| slot.to_string())
}

/// The answer for a person, ending with a newline (empty when there is
/// nothing to say).
pub fn human(response: &Response) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = write_human(&mut text, response);
    text
}

fn write_human(text: &mut String, response: &Response) -> std::fmt::Result {
    match response {
        Response::Welcome { version } => writeln!(text, "protocol version {version}"),
        Response::Installed(dapp) => writeln!(
            text,
            "installed {} {} from {} (capabilities: {})",
            printable(&dapp.name),
            printable(&dapp.version),
            printable(&dapp.publisher),
            capabilities(dapp)
        ),
        Response::Dapps(dapps) if dapps.is_empty() => writeln!(text, "no dapps installed"),
        Response::Dapps(dapps) => {
            writeln!(
                text,
                "{:<20} {:<10} {:<12} {:<4} PUBLISHER",
                "NAME", "VERSION", "STATE", "SLOT"
            )?;
            for dapp in dapps {
                writeln!(
                    text,
                    "{:<20} {:<10} {:<12} {:<4} {}",
                    printable(&dapp.name),
                    printable(&dapp.version),
                    dapp_state(&dapp.state),
                    slot(dapp.slot),
                    printable(&dapp.publisher)
                )?;
            }
            Ok(())
        }
        Response::Started(dapp) => {
            writeln!(text, "started {} in slot {}", printable(&dapp.name), slot(dapp.slot))
        }
        Response::Stopped(dapp) => writeln!(text, "stopped {}", printable(&dapp.name)),
        Response::Removed { name } => writeln!(text, "removed {}", printable(name)),
        Response::Logs(lines) => {
            for line in lines {
                writeln!(text, "{}", printable(line))?;
            }
            Ok(())
        }
        Response::Status(status) => {
            writeln!(
                text,
                "node {} (Elastos {})",
                printable(&status.identity),
                printable(&status.version)
            )?;
            for vm in &status.vms {
                writeln!(
                    text,
                    "  {:<10} {:<12} slot {:<3} restarts {:<3} {}",
                    printable(&vm.name),
                    vm_state(&vm.state),
                    slot(vm.slot),
                    vm.restarts,
                    vm.dapp.as_deref().map(printable).unwrap_or_default()
                )?;
            }
            Ok(())
        }
        Response::Requests(requests) if requests.is_empty() => {
            writeln!(text, "no pending requests")
        }
        Response::Requests(requests) => {
            writeln!(text, "{:<6} {:<20} {:<16} DETAIL", "ID", "DAPP", "CAPABILITY")?;
            for request in requests {
                writeln!(
                    text,
                    "{:<6} {:<20} {:<16} {}",
                    request.id,
                    printable(&request.dapp),
                    printable(&request.capability),
                    printable(&request.detail)
                )?;
            }
            Ok(())
        }
        Response::Approved(request) => writeln!(
            text,
            "approved request {}: {} may use {}",
            request.id,
            printable(&request.dapp),
            printable(&request.capability)
        ),
        Response::Denied(request) => writeln!(
            text,
            "denied request {}: {} may not use {}",
            request.id,
            printable(&request.dapp),
            printable(&request.capability)
        ),
        Response::Audit(entries) if entries.is_empty() => writeln!(text, "the audit log is empty"),
        Response::Audit(entries) => {
            for entry in entries {
                writeln!(
                    text,
                    "#{} t={} {} {}: {}",
                    entry.sequence,
                    entry.time,
                    entry.dapp.as_deref().map(printable).unwrap_or_else(|| "-".into()),
                    printable(&entry.action),
                    printable(&entry.outcome)
                )?;
            }
            Ok(())
        }
        Response::Identity(identity) => {
            writeln!(text, "{}", printable(&identity.did))?;
            match serde_json::from_str::<serde_json::Value>(&identity.document) {
                // Serialising a parsed JSON value cannot fail; its strings
                // come out escaped, so they cannot reach the terminal raw.
                Ok(document) => {
                    writeln!(
                        text,
                        "{}",
                        serde_json::to_string_pretty(&document).unwrap_or_default()
                    )
                }
                Err(_) => writeln!(text, "{}", printable(&identity.document)),
            }
        }
        Response::Error(error) => writeln!(text, "{}", printable(&error.to_string())),
    }
}

/// The answer as one JSON document: `{"installed": {...}}`, `{"dapps": [...]}`,
/// `{"error": {"kind": ..., "reason": ...}}`...
/// except `identity`, which is `{"did": ..., "document": {...}}` with the
/// DID document as JSON (as text if the Elastos side sent something else).
pub fn json(response: &Response) -> String {
    // Serialising these plain structures to a String cannot fail.
    let text = match response {
        Response::Identity(identity) => {
            let document = serde_json::from_str::<serde_json::Value>(&identity.document)
                .unwrap_or_else(|_| serde_json::Value::String(identity.document.clone()));
            let answer = serde_json::json!({ "did": identity.did, "document": document });
            serde_json::to_string_pretty(&answer)
        }
        response => serde_json::to_string_pretty(response),
    };
    text.unwrap_or_default() + "\n"
}

/// A failure that is not an answer (the connection, the package file) as a
/// JSON document: `{"error": {"kind": "command", "reason": ...}}`.
pub fn json_failure(kind: &str, reason: &str) -> String {
    let document = serde_json::json!({ "error": { "kind": kind, "reason": reason } });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use elastos_control::{ControlError, ErrorKind, NodeIdentity, PendingRequest};

    fn dapp() -> DappInfo {
        DappInfo {
            name: "hello".into(),
            version: "1.2.0".into(),
            publisher: "did:key:z6Mkpublisher".into(),
            state: DappState::Failed { reason: "trap\x1b[2J".into() },
            slot: Some(1),
            capabilities: vec!["network".into()],
        }
    }

    #[test]
    fn people_get_lines() {
        assert_eq!(
            human(&Response::Installed(dapp())),
            "installed hello 1.2.0 from did:key:z6Mkpublisher (capabilities: network)\n"
        );
        let listed = human(&Response::Dapps(vec![dapp()]));
        assert!(listed.starts_with("NAME "));
        assert!(listed.contains("failed: trap?[2J"), "{listed}");
        assert_eq!(human(&Response::Dapps(Vec::new())), "no dapps installed\n");
        let request = PendingRequest {
            id: 4,
            dapp: "hello".into(),
            capability: "network".into(),
            detail: "connect to example.org".into(),
        };
        assert_eq!(
            human(&Response::Approved(request)),
            "approved request 4: hello may use network\n"
        );
    }

    #[test]
    fn json_is_one_document() {
        let text = json(&Response::Started(dapp()));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["started"]["name"], "hello");
        assert_eq!(value["started"]["state"]["failed"]["reason"], "trap\x1b[2J");
        assert_eq!(value["started"]["slot"], 1);
        let error = Response::Error(ControlError::new(ErrorKind::PackageRefused, "bad signature"));
        let value: serde_json::Value = serde_json::from_str(&json(&error)).unwrap();
        assert_eq!(value["error"]["kind"], "package_refused");
        let value: serde_json::Value =
            serde_json::from_str(&json_failure("unreachable", "no vsock")).unwrap();
        assert_eq!(value["error"]["reason"], "no vsock");
    }

    fn identity() -> Response {
        Response::Identity(NodeIdentity {
            did: "did:key:z6Mknode".into(),
            document: r##"{"id":"did:key:z6Mknode","keyAgreement":["#z6LSnode"]}"##.into(),
        })
    }

    #[test]
    fn the_identity_is_the_did_then_the_document() {
        let text = human(&identity());
        let (did, document) = text.split_once('\n').unwrap();
        assert_eq!(did, "did:key:z6Mknode");
        let document: serde_json::Value = serde_json::from_str(document).unwrap();
        assert_eq!(document["keyAgreement"][0], "#z6LSnode");
        let value: serde_json::Value = serde_json::from_str(&json(&identity())).unwrap();
        assert_eq!(value["did"], "did:key:z6Mknode");
        assert_eq!(value["document"]["id"], "did:key:z6Mknode");
        let broken = Response::Identity(NodeIdentity {
            did: "did:key:z6Mknode".into(),
            document: "not json\x1b[2J".into(),
        });
        assert_eq!(human(&broken), "did:key:z6Mknode\nnot json?[2J\n");
        let value: serde_json::Value = serde_json::from_str(&json(&broken)).unwrap();
        assert_eq!(value["document"], "not json\x1b[2J");
    }
}
