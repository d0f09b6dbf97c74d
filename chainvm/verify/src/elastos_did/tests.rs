//! Tests against the Elastos DID SDK's own test data (the shared vectors)
//! and tampered copies of it.

use super::*;
use crate::json;
use alloc::format;
use alloc::string::{String, ToString};
use proptest::prelude::*;

macro_rules! vector {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/elastos-did/",
            $name
        ))
    };
}

const USER1: &str = vector!("v2.2/user1.id.normalized.json");
const USER2: &str = vector!("v2.2/user2.id.normalized.json");
const USER3: &str = vector!("v2.2/user3.id.normalized.json");
const ISSUER: &str = vector!("v2.2/issuer.id.normalized.json");
const FOO: &str = vector!("v2.2/foo.id.normalized.json");
const EXAMPLECORP: &str = vector!("v2.2/examplecorp.id.normalized.json");
const BAZ: &str = vector!("v2.2/baz.id.normalized.json");
const FOO_EMAIL: &str = vector!("v2.2/foo.vc.email.normalized.json");
const PASSPORT: &str = vector!("v2.2/user1.vc.passport.normalized.json");
const TWITTER: &str = vector!("v2.2/user1.vc.twitter.normalized.json");
const PRESENTATION: &str = vector!("v2.2/user1.vp.nonempty.normalized.json");
const EMPTY_PRESENTATION: &str = vector!("v2.2/user1.vp.empty.normalized.json");
const TICKET: &str = vector!("v2.2/baz.tt.json");
const PRETTY_USER1: &str = vector!("v2.2/pretty/user1.id.json");
const PRETTY_FOO: &str = vector!("v2.2/pretty/foo.id.json");
const PRETTY_PASSPORT: &str = vector!("v2.2/pretty/user1.vc.passport.json");
const REQUEST: &str = vector!("idchain/changedocpayload.json");

const DOCUMENTS: [&str; 7] = [USER1, USER2, USER3, ISSUER, FOO, EXAMPLECORP, BAZ];

fn store() -> DocumentStore {
    let mut store = DocumentStore::new();
    for text in DOCUMENTS {
        store.insert(Document::parse(text).expect("a shared vector document"));
    }
    store
}

fn value(text: &str) -> json::Value {
    json::parse(text).expect("valid JSON")
}

/// `text` with the first `from` replaced by `to` (which must occur).
fn altered(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} is in the text");
    text.replacen(from, to, 1)
}

#[test]
fn normalizing_a_normalized_object_changes_nothing() {
    for text in DOCUMENTS {
        assert_eq!(normalize::document(&value(text)).map(|v| v.to_canonical()), Ok(text.into()));
    }
    for text in [FOO_EMAIL, PASSPORT, TWITTER] {
        assert_eq!(
            normalize::credential(&value(text), None).map(|v| v.to_canonical()),
            Ok(text.into())
        );
    }
    for text in [PRESENTATION, EMPTY_PRESENTATION] {
        assert_eq!(
            normalize::presentation(&value(text)).map(|v| v.to_canonical()),
            Ok(text.into())
        );
    }
    assert_eq!(normalize::ticket(&value(TICKET)).map(|v| v.to_canonical()), Ok(TICKET.into()));
}

#[test]
fn pretty_objects_normalize_to_the_signed_form() {
    let without_proof = |text: &str| value(text).without("proof").to_canonical();
    let normalized = |result: Result<json::Value, DidError>| {
        result.expect("normalizes").without("proof").to_canonical()
    };
    assert_eq!(normalized(normalize::document(&value(PRETTY_USER1))), without_proof(USER1));
    assert_eq!(normalized(normalize::document(&value(PRETTY_FOO))), without_proof(FOO));
    assert_eq!(
        normalized(normalize::credential(&value(PRETTY_PASSPORT), None)),
        without_proof(PASSPORT)
    );
}

#[test]
fn genuine_documents_verify() {
    let store = store();
    for text in DOCUMENTS {
        assert_eq!(Document::parse(text).and_then(|d| d.verify(&store)), Ok(()), "{text}");
    }
    assert_eq!(Document::parse(PRETTY_USER1).and_then(|d| d.verify(&store)), Ok(()));
    assert_eq!(Document::parse(PRETTY_FOO).and_then(|d| d.verify(&store)), Ok(()));
}

