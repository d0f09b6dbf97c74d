//! Recursive Length Prefix, Ethereum's serialisation, read strictly: every
//! length in its shortest form, a single byte below 0x80 never wrapped,
//! integers without leading zeros, nothing after the item.

use alloc::vec::Vec;

/// How deep lists may nest before the reader refuses (headers, trie nodes
/// and receipts need three levels).
pub const MAX_DEPTH: usize = 16;

/// Why bytes are not canonical RLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlpError {
    /// The input ended inside an item.
    Truncated,
    /// Bytes follow the item.
    TrailingBytes,
    /// A length in a longer form than needed (leading zero bytes, the long
    /// form under 56 bytes, or one byte below 0x80 written as a string).
    NonCanonical,
    /// Lists nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A list where a string was expected, or the reverse.
    UnexpectedType,
    /// A string of the wrong length for its field, or an integer with
    /// leading zeros or too large for its type.
    InvalidValue,
}

/// One decoded item: a byte string, or a list with its whole encoding kept
/// (trie nodes refer to inlined children by their encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A byte string.
    Bytes(&'a [u8]),
    /// A list.
    List {
        /// The list's complete encoding, prefix included.
        encoding: &'a [u8],
        /// Its items.
        items: Vec<Item<'a>>,
    },
}

impl<'a> Item<'a> {
    /// The byte string, or an error for a list.
    pub fn bytes(&self) -> Result<&'a [u8], RlpError> {
        match self {
            Item::Bytes(bytes) => Ok(bytes),
            Item::List { .. } => Err(RlpError::UnexpectedType),
        }
    }

    /// The byte string of exactly `N` bytes.
    pub fn fixed<const N: usize>(&self) -> Result<[u8; N], RlpError> {
        self.bytes()?.try_into().map_err(|_| RlpError::InvalidValue)
    }

    /// The items of a list, or an error for a byte string.
    pub fn list(&self) -> Result<&[Item<'a>], RlpError> {
        match self {
            Item::List { items, .. } => Ok(items),
            Item::Bytes(_) => Err(RlpError::UnexpectedType),
        }
    }

    /// An integer's minimal big-endian bytes (no leading zero; zero is
    /// empty).
    pub fn quantity(&self) -> Result<&'a [u8], RlpError> {
        let bytes = self.bytes()?;
        if bytes.first() == Some(&0) {
            return Err(RlpError::InvalidValue);
        }
        Ok(bytes)
    }

    /// An integer that fits 64 bits.
    pub fn uint(&self) -> Result<u64, RlpError> {
        let bytes = self.quantity()?;
        if bytes.len() > 8 {
            return Err(RlpError::InvalidValue);
        }
        Ok(bytes.iter().fold(0u64, |value, &byte| (value << 8) | u64::from(byte)))
    }
}

/// Reads a big-endian length of `bytes.len()` bytes, canonically.
fn long_length(bytes: &[u8]) -> Result<usize, RlpError> {
    if bytes.first() == Some(&0) {
        return Err(RlpError::NonCanonical);
    }
    if bytes.len() > core::mem::size_of::<usize>() {
        return Err(RlpError::Truncated);
    }
    let length = bytes.iter().fold(0usize, |value, &byte| (value << 8) | usize::from(byte));
    if length < 56 {
        return Err(RlpError::NonCanonical);
    }
    Ok(length)
}

/// Reads one item from the start of `input`; returns it and the rest.
fn decode_one(input: &[u8], depth: usize) -> Result<(Item<'_>, &[u8]), RlpError> {
    let (&prefix, after_prefix) = input.split_first().ok_or(RlpError::Truncated)?;
    let (header_length, payload_length, is_list) = match prefix {
        0x00..=0x7f => return Ok((Item::Bytes(&input[..1]), after_prefix)),
        0x80..=0xb7 => (1, usize::from(prefix - 0x80), false),
        0xb8..=0xbf => {
            let size = usize::from(prefix - 0xb7);
            let length = long_length(after_prefix.get(..size).ok_or(RlpError::Truncated)?)?;
            (1 + size, length, false)
        }
        0xc0..=0xf7 => (1, usize::from(prefix - 0xc0), true),
        _ => {
            let size = usize::from(prefix - 0xf7);
            let length = long_length(after_prefix.get(..size).ok_or(RlpError::Truncated)?)?;
            (1 + size, length, true)
        }
    };
    let end = header_length.checked_add(payload_length).ok_or(RlpError::Truncated)?;
    if input.len() < end {
        return Err(RlpError::Truncated);
    }
    let (encoding, rest) = input.split_at(end);
    let payload = &encoding[header_length..];
    if !is_list {
        if payload_length == 1 && payload[0] < 0x80 {
            return Err(RlpError::NonCanonical);
        }
        return Ok((Item::Bytes(payload), rest));
    }
    if depth >= MAX_DEPTH {
        return Err(RlpError::TooDeep);
    }
    let mut items = Vec::new();
    let mut remaining = payload;
    while !remaining.is_empty() {
        let (item, after) = decode_one(remaining, depth + 1)?;
        items.push(item);
        remaining = after;
    }
    Ok((Item::List { encoding, items }, rest))
}

/// Decodes `input`, which must be exactly one canonical item.
pub fn decode(input: &[u8]) -> Result<Item<'_>, RlpError> {
    let (item, rest) = decode_one(input, 0)?;
    if !rest.is_empty() {
        return Err(RlpError::TrailingBytes);
    }
    Ok(item)
}

