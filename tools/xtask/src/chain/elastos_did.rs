//! The Elastos DID vector formats (see `shared/vectors/elastos-did/README.md`):
//! a `manifest.json` of cases, and the did:elastos objects it names
//! (documents, credentials, presentations, transfer tickets, ID chain
//! requests).
//!
//! Each manifest case is named by its file. Its `context` files are the
//! documents that may be looked up (controllers, issuers, holders); its
//! `expect` is `{genuine}` or, for a request,
//! `{request_signature_valid, payload_document_genuine}` (two cases,
//! `FILE#request_signature` and `FILE#payload_document`). A case with a
//! `now` is also checked for expiry at that time (`FILE#valid at NOW`,
//! expected `expect.valid`). An object file on its own gives one case,
//! `kind`, which names the kind of object it was taken for: its verdict
//! needs the context its manifest gives, and comes from the manifest's case.

use super::Case;
use chain_verify::elastos_did::{
    credential, request, ticket, DidError, Document, DocumentStore, Kind, Timestamp,
};
use chain_verify::json::{self, Value};
use std::path::Path;

/// The cases of `text` if it is a file of these formats.
pub fn read(path: &Path, text: &str) -> Option<Result<Vec<Case>, String>> {
    if !text.contains("did:elastos:") && !text.contains("\"cases\"") {
        return None;
    }
    let value = json::parse(text).ok()?;
    if is_manifest(&value) {
        let folder = path.parent().unwrap_or(Path::new("."));
        return Some(manifest_cases(folder, &value));
    }
    let kind = Kind::of(&value)?;
    Some(Ok(vec![Case::compare("kind", kind_name(kind), kind_name(kind))]))
}

fn is_manifest(value: &Value) -> bool {
    value.get("cases").and_then(Value::as_array).is_some_and(|cases| {
        !cases.is_empty()
            && cases
                .iter()
                .all(|case| case.get_str("file").is_some() && case.get("expect").is_some())
            && cases
                .iter()
                .any(|case| case.get_str("kind").is_some_and(|kind| kind_named(kind).is_some()))
    })
}

fn kind_named(name: &str) -> Option<Kind> {
    match name {
        "document" => Some(Kind::Document),
        "credential" => Some(Kind::Credential),
        "presentation" => Some(Kind::Presentation),
        "transfer_ticket" => Some(Kind::TransferTicket),
        "idchain_request" => Some(Kind::IdChainRequest),
        _ => None,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Document => "document",
        Kind::Credential => "credential",
        Kind::Presentation => "presentation",
        Kind::TransferTicket => "transfer_ticket",
        Kind::IdChainRequest => "idchain_request",
    }
}

fn read_object(folder: &Path, file: &str) -> Result<Value, String> {
    let path = folder.join(file);
    let text =
        std::fs::read_to_string(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    json::parse(&text).map_err(|error| format!("{}: not JSON ({error:?})", path.display()))
}

fn verdict(result: &Result<(), DidError>, yes: &str, no: &str) -> String {
    match result {
        Ok(()) => yes.into(),
        Err(error) => format!("{no} ({error:?})"),
    }
}

/// Compares the verdict (the text before any ` (reason)`); the reason is
/// shown only when the verdict is wrong.
fn compare(name: String, expected: &str, got: String) -> Case {
    let verdict = got.split(" (").next().unwrap_or("").to_string();
    if verdict == expected {
        Case::compare(name, expected, verdict)
    } else {
        Case::compare(name, expected, got)
    }
}

fn expected_word(expect: &Value, key: &str, yes: &str, no: &str) -> Result<Option<String>, String> {
    match expect.get(key) {
        None => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(yes.into())),
        Some(Value::Bool(false)) => Ok(Some(no.into())),
        Some(_) => Err(format!("expect.{key} is not a boolean")),
    }
}

