//! Frames on the stream: a little-endian `u32` length, then that many bytes
//! of message. [`FrameReader`] collects one frame at a time from a stream
//! that delivers bytes in pieces, never reading past the frame's end.

use alloc::vec::Vec;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Why a frame cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is over the reader's limit.
    TooLarge,
}

/// Collects one frame from bytes arriving in pieces.
pub struct FrameReader {
    limit: usize,
    prefix: [u8; LENGTH_PREFIX],
    prefix_filled: usize,
    body: Vec<u8>,
    body_length: usize,
}

impl FrameReader {
    /// A reader refusing frames longer than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            prefix: [0; LENGTH_PREFIX],
            prefix_filled: 0,
            body: Vec::new(),
            body_length: 0,
        }
    }

    /// Bytes still needed to finish the part (prefix or body) being read:
    /// feed at most this many. Never 0.
    pub fn needed(&self) -> usize {
        if self.prefix_filled < LENGTH_PREFIX {
            LENGTH_PREFIX - self.prefix_filled
        } else {
            self.body_length - self.body.len()
        }
    }

    /// Whether a frame has begun arriving.
    pub fn is_partial(&self) -> bool {
        self.prefix_filled > 0
    }

    /// Takes up to [`FrameReader::needed`] bytes (more are refused by
    /// taking only the needed ones); returns how many it took and the frame's
    /// body once it is complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(usize, Option<Vec<u8>>), FrameError> {
        let count = bytes.len().min(self.needed());
        let bytes = &bytes[..count];
        if self.prefix_filled < LENGTH_PREFIX {
            self.prefix[self.prefix_filled..self.prefix_filled + count].copy_from_slice(bytes);
            self.prefix_filled += count;
            if self.prefix_filled < LENGTH_PREFIX {
                return Ok((count, None));
            }
            let length = u32::from_le_bytes(self.prefix) as usize;
            if length > self.limit {
                return Err(FrameError::TooLarge);
            }
            self.body_length = length;
        } else {
            self.body.extend_from_slice(bytes);
        }
        if self.body.len() == self.body_length {
            let body = core::mem::take(&mut self.body);
            self.prefix_filled = 0;
            self.body_length = 0;
            return Ok((count, Some(body)));
        }
        Ok((count, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_arrive_in_pieces_and_back_to_back() {
        let mut reader = FrameReader::new(16);
        let stream = [3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0, 1, 0, 0, 0, b'z'];
        let mut frames = Vec::new();
        let mut position = 0;
        while position < stream.len() {
            let piece = &stream[position..(position + 2).min(stream.len())];
            let (taken, frame) = reader.feed(piece).unwrap();
            assert!(taken > 0);
            position += taken;
            frames.extend(frame);
        }
        assert_eq!(frames, [b"abc".to_vec(), Vec::new(), b"z".to_vec()]);
        assert!(!reader.is_partial());
    }

    #[test]
    fn oversized_frames_are_refused_before_their_body() {
        let mut reader = FrameReader::new(16);
        assert_eq!(reader.feed(&17u32.to_le_bytes()), Err(FrameError::TooLarge));
        let mut reader = FrameReader::new(16);
        assert_eq!(reader.feed(&16u32.to_le_bytes()), Ok((4, None)));
        assert_eq!(reader.needed(), 16);
    }
}
