//! The signing service's policy decisions, rate limits, approvals, timeouts
//! and audit log.

use super::*;
use alloc::vec;
use ed25519_dalek::{Signature, VerifyingKey};
use elastos_package::{PublisherKey, SignKeys};
use elastos_store::MemoryDisk;
use guest_runtime::supervision::StorageOperation;

const SECOND: u64 = 1_000_000_000;

fn policy(approval: Approval, per_minute: u32) -> SignPolicy {
    SignPolicy {
        keys: SignKeys { node: true, dapp: true },
        payload_kinds: vec!["chat/v1".into(), "vote".into()],
        per_minute,
        approval,
    }
}

fn store() -> Store<MemoryDisk> {
    Store::format(MemoryDisk::new(4096)).unwrap()
}

fn service() -> SigningService {
    SigningService::new(Ok(NodeKey::from_secret([3; 32])))
}

/// The record an app VM sends for a signature.
fn origin(dapp: &str, key: u8, kind: &str, payload: &[u8]) -> StorageRequest {
    let mut value = vec![key];
    value.extend_from_slice(payload);
    StorageRequest {
        slot: 0,
        run: 1,
        request: 7,
        dapp: dapp.into(),
        operation: StorageOperation::Sign,
        key: kind.as_bytes().to_vec(),
        value,
    }
}

/// The signature and DID of an answer, checked against the DID's key.
fn verified(answer: &(i32, Vec<u8>), kind: &str, payload: &[u8]) -> String {
    let (status, value) = answer;
    assert_eq!(*status as usize, value.len(), "status is the length");
    let signature = Signature::from_bytes(value[..64].try_into().unwrap());
    let did = core::str::from_utf8(&value[64..]).unwrap().to_string();
    let key = PublisherKey::from_did_key(&did).unwrap();
    let key = VerifyingKey::from_bytes(key.as_bytes()).unwrap();
    key.verify_strict(&signed_message(kind, payload), &signature).expect("the signature verifies");
    // Not over the bare payload, nor for another kind.
    assert!(key.verify_strict(payload, &signature).is_err());
    assert!(
        key.verify_strict(&signed_message("vote", payload), &signature).is_err() || kind == "vote"
    );
    did
}

#[test]
fn the_policy_decides() {
    let request = |key, kind: &str| SignRequest { key, kind: kind.into(), payload: vec![1] };
    let mut window = RateWindow::default();
    let open = policy(Approval::Never, 100);
    assert_eq!(
        decide(None, &request(SignKey::Node, "vote"), &mut window, 0),
        Decision::Refuse(Refusal::NotAllowed)
    );
    let node_only = SignPolicy { keys: SignKeys { node: true, dapp: false }, ..open.clone() };
    assert_eq!(
        decide(Some(&node_only), &request(SignKey::Dapp, "vote"), &mut window, 0),
        Decision::Refuse(Refusal::KeyNotAllowed)
    );
    assert_eq!(
        decide(Some(&open), &request(SignKey::Node, "other"), &mut window, 0),
        Decision::Refuse(Refusal::KindNotAllowed)
    );
    assert_eq!(
        decide(Some(&open), &request(SignKey::Dapp, "vote"), &mut window, 0),
        Decision::Sign
    );
    let asking = policy(Approval::Always, 100);
    assert_eq!(
        decide(Some(&asking), &request(SignKey::Node, "vote"), &mut window, 0),
        Decision::Ask
    );
}

#[test]
fn the_rate_is_per_minute() {
    let open = policy(Approval::Never, 3);
    let request = SignRequest { key: SignKey::Node, kind: "vote".into(), payload: vec![] };
    let mut window = RateWindow::default();
    for second in 0..3 {
        assert_eq!(decide(Some(&open), &request, &mut window, second * SECOND), Decision::Sign);
    }
    assert_eq!(
        decide(Some(&open), &request, &mut window, 59 * SECOND),
        Decision::Refuse(Refusal::RateLimited)
    );
    // The first one is a minute old at 60 s: room for one.
    assert_eq!(decide(Some(&open), &request, &mut window, 60 * SECOND), Decision::Sign);
    assert_eq!(
        decide(Some(&open), &request, &mut window, 60 * SECOND),
        Decision::Refuse(Refusal::RateLimited)
    );
}