fn manifest_cases(folder: &Path, manifest: &Value) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for case in manifest.get("cases").and_then(Value::as_array).unwrap_or(&[]) {
        let file = case.get_str("file").ok_or("a case has no file")?;
        // A file checked twice (another context, another time) is named
        // `FILE (2)`, `FILE (3)`... the second and later times.
        seen.push(file);
        let times = seen.iter().filter(|seen| **seen == file).count();
        let name = if times == 1 { file.to_string() } else { format!("{file} ({times})") };
        let expect = case.get("expect").ok_or("a case has no expect")?;
        let mut store = DocumentStore::new();
        for context in case.get("context").and_then(Value::as_array).unwrap_or(&[]) {
            let context = context.as_str().ok_or("a context entry is not a file name")?;
            let document = Document::read(read_object(folder, context)?)
                .map_err(|error| format!("{context}: not a DID document ({error:?})"))?;
            store.insert(document);
        }
        let value = read_object(folder, file)?;
        let kind = match case.get_str("kind") {
            Some(name) => kind_named(name).ok_or_else(|| format!("{file}: unknown kind {name}"))?,
            None => Kind::of(&value).ok_or_else(|| format!("{file}: not a did:elastos object"))?,
        };
        let now = match case.get_str("now") {
            None => None,
            Some(text) => {
                Some(Timestamp::parse(text).ok_or_else(|| format!("{file}: bad now {text}"))?)
            }
        };
        if kind == Kind::IdChainRequest {
            let verdict_of = request::verify_request(&value, &store);
            let (request_signature, payload_document) = match verdict_of {
                Ok(verdict) => (
                    verdict.request_signature,
                    verdict.payload_document.unwrap_or(Err(DidError::InvalidRequest)),
                ),
                Err(error) => (Err(error), Err(error)),
            };
            if let Some(expected) =
                expected_word(expect, "request_signature_valid", "valid", "invalid")?
            {
                let got = verdict(&request_signature, "valid", "invalid");
                cases.push(compare(format!("{name}#request_signature"), &expected, got));
            }
            if let Some(expected) =
                expected_word(expect, "payload_document_genuine", "genuine", "not genuine")?
            {
                let got = verdict(&payload_document, "genuine", "not genuine");
                cases.push(compare(format!("{name}#payload_document"), &expected, got));
            }
            if let Some(expected) = expected_word(expect, "genuine", "genuine", "not genuine")? {
                let both = request_signature.and(payload_document);
                cases.push(compare(
                    name.clone(),
                    &expected,
                    verdict(&both, "genuine", "not genuine"),
                ));
            }
            continue;
        }
        let check = |now: Option<Timestamp>| -> Result<(), DidError> {
            match (kind, now) {
                (Kind::Document, None) => Document::read(value.clone())?.verify(&store),
                (Kind::Document, Some(now)) => {
                    Document::read(value.clone())?.verify_at(&store, now)
                }
                (Kind::Credential, None) => credential::verify_credential(&value, None, &store),
                (Kind::Credential, Some(now)) => {
                    credential::verify_credential_at(&value, None, &store, now)
                }
                (Kind::Presentation, None) => credential::verify_presentation(&value, &store),
                (Kind::Presentation, Some(now)) => {
                    credential::verify_presentation_at(&value, &store, now)
                }
                (Kind::TransferTicket, _) => ticket::verify_ticket(&value, &store),
                (Kind::IdChainRequest, _) => Err(DidError::InvalidRequest),
            }
        };
        let expected = expected_word(expect, "genuine", "genuine", "not genuine")?
            .ok_or_else(|| format!("{file}: expect has no genuine"))?;
        cases.push(compare(
            name.clone(),
            &expected,
            verdict(&check(None), "genuine", "not genuine"),
        ));
        if let (Some(now), Some(expected)) =
            (now, expected_word(expect, "valid", "valid", "invalid")?)
        {
            let name = format!("{name}#valid at {}", case.get_str("now").unwrap_or(""));
            cases.push(compare(name, &expected, verdict(&check(Some(now)), "valid", "invalid")));
        }
    }
    Ok(cases)
}
