//! CometBFT light-client verification, by tendermint-rs' rules.
//!
//! A light client keeps a [`TrustedState`]: a header it verified and the
//! validator set that header names for the next block. [`verify`] checks an
//! untrusted [`LightBlock`] against it:
//!
//! 1. the block is consistent: its validator sets hash to the header's
//!    `validators_hash` and `next_validators_hash`, the header hash (an RFC
//!    6962 Merkle root over its protobuf-encoded fields, [`merkle`]) is the
//!    commit's block hash, and the commit has one entry per validator, some
//!    not absent, each signer in the set;
//! 2. the trusted header is within the trusting period, the block's time is
//!    later, the chain is the same, and the height is the next one (then its
//!    validators must be the trusted next validators) or higher;
//! 3. the block is not from the future (beyond `now` plus the clock drift);
//! 4. for a skip, more than the trust threshold (1/3) of the trusted next
//!    validators' power signed it, or the verdict is
//!    [`VerificationError::NotEnoughTrust`];
//! 5. more than 2/3 of its own validators' power signed it.
//!
//! Signatures are ed25519 over the length-prefixed `CanonicalVote`
//! ([`Vote::sign_bytes`]). [`LightClient::verify_to_height`] bisects: when a
//! skip lacks trust it asks a [`Provider`] for the block halfway and tries
//! again from there. [`TrustedState::to_bytes`] keeps the state for a store.
//! [`json`] reads the JSON that nodes serve.

pub mod json;
pub mod merkle;
pub mod protobuf;
pub mod state;
pub mod time;
pub mod types;
pub mod verifier;

pub use state::{StateError, STATE_VERSION};
pub use time::Time;
pub use types::{
    BlockId, BlockIdFlag, Commit, CommitSignature, Header, LightBlock, PartSetHeader, SignedHeader,
    Validator, ValidatorSet, Version, Vote,
};
pub use verifier::{
    verify, BisectionError, LightClient, Options, Provider, TrustThreshold, TrustedState,
    VerificationError,
};

#[cfg(test)]
mod tests;
