//! Transaction receipts proven against a header's `receiptsRoot`: the trie
//! maps `rlp(index)` to the receipt (legacy: its RLP list; typed: the type
//! byte, then the RLP list), for settlement on the logs it carries.

use super::rlp::{self, encode_uint, RlpError};
use super::trie::{verify_proof, ProofError};
use alloc::vec::Vec;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The contract that emitted it.
    pub address: [u8; 20],
    /// Its topics (at most four).
    pub topics: Vec<[u8; 32]>,
    /// Its data.
    pub data: Vec<u8>,
}

/// A decoded receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The EIP-2718 type (0 for a legacy receipt).
    pub transaction_type: u8,
    /// Whether the transaction succeeded (post-Byzantium status 1); `None`
    /// for a pre-Byzantium receipt, which holds a state root instead.
    pub succeeded: Option<bool>,
    /// Gas used in the block up to and including this transaction.
    pub cumulative_gas_used: u64,
    /// The logs bloom.
    pub logs_bloom: [u8; 256],
    /// The logs.
    pub logs: Vec<Log>,
}

/// Why a receipt is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptError {
    /// The proof does not lead from the receipts root.
    Proof(ProofError),
    /// The proof shows that the block has no receipt at this index.
    Absent,
    /// The receipt is malformed.
    Malformed(RlpError),
}

impl From<RlpError> for ReceiptError {
    fn from(error: RlpError) -> Self {
        Self::Malformed(error)
    }
}

impl Receipt {
    /// Decodes a receipt as the receipts trie stores it.
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let (transaction_type, body) = match bytes.first() {
            // A typed receipt starts with its type (below 0x80); a legacy
            // one is an RLP list (0xc0 and above).
            Some(&kind) if kind < 0x80 => (kind, &bytes[1..]),
            Some(_) => (0, bytes),
            None => return Err(RlpError::Truncated.into()),
        };
        let item = rlp::decode(body)?;
        let [status, cumulative_gas_used, logs_bloom, logs] = item.list()? else {
            return Err(RlpError::InvalidValue.into());
        };
        let status = status.bytes()?;
        let succeeded = match status {
            [] => Some(false),
            [1] => Some(true),
            root if root.len() == 32 => None,
            _ => return Err(RlpError::InvalidValue.into()),
        };
        let logs = logs
            .list()?
            .iter()
            .map(|log| {
                let [address, topics, data] = log.list()? else {
                    return Err(RlpError::InvalidValue);
                };
                Ok(Log {
                    address: address.fixed()?,
                    topics: topics
                        .list()?
                        .iter()
                        .map(|topic| topic.fixed())
                        .collect::<Result<_, _>>()?,
                    data: data.bytes()?.to_vec(),
                })
            })
            .collect::<Result<_, RlpError>>()?;
        Ok(Self {
            transaction_type,
            succeeded,
            cumulative_gas_used: cumulative_gas_used.uint()?,
            logs_bloom: logs_bloom.fixed()?,
            logs,
        })
    }
}

/// Verifies that `proof` shows the receipt of transaction `index` under
/// `receipts_root`; returns the receipt's bytes and its decoding.
pub fn verify_receipt(
    receipts_root: &[u8; 32],
    index: u64,
    proof: &[Vec<u8>],
) -> Result<(Vec<u8>, Receipt), ReceiptError> {
    let key = encode_uint(index);
    let bytes = verify_proof(receipts_root, &key, proof)
        .map_err(ReceiptError::Proof)?
        .ok_or(ReceiptError::Absent)?;
    let receipt = Receipt::decode(&bytes)?;
    Ok((bytes, receipt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evm::rlp::{encode_bytes, encode_list};
    use crate::evm::trie::builder::Trie;
    use alloc::vec;

    fn receipt(index: u64, typed: bool) -> Vec<u8> {
        let log = encode_list(&[
            encode_bytes(&[0x11; 20]),
            encode_list(&[encode_bytes(&[0x22; 32]), encode_bytes(&[index as u8; 32])]),
            encode_bytes(&index.to_be_bytes()),
        ]);
        let body = encode_list(&[
            encode_uint(1),
            encode_uint(21_000 * (index + 1)),
            encode_bytes(&[0u8; 256]),
            encode_list(&[log]),
        ]);
        if typed {
            [vec![2u8], body].concat()
        } else {
            body
        }
    }

    /// A block's receipts trie over 130 receipts (keys up to three bytes).
    fn receipts() -> (Trie, Vec<Vec<u8>>) {
        let values: Vec<Vec<u8>> = (0..130).map(|index| receipt(index, index % 3 != 0)).collect();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = values
            .iter()
            .enumerate()
            .map(|(index, value)| (encode_uint(index as u64), value.clone()))
            .collect();
        (Trie::new(&entries), values)
    }

    #[test]
    fn receipts_are_proven_and_decoded() {
        let (trie, values) = receipts();
        for index in [0u64, 1, 2, 127, 128, 129] {
            let proof = trie.proof(&encode_uint(index));
            let (bytes, decoded) = verify_receipt(&trie.root(), index, &proof).expect("proven");
            assert_eq!(bytes, values[index as usize]);
            assert_eq!(decoded.transaction_type, if index % 3 == 0 { 0 } else { 2 });
            assert_eq!(decoded.succeeded, Some(true));
            assert_eq!(decoded.cumulative_gas_used, 21_000 * (index + 1));
            assert_eq!(decoded.logs.len(), 1);
            assert_eq!(decoded.logs[0].topics[1], [index as u8; 32]);
            assert_eq!(decoded.logs[0].data, index.to_be_bytes());
        }
    }

    #[test]
    fn wrong_index_or_tampered_receipt_is_refused() {
        let (trie, _) = receipts();
        let proof = trie.proof(&encode_uint(5));
        // The proof for 5 does not show receipt 6.
        assert!(verify_receipt(&trie.root(), 6, &proof).is_err());
        let mut tampered = proof.clone();
        let last = tampered.len() - 1;
        let middle = tampered[last].len() / 2;
        tampered[last][middle] ^= 0x40;
        assert_eq!(
            verify_receipt(&trie.root(), 5, &tampered),
            Err(ReceiptError::Proof(ProofError::HashMismatch))
        );
        let beyond = trie.proof(&encode_uint(500));
        assert_eq!(verify_receipt(&trie.root(), 500, &beyond), Err(ReceiptError::Absent));
    }
}
