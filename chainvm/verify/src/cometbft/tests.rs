//! Light-client tests on synthetic chains signed with known keys: forged
//! signatures, the 1/3 and 2/3 thresholds, expired trust, time and height
//! rules, bisection, and the trusted state's byte form.

use super::*;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use ed25519_dalek::{Signer, SigningKey};

const CHAIN: &str = "test-chain";
const SECOND: u64 = 1_000_000_000;

fn key(index: u8) -> SigningKey {
    SigningKey::from_bytes(&[index; 32])
}

fn set(members: &[(u8, u64)]) -> ValidatorSet {
    ValidatorSet::new(
        members
            .iter()
            .map(|&(index, power)| Validator::new(key(index).verifying_key().to_bytes(), power))
            .collect(),
    )
}

fn at(seconds: i64) -> Time {
    Time { seconds, nanos: 0 }
}

/// A block at `height` and time `height * 10` s whose commit is signed by
/// the members of `validators` listed in `signers`.
fn block(height: u64, validators: &[(u8, u64)], next: &[(u8, u64)], signers: &[u8]) -> LightBlock {
    let (validators, next_validators) = (set(validators), set(next));
    let header = Header {
        version: Version { block: 11, app: 0 },
        chain_id: String::from(CHAIN),
        height,
        time: at(height as i64 * 10),
        validators_hash: validators.hash().to_vec(),
        next_validators_hash: next_validators.hash().to_vec(),
        ..Header::default()
    };
    let block_id = BlockId {
        hash: header.hash().to_vec(),
        part_set_header: PartSetHeader { total: 1, hash: header.hash().to_vec() },
    };
    let mut commit = Commit { height, round: 1, block_id, signatures: Vec::new() };
    for validator in &validators.validators {
        let signer = signers
            .iter()
            .find(|&&index| key(index).verifying_key().to_bytes() == validator.public_key);
        let mut entry = CommitSignature {
            flag: BlockIdFlag::Absent,
            validator_address: Vec::new(),
            timestamp: header.time,
            signature: Vec::new(),
        };
        if let Some(&index) = signer {
            entry.flag = BlockIdFlag::Commit;
            entry.validator_address = validator.address.clone();
            let bytes = commit.vote_of(&entry, CHAIN).sign_bytes();
            entry.signature = key(index).sign(&bytes).to_bytes().to_vec();
        }
        commit.signatures.push(entry);
    }
    LightBlock { signed_header: SignedHeader { header, commit }, validators, next_validators }
}

fn options() -> Options {
    Options {
        trust_threshold: TrustThreshold::ONE_THIRD,
        trusting_period_nanos: 1000 * SECOND,
        clock_drift_nanos: 0,
    }
}

fn trusted(block: &LightBlock) -> TrustedState {
    TrustedState::from_block(block)
}

const FOUR: [(u8, u64); 4] = [(1, 10), (2, 10), (3, 10), (4, 10)];

