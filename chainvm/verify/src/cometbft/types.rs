//! CometBFT's block data as the light client sees it (header, block id,
//! validators, commit), with the protobuf encodings its hashes and vote
//! signatures are computed over.

use super::merkle::{self, Hash};
use super::protobuf::{length_prefixed, put_bytes, put_int, put_message, put_sfixed64, put_uint};
use super::time::Time;
use alloc::string::String;
use alloc::vec::Vec;

/// The most voting power a validator set may have in total (CometBFT's
/// `MaxTotalVotingPower`, `i64::MAX / 8`).
pub const MAX_TOTAL_VOTING_POWER: u64 = (i64::MAX / 8) as u64;

/// The `SignedMsgType` of a precommit vote.
pub const PRECOMMIT: u32 = 2;

/// The block and app protocol versions in a header (`version.Consensus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Version {
    /// The block protocol version.
    pub block: u64,
    /// The application's version.
    pub app: u64,
}

impl Version {
    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, 1, self.block);
        put_uint(&mut out, 2, self.app);
        out
    }
}

/// The hash and part count of a block's parts (`PartSetHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartSetHeader {
    /// How many parts.
    pub total: u32,
    /// The Merkle root of the parts.
    pub hash: Vec<u8>,
}

/// A block's identity: its header hash and part-set header (`BlockID`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockId {
    /// The header hash.
    pub hash: Vec<u8>,
    /// The part-set header.
    pub part_set_header: PartSetHeader,
}

impl BlockId {
    /// Whether this is the zero block id (no block: genesis' last block, nil
    /// votes).
    pub fn is_zero(&self) -> bool {
        self.hash.is_empty()
            && self.part_set_header.total == 0
            && self.part_set_header.hash.is_empty()
    }

    /// The protobuf encoding, which `BlockID` and `CanonicalBlockID` share:
    /// `{hash=1, part_set_header=2 {total=1, hash=2}}`, the part-set header
    /// always present.
    pub fn encode(&self) -> Vec<u8> {
        let mut parts = Vec::new();
        put_uint(&mut parts, 1, u64::from(self.part_set_header.total));
        put_bytes(&mut parts, 2, &self.part_set_header.hash);
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &self.hash);
        put_message(&mut out, 2, &parts);
        out
    }
}

/// The protobuf encoding of a `google.protobuf.Timestamp`.
pub fn encode_time(time: &Time) -> Vec<u8> {
    let mut out = Vec::new();
    put_int(&mut out, 1, time.seconds);
    put_uint(&mut out, 2, u64::from(time.nanos));
    out
}

/// A gogoproto wrapper (`StringValue`, `BytesValue`): field 1, omitted when
/// empty.
fn wrap_bytes(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, value);
    out
}

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Protocol versions.
    pub version: Version,
    /// The chain's id.
    pub chain_id: String,
    /// The block's height (at most `i64::MAX`).
    pub height: u64,
    /// The block's time.
    pub time: Time,
    /// The previous block's id (zero at the first block).
    pub last_block_id: BlockId,
    /// Hash of the previous block's commit.
    pub last_commit_hash: Vec<u8>,
    /// Hash of the transactions.
    pub data_hash: Vec<u8>,
    /// Hash of this block's validator set.
    pub validators_hash: Vec<u8>,
    /// Hash of the next block's validator set.
    pub next_validators_hash: Vec<u8>,
    /// Hash of the consensus parameters.
    pub consensus_hash: Vec<u8>,
    /// The application's state after the previous block.
    pub app_hash: Vec<u8>,
    /// Hash of the previous block's results.
    pub last_results_hash: Vec<u8>,
    /// Hash of the evidence in this block.
    pub evidence_hash: Vec<u8>,
    /// Address of the block's proposer.
    pub proposer_address: Vec<u8>,
}