/// Appends the prefix for a payload of `length` bytes (`offset` 0x80 for
/// strings, 0xc0 for lists).
fn put_prefix(out: &mut Vec<u8>, offset: u8, length: usize) {
    if length < 56 {
        out.push(offset + length as u8);
    } else {
        let bytes = (length as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
        out.push(offset + 55 + (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The encoding of the byte string `bytes`.
pub fn encode_bytes(bytes: &[u8]) -> Vec<u8> {
    if let [single] = bytes {
        if *single < 0x80 {
            return Vec::from([*single]);
        }
    }
    let mut out = Vec::with_capacity(bytes.len() + 9);
    put_prefix(&mut out, 0x80, bytes.len());
    out.extend_from_slice(bytes);
    out
}

/// The encoding of an integer given as big-endian bytes (leading zeros are
/// dropped).
pub fn encode_quantity(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
    encode_bytes(&bytes[skip..])
}

/// The encoding of a 64-bit integer.
pub fn encode_uint(value: u64) -> Vec<u8> {
    encode_quantity(&value.to_be_bytes())
}

/// The encoding of a list whose items are already encoded.
pub fn encode_list<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let length = items.iter().map(|item| item.as_ref().len()).sum();
    let mut out = Vec::with_capacity(length + 9);
    put_prefix(&mut out, 0xc0, length);
    for item in items {
        out.extend_from_slice(item.as_ref());
    }
    out
}

/// Re-encodes a decoded item (the identity on canonical input).
pub fn encode(item: &Item<'_>) -> Vec<u8> {
    match item {
        Item::Bytes(bytes) => encode_bytes(bytes),
        Item::List { items, .. } => {
            let encoded: Vec<Vec<u8>> = items.iter().map(encode).collect();
            encode_list(&encoded)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn known_encodings_from_the_yellow_paper() {
        assert_eq!(encode_bytes(b"dog"), vec![0x83, b'd', b'o', b'g']);
        assert_eq!(encode_list(&[encode_bytes(b"cat"), encode_bytes(b"dog")]), {
            let mut expected = vec![0xc8, 0x83];
            expected.extend_from_slice(b"cat");
            expected.push(0x83);
            expected.extend_from_slice(b"dog");
            expected
        });
        assert_eq!(encode_bytes(b""), vec![0x80]);
        assert_eq!(encode_list::<Vec<u8>>(&[]), vec![0xc0]);
        assert_eq!(encode_uint(0), vec![0x80]);
        assert_eq!(encode_uint(15), vec![0x0f]);
        assert_eq!(encode_uint(1024), vec![0x82, 0x04, 0x00]);
        let lorem = b"Lorem ipsum dolor sit amet, consectetur adipisicing elit";
        let encoded = encode_bytes(lorem);
        assert_eq!(&encoded[..2], &[0xb8, 0x38]);
        assert_eq!(decode(&encoded), Ok(Item::Bytes(lorem)));
        // The set-theoretic three: [ [], [[]], [ [], [[]] ] ].
        let three = [0xc7, 0xc0, 0xc1, 0xc0, 0xc3, 0xc0, 0xc1, 0xc0];
        let item = decode(&three).expect("canonical");
        assert_eq!(encode(&item), three);
    }

    #[test]
    fn non_canonical_input_is_refused() {
        assert_eq!(decode(&[0x81, 0x05]), Err(RlpError::NonCanonical));
        assert_eq!(decode(&[0xb8, 0x05, 1, 2, 3, 4, 5]), Err(RlpError::NonCanonical));
        let mut leading_zero = vec![0xb9, 0x00, 0x38];
        leading_zero.extend_from_slice(&[0u8; 56]);
        assert_eq!(decode(&leading_zero), Err(RlpError::NonCanonical));
        assert_eq!(decode(&[0x83, 1, 2]), Err(RlpError::Truncated));
        assert_eq!(decode(&[0x01, 0x02]), Err(RlpError::TrailingBytes));
        assert_eq!(decode(&[0xc2, 0x82, 0x00]), Err(RlpError::Truncated));
        assert_eq!(
            decode(&[0x82, 0x00, 0x01]).and_then(|item| item.uint()),
            Err(RlpError::InvalidValue)
        );
        let mut deep = encode_list::<Vec<u8>>(&[]);
        for _ in 0..MAX_DEPTH {
            deep = encode_list(&[deep]);
        }
        assert_eq!(decode(&deep), Err(RlpError::TooDeep));
    }

    fn item_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let leaf =
            proptest::collection::vec(any::<u8>(), 0..80).prop_map(|bytes| encode_bytes(&bytes));
        leaf.prop_recursive(3, 32, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(|items| encode_list(&items))
        })
    }

    proptest::proptest! {
        #[test]
        fn encodings_round_trip(encoded in item_strategy()) {
            let item = decode(&encoded).expect("the encoder writes canonical RLP");
            proptest::prop_assert_eq!(encode(&item), encoded);
        }

        #[test]
        fn decoder_never_panics_and_accepts_only_canonical(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(item) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&item), bytes);
            }
        }

        #[test]
        fn quantities_round_trip(value in proptest::num::u64::ANY) {
            let encoded = encode_uint(value);
            proptest::prop_assert_eq!(decode(&encoded).and_then(|item| item.uint()), Ok(value));
        }
    }
}