#[test]
fn tampered_documents_do_not_verify() {
    let store = store();
    let check = |text: &str| Document::parse(text).and_then(|document| document.verify(&store));
    let mismatch = Err(DidError::Signature(crate::signature::p256::SignatureError::Mismatch));
    assert_eq!(check(&altered(USER1, "john@example.com", "jon@example.com")), mismatch);
    assert_eq!(check(&altered(USER1, "\"FOO\":678", "\"FOO\":679")), mismatch);
    assert_eq!(
        check(&altered(
            USER2,
            "2026-11-20T09:55:44Z\",\"proof\"",
            "2036-11-20T09:55:44Z\",\"proof\""
        )),
        mismatch
    );
    // The primary key replaced by another: nothing derives to the DID any more.
    let user1_primary = "vMYSz32qbWsNeDJpKsuuMaFsiApuZMz9XVy9DmEwysWg";
    let user1_key2 = "vuP6gV9NJLLZC1hZWWYp8faxbCAGoPRJ1qacn1T22BKQ";
    assert_eq!(check(&altered(USER1, user1_primary, user1_key2)), Err(DidError::NoDefaultKey));
    assert_eq!(
        check(&altered(USER1, "8y#primary\",\"signatureValue", "8y#key2\",\"signatureValue")),
        Err(DidError::ProofKeyNotAllowed)
    );
    assert_eq!(
        check(&altered(
            USER3,
            "\"type\":\"ECDSAsecp256r1\",\"created",
            "\"type\":\"Ed25519\",\"created"
        )),
        Err(DidError::ProofType)
    );
    // One signature of a 2:2 document is not enough.
    assert_eq!(check(&altered(FOO, "\"2:2\"", "\"1:2\"")), Err(DidError::ProofCount));
    assert_eq!(check(&altered(FOO, "\"2:2\"", "\"3:2\"")), Err(DidError::InvalidMultisig));
    // baz's proof by user1, claimed to be by user3 (a controller too).
    assert_eq!(
        check(&altered(
            BAZ,
            "iXcRhYB38gMt1phi5JXJMjeXL2TL8cg58y#primary",
            "igXiyCJEUjGJV1DMsMa4EbWunQqVg97GcS#primary"
        )),
        mismatch
    );
    // Not a controller of examplecorp.
    assert_eq!(
        check(&altered(
            EXAMPLECORP,
            "\"creator\":\"did:elastos:imUUPBfrZ1yZx6nWXe6LNN59VeX2E6PPKj#primary\"",
            "\"creator\":\"did:elastos:iXcRhYB38gMt1phi5JXJMjeXL2TL8cg58y#primary\""
        )),
        Err(DidError::ProofKeyNotAllowed)
    );
}

/// A renamed member that normalization would have dropped (and then filled
/// back in with its default) must not pass as the signed form.
#[test]
fn unknown_members_are_not_normalized_away() {
    let store = store();
    let renamed = altered(USER1, "\"type\":\"ECDSAsecp256r1\",\"created\":\"2021-11-20T09:55:44Z\",\"verificationMethod\":\"did:elastos:iXcR", "\"#ype\":\"ECDSAsecp256r1\",\"created\":\"2021-11-20T09:55:44Z\",\"verificationMethod\":\"did:elastos:iXcR");
    assert_eq!(normalize::document(&value(&renamed)), Err(DidError::UnknownMember));
    assert!(Document::parse(&renamed).and_then(|document| document.verify(&store)).is_err());
}

#[test]
fn customized_documents_need_genuine_controllers() {
    let foo = Document::parse(FOO).expect("a vector");
    let mut partial = DocumentStore::new();
    partial.insert(Document::parse(USER1).expect("a vector"));
    assert_eq!(foo.verify(&partial), Err(DidError::UnknownDocument));
    partial.insert(
        Document::parse(&altered(USER2, "john@example.com", "mallory@example.com"))
            .expect("still a document"),
    );
    assert_eq!(foo.verify(&partial), Err(DidError::ReferencedDocumentNotGenuine));
}