impl Header {
    /// The 14 leaves of the header hash, in order.
    fn leaves(&self) -> [Vec<u8>; 14] {
        let mut height = Vec::new();
        put_uint(&mut height, 1, self.height);
        [
            self.version.encode(),
            wrap_bytes(self.chain_id.as_bytes()),
            height,
            encode_time(&self.time),
            self.last_block_id.encode(),
            wrap_bytes(&self.last_commit_hash),
            wrap_bytes(&self.data_hash),
            wrap_bytes(&self.validators_hash),
            wrap_bytes(&self.next_validators_hash),
            wrap_bytes(&self.consensus_hash),
            wrap_bytes(&self.app_hash),
            wrap_bytes(&self.last_results_hash),
            wrap_bytes(&self.evidence_hash),
            wrap_bytes(&self.proposer_address),
        ]
    }

    /// The header hash: the Merkle root over its 14 encoded fields.
    pub fn hash(&self) -> Hash {
        merkle::root(&self.leaves())
    }

    /// The `tendermint.types.Header` protobuf encoding (fields 1 to 14).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_message(&mut out, 1, &self.version.encode());
        put_bytes(&mut out, 2, self.chain_id.as_bytes());
        put_uint(&mut out, 3, self.height);
        put_message(&mut out, 4, &encode_time(&self.time));
        put_message(&mut out, 5, &self.last_block_id.encode());
        let hashes = [
            &self.last_commit_hash,
            &self.data_hash,
            &self.validators_hash,
            &self.next_validators_hash,
            &self.consensus_hash,
            &self.app_hash,
            &self.last_results_hash,
            &self.evidence_hash,
            &self.proposer_address,
        ];
        for (number, hash) in (6..).zip(hashes) {
            put_bytes(&mut out, number, hash);
        }
        out
    }
}

/// The address of an ed25519 key: the first 20 bytes of its SHA-256.
pub fn address_of(public_key: &[u8; 32]) -> [u8; 20] {
    let digest = merkle::sha256(public_key);
    let mut address = [0u8; 20];
    address.copy_from_slice(&digest[..20]);
    address
}

/// A validator: its address, ed25519 key and voting power.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// The address as stated (it must be [`address_of`] the key).
    pub address: Vec<u8>,
    /// The ed25519 public key.
    pub public_key: [u8; 32],
    /// The voting power (at most `i64::MAX`).
    pub voting_power: u64,
}

impl Validator {
    /// A validator whose address is derived from its key.
    pub fn new(public_key: [u8; 32], voting_power: u64) -> Self {
        Self { address: address_of(&public_key).to_vec(), public_key, voting_power }
    }

    /// The `PublicKey{ed25519=1}` encoding of the key.
    fn encode_public_key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &self.public_key);
        out
    }

    /// The `SimpleValidator{pub_key=1, voting_power=2}` encoding, a leaf of
    /// the validator-set hash.
    pub fn encode_simple(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_message(&mut out, 1, &self.encode_public_key());
        put_uint(&mut out, 2, self.voting_power);
        out
    }

    /// The `Validator{address=1, pub_key=2, voting_power=3}` encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, 1, &self.address);
        put_message(&mut out, 2, &self.encode_public_key());
        put_uint(&mut out, 3, self.voting_power);
        out
    }
}

/// A set of validators, in any order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidatorSet {
    /// The validators.
    pub validators: Vec<Validator>,
}

impl ValidatorSet {
    /// A set of `validators`.
    pub fn new(validators: Vec<Validator>) -> Self {
        Self { validators }
    }

    /// The validators in CometBFT's order: voting power descending, then
    /// address ascending.
    pub fn sorted(&self) -> Vec<&Validator> {
        let mut sorted: Vec<&Validator> = self.validators.iter().collect();
        sorted.sort_by(|a, b| {
            b.voting_power.cmp(&a.voting_power).then_with(|| a.address.cmp(&b.address))
        });
        sorted
    }

