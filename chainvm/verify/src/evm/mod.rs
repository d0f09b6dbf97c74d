//! EVM headers and EIP-1186 proofs.
//!
//! - [`rlp`]: strict RLP, decoding and encoding.
//! - [`header`]: block headers of every fork's layout (15 fields for the
//!   legacy header that the Elastos ESC and EID chains use, up to 21 with
//!   Prague's `requestsHash`), their hash `keccak256(rlp(header))`, and
//!   [`header::verify_chain`], which follows parent hashes from a trusted
//!   checkpoint.
//! - [`trie`]: Merkle-Patricia proofs of a key's value or absence.
//! - [`account`]: `eth_getProof` account and storage proofs against a
//!   header's `stateRoot`.
//! - [`receipt`]: a receipt proven against a header's `receiptsRoot`.
//! - [`json`]: reading headers and proofs from JSON-RPC results.

pub mod account;
pub mod header;
pub mod json;
pub mod receipt;
pub mod rlp;
pub mod trie;

pub use account::{verify_account_proof, Account, AccountProof, AccountProofError, StorageProof};
pub use header::{verify_chain, Checkpoint, ForkFields, Header, HeaderError};
pub use receipt::{verify_receipt, Log, Receipt, ReceiptError};
pub use trie::{verify_proof, ProofError, EMPTY_ROOT};

use sha3::{Digest, Keccak256};

/// `keccak256(bytes)`, Ethereum's hash.
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}