#[test]
fn node_and_dapp_keys_sign_and_are_told_apart() {
    let mut service = service();
    let mut store = store();
    let open = policy(Approval::Never, 100);
    let publisher = [9u8; 32];
    let node = service
        .request(origin("chat", 0, "chat/v1", b"hello"), Some(&open), publisher, 0, 100)
        .unwrap();
    assert_eq!(verified(&node, "chat/v1", b"hello"), service.did());
    let dapp = service
        .request(origin("chat", 1, "chat/v1", b"hello"), Some(&open), publisher, 0, 100)
        .unwrap();
    let dapp_did = verified(&dapp, "chat/v1", b"hello");
    assert_ne!(dapp_did, service.did());
    assert_eq!(dapp_did, NodeKey::from_secret([3; 32]).dapp_key("chat", &publisher).did());
    // Another dapp's key is another: a dapp cannot sign as another.
    let other =
        service.request(origin("notes", 1, "vote", b"x"), Some(&open), publisher, 0, 100).unwrap();
    assert_ne!(verified(&other, "vote", b"x"), dapp_did);
    let audit = service.audit_entries(&mut store).unwrap();
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0].sequence, 0);
    assert_eq!(audit[0].time, 100);
    assert_eq!(audit[0].dapp.as_deref(), Some("chat"));
    assert_eq!(audit[0].action, "sign");
    assert!(audit[0].outcome.starts_with("allowed: node key, kind chat/v1, 5 bytes, sha256:"));
    let digest = Sha256::digest(b"hello");
    assert!(audit[0].outcome.contains(&format!("{:02x}{:02x}", digest[0], digest[1])));
    assert!(audit[1].outcome.starts_with("allowed: dapp key"));
}

#[test]
fn bad_requests_get_errors_and_are_logged() {
    let mut service = service();
    let mut store = store();
    let open = policy(Approval::Never, 100);
    let cases = [
        origin("chat", 2, "vote", b"x"),
        origin("chat", 0, "", b"x"),
        origin("chat", 0, &"k".repeat(KIND_MAX + 1), b"x"),
        origin("chat", 0, "vote", &vec![0; PAYLOAD_MAX + 1]),
        StorageRequest { value: Vec::new(), ..origin("chat", 0, "vote", b"") },
        StorageRequest { key: vec![0xff, 0xfe], ..origin("chat", 0, "vote", b"x") },
    ];
    for case in cases {
        let answer = service.request(case, Some(&open), [0; 32], 0, 0).unwrap();
        assert_eq!(answer, (Status::InvalidArgument.code(), Vec::new()));
    }
    let refused =
        service.request(origin("chat", 0, "other", b"x"), Some(&open), [0; 32], 0, 0).unwrap();
    assert_eq!(refused.0, Status::Denied.code());
    let refused = service.request(origin("chat", 0, "vote", b"x"), None, [0; 32], 0, 0).unwrap();
    assert_eq!(refused.0, Status::Denied.code());
    let audit = service.audit_entries(&mut store).unwrap();
    assert_eq!(audit.len(), 8);
    assert!(audit.iter().all(|entry| entry.outcome.starts_with("refused")));
}

#[test]
fn without_a_key_nothing_is_signed() {
    let mut service = SigningService::new(Err(NoKey::Damaged));
    let open = policy(Approval::Never, 100);
    let answer =
        service.request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], 0, 0).unwrap();
    assert_eq!(answer, (Status::Unavailable.code(), Vec::new()));
    assert_eq!(service.identity().0, Status::Unavailable.code());
    assert_eq!(service.did(), "");
}

#[test]
fn a_flood_is_refused_and_logged_once_a_minute() {
    let mut service = service();
    let mut store = store();
    let open = policy(Approval::Never, 5);
    let mut statuses = Vec::new();
    for index in 0..200u64 {
        let answer = service
            .request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], index, 0)
            .unwrap();
        statuses.push(answer.0);
    }
    assert!(statuses[..5].iter().all(|&status| status == 64 + 56));
    assert!(statuses[5..].iter().all(|&status| status == Status::RateLimited.code()));
    let audit = service.audit_entries(&mut store).unwrap();
    assert_eq!(audit.len(), 6, "five signatures and one line for the flood");
    // A minute later the count of those not written comes with the next line.
    service
        .request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], 61 * SECOND, 61)
        .unwrap();
    for index in 0..5 {
        service
            .request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], 62 * SECOND + index, 62)
            .unwrap();
    }
    let audit = service.audit_entries(&mut store).unwrap();
    let last = &audit.last().unwrap().outcome;
    assert!(last.contains("(194 more refused for the rate)"), "{last}");
}

