//! Unsigned varints (the multiformats `unsigned-varint`): seven bits a
//! byte, least significant group first, the top bit set on every byte but
//! the last. libp2p caps them at nine bytes (63 bits) and rejects
//! encodings with needless trailing zero groups.

use alloc::vec::Vec;

/// The most bytes a varint may take.
pub const MAXIMUM_LENGTH: usize = 9;

/// Why bytes are not a varint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// More than [`MAXIMUM_LENGTH`] bytes, or a value over 63 bits.
    Overflow,
    /// A last byte of zero after others: the value has a shorter encoding.
    NotMinimal,
}

impl core::fmt::Display for VarintError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Overflow => write!(formatter, "varint longer than {MAXIMUM_LENGTH} bytes"),
            Self::NotMinimal => write!(formatter, "varint not minimally encoded"),
        }
    }
}

/// Appends `value` to `output`.
pub fn encode(value: u64, output: &mut Vec<u8>) {
    let mut rest = value;
    loop {
        let group = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            output.push(group);
            return;
        }
        output.push(group | 0x80);
    }
}

/// Bytes `value` takes encoded.
pub fn encoded_length(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Reads a varint from the start of `input`: the value and the bytes it
/// took, or `None` if `input` ends before the varint does.
pub fn decode(input: &[u8]) -> Result<Option<(u64, usize)>, VarintError> {
    let mut value = 0u64;
    for (index, &byte) in input.iter().enumerate() {
        if index == MAXIMUM_LENGTH {
            return Err(VarintError::Overflow);
        }
        let group = u64::from(byte & 0x7f);
        value |= group << (7 * index);
        if byte & 0x80 == 0 {
            if byte == 0 && index > 0 {
                return Err(VarintError::NotMinimal);
            }
            return Ok(Some((value, index + 1)));
        }
    }
    if input.len() >= MAXIMUM_LENGTH {
        return Err(VarintError::Overflow);
    }
    Ok(None)
}

/// Reads a varint-length-prefixed frame from the start of `input`: its
/// body and the bytes taken in all, `None` if it has not all arrived, or
/// [`FrameError::TooLong`] if it declares more than `maximum` bytes.
pub fn decode_frame(input: &[u8], maximum: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some((length, prefix)) = decode(input).map_err(FrameError::Varint)? else {
        return Ok(None);
    };
    if length > maximum as u64 {
        return Err(FrameError::TooLong { length, maximum });
    }
    let end = prefix + length as usize;
    Ok(input.get(prefix..end).map(|body| (body, end)))
}

/// Appends `body` to `output` behind its varint length.
pub fn encode_frame(body: &[u8], output: &mut Vec<u8>) {
    encode(body.len() as u64, output);
    output.extend_from_slice(body);
}

/// Why a length-prefixed frame is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is not a varint.
    Varint(VarintError),
    /// The frame declares more bytes than allowed.
    TooLong {
        /// The declared length.
        length: u64,
        /// The most allowed.
        maximum: usize,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::Varint(error) => write!(formatter, "{error}"),
            Self::TooLong { length, maximum } => {
                write!(formatter, "frame of {length} bytes, over the limit of {maximum}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn the_specification_examples() {
        // From the multiformats unsigned-varint specification.
        let examples: [(u64, &[u8]); 7] = [
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (255, &[0xff, 0x01]),
            (300, &[0xac, 0x02]),
            (16384, &[0x80, 0x80, 0x01]),
            (0, &[0x00]),
        ];
        for (value, bytes) in examples {
            let mut output = Vec::new();
            encode(value, &mut output);
            assert_eq!(output, bytes, "{value}");
            assert_eq!(encoded_length(value), bytes.len());
            assert_eq!(decode(bytes), Ok(Some((value, bytes.len()))));
        }
    }

    #[test]
    fn the_largest_value_takes_nine_bytes() {
        let largest = (1u64 << 63) - 1;
        let mut output = Vec::new();
        encode(largest, &mut output);
        assert_eq!(output.len(), MAXIMUM_LENGTH);
        assert_eq!(decode(&output), Ok(Some((largest, MAXIMUM_LENGTH))));
        assert_eq!(decode(&[0xff; 9]), Err(VarintError::Overflow));
        assert_eq!(decode(&[0xff; 10]), Err(VarintError::Overflow));
    }

    #[test]
    fn short_and_padded_input() {
        assert_eq!(decode(&[]), Ok(None));
        assert_eq!(decode(&[0x80]), Ok(None));
        assert_eq!(decode(&[0x81, 0x00]), Err(VarintError::NotMinimal));
        assert_eq!(decode(&[0x05, 0xff]), Ok(Some((5, 1))));
    }

    #[test]
    fn frames() {
        let mut output = Vec::new();
        encode_frame(b"/noise\n", &mut output);
        assert_eq!(output[0], 7);
        assert_eq!(decode_frame(&output, 100), Ok(Some((&b"/noise\n"[..], 8))));
        assert_eq!(decode_frame(&output[..5], 100), Ok(None));
        assert_eq!(decode_frame(&output, 6), Err(FrameError::TooLong { length: 7, maximum: 6 }));
        let long = vec![0u8; 300];
        let mut output = Vec::new();
        encode_frame(&long, &mut output);
        assert_eq!(decode_frame(&output, 300).unwrap().unwrap().1, 302);
    }

    #[test]
    fn every_value_round_trips() {
        let mut value = 1u64;
        while value < 1 << 62 {
            for candidate in [value - 1, value, value + 1] {
                let mut output = Vec::new();
                encode(candidate, &mut output);
                assert_eq!(decode(&output), Ok(Some((candidate, output.len()))));
            }
            value = value * 3 + 1;
        }
    }
}
