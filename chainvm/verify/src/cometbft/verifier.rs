//! The light client's verification of one block against a trusted state, by
//! tendermint-rs' rules (`verify_update_header`): validator sets and commit
//! first, then time and height, then trust (for a skip) and the +2/3 of the
//! block's own validators.

use super::time::Time;
use super::types::{address_of, BlockIdFlag, Header, LightBlock, ValidatorSet};
use alloc::vec::Vec;
use ed25519_dalek::{Signature, VerifyingKey};

/// The share of the trusted validators' power that must have signed a
/// skipping update: `numerator / denominator`, between 1/3 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustThreshold {
    numerator: u64,
    denominator: u64,
}

impl TrustThreshold {
    /// One third, the usual threshold.
    pub const ONE_THIRD: Self = Self { numerator: 1, denominator: 3 };
    /// Two thirds, also the share a block's own validators must pass.
    pub const TWO_THIRDS: Self = Self { numerator: 2, denominator: 3 };

    /// The threshold `numerator / denominator`, if it lies in `[1/3, 1]`.
    pub fn new(numerator: u64, denominator: u64) -> Option<Self> {
        let valid = denominator != 0
            && numerator <= denominator
            && u128::from(numerator) * 3 >= u128::from(denominator);
        valid.then_some(Self { numerator, denominator })
    }

    /// The numerator.
    pub fn numerator(&self) -> u64 {
        self.numerator
    }

    /// The denominator.
    pub fn denominator(&self) -> u64 {
        self.denominator
    }

    /// Whether `signed` is strictly more than this share of `total`.
    pub fn is_passed_by(&self, signed: u64, total: u64) -> bool {
        u128::from(signed) * u128::from(self.denominator)
            > u128::from(total) * u128::from(self.numerator)
    }
}

/// The light client's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The share of trusted power a skipping update needs.
    pub trust_threshold: TrustThreshold,
    /// How long a trusted header stays trusted, in nanoseconds.
    pub trusting_period_nanos: u64,
    /// How far ahead of `now` a header's time may be, in nanoseconds.
    pub clock_drift_nanos: u64,
}

/// What the light client trusts: a verified header and the validator set it
/// names as next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedState {
    /// The latest verified header.
    pub header: Header,
    /// The validators of the block after it (its `next_validators_hash`).
    pub next_validators: ValidatorSet,
}

impl TrustedState {
    /// The trusted state a verified block leaves.
    pub fn from_block(block: &LightBlock) -> Self {
        Self {
            header: block.signed_header.header.clone(),
            next_validators: block.next_validators.clone(),
        }
    }
}

/// Why a block was not accepted. [`VerificationError::NotEnoughTrust`] says
/// that a block between may still lead to it (bisection); every other kind
/// means the block is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationError {
    /// The block's validator set does not hash to its `validators_hash`.
    ValidatorsHashMismatch,
    /// The next validator set does not hash to `next_validators_hash`.
    NextValidatorsHashMismatch,
    /// A validator's address is not derived from its key, or a set has the
    /// same address twice.
    MalformedValidatorSet,
    /// A validator set's total power is over CometBFT's maximum.
    VotingPowerOverflow,
    /// The commit is for another block hash than the header's.
    CommitHashMismatch,
    /// The commit is for another height than the header's.
    CommitHeightMismatch,
    /// The commit has no signatures other than absent ones.
    NoSignatures,
    /// The commit has not one entry per validator.
    SignatureCountMismatch,
    /// A commit signer is not in the block's validator set.
    UnknownSigner,
    /// A validator signed twice.
    DuplicateSigner,
    /// A signature is not 64 bytes, or a key is not a valid ed25519 key.
    MalformedSignature,
    /// A counted validator's signature does not verify.
    InvalidSignature,
    /// The trusted header is older than the trusting period.
    TrustExpired,
    /// The block's time is not after the trusted header's.
    NonIncreasingTime,
    /// The block is from another chain.
    ChainIdMismatch,
    /// An adjacent block's validators are not the trusted next validators.
    AdjacentValidatorsMismatch,
    /// The block's height is not above the trusted height.
    NonIncreasingHeight,
    /// The block's time is beyond `now` plus the clock drift.
    HeaderFromFuture,
    /// Too little of the trusted validators' power signed a skipping block.
    NotEnoughTrust {
        /// Trusted power that signed.
        signed: u64,
        /// All trusted power.
        total: u64,
    },
    /// Two thirds or less of the block's own validators' power signed it.
    NotEnoughSigners {
        /// Power that signed.
        signed: u64,
        /// All power.
        total: u64,
    },
}

