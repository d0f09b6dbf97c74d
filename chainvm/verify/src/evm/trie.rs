//! Merkle-Patricia proofs: the value a key has (or that it has none) in a
//! trie whose root hash is known, from the nodes on the key's path.

use super::keccak256;
use super::rlp::{self, Item, RlpError};
use alloc::vec::Vec;

/// The root hash of the empty trie, `keccak256(rlp(""))`.
pub const EMPTY_ROOT: [u8; 32] = [
    0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45, 0xe6, 0x92, 0xc0, 0xf8, 0x6e,
    0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c, 0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21,
];

/// Why a proof does not prove anything about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// A node is not canonical RLP.
    Rlp(RlpError),
    /// A node is neither a branch (17 items) nor a leaf or extension (2),
    /// or has a malformed path or child reference.
    MalformedNode,
    /// A node does not hash to the reference its parent holds.
    HashMismatch,
    /// The path goes on but the proof has no more nodes.
    MissingNode,
    /// The proof has nodes after the path ended.
    ExtraNodes,
}

impl From<RlpError> for ProofError {
    fn from(error: RlpError) -> Self {
        Self::Rlp(error)
    }
}

/// How a node refers to a child.
enum Reference<'a> {
    /// By the keccak of its encoding (the next node of the proof).
    Hash([u8; 32]),
    /// Inlined: the child's encoding itself (under 32 bytes).
    Inline(&'a [u8]),
}

/// The reference a branch slot or extension holds; `None` for an empty slot.
fn reference<'a>(item: &Item<'a>) -> Result<Option<Reference<'a>>, ProofError> {
    match item {
        Item::Bytes([]) => Ok(None),
        Item::Bytes(bytes) => {
            let hash = <[u8; 32]>::try_from(*bytes).map_err(|_| ProofError::MalformedNode)?;
            Ok(Some(Reference::Hash(hash)))
        }
        Item::List { encoding, .. } if encoding.len() < 32 => Ok(Some(Reference::Inline(encoding))),
        Item::List { .. } => Err(ProofError::MalformedNode),
    }
}

/// The nibbles (half-bytes) of `key`, high first.
pub fn nibbles(key: &[u8]) -> Vec<u8> {
    key.iter().flat_map(|&byte| [byte >> 4, byte & 0x0f]).collect()
}

/// Decodes a hex-prefix path: its nibbles and whether it ends a leaf.
fn hex_prefix(encoded: &[u8]) -> Result<(Vec<u8>, bool), ProofError> {
    let (&first, rest) = encoded.split_first().ok_or(ProofError::MalformedNode)?;
    let flag = first >> 4;
    if flag > 3 || (flag & 1 == 0 && first & 0x0f != 0) {
        return Err(ProofError::MalformedNode);
    }
    let mut path = Vec::with_capacity(rest.len() * 2 + 1);
    if flag & 1 == 1 {
        path.push(first & 0x0f);
    }
    path.extend(nibbles(rest));
    Ok((path, flag >= 2))
}

/// Follows `key` from `root` through `proof` (the nodes on the path, root
/// first, each referenced by hash; inlined nodes are not listed). Returns
/// the key's value, or `None` when the proof shows the key is absent.
pub fn verify_proof(
    root: &[u8; 32],
    key: &[u8],
    proof: &[Vec<u8>],
) -> Result<Option<Vec<u8>>, ProofError> {
    if proof.is_empty() {
        return if *root == EMPTY_ROOT { Ok(None) } else { Err(ProofError::MissingNode) };
    }
    let path = nibbles(key);
    let mut position = 0;
    let mut used = 0;
    let mut next = Reference::Hash(*root);
    // Each step consumes a proof node or at least one nibble, so the loop
    // ends.
    loop {
        let node: &[u8] = match next {
            Reference::Hash(hash) => {
                let node = proof.get(used).ok_or(ProofError::MissingNode)?;
                used += 1;
                if keccak256(node) != hash {
                    return Err(ProofError::HashMismatch);
                }
                node
            }
            Reference::Inline(node) => node,
        };
        let decoded = rlp::decode(node)?;
        let items = decoded.list()?;
        let (result, child) = match items.len() {
            17 => {
                if position == path.len() {
                    let value = items[16].bytes()?;
                    ((!value.is_empty()).then(|| value.to_vec()), None)
                } else {
                    match reference(&items[usize::from(path[position])])? {
                        None => (None, None),
                        Some(child) => {
                            position += 1;
                            (None, Some(child))
                        }
                    }
                }
            }
            2 => {
                let (segment, is_leaf) = hex_prefix(items[0].bytes()?)?;
                let remaining = &path[position..];
                if is_leaf {
                    let value = items[1].bytes()?;
                    ((remaining == segment.as_slice()).then(|| value.to_vec()), None)
                } else if segment.is_empty() {
                    return Err(ProofError::MalformedNode);
                } else if remaining.starts_with(&segment) {
                    position += segment.len();
                    let child = reference(&items[1])?.ok_or(ProofError::MalformedNode)?;
                    (None, Some(child))
                } else {
                    (None, None)
                }
            }
            _ => return Err(ProofError::MalformedNode),
        };
        match child {
            Some(child) => next = child,
            None => {
                if used != proof.len() {
                    return Err(ProofError::ExtraNodes);
                }
                return Ok(result);
            }
        }
    }
}

