//! The key list `storage_list` writes: each key as a little-endian `u16`
//! length and its bytes, one after the other, in ascending byte order, with
//! nothing before, between or after.

use crate::KEY_MAX;

/// Why bytes are not a key list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysError {
    /// The list ends inside a key.
    Truncated,
    /// A key over [`KEY_MAX`].
    TooLong,
    /// The buffer holds fewer than `needed` bytes.
    BufferTooSmall {
        /// The list's encoded length.
        needed: usize,
    },
}

/// The encoded length of a list of `keys`.
pub fn encoded_length<'k>(keys: impl IntoIterator<Item = &'k [u8]>) -> usize {
    keys.into_iter().map(|key| 2 + key.len()).sum()
}

/// Writes `keys` to the front of `buffer`; returns the length written.
pub fn encode<'k, I>(keys: I, buffer: &mut [u8]) -> Result<usize, KeysError>
where
    I: IntoIterator<Item = &'k [u8]>,
    I::IntoIter: Clone,
{
    let keys = keys.into_iter();
    if keys.clone().any(|key| key.len() > KEY_MAX) {
        return Err(KeysError::TooLong);
    }
    let needed = encoded_length(keys.clone());
    if needed > buffer.len() {
        return Err(KeysError::BufferTooSmall { needed });
    }
    let mut at = 0;
    for key in keys {
        // KEY_MAX fits a u16 (checked above).
        buffer[at..at + 2].copy_from_slice(&(key.len() as u16).to_le_bytes());
        buffer[at + 2..at + 2 + key.len()].copy_from_slice(key);
        at += 2 + key.len();
    }
    Ok(at)
}

/// The keys of an encoded list, in order; an error ends the iteration.
pub fn decode(bytes: &[u8]) -> Keys<'_> {
    Keys { rest: bytes }
}

/// An iterator over an encoded key list.
#[derive(Clone, Debug)]
pub struct Keys<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Keys<'a> {
    type Item = Result<&'a [u8], KeysError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = match self.rest {
            [low, high, rest @ ..] => {
                let length = usize::from(u16::from_le_bytes([*low, *high]));
                if length > KEY_MAX {
                    Err(KeysError::TooLong)
                } else if length > rest.len() {
                    Err(KeysError::Truncated)
                } else {
                    let (key, after) = rest.split_at(length);
                    self.rest = after;
                    return Some(Ok(key));
                }
            }
            _ => Err(KeysError::Truncated),
        };
        self.rest = &[];
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_layout_is_as_documented() {
        let mut buffer = [0u8; 16];
        let keys: [&[u8]; 2] = [b"ab", b""];
        assert_eq!(encode(keys, &mut buffer), Ok(6));
        assert_eq!(&buffer[..6], &[2, 0, b'a', b'b', 0, 0]);
        assert_eq!(encode(keys, &mut buffer[..5]), Err(KeysError::BufferTooSmall { needed: 6 }));
        let decoded: Vec<_> = decode(&buffer[..6]).collect();
        assert_eq!(decoded, vec![Ok(&b"ab"[..]), Ok(&b""[..])]);
    }

    #[test]
    fn bad_lists_end_in_an_error() {
        assert_eq!(decode(&[1]).collect::<Vec<_>>(), vec![Err(KeysError::Truncated)]);
        assert_eq!(decode(&[3, 0, 1]).collect::<Vec<_>>(), vec![Err(KeysError::Truncated)]);
        assert_eq!(decode(&[0xff, 0xff]).collect::<Vec<_>>(), vec![Err(KeysError::TooLong)]);
        let long = [0u8; KEY_MAX + 1];
        assert_eq!(encode([&long[..]], &mut [0u8; 512]), Err(KeysError::TooLong));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let count = decode(&bytes).count();
            prop_assert!(count <= bytes.len() / 2 + 1);
        }

        #[test]
        fn lists_round_trip(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..KEY_MAX), 0..12)
        ) {
            let mut buffer = vec![0u8; encoded_length(keys.iter().map(Vec::as_slice))];
            let length = encode(keys.iter().map(Vec::as_slice), &mut buffer).unwrap();
            prop_assert_eq!(length, buffer.len());
            let decoded: Vec<Vec<u8>> = decode(&buffer).map(|key| key.unwrap().to_vec()).collect();
            prop_assert_eq!(decoded, keys);
        }
    }
}