impl VerificationError {
    /// Whether this is [`VerificationError::NotEnoughTrust`] (a block between
    /// may help) rather than an invalid block.
    pub fn is_not_enough_trust(&self) -> bool {
        matches!(self, Self::NotEnoughTrust { .. })
    }
}

/// Checks a validator set's addresses and total power; returns the total.
fn check_validator_set(set: &ValidatorSet) -> Result<u64, VerificationError> {
    for (index, validator) in set.validators.iter().enumerate() {
        if validator.address != address_of(&validator.public_key) {
            return Err(VerificationError::MalformedValidatorSet);
        }
        if set.validators[..index].iter().any(|other| other.address == validator.address) {
            return Err(VerificationError::MalformedValidatorSet);
        }
    }
    set.total_voting_power().ok_or(VerificationError::VotingPowerOverflow)
}

/// Checks the block's own consistency: validator sets against the header,
/// the header against the commit, and the commit's shape.
fn check_block(block: &LightBlock) -> Result<(), VerificationError> {
    let header = &block.signed_header.header;
    let commit = &block.signed_header.commit;
    check_validator_set(&block.validators)?;
    check_validator_set(&block.next_validators)?;
    if block.validators.hash().as_slice() != header.validators_hash {
        return Err(VerificationError::ValidatorsHashMismatch);
    }
    if block.next_validators.hash().as_slice() != header.next_validators_hash {
        return Err(VerificationError::NextValidatorsHashMismatch);
    }
    if header.hash().as_slice() != commit.block_id.hash {
        return Err(VerificationError::CommitHashMismatch);
    }
    if commit.height != header.height {
        return Err(VerificationError::CommitHeightMismatch);
    }
    if commit.signatures.iter().all(|signature| signature.flag == BlockIdFlag::Absent) {
        return Err(VerificationError::NoSignatures);
    }
    if commit.signatures.len() != block.validators.validators.len() {
        return Err(VerificationError::SignatureCountMismatch);
    }
    for signature in &commit.signatures {
        if signature.flag != BlockIdFlag::Absent
            && block.validators.find(&signature.validator_address).is_none()
        {
            return Err(VerificationError::UnknownSigner);
        }
    }
    Ok(())
}

/// Verifies an ed25519 signature by the strict rules (canonical encodings,
/// no small-order keys).
pub fn verify_signature(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerificationError> {
    let key =
        VerifyingKey::from_bytes(public_key).map_err(|_| VerificationError::MalformedSignature)?;
    let bytes: [u8; 64] =
        signature.try_into().map_err(|_| VerificationError::MalformedSignature)?;
    key.verify_strict(message, &Signature::from_bytes(&bytes))
        .map_err(|_| VerificationError::InvalidSignature)
}

/// The power of the validators of `set` that signed the block's commit for
/// the block. Every vote from a member of `set` (for the block or nil) must
/// carry a valid signature; a validator may vote once.
pub fn signed_power(block: &LightBlock, set: &ValidatorSet) -> Result<u64, VerificationError> {
    let commit = &block.signed_header.commit;
    let chain_id = &block.signed_header.header.chain_id;
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut power = 0u64;
    for signature in &commit.signatures {
        if signature.flag == BlockIdFlag::Absent {
            continue;
        }
        let address = signature.validator_address.as_slice();
        if seen.contains(&address) {
            return Err(VerificationError::DuplicateSigner);
        }
        seen.push(address);
        let Some(validator) = set.find(address) else {
            continue;
        };
        let sign_bytes = commit.vote_of(signature, chain_id).sign_bytes();
        verify_signature(&validator.public_key, &sign_bytes, &signature.signature)?;
        if signature.flag == BlockIdFlag::Commit {
            power = power
                .checked_add(validator.voting_power)
                .ok_or(VerificationError::VotingPowerOverflow)?;
        }
    }
    Ok(power)
}

/// Verifies `untrusted` against `trusted` at time `now`. `Ok` means the block
/// may become the trusted state ([`TrustedState::from_block`]).
pub fn verify(
    trusted: &TrustedState,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
) -> Result<(), VerificationError> {
    let header = &untrusted.signed_header.header;
    check_block(untrusted)?;
    if trusted.header.time.plus_nanos(options.trusting_period_nanos) <= now {
        return Err(VerificationError::TrustExpired);
    }
    if header.time <= trusted.header.time {
        return Err(VerificationError::NonIncreasingTime);
    }
    if header.chain_id != trusted.header.chain_id {
        return Err(VerificationError::ChainIdMismatch);
    }
    let adjacent = trusted.header.height.checked_add(1) == Some(header.height);
    if adjacent {
        if header.validators_hash != trusted.header.next_validators_hash {
            return Err(VerificationError::AdjacentValidatorsMismatch);
        }
    } else if header.height <= trusted.header.height {
        return Err(VerificationError::NonIncreasingHeight);
    }
    if header.time >= now.plus_nanos(options.clock_drift_nanos) {
        return Err(VerificationError::HeaderFromFuture);
    }
    if !adjacent {
        let total = check_validator_set(&trusted.next_validators)?;
        let signed = signed_power(untrusted, &trusted.next_validators)?;
        if !options.trust_threshold.is_passed_by(signed, total) {
            return Err(VerificationError::NotEnoughTrust { signed, total });
        }
    }
    let total = check_validator_set(&untrusted.validators)?;
    let signed = signed_power(untrusted, &untrusted.validators)?;
    if !TrustThreshold::TWO_THIRDS.is_passed_by(signed, total) {
        return Err(VerificationError::NotEnoughSigners { signed, total });
    }
    Ok(())
}

/// A light client: a trusted state that verified blocks move forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LightClient {
    /// What the client trusts now.
    pub trusted: TrustedState,
    /// Its settings.
    pub options: Options,
}

