//! EVM block headers: every layout from the 15-field legacy header (which
//! the Elastos ESC and EID chains keep) to Prague's 21 fields, their RLP and
//! hash, and chains of headers linked back to a trusted checkpoint.

use super::keccak256;
use super::rlp::{self, encode_bytes, encode_list, encode_quantity, encode_uint, RlpError};
use alloc::vec::Vec;

/// The fewest fields a header has (the legacy layout).
pub const LEGACY_FIELD_COUNT: usize = 15;
/// The most fields a header has (Prague).
pub const MAX_FIELD_COUNT: usize = 21;

/// The fields later forks appended, each present only if the ones before it
/// are (London, Shanghai, Cancun, Prague).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForkFields {
    /// London: the base fee per gas (big-endian, minimal).
    pub base_fee_per_gas: Option<Vec<u8>>,
    /// Shanghai: the withdrawals trie root.
    pub withdrawals_root: Option<[u8; 32]>,
    /// Cancun: blob gas used.
    pub blob_gas_used: Option<u64>,
    /// Cancun: excess blob gas.
    pub excess_blob_gas: Option<u64>,
    /// Cancun: the parent beacon block root.
    pub parent_beacon_block_root: Option<[u8; 32]>,
    /// Prague: the hash of the execution-layer requests.
    pub requests_hash: Option<[u8; 32]>,
}

/// A block header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The parent block's hash.
    pub parent_hash: [u8; 32],
    /// The ommers (uncles) hash.
    pub ommers_hash: [u8; 32],
    /// The fee recipient (miner).
    pub beneficiary: [u8; 20],
    /// The state trie root.
    pub state_root: [u8; 32],
    /// The transactions trie root.
    pub transactions_root: [u8; 32],
    /// The receipts trie root.
    pub receipts_root: [u8; 32],
    /// The logs bloom filter.
    pub logs_bloom: [u8; 256],
    /// The difficulty (big-endian, minimal).
    pub difficulty: Vec<u8>,
    /// The block number.
    pub number: u64,
    /// The gas limit.
    pub gas_limit: u64,
    /// The gas used.
    pub gas_used: u64,
    /// The timestamp, in seconds.
    pub timestamp: u64,
    /// Extra data (the signer list on the Elastos chains).
    pub extra_data: Vec<u8>,
    /// The mix hash (`prevRandao` after the merge).
    pub mix_hash: [u8; 32],
    /// The proof-of-work nonce.
    pub nonce: [u8; 8],
    /// Fields added by forks.
    pub forks: ForkFields,
}

/// Why a header or header chain is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The header's RLP is malformed or not canonical.
    Rlp(RlpError),
    /// A header with fewer than 15 or more than 21 fields.
    FieldCount,
    /// A fork field is present without the ones before it.
    ForkFieldGap,
    /// A header's `parent_hash` is not the previous header's hash.
    BrokenLink {
        /// The number of the header that does not link.
        number: u64,
    },
    /// A header's number is not the previous one plus one.
    NumberGap {
        /// The number found.
        number: u64,
    },
    /// The chain of headers is empty.
    Empty,
}

impl From<RlpError> for HeaderError {
    fn from(error: RlpError) -> Self {
        Self::Rlp(error)
    }
}

impl Header {
    /// How many fields the header has (15 to 21).
    pub fn field_count(&self) -> usize {
        let forks = &self.forks;
        LEGACY_FIELD_COUNT
            + [
                forks.base_fee_per_gas.is_some(),
                forks.withdrawals_root.is_some(),
                forks.blob_gas_used.is_some(),
                forks.excess_blob_gas.is_some(),
                forks.parent_beacon_block_root.is_some(),
                forks.requests_hash.is_some(),
            ]
            .iter()
            .take_while(|&&present| present)
            .count()
    }