#[test]
fn adjacent_block_with_all_signers_verifies() {
    let first = block(1, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let second = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    assert_eq!(verify(&trusted(&first), &second, &options(), at(100)), Ok(()));
}

#[test]
fn forged_signature_is_invalid() {
    let first = block(1, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let mut second = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    second.signed_header.commit.signatures[2].signature[5] ^= 1;
    assert_eq!(
        verify(&trusted(&first), &second, &options(), at(100)),
        Err(VerificationError::InvalidSignature)
    );
    // A signature by a key outside the set, put under a member's address.
    let mut third = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let bytes =
        third.signed_header.commit.vote_of(&third.signed_header.commit.signatures[0], CHAIN);
    third.signed_header.commit.signatures[0].signature =
        key(9).sign(&bytes.sign_bytes()).to_bytes().to_vec();
    assert_eq!(
        verify(&trusted(&first), &third, &options(), at(100)),
        Err(VerificationError::InvalidSignature)
    );
}

#[test]
fn two_thirds_is_not_enough_more_is() {
    let three = [(1, 10), (2, 10), (3, 10)];
    let first = block(1, &three, &three, &[1, 2, 3]);
    // 20 of 30 is exactly 2/3: not more.
    let short = block(2, &three, &three, &[1, 2]);
    assert_eq!(
        verify(&trusted(&first), &short, &options(), at(100)),
        Err(VerificationError::NotEnoughSigners { signed: 20, total: 30 })
    );
    let first = block(1, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let enough = block(2, &FOUR, &FOUR, &[1, 2, 4]);
    assert_eq!(verify(&trusted(&first), &enough, &options(), at(100)), Ok(()));
}

#[test]
fn skipping_needs_more_than_a_third_of_trusted_power() {
    let trusted_set = [(1, 10), (2, 10), (3, 10)];
    let first = block(1, &trusted_set, &trusted_set, &[1, 2, 3]);
    // The new set keeps validator 1 only: 10 of the trusted 30 is exactly 1/3.
    let changed = [(1, 10), (5, 10), (6, 10)];
    let one = block(5, &changed, &changed, &[1, 5, 6]);
    assert_eq!(
        verify(&trusted(&first), &one, &options(), at(100)),
        Err(VerificationError::NotEnoughTrust { signed: 10, total: 30 })
    );
    // Keeping validators 1 and 2 gives 20 of 30.
    let kept = [(1, 10), (2, 10), (6, 10)];
    let two = block(5, &kept, &kept, &[1, 2, 6]);
    assert_eq!(verify(&trusted(&first), &two, &options(), at(100)), Ok(()));
    // A trust threshold outside [1/3, 1] is refused.
    assert_eq!(TrustThreshold::new(1, 4), None);
    assert_eq!(TrustThreshold::new(4, 3), None);
    assert!(TrustThreshold::new(1, 2).is_some());
}

#[test]
fn expired_trust_future_headers_and_heights_are_invalid() {
    let first = block(1, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let second = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let state = trusted(&first);
    // Trusted at 10 s, period 1000 s: expired at 1010 s.
    assert_eq!(verify(&state, &second, &options(), at(1009)), Ok(()));
    assert_eq!(verify(&state, &second, &options(), at(1010)), Err(VerificationError::TrustExpired));
    // The block's time is 20 s.
    assert_eq!(
        verify(&state, &second, &options(), at(20)),
        Err(VerificationError::HeaderFromFuture)
    );
    let drift = Options { clock_drift_nanos: SECOND, ..options() };
    assert_eq!(verify(&state, &second, &drift, at(20)), Ok(()));
    // The same height again, and a lower one.
    let later = trusted(&block(3, &FOUR, &FOUR, &[1, 2, 3, 4]));
    assert_eq!(
        verify(&later, &second, &options(), at(100)),
        Err(VerificationError::NonIncreasingTime)
    );
    let mut older_time = later.clone();
    older_time.header.time = at(0);
    assert_eq!(
        verify(&older_time, &second, &options(), at(100)),
        Err(VerificationError::NonIncreasingHeight)
    );
}

#[test]
fn inconsistent_blocks_are_invalid() {
    let first = block(1, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let state = trusted(&first);
    let mut wrong_set = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    wrong_set.validators.validators[0].voting_power = 11;
    assert_eq!(
        verify(&state, &wrong_set, &options(), at(100)),
        Err(VerificationError::ValidatorsHashMismatch)
    );
    let mut wrong_hash = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    wrong_hash.signed_header.header.app_hash = Vec::from([1u8]);
    assert_eq!(
        verify(&state, &wrong_hash, &options(), at(100)),
        Err(VerificationError::CommitHashMismatch)
    );
    let mut duplicate = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    let copy = duplicate.signed_header.commit.signatures[0].clone();
    duplicate.signed_header.commit.signatures[1] = copy;
    assert_eq!(
        verify(&state, &duplicate, &options(), at(100)),
        Err(VerificationError::DuplicateSigner)
    );
    let mut missing = block(2, &FOUR, &FOUR, &[1, 2, 3, 4]);
    missing.signed_header.commit.signatures.pop();
    assert_eq!(
        verify(&state, &missing, &options(), at(100)),
        Err(VerificationError::SignatureCountMismatch)
    );
    let unsigned = block(2, &FOUR, &FOUR, &[]);
    assert_eq!(
        verify(&state, &unsigned, &options(), at(100)),
        Err(VerificationError::NoSignatures)
    );
    let other_set = [(1, 10), (2, 10), (3, 10), (5, 10)];
    let adjacent_change = block(2, &other_set, &other_set, &[1, 2, 3, 5]);
    assert_eq!(
        verify(&state, &adjacent_change, &options(), at(100)),
        Err(VerificationError::AdjacentValidatorsMismatch)
    );
}

/// A chain whose validator set is replaced whole every other block, so
/// only short skips keep trust.
struct RotatingChain {
    blocks: BTreeMap<u64, LightBlock>,
    asked: Vec<u64>,
}

impl RotatingChain {
    fn members(height: u64) -> [(u8, u64); 2] {
        let base = (height / 2 % 50) as u8 * 2 + 1;
        [(base, 10), (base + 1, 10)]
    }

    fn new(top: u64) -> Self {
        let blocks = (1..=top)
            .map(|height| {
                let (current, next) = (Self::members(height), Self::members(height + 1));
                (height, block(height, &current, &next, &[current[0].0, current[1].0]))
            })
            .collect();
        Self { blocks, asked: Vec::new() }
    }
}

impl Provider for RotatingChain {
    type Error = ();

    fn light_block(&mut self, height: u64) -> Result<LightBlock, ()> {
        self.asked.push(height);
        self.blocks.get(&height).cloned().ok_or(())
    }
}

#[test]
fn bisection_reaches_the_target_through_pivots() {
    let mut chain = RotatingChain::new(40);
    let mut client = LightClient::new(trusted(&chain.blocks[&1]), options());
    assert_eq!(client.verify_to_height(&mut chain, 33, at(1000)), Ok(()));
    assert_eq!(client.trusted.header.height, 33);
    assert_eq!(chain.asked.first(), Some(&33));
    assert!(chain.asked.len() > 2, "asked {:?}", chain.asked);
    assert_eq!(
        client.verify_to_height(&mut chain, 20, at(1000)),
        Err(BisectionError::TargetNotAbove)
    );
}

#[test]
fn bisection_stops_at_an_invalid_block() {
    let mut chain = RotatingChain::new(12);
    if let Some(block) = chain.blocks.get_mut(&6) {
        block.signed_header.commit.signatures[0].signature[0] ^= 1;
    }
    let mut client = LightClient::new(trusted(&chain.blocks[&1]), options());
    let result = client.verify_to_height(&mut chain, 12, at(1000));
    assert!(matches!(result, Err(BisectionError::Invalid { .. })), "{result:?}");
    assert!(client.trusted.header.height < 12);
}

#[test]
fn trusted_state_round_trips_through_bytes() {
    let state = trusted(&block(7, &FOUR, &[(1, 10), (9, 3)], &[1, 2, 3, 4]));
    let bytes = state.to_bytes();
    assert_eq!(bytes[0], STATE_VERSION);
    assert_eq!(TrustedState::from_bytes(&bytes), Ok(state));
    let mut other_version = bytes.clone();
    other_version[0] = 2;
    assert_eq!(TrustedState::from_bytes(&other_version), Err(StateError::UnknownVersion(2)));
    assert!(TrustedState::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert_eq!(TrustedState::from_bytes(&[]), Err(StateError::Empty));
}

#[test]
fn known_encodings() {
    // CometBFT's TestVoteSignBytesTestVectors, case 1.
    let vote = Vote {
        message_type: 2,
        height: 1,
        round: 1,
        block_id: None,
        timestamp: Time::parse_rfc3339("0001-01-01T00:00:00Z").unwrap_or_default(),
        chain_id: String::new(),
    };
    let expected =
        json::hex("2108021101000000000000001901000000000000002a0b088092b8c398feffffff01", "x");
    assert_eq!(Ok(vote.sign_bytes()), expected);
}

proptest::proptest! {
    #[test]
    fn trusted_state_reader_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let mut input = Vec::from([STATE_VERSION]);
        input.extend_from_slice(&bytes);
        let _ = TrustedState::from_bytes(&input);
    }

    #[test]
    fn flipped_state_bytes_never_panic(index in 0usize..400, bit in 0u8..8) {
        // Keys that are not curve points are fine here: nothing is verified.
        let validators = (1..5u8)
            .map(|index| Validator { address: alloc::vec![index; 20], public_key: [index; 32], voting_power: 10 })
            .collect();
        let header = Header {
            chain_id: String::from(CHAIN),
            height: 3,
            time: at(30),
            app_hash: alloc::vec![7; 8],
            ..Header::default()
        };
        let state = TrustedState { header, next_validators: ValidatorSet::new(validators) };
        let bytes = state.to_bytes();
        let mut changed = bytes.clone();
        let index = index % changed.len();
        changed[index] ^= 1 << bit;
        if let Ok(state) = TrustedState::from_bytes(&changed) {
            proptest::prop_assert_eq!(state.to_bytes(), changed);
        }
    }
}
