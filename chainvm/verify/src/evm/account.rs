//! EIP-1186 (`eth_getProof`) account and storage proofs against a header's
//! state root: the account's fields, and each storage slot's value, present
//! or proven absent.

use super::keccak256;
use super::rlp::{self, encode_bytes, encode_list, encode_quantity, encode_uint};
use super::trie::{verify_proof, ProofError, EMPTY_ROOT};
use alloc::vec::Vec;

/// `keccak256("")`: the code hash of an account without code.
pub const EMPTY_CODE_HASH: [u8; 32] = [
    0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7, 0x03, 0xc0,
    0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70,
];

/// An account's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The nonce.
    pub nonce: u64,
    /// The balance in wei (big-endian, minimal).
    pub balance: Vec<u8>,
    /// The root of the account's storage trie.
    pub storage_root: [u8; 32],
    /// The hash of the account's code.
    pub code_hash: [u8; 32],
}

impl Account {
    /// The state of an account that does not exist.
    pub fn empty() -> Self {
        Self { nonce: 0, balance: Vec::new(), storage_root: EMPTY_ROOT, code_hash: EMPTY_CODE_HASH }
    }

    /// The trie value: `rlp([nonce, balance, storageRoot, codeHash])`.
    pub fn rlp(&self) -> Vec<u8> {
        encode_list(&[
            encode_uint(self.nonce),
            encode_quantity(&self.balance),
            encode_bytes(&self.storage_root),
            encode_bytes(&self.code_hash),
        ])
    }

    /// Reads the trie value.
    fn decode(bytes: &[u8]) -> Result<Self, AccountProofError> {
        let item = rlp::decode(bytes).map_err(|_| AccountProofError::MalformedAccount)?;
        let fields = item.list().map_err(|_| AccountProofError::MalformedAccount)?;
        let [nonce, balance, storage_root, code_hash] = fields else {
            return Err(AccountProofError::MalformedAccount);
        };
        let malformed = |_| AccountProofError::MalformedAccount;
        Ok(Self {
            nonce: nonce.uint().map_err(malformed)?,
            balance: balance.quantity().map_err(malformed)?.to_vec(),
            storage_root: storage_root.fixed().map_err(malformed)?,
            code_hash: code_hash.fixed().map_err(malformed)?,
        })
    }
}

/// One storage slot's claimed value and proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageProof {
    /// The slot (32 bytes, big-endian).
    pub key: [u8; 32],
    /// The claimed value (big-endian, minimal; empty for zero).
    pub value: Vec<u8>,
    /// The storage trie nodes on the slot's path.
    pub proof: Vec<Vec<u8>>,
}

/// An `eth_getProof` result: an account's claimed state and storage values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account's address.
    pub address: [u8; 20],
    /// The claimed state.
    pub account: Account,
    /// The state trie nodes on the account's path.
    pub account_proof: Vec<Vec<u8>>,
    /// The storage slots.
    pub storage: Vec<StorageProof>,
}

/// Why an account proof is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountProofError {
    /// The account proof does not lead from the state root.
    Account(ProofError),
    /// The storage proof of the slot at this index does not lead from the
    /// storage root.
    Storage(usize, ProofError),
    /// The trie's account value is malformed.
    MalformedAccount,
    /// The proven account differs from the claimed one (an absent account
    /// must be claimed empty).
    AccountMismatch,
    /// The proven value of the slot at this index differs from the claimed
    /// one (an absent slot must be claimed zero).
    StorageMismatch(usize),
}