    /// Whether the present fork fields form a prefix of the fork order.
    fn forks_are_contiguous(&self) -> bool {
        let forks = &self.forks;
        let present = [
            forks.base_fee_per_gas.is_some(),
            forks.withdrawals_root.is_some(),
            forks.blob_gas_used.is_some(),
            forks.excess_blob_gas.is_some(),
            forks.parent_beacon_block_root.is_some(),
            forks.requests_hash.is_some(),
        ];
        present.windows(2).all(|pair| pair[0] || !pair[1])
    }

    /// The RLP list of the fields, in order, fork fields while present.
    pub fn rlp(&self) -> Result<Vec<u8>, HeaderError> {
        if !self.forks_are_contiguous() {
            return Err(HeaderError::ForkFieldGap);
        }
        let mut fields = Vec::from([
            encode_bytes(&self.parent_hash),
            encode_bytes(&self.ommers_hash),
            encode_bytes(&self.beneficiary),
            encode_bytes(&self.state_root),
            encode_bytes(&self.transactions_root),
            encode_bytes(&self.receipts_root),
            encode_bytes(&self.logs_bloom),
            encode_quantity(&self.difficulty),
            encode_uint(self.number),
            encode_uint(self.gas_limit),
            encode_uint(self.gas_used),
            encode_uint(self.timestamp),
            encode_bytes(&self.extra_data),
            encode_bytes(&self.mix_hash),
            encode_bytes(&self.nonce),
        ]);
        let forks = &self.forks;
        fields.extend(forks.base_fee_per_gas.as_deref().map(encode_quantity));
        fields.extend(forks.withdrawals_root.as_ref().map(|root| encode_bytes(root)));
        fields.extend(forks.blob_gas_used.map(encode_uint));
        fields.extend(forks.excess_blob_gas.map(encode_uint));
        fields.extend(forks.parent_beacon_block_root.as_ref().map(|root| encode_bytes(root)));
        fields.extend(forks.requests_hash.as_ref().map(|hash| encode_bytes(hash)));
        Ok(encode_list(&fields))
    }

    /// The block hash, `keccak256(rlp(header))`.
    pub fn hash(&self) -> Result<[u8; 32], HeaderError> {
        Ok(keccak256(&self.rlp()?))
    }

    /// Reads a header from its canonical RLP.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        let item = rlp::decode(bytes)?;
        let fields = item.list()?;
        if !(LEGACY_FIELD_COUNT..=MAX_FIELD_COUNT).contains(&fields.len()) {
            return Err(HeaderError::FieldCount);
        }
        let extra = |index: usize| fields.get(index);
        let forks = ForkFields {
            base_fee_per_gas: extra(15)
                .map(|item| item.quantity().map(<[u8]>::to_vec))
                .transpose()?,
            withdrawals_root: extra(16).map(|item| item.fixed()).transpose()?,
            blob_gas_used: extra(17).map(|item| item.uint()).transpose()?,
            excess_blob_gas: extra(18).map(|item| item.uint()).transpose()?,
            parent_beacon_block_root: extra(19).map(|item| item.fixed()).transpose()?,
            requests_hash: extra(20).map(|item| item.fixed()).transpose()?,
        };
        Ok(Self {
            parent_hash: fields[0].fixed()?,
            ommers_hash: fields[1].fixed()?,
            beneficiary: fields[2].fixed()?,
            state_root: fields[3].fixed()?,
            transactions_root: fields[4].fixed()?,
            receipts_root: fields[5].fixed()?,
            logs_bloom: fields[6].fixed()?,
            difficulty: fields[7].quantity()?.to_vec(),
            number: fields[8].uint()?,
            gas_limit: fields[9].uint()?,
            gas_used: fields[10].uint()?,
            timestamp: fields[11].uint()?,
            extra_data: fields[12].bytes()?.to_vec(),
            mix_hash: fields[13].fixed()?,
            nonce: fields[14].fixed()?,
            forks,
        })
    }
}

/// A trusted block: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The block number.
    pub number: u64,
    /// The block hash.
    pub hash: [u8; 32],
}