#[test]
fn approvals_sign_denials_and_timeouts_refuse() {
    let mut service = service();
    let mut store = store();
    let asking = policy(Approval::Always, 100);
    for (index, payload) in [b"one", b"two", b"six"].iter().enumerate() {
        let mut request = origin("vote", 0, "vote", *payload);
        request.slot = index;
        let answer = service.request(request, Some(&asking), [0; 32], 0, 10);
        assert_eq!(answer, None, "it waits");
    }
    let pending = service.pending();
    assert_eq!(pending.iter().map(|request| request.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(pending[0].dapp, "vote");
    assert_eq!(pending[0].capability, "sign");
    assert!(pending[0].detail.starts_with("node key, kind vote, 3 bytes, sha256:"));

    let (listed, (origin_request, status, value)) = service.decide_waiting(2, true, 11).unwrap();
    assert_eq!(listed.id, 2);
    assert_eq!(origin_request.slot, 1);
    verified(&(status, value), "vote", b"two");
    let (_, (origin_request, status, value)) = service.decide_waiting(1, false, 12).unwrap();
    assert_eq!((origin_request.slot, status, value), (0, Status::Denied.code(), Vec::new()));
    assert!(service.decide_waiting(1, true, 13).is_none(), "answered already");
    assert!(service.decide_waiting(99, true, 13).is_none());

    assert_eq!(service.next_deadline(), Some(APPROVAL_TIMEOUT_NS));
    assert!(service.expire(APPROVAL_TIMEOUT_NS - 1, 60).is_empty());
    let expired = service.expire(APPROVAL_TIMEOUT_NS, 70);
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].0.slot, expired[0].1), (2, Status::Denied.code()));
    assert!(service.pending().is_empty());
    let actions: Vec<String> =
        service.audit_entries(&mut store).unwrap().into_iter().map(|entry| entry.action).collect();
    assert_eq!(actions, ["sign", "sign", "sign", "approve", "deny", "sign"]);
    let audit = service.audit_entries(&mut store).unwrap();
    assert!(audit[5].outcome.contains("not approved in time"), "{}", audit[5].outcome);
}

#[test]
fn too_many_waiting_requests_are_refused_busy() {
    let mut service = service();
    let asking = policy(Approval::Always, 1000);
    for _ in 0..PENDING_MAX {
        assert!(service
            .request(origin("vote", 0, "vote", b"x"), Some(&asking), [0; 32], 0, 0)
            .is_none());
    }
    let answer =
        service.request(origin("vote", 0, "vote", b"x"), Some(&asking), [0; 32], 0, 0).unwrap();
    assert_eq!(answer.0, Status::Busy.code());
    service.forget_slot(0);
    assert!(service.pending().is_empty());
}

#[test]
fn the_audit_log_is_written_in_batches_and_survives_a_restart() {
    let mut service = service();
    let mut store = store();
    let open = policy(Approval::Never, 100);
    service.request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], 0, 5).unwrap();
    // Listed at once, in the store within the interval.
    assert_eq!(service.audit_entries(&mut store).unwrap().len(), 1);
    service.flush_audit(&mut store, AUDIT_INTERVAL_NS - 1, false).unwrap();
    assert!(!store.contains(AUDIT_LOG), "not yet");
    service.request(origin("chat", 0, "vote", b"y"), Some(&open), [0; 32], 1, 6).unwrap();
    service.flush_audit(&mut store, AUDIT_INTERVAL_NS, false).unwrap();
    assert!(store.contains(AUDIT_LOG));
    // A third line, forced out (as before an approval's answer would be).
    service.request(origin("chat", 0, "vote", b"z"), Some(&open), [0; 32], 2, 7).unwrap();
    service.flush_audit(&mut store, AUDIT_INTERVAL_NS + 1, true).unwrap();
    let mut disk = store.into_device();
    let mut store = Store::open(&mut disk).unwrap();
    let audit = SigningService::new(Err(NoKey::NoEntropy)).audit_entries(&mut store).unwrap();
    assert_eq!(audit.iter().map(|entry| entry.time).collect::<Vec<_>>(), [5, 6, 7]);
    assert_eq!(audit.iter().map(|entry| entry.sequence).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn a_large_batch_is_written_at_once() {
    let mut service = service();
    let mut store = store();
    let open = policy(Approval::Never, 6000);
    while service.audit.len() < AUDIT_BATCH_MAX {
        service.request(origin("chat", 0, "vote", b"x"), Some(&open), [0; 32], 0, 5).unwrap();
    }
    service.flush_audit(&mut store, 1, false).unwrap();
    assert!(store.contains(AUDIT_LOG));
    assert!(service.audit.is_empty());
}

#[test]
fn the_message_layout_is_fixed() {
    // The same bytes the dapp runtime's `verify` pins.
    assert_eq!(signed_message("vote", b"\x01\x02"), b"elastos-signature/v1\x00\x04vote\x01\x02");
}

#[test]
fn the_benchmark_signs_every_message() {
    let key = NodeKey::from_secret([3; 32]);
    let calls = core::cell::Cell::new(0u64);
    let (ticks, valid) = benchmark_alone(&key, || {
        calls.set(calls.get() + 1);
        calls.get() * 1000
    });
    assert_eq!(ticks, 1000);
    assert!(valid);
}