/// Building tries in tests: the root and the proof of any key.
#[cfg(test)]
pub(crate) mod builder {
    use super::*;
    use crate::evm::rlp::{encode_bytes, encode_list};
    use alloc::collections::BTreeMap;

    /// A trie built from key-value pairs, with every hashed node kept.
    pub struct Trie {
        /// The root node's encoding.
        pub root_node: Vec<u8>,
        nodes: BTreeMap<[u8; 32], Vec<u8>>,
    }

    fn hex_prefix_encode(path: &[u8], leaf: bool) -> Vec<u8> {
        let flag = if leaf { 2 } else { 0 } + (path.len() % 2) as u8;
        let mut out = Vec::new();
        let mut rest = path;
        if path.len() % 2 == 1 {
            out.push(flag << 4 | path[0]);
            rest = &path[1..];
        } else {
            out.push(flag << 4);
        }
        out.extend(rest.chunks(2).map(|pair| pair[0] << 4 | pair[1]));
        out
    }

    impl Trie {
        /// The trie holding `entries` (distinct keys, non-empty values).
        pub fn new(entries: &[(Vec<u8>, Vec<u8>)]) -> Self {
            let mut nodes = BTreeMap::new();
            let paths: Vec<(Vec<u8>, Vec<u8>)> =
                entries.iter().map(|(key, value)| (nibbles(key), value.clone())).collect();
            let root_node = if paths.is_empty() {
                encode_bytes(&[])
            } else {
                Self::build(&paths, 0, &mut nodes)
            };
            nodes.insert(keccak256(&root_node), root_node.clone());
            Self { root_node, nodes }
        }

        /// The root hash.
        pub fn root(&self) -> [u8; 32] {
            keccak256(&self.root_node)
        }

        fn reference(node: Vec<u8>, nodes: &mut BTreeMap<[u8; 32], Vec<u8>>) -> Vec<u8> {
            if node.len() < 32 {
                node
            } else {
                let hash = keccak256(&node);
                nodes.insert(hash, node);
                encode_bytes(&hash)
            }
        }

        fn build(
            entries: &[(Vec<u8>, Vec<u8>)],
            depth: usize,
            nodes: &mut BTreeMap<[u8; 32], Vec<u8>>,
        ) -> Vec<u8> {
            if let [(path, value)] = entries {
                return encode_list(&[
                    encode_bytes(&hex_prefix_encode(&path[depth..], true)),
                    encode_bytes(value),
                ]);
            }
            let first = &entries[0].0;
            let mut common = first.len() - depth;
            for (path, _) in entries {
                let shared =
                    path[depth..].iter().zip(&first[depth..]).take_while(|(a, b)| a == b).count();
                common = common.min(shared);
            }
            if common > 0 {
                let child = Self::build(entries, depth + common, nodes);
                let reference = Self::reference(child, nodes);
                let segment = hex_prefix_encode(&first[depth..depth + common], false);
                return encode_list(&[encode_bytes(&segment), reference]);
            }
            let mut slots: Vec<Vec<u8>> = (0..17).map(|_| encode_bytes(&[])).collect();
            for nibble in 0..16u8 {
                let group: Vec<(Vec<u8>, Vec<u8>)> = entries
                    .iter()
                    .filter(|(path, _)| path.len() > depth && path[depth] == nibble)
                    .cloned()
                    .collect();
                if !group.is_empty() {
                    let child = Self::build(&group, depth + 1, nodes);
                    slots[usize::from(nibble)] = Self::reference(child, nodes);
                }
            }
            if let Some((_, value)) = entries.iter().find(|(path, _)| path.len() == depth) {
                slots[16] = encode_bytes(value);
            }
            encode_list(&slots)
        }