/// Checks that `headers` follow `checkpoint` one by one, each naming the
/// previous one's hash as its parent. Returns the last header as the new
/// checkpoint.
pub fn verify_chain(checkpoint: Checkpoint, headers: &[Header]) -> Result<Checkpoint, HeaderError> {
    if headers.is_empty() {
        return Err(HeaderError::Empty);
    }
    let mut last = checkpoint;
    for header in headers {
        if Some(header.number) != last.number.checked_add(1) {
            return Err(HeaderError::NumberGap { number: header.number });
        }
        if header.parent_hash != last.hash {
            return Err(HeaderError::BrokenLink { number: header.number });
        }
        last = Checkpoint { number: header.number, hash: header.hash()? };
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn header(number: u64, parent_hash: [u8; 32]) -> Header {
        Header {
            parent_hash,
            ommers_hash: [1; 32],
            beneficiary: [2; 20],
            state_root: [3; 32],
            transactions_root: [4; 32],
            receipts_root: [5; 32],
            logs_bloom: [0; 256],
            difficulty: vec![2],
            number,
            gas_limit: 30_000_000,
            gas_used: 21_000,
            timestamp: 1_700_000_000 + number,
            extra_data: vec![0xab; 97],
            mix_hash: [6; 32],
            nonce: [0; 8],
            forks: ForkFields::default(),
        }
    }

    #[test]
    fn every_layout_round_trips() {
        let mut value = header(7, [9; 32]);
        let mut counts = Vec::new();
        for step in 0..=6 {
            let forks = &mut value.forks;
            match step {
                1 => forks.base_fee_per_gas = Some(vec![0x07]),
                2 => forks.withdrawals_root = Some([8; 32]),
                3 => forks.blob_gas_used = Some(0x20000),
                4 => forks.excess_blob_gas = Some(0),
                5 => forks.parent_beacon_block_root = Some([10; 32]),
                6 => forks.requests_hash = Some([11; 32]),
                _ => {}
            }
            let encoded = value.rlp().expect("contiguous");
            assert_eq!(Header::decode(&encoded), Ok(value.clone()));
            counts.push(value.field_count());
        }
        assert_eq!(counts, [15, 16, 17, 18, 19, 20, 21]);
    }

    #[test]
    fn gaps_and_bad_field_counts_are_refused() {
        let mut value = header(1, [0; 32]);
        value.forks.withdrawals_root = Some([8; 32]);
        assert_eq!(value.rlp(), Err(HeaderError::ForkFieldGap));
        let short = encode_list(&vec![encode_uint(1); 14]);
        assert_eq!(Header::decode(&short), Err(HeaderError::FieldCount));
    }

    #[test]
    fn chains_link_back_to_the_checkpoint() {
        let first = header(11, [0xcc; 32]);
        let second = header(12, first.hash().expect("legacy"));
        let third = header(13, second.hash().expect("legacy"));
        let checkpoint = Checkpoint { number: 10, hash: [0xcc; 32] };
        let chain = [first.clone(), second.clone(), third.clone()];
        let end = verify_chain(checkpoint, &chain).expect("linked");
        assert_eq!(end, Checkpoint { number: 13, hash: third.hash().expect("legacy") });
        let mut tampered = chain.clone();
        tampered[1].gas_used += 1;
        assert_eq!(
            verify_chain(checkpoint, &tampered),
            Err(HeaderError::BrokenLink { number: 13 })
        );
        assert_eq!(
            verify_chain(checkpoint, &[first.clone(), third]),
            Err(HeaderError::NumberGap { number: 13 })
        );
        let elsewhere = Checkpoint { number: 10, hash: [0xdd; 32] };
        assert_eq!(verify_chain(elsewhere, &[first]), Err(HeaderError::BrokenLink { number: 11 }));
        assert_eq!(verify_chain(checkpoint, &[]), Err(HeaderError::Empty));
    }

    proptest::proptest! {
        #[test]
        fn header_decoder_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            if let Ok(decoded) = Header::decode(&bytes) {
                proptest::prop_assert_eq!(decoded.rlp(), Ok(bytes));
            }
        }
    }
}