#[test]
fn expiry_needs_an_explicit_time() {
    let store = store();
    let user1 = Document::parse(USER1).expect("a vector");
    let before = Timestamp::parse("2026-11-20T09:55:43Z").expect("a time");
    let after = Timestamp::parse("2026-12-08T00:00:00Z").expect("a time");
    assert_eq!(user1.verify_at(&store, before), Ok(()));
    assert_eq!(user1.verify_at(&store, after), Err(DidError::Expired));
    assert_eq!(user1.verify(&store), Ok(()));
    // foo is still valid at `before`, but its controllers are checked too.
    let foo = Document::parse(FOO).expect("a vector");
    assert_eq!(foo.verify_at(&store, before), Ok(()));
    assert_eq!(foo.verify_at(&store, after), Err(DidError::Expired));
    let passport = value(PASSPORT);
    assert_eq!(credential::verify_credential_at(&passport, None, &store, before), Ok(()));
    assert_eq!(
        credential::verify_credential_at(&passport, None, &store, after),
        Err(DidError::Expired)
    );
}

#[test]
fn credentials_verify_and_tampering_is_caught() {
    let store = store();
    let check = |text: &str| credential::verify_credential(&value(text), None, &store);
    for text in [FOO_EMAIL, PASSPORT, TWITTER, PRETTY_PASSPORT] {
        assert_eq!(check(text), Ok(()), "{text}");
    }
    let mismatch = Err(DidError::Signature(crate::signature::p256::SignatureError::Mismatch));
    assert_eq!(check(&altered(PASSPORT, "S653258Z07", "S653258Z08")), mismatch);
    assert_eq!(check(&altered(TWITTER, "@john", "@jon")), mismatch);
    assert_eq!(
        check(&altered(
            FOO_EMAIL,
            "\"credentialSubject\":{\"id\":\"did:elastos:foo\"",
            "\"credentialSubject\":{\"id\":\"did:elastos:baz\""
        )),
        Err(DidError::SubjectMismatch)
    );
    // Issued by a DID nobody knows.
    assert_eq!(
        check(&altered(
            FOO_EMAIL,
            "\"issuer\":\"did:elastos:imUUPBfrZ1yZx6nWXe6LNN59VeX2E6PPKj\"",
            "\"issuer\":\"did:elastos:igHbSCez6H3gTuVPzwNZRrdj92GCJ6hD5d\""
        )),
        Err(DidError::UnknownDocument)
    );
    // user1's recovery key is an authorization key, not an authentication key.
    assert_eq!(
        check(&altered(PASSPORT, "8y#primary", "8y#recovery")),
        Err(DidError::ProofKeyNotAllowed)
    );
    let mut bad_signature = String::from(PASSPORT);
    bad_signature = altered(&bad_signature, "\"signature\":\"5ORd", "\"signature\":\"5OR");
    assert!(check(&bad_signature).is_err());
}

#[test]
fn presentations_verify_and_tampering_is_caught() {
    let store = store();
    let check = |text: &str| credential::verify_presentation(&value(text), &store);
    assert_eq!(check(PRESENTATION), Ok(()));
    assert_eq!(check(EMPTY_PRESENTATION), Ok(()));
    let mismatch = Err(DidError::Signature(crate::signature::p256::SignatureError::Mismatch));
    assert_eq!(check(&altered(EMPTY_PRESENTATION, "873172f5", "873172f6")), mismatch);
    assert_eq!(
        check(&altered(EMPTY_PRESENTATION, "https://example.com/", "https://example.org/")),
        mismatch
    );
    // A credential about foo in user1's presentation.
    let foreign = altered(
        EMPTY_PRESENTATION,
        "\"verifiableCredential\":[]",
        &format!("\"verifiableCredential\":[{FOO_EMAIL}]"),
    );
    assert_eq!(check(&foreign), Err(DidError::SubjectMismatch));
    // A tampered credential inside an otherwise untouched presentation.
    assert!(check(&altered(PRESENTATION, "S653258Z07", "S653258Z08")).is_err());
}

