//! CometBFT's simple Merkle tree (RFC 6962 with SHA-256): the root over a
//! list of byte strings, as `crypto/merkle.HashFromByteSlices` computes it.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// `sha256(bytes)`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// The hash of a leaf: `sha256(0x00 || leaf)`.
fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// The hash of an inner node: `sha256(0x01 || left || right)`.
fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two strictly below `length` (`length` >= 2).
fn split_point(length: usize) -> usize {
    let mut point = 1;
    while point * 2 < length {
        point *= 2;
    }
    point
}

/// The Merkle root over `items`; the empty list hashes to `sha256("")`.
pub fn root<T: AsRef<[u8]>>(items: &[T]) -> Hash {
    match items {
        [] => sha256(&[]),
        [single] => leaf_hash(single.as_ref()),
        _ => {
            let (left, right) = items.split_at(split_point(items.len()));
            inner_hash(&root(left), &root(right))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_trees_follow_rfc_6962() {
        let (a, b, c) = (b"a".as_slice(), b"b".as_slice(), b"c".as_slice());
        assert_eq!(root::<&[u8]>(&[]), sha256(b""));
        assert_eq!(root(&[a]), leaf_hash(a));
        assert_eq!(root(&[a, b]), inner_hash(&leaf_hash(a), &leaf_hash(b)));
        // Three leaves split 2 + 1.
        let expected = inner_hash(&inner_hash(&leaf_hash(a), &leaf_hash(b)), &leaf_hash(c));
        assert_eq!(root(&[a, b, c]), expected);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(4), 2);
    }
}