    /// The validator-set hash: the Merkle root over each sorted validator's
    /// `SimpleValidator` encoding.
    pub fn hash(&self) -> Hash {
        let leaves: Vec<Vec<u8>> = self.sorted().iter().map(|v| v.encode_simple()).collect();
        merkle::root(&leaves)
    }

    /// The total voting power, or `None` past [`MAX_TOTAL_VOTING_POWER`].
    pub fn total_voting_power(&self) -> Option<u64> {
        let mut total = 0u64;
        for validator in &self.validators {
            total = total.checked_add(validator.voting_power)?;
        }
        (total <= MAX_TOTAL_VOTING_POWER).then_some(total)
    }

    /// The validator with `address`.
    pub fn find(&self, address: &[u8]) -> Option<&Validator> {
        self.validators.iter().find(|validator| validator.address == address)
    }
}

/// How a validator took part in a commit (`BlockIDFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockIdFlag {
    /// No vote was received (1).
    Absent,
    /// Voted for the committed block (2).
    Commit,
    /// Voted nil (3).
    Nil,
}

impl BlockIdFlag {
    /// The flag with protobuf number `value`.
    pub fn from_number(value: u64) -> Option<Self> {
        match value {
            1 => Some(Self::Absent),
            2 => Some(Self::Commit),
            3 => Some(Self::Nil),
            _ => None,
        }
    }
}

/// One validator's entry in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSignature {
    /// How the validator voted.
    pub flag: BlockIdFlag,
    /// The validator's address (empty when absent).
    pub validator_address: Vec<u8>,
    /// The time in the validator's vote.
    pub timestamp: Time,
    /// The ed25519 signature (empty when absent).
    pub signature: Vec<u8>,
}

/// The precommits that committed a block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    /// The committed block's height.
    pub height: u64,
    /// The round of the commit.
    pub round: i32,
    /// The committed block.
    pub block_id: BlockId,
    /// One entry per validator of the block's set, in the set's order.
    pub signatures: Vec<CommitSignature>,
}

impl Commit {
    /// The vote that `signature` signed (a precommit for the block, or nil).
    pub fn vote_of(&self, signature: &CommitSignature, chain_id: &str) -> Vote {
        Vote {
            message_type: PRECOMMIT,
            height: self.height as i64,
            round: i64::from(self.round),
            block_id: (signature.flag == BlockIdFlag::Commit).then(|| self.block_id.clone()),
            timestamp: signature.timestamp,
            chain_id: String::from(chain_id),
        }
    }
}

/// A header and the commit for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignedHeader {
    /// The header.
    pub header: Header,
    /// Its commit.
    pub commit: Commit,
}

/// What a light client is given to verify: a signed header with its
/// validator set and the next block's validator set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LightBlock {
    /// The header and its commit.
    pub signed_header: SignedHeader,
    /// The validators of this block.
    pub validators: ValidatorSet,
    /// The validators of the next block.
    pub next_validators: ValidatorSet,
}

/// A vote, as far as its signature covers it (`CanonicalVote`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The `SignedMsgType` (2 for precommits).
    pub message_type: u32,
    /// The height voted on.
    pub height: i64,
    /// The round voted in.
    pub round: i64,
    /// The block voted for; `None` for a nil vote.
    pub block_id: Option<BlockId>,
    /// The vote's time.
    pub timestamp: Time,
    /// The chain's id.
    pub chain_id: String,
}

impl Vote {
    /// The bytes a validator signs: the length-prefixed `CanonicalVote`.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, 1, u64::from(self.message_type));
        put_sfixed64(&mut out, 2, self.height);
        put_sfixed64(&mut out, 3, self.round);
        if let Some(block_id) = self.block_id.as_ref().filter(|id| !id.is_zero()) {
            put_message(&mut out, 4, &block_id.encode());
        }
        put_message(&mut out, 5, &encode_time(&self.timestamp));
        put_bytes(&mut out, 6, self.chain_id.as_bytes());
        length_prefixed(&out)
    }
}