#[test]
fn tickets_verify_and_tampering_is_caught() {
    let store = store();
    let check = |text: &str, store: &DocumentStore| ticket::verify_ticket(&value(text), store);
    assert_eq!(check(TICKET, &store), Ok(()));
    let mismatch = Err(DidError::Signature(crate::signature::p256::SignatureError::Mismatch));
    assert_eq!(check(&altered(TICKET, "igHbSCez6H3", "igHbSCez6H4"), &store), mismatch);
    assert_eq!(check(&altered(TICKET, "c3800b01", "c3800b02"), &store), mismatch);
    assert_eq!(
        check(
            &altered(
                TICKET,
                "idwuEMccSpsTH4ZqrhuHqg6y8XMVQAsY5g#primary",
                "igHbSCez6H3gTuVPzwNZRrdj92GCJ6hD5d#primary"
            ),
            &store
        ),
        Err(DidError::ProofKeyNotAllowed)
    );
    assert_eq!(check(TICKET, &DocumentStore::new()), Err(DidError::UnknownDocument));
}

#[test]
fn id_chain_requests_verify_and_tampering_is_caught() {
    let store = DocumentStore::new();
    let verdict = request::verify_request(&value(REQUEST), &store).expect("a well-formed request");
    assert_eq!(verdict.operation, request::Operation::Create);
    assert_eq!(verdict.request_signature, Ok(()));
    assert_eq!(verdict.payload_document, Some(Ok(())));
    let update = altered(REQUEST, "\"operation\":\"create\"", "\"operation\":\"update\"");
    let verdict = request::verify_request(&value(&update), &store).expect("well-formed");
    assert!(verdict.request_signature.is_err());
    assert_eq!(verdict.payload_document, Some(Ok(())));
    // Signed by an authorization key of the payload's document.
    let by_recovery = altered(REQUEST, "NDQ#key2\"", "NDQ#recovery\"");
    let verdict = request::verify_request(&value(&by_recovery), &store).expect("well-formed");
    assert_eq!(verdict.request_signature, Err(DidError::ProofKeyNotAllowed));
    let unknown = altered(REQUEST, "\"operation\":\"create\"", "\"operation\":\"revoke\"");
    assert_eq!(request::verify_request(&value(&unknown), &store), Err(DidError::InvalidRequest));
}

#[test]
fn recognises_kinds() {
    assert_eq!(Kind::of(&value(USER1)), Some(Kind::Document));
    assert_eq!(Kind::of(&value(PRETTY_FOO)), Some(Kind::Document));
    assert_eq!(Kind::of(&value(FOO_EMAIL)), Some(Kind::Credential));
    assert_eq!(Kind::of(&value(PRESENTATION)), Some(Kind::Presentation));
    assert_eq!(Kind::of(&value(TICKET)), Some(Kind::TransferTicket));
    assert_eq!(Kind::of(&value(REQUEST)), Some(Kind::IdChainRequest));
    assert_eq!(Kind::of(&value("{\"cases\":[]}")), None);
}

proptest! {
    #[test]
    fn readers_never_panic(text in "\\PC{0,300}") {
        let store = store();
        let _ = Document::parse(&text).map(|document| document.verify(&store));
        if let Ok(parsed) = json::parse(&text) {
            let _ = credential::verify_credential(&parsed, None, &store);
            let _ = credential::verify_presentation(&parsed, &store);
            let _ = ticket::verify_ticket(&parsed, &store);
            let _ = request::verify_request(&parsed, &store);
        }
    }

    #[test]
    fn any_change_to_a_signed_value_is_caught(position in 0usize..16, replacement in "[a-zA-Z0-9@.]") {
        let store = store();
        let original = "john@example.com";
        let mut changed: String = original.to_string();
        let index = position % original.len();
        changed.replace_range(index..=index, &replacement);
        prop_assume!(changed != original);
        let text = USER1.replace(original, &changed);
        prop_assert!(Document::parse(&text).and_then(|d| d.verify(&store)).is_err());
    }

    #[test]
    fn byte_flips_never_panic(position in 0usize..4374, byte in any::<u8>()) {
        let store = store();
        let mut bytes = USER1.as_bytes().to_vec();
        let index = position % bytes.len();
        bytes[index] = byte;
        if let Ok(text) = core::str::from_utf8(&bytes) {
            let result = Document::parse(text).and_then(|document| document.verify(&store));
            if USER1.as_bytes()[index] != byte && result.is_ok() {
                // Only a change the signature does not cover may pass: the
                // proof's own creation time or an equivalent spelling.
                let proof_start = USER1.rfind(",\"proof\"").expect("a proof");
                prop_assert!(index > proof_start, "byte {index} changed to {byte} still verifies");
            }
        }
    }
}