/// Verifies `proof` against `state_root`: the account's claimed state is the
/// one in the trie (or the account is absent and claimed empty), and every
/// storage slot's claimed value is the one in its storage trie (or the slot
/// is absent and claimed zero).
pub fn verify_account_proof(
    state_root: &[u8; 32],
    proof: &AccountProof,
) -> Result<(), AccountProofError> {
    let path = keccak256(&proof.address);
    let found = verify_proof(state_root, &path, &proof.account_proof)
        .map_err(AccountProofError::Account)?;
    let proven = match found {
        Some(bytes) => Account::decode(&bytes)?,
        None => Account::empty(),
    };
    if proven != proof.account {
        return Err(AccountProofError::AccountMismatch);
    }
    for (index, slot) in proof.storage.iter().enumerate() {
        let path = keccak256(&slot.key);
        let found = verify_proof(&proven.storage_root, &path, &slot.proof)
            .map_err(|error| AccountProofError::Storage(index, error))?;
        let value = match found {
            // Stored values are RLP strings of the minimal big-endian value,
            // never zero.
            Some(bytes) => {
                let item =
                    rlp::decode(&bytes).map_err(|_| AccountProofError::StorageMismatch(index))?;
                let value =
                    item.quantity().map_err(|_| AccountProofError::StorageMismatch(index))?;
                if value.is_empty() {
                    return Err(AccountProofError::StorageMismatch(index));
                }
                value.to_vec()
            }
            None => Vec::new(),
        };
        if value != slot.value {
            return Err(AccountProofError::StorageMismatch(index));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evm::trie::builder::Trie;
    use alloc::vec;

    fn slot(index: u8) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[31] = index;
        key
    }

    /// A state with one contract holding slots 1 and 2, and 30 other
    /// accounts.
    fn state() -> (Trie, Trie, AccountProof) {
        let storage_entries = vec![
            (keccak256(&slot(1)).to_vec(), encode_quantity(&[0x12, 0x34])),
            (keccak256(&slot(2)).to_vec(), encode_quantity(&[0xff; 32])),
        ];
        let storage = Trie::new(&storage_entries);
        let account = Account {
            nonce: 1,
            balance: vec![0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00],
            storage_root: storage.root(),
            code_hash: keccak256(b"code"),
        };
        let address = [0x42; 20];
        let mut entries = vec![(keccak256(&address).to_vec(), account.rlp())];
        for other in 0..30u8 {
            let other_account = Account { nonce: u64::from(other), ..Account::empty() };
            entries.push((keccak256(&[other; 20]).to_vec(), other_account.rlp()));
        }
        let state = Trie::new(&entries);
        let storage_proofs = [1u8, 2, 3]
            .iter()
            .map(|&index| StorageProof {
                key: slot(index),
                value: match index {
                    1 => vec![0x12, 0x34],
                    2 => vec![0xff; 32],
                    _ => Vec::new(),
                },
                proof: storage.proof(&keccak256(&slot(index))),
            })
            .collect();
        let proof = AccountProof {
            address,
            account,
            account_proof: state.proof(&keccak256(&address)),
            storage: storage_proofs,
        };
        (state, storage, proof)
    }

    #[test]
    fn present_and_absent_slots_verify() {
        let (state, _, proof) = state();
        assert_eq!(verify_account_proof(&state.root(), &proof), Ok(()));
    }

    #[test]
    fn wrong_claims_are_refused() {
        let (state, _, proof) = state();
        let mut richer = proof.clone();
        richer.account.balance.push(0);
        assert_eq!(
            verify_account_proof(&state.root(), &richer),
            Err(AccountProofError::AccountMismatch)
        );
        let mut changed_slot = proof.clone();
        changed_slot.storage[0].value = vec![0x12, 0x35];
        assert_eq!(
            verify_account_proof(&state.root(), &changed_slot),
            Err(AccountProofError::StorageMismatch(0))
        );
        let mut absent_claimed_set = proof.clone();
        absent_claimed_set.storage[2].value = vec![1];
        assert_eq!(
            verify_account_proof(&state.root(), &absent_claimed_set),
            Err(AccountProofError::StorageMismatch(2))
        );
        let mut swapped = proof.clone();
        swapped.storage[0].proof = proof.storage[1].proof.clone();
        assert!(verify_account_proof(&state.root(), &swapped).is_err());
        let mut other_address = proof;
        other_address.address = [0x43; 20];
        assert!(verify_account_proof(&state.root(), &other_address).is_err());
    }

    #[test]
    fn absent_accounts_must_be_claimed_empty() {
        let (state, _, _) = state();
        let address = [0x99; 20];
        let mut proof = AccountProof {
            address,
            account: Account::empty(),
            account_proof: state.proof(&keccak256(&address)),
            storage: Vec::new(),
        };
        assert_eq!(verify_account_proof(&state.root(), &proof), Ok(()));
        proof.account.nonce = 1;
        assert_eq!(
            verify_account_proof(&state.root(), &proof),
            Err(AccountProofError::AccountMismatch)
        );
        let empty = AccountProof { account: Account::empty(), account_proof: Vec::new(), ..proof };
        assert_eq!(verify_account_proof(&EMPTY_ROOT, &empty), Ok(()));
    }
}