/// Where a light client gets blocks at given heights (a node's RPC, a peer).
pub trait Provider {
    /// Why a block could not be had.
    type Error;

    /// The light block at `height`.
    fn light_block(&mut self, height: u64) -> Result<LightBlock, Self::Error>;
}

/// Why [`LightClient::verify_to_height`] did not reach its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BisectionError<E> {
    /// The target is not above the trusted height.
    TargetNotAbove,
    /// The provider could not give the block at `height`.
    Provider {
        /// The height asked for.
        height: u64,
        /// The provider's error.
        error: E,
    },
    /// The block at `height` is invalid.
    Invalid {
        /// The block's height.
        height: u64,
        /// Why it is invalid.
        error: VerificationError,
    },
    /// The provider gave a block of another height than asked.
    WrongHeight {
        /// The height asked for.
        height: u64,
    },
}

impl LightClient {
    /// A client trusting `trusted`.
    pub fn new(trusted: TrustedState, options: Options) -> Self {
        Self { trusted, options }
    }

    /// Verifies `block`; on success it becomes the trusted state.
    pub fn update(&mut self, block: &LightBlock, now: Time) -> Result<(), VerificationError> {
        verify(&self.trusted, block, &self.options, now)?;
        self.trusted = TrustedState::from_block(block);
        Ok(())
    }

    /// Moves the trusted state to `target` height, asking `provider` for the
    /// blocks between when a skip lacks trust (bisection: halfway between
    /// the trusted height and the block that lacked it). Every verified
    /// block on the way becomes trusted, so a failure keeps the progress.
    pub fn verify_to_height<P: Provider>(
        &mut self,
        provider: &mut P,
        target: u64,
        now: Time,
    ) -> Result<(), BisectionError<P::Error>> {
        if target <= self.trusted.header.height {
            return Err(BisectionError::TargetNotAbove);
        }
        // Heights still to reach, the nearest last. Each failed skip halves
        // the distance, so the stack stays logarithmic in it.
        let mut pending = Vec::from([target]);
        while let Some(&height) = pending.last() {
            let block = provider
                .light_block(height)
                .map_err(|error| BisectionError::Provider { height, error })?;
            if block.signed_header.header.height != height {
                return Err(BisectionError::WrongHeight { height });
            }
            match self.update(&block, now) {
                Ok(()) => {
                    pending.pop();
                }
                Err(error) if error.is_not_enough_trust() => {
                    let trusted_height = self.trusted.header.height;
                    // A skip has height >= trusted + 2, so the pivot lies
                    // strictly between the two.
                    let pivot = trusted_height + (height - trusted_height) / 2;
                    pending.push(pivot);
                }
                Err(error) => return Err(BisectionError::Invalid { height, error }),
            }
        }
        Ok(())
    }
}
