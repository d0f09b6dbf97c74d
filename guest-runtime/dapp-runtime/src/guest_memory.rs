//! Checks of the pointers and lengths a dapp hands to host calls.
//!
//! Every range a host call reads or writes goes through [`range`]: a
//! negative pointer or length, a sum that overflows, or a range leaving
//! linear memory is a [`Violation`], and the runtime stops the dapp. A
//! zero-length range touches nothing and is accepted at any non-negative
//! pointer (Rust gives empty slices a dangling, aligned pointer).

use core::ops::Range;

/// Why a range handed to a host call is wild.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A pointer or a length is negative.
    Negative,
    /// The range leaves linear memory (or its end overflows).
    OutOfBounds,
}

/// The byte range of linear memory `[pointer, pointer + length)` in a
/// memory of `memory_size` bytes.
pub fn range(pointer: i32, length: i32, memory_size: usize) -> Result<Range<usize>, Violation> {
    let (Ok(start), Ok(length)) = (usize::try_from(pointer), usize::try_from(length)) else {
        return Err(Violation::Negative);
    };
    if length == 0 {
        return Ok(0..0);
    }
    let end = start.checked_add(length).ok_or(Violation::OutOfBounds)?;
    if end > memory_size {
        return Err(Violation::OutOfBounds);
    }
    Ok(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_memory_are_accepted() {
        assert_eq!(range(0, 16, 16), Ok(0..16));
        assert_eq!(range(10, 6, 16), Ok(10..16));
        assert_eq!(range(1000, 0, 16), Ok(0..0));
    }

    #[test]
    fn wild_ranges_are_violations() {
        assert_eq!(range(-1, 4, 65536), Err(Violation::Negative));
        assert_eq!(range(0, -4, 65536), Err(Violation::Negative));
        assert_eq!(range(i32::MIN, 0, 65536), Err(Violation::Negative));
        assert_eq!(range(10, 7, 16), Err(Violation::OutOfBounds));
        assert_eq!(range(16, 1, 16), Err(Violation::OutOfBounds));
        assert_eq!(
            range(i32::MAX, i32::MAX, usize::MAX),
            Ok(i32::MAX as usize..(i32::MAX as usize) * 2)
        );
        assert_eq!(range(i32::MAX, i32::MAX, 65536), Err(Violation::OutOfBounds));
        assert_eq!(range(0, 1, 0), Err(Violation::OutOfBounds));
    }
}