        /// The proof for `key`: the hashed nodes on its path, root first.
        pub fn proof(&self, key: &[u8]) -> Vec<Vec<u8>> {
            let path = nibbles(key);
            let mut position = 0;
            let mut proof = Vec::from([self.root_node.clone()]);
            let mut node = self.root_node.clone();
            loop {
                let decoded = rlp::decode(&node).expect("built nodes are canonical");
                let Ok(items) = decoded.list() else { return proof };
                let child = match items.len() {
                    17 if position < path.len() => {
                        let slot = items[usize::from(path[position])].clone();
                        position += 1;
                        slot
                    }
                    2 => {
                        let (segment, leaf) =
                            hex_prefix(items[0].bytes().expect("path")).expect("path");
                        if leaf || !path[position..].starts_with(&segment) {
                            return proof;
                        }
                        position += segment.len();
                        items[1].clone()
                    }
                    _ => return proof,
                };
                node = match child {
                    Item::Bytes([]) => return proof,
                    Item::Bytes(hash) => {
                        let hash: [u8; 32] = hash.try_into().expect("hash reference");
                        let next = self.nodes[&hash].clone();
                        proof.push(next.clone());
                        next
                    }
                    Item::List { encoding, .. } => encoding.to_vec(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::builder::Trie;
    use super::*;
    use alloc::vec;

    /// Key-value pairs.
    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    fn sample() -> (Trie, Entries) {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u16..40)
            .map(|index| {
                let key = keccak256(&index.to_be_bytes()).to_vec();
                (key, vec![index as u8 + 1; 1 + usize::from(index % 45)])
            })
            .collect();
        (Trie::new(&entries), entries)
    }

    #[test]
    fn present_and_absent_keys_are_proven() {
        let (trie, entries) = sample();
        for (key, value) in &entries {
            assert_eq!(verify_proof(&trie.root(), key, &trie.proof(key)), Ok(Some(value.clone())));
        }
        let absent = keccak256(b"absent");
        assert_eq!(verify_proof(&trie.root(), &absent, &trie.proof(&absent)), Ok(None));
        assert_eq!(verify_proof(&EMPTY_ROOT, &absent, &[]), Ok(None));
        assert_eq!(Trie::new(&[]).root(), EMPTY_ROOT);
    }

    #[test]
    fn tampered_proofs_are_refused() {
        let (trie, entries) = sample();
        let key = &entries[3].0;
        let proof = trie.proof(key);
        let mut changed = proof.clone();
        let last = changed.len() - 1;
        let end = changed[last].len() - 1;
        changed[last][end] ^= 1;
        assert_eq!(verify_proof(&trie.root(), key, &changed), Err(ProofError::HashMismatch));
        assert_eq!(
            verify_proof(&trie.root(), key, &proof[..proof.len() - 1]),
            Err(ProofError::MissingNode)
        );
        let mut longer = proof.clone();
        longer.push(proof[0].clone());
        assert_eq!(verify_proof(&trie.root(), key, &longer), Err(ProofError::ExtraNodes));
        // Another key's proof does not prove this key's value.
        let other = trie.proof(&entries[4].0);
        assert_ne!(verify_proof(&trie.root(), key, &other), Ok(Some(entries[3].1.clone())));
        assert_eq!(verify_proof(&[0u8; 32], key, &proof), Err(ProofError::HashMismatch));
        assert_eq!(verify_proof(&trie.root(), key, &[]), Err(ProofError::MissingNode));
    }

    #[test]
    fn small_tries_inline_their_nodes() {
        // Short keys and values make nodes under 32 bytes, which parents inline.
        let entries = vec![(vec![0x80], vec![1]), (vec![0x01], vec![2]), (vec![0x02], vec![3])];
        let trie = Trie::new(&entries);
        for (key, value) in &entries {
            let proof = trie.proof(key);
            assert_eq!(proof.len(), 1);
            assert_eq!(verify_proof(&trie.root(), key, &proof), Ok(Some(value.clone())));
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_proofs_never_panic(
            nodes in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..120), 0..5),
            key in proptest::collection::vec(proptest::num::u8::ANY, 0..33),
        ) {
            let root = nodes.first().map(|node| keccak256(node)).unwrap_or(EMPTY_ROOT);
            let _ = verify_proof(&root, &key, &nodes);
        }

        #[test]
        fn flipped_bits_in_real_proofs_are_caught(node_choice in 0usize..8, byte in 0usize..600, bit in 0u8..8) {
            let (trie, entries) = sample();
            let (key, value) = &entries[7];
            let mut proof = trie.proof(key);
            let node = node_choice % proof.len();
            let index = byte % proof[node].len();
            proof[node][index] ^= 1 << bit;
            proptest::prop_assert_ne!(verify_proof(&trie.root(), key, &proof), Ok(Some(value.clone())));
        }
    }
}
