//! Byte slices read and written as little-endian 64-bit words, with aligned
//! word accesses only.
//!
//! The bare-metal targets compile with strict alignment: the compiler may not
//! assume that an unaligned access works, so it copies a slice whose address
//! is not a multiple of 8 byte by byte, at some 20 instructions a word. A
//! frame rarely starts on a word boundary (a virtio-net header is 12 bytes),
//! so these functions load or store whole aligned words of the slice and
//! shift the bytes into place, at a handful of instructions a word whatever
//! the slice's alignment.

/// Bytes of a word.
pub const WORD_SIZE: usize = core::mem::size_of::<u64>();

/// Calls `store` with each 8-byte piece of `source` in order, as a
/// little-endian word; the last piece, if shorter, is padded with zeros.
/// `store` is called `source.len().div_ceil(8)` times.
pub fn read_words(source: &[u8], mut store: impl FnMut(u64)) {
    let prefix_length = (source.as_ptr() as usize).wrapping_neg() % WORD_SIZE;
    if source.len() < prefix_length + WORD_SIZE {
        source.chunks(WORD_SIZE).for_each(|chunk| store(padded(chunk)));
        return;
    }
    let (prefix, rest) = source.split_at(prefix_length);
    let mut whole = rest.chunks_exact(WORD_SIZE);
    if prefix_length == 0 {
        for chunk in &mut whole {
            store(load(chunk));
        }
        let suffix = whole.remainder();
        if !suffix.is_empty() {
            store(padded(suffix));
        }
        return;
    }
    // Each piece is the bytes left over from the aligned word before it
    // (the prefix, at first) and the low bytes of the next aligned word.
    let shift = 8 * prefix_length as u32;
    let mut carry = padded(prefix);
    for chunk in &mut whole {
        let word = load(chunk);
        store(carry | word << shift);
        carry = word >> (64 - shift);
    }
    let suffix = whole.remainder();
    let last = padded(suffix);
    store(carry | last << shift);
    if prefix_length + suffix.len() > WORD_SIZE {
        store(last >> (64 - shift));
    }
}

/// Fills `destination` in order with the little-endian words `load` returns;
/// of the last word only the bytes that fit are written. `load` is called
/// `destination.len().div_ceil(8)` times.
pub fn write_words(destination: &mut [u8], mut load: impl FnMut() -> u64) {
    let prefix_length = (destination.as_ptr() as usize).wrapping_neg() % WORD_SIZE;
    if destination.len() < prefix_length + WORD_SIZE {
        for chunk in destination.chunks_mut(WORD_SIZE) {
            let length = chunk.len();
            chunk.copy_from_slice(&load().to_le_bytes()[..length]);
        }
        return;
    }
    let (prefix, rest) = destination.split_at_mut(prefix_length);
    let mut whole = rest.chunks_exact_mut(WORD_SIZE);
    if prefix_length == 0 {
        for chunk in &mut whole {
            save(chunk, load());
        }
        let suffix = whole.into_remainder();
        if !suffix.is_empty() {
            let length = suffix.len();
            suffix.copy_from_slice(&load().to_le_bytes()[..length]);
        }
        return;
    }
    // The first word's low bytes fill the prefix; every aligned word of the
    // destination then takes the bytes left of one word and the low bytes
    // of the next.
    let shift = 8 * prefix_length as u32;
    let first = load();
    prefix.copy_from_slice(&first.to_le_bytes()[..prefix_length]);
    let mut carry = first >> shift;
    for chunk in &mut whole {
        let word = load();
        save(chunk, carry | word << (64 - shift));
        carry = word >> shift;
    }
    let suffix = whole.into_remainder();
    let length = suffix.len();
    let last =
        if length > WORD_SIZE - prefix_length { carry | load() << (64 - shift) } else { carry };
    suffix.copy_from_slice(&last.to_le_bytes()[..length]);
}

/// Copies `source` to `destination`, with aligned word stores whatever the
/// alignment of either: a copy into memory that is not a Rust object (a
/// guest's RAM, say).
///
/// # Safety
///
/// `destination` must be valid for writes of `source.len()` bytes, and the
/// two ranges must not overlap.
pub unsafe fn copy_to(destination: *mut u8, source: &[u8]) {
    // Bytes up to the destination's first word boundary, then whole words.
    let prefix_length = ((destination as usize).wrapping_neg() % WORD_SIZE).min(source.len());
    let (prefix, rest) = source.split_at(prefix_length);
    for (offset, &byte) in prefix.iter().enumerate() {
        // SAFETY: `offset` is below `source.len()`, so inside the range the
        // caller vouches for.
        unsafe { destination.add(offset).write(byte) };
    }
    let (whole, tail) = rest.split_at(rest.len() / WORD_SIZE * WORD_SIZE);
    let mut target = destination.wrapping_add(prefix_length);
    read_words(whole, |word| {
        // SAFETY: `target` is at a word boundary of the destination (the
        // prefix brought it there), and `whole` is a multiple of 8 bytes long,
        // so every word stored lies inside the destination.
        unsafe { target.cast::<u64>().write(word.to_le()) };
        target = target.wrapping_add(WORD_SIZE);
    });
    for (offset, &byte) in tail.iter().enumerate() {
        // SAFETY: the last `tail.len()` bytes of the destination.
        unsafe { target.add(offset).write(byte) };
    }
}

/// Copies `destination.len()` bytes from `source` into `destination`, with
/// aligned word loads whatever the alignment of either: a copy out of
/// memory that is not a Rust object (a guest's RAM, say).
///
/// # Safety
///
/// `source` must be valid for reads of `destination.len()` bytes, and the
/// two ranges must not overlap.
pub unsafe fn copy_from(destination: &mut [u8], source: *const u8) {
    // Bytes up to the source's first word boundary, then whole words.
    let length = destination.len();
    let prefix_length = ((source as usize).wrapping_neg() % WORD_SIZE).min(length);
    let (prefix, rest) = destination.split_at_mut(prefix_length);
    for (offset, byte) in prefix.iter_mut().enumerate() {
        // SAFETY: `offset` is below `destination.len()`, so inside the range
        // the caller vouches for.
        *byte = unsafe { source.add(offset).read() };
    }
    let split = rest.len() / WORD_SIZE * WORD_SIZE;
    let (whole, tail) = rest.split_at_mut(split);
    let mut origin = source.wrapping_add(prefix_length);
    write_words(whole, || {
        // SAFETY: `origin` is at a word boundary of the source (the prefix
        // brought it there), and `whole` is a multiple of 8 bytes long, so
        // every word loaded lies inside the source.
        let word = u64::from_le(unsafe { origin.cast::<u64>().read() });
        origin = origin.wrapping_add(WORD_SIZE);
        word
    });
    for (offset, byte) in tail.iter_mut().enumerate() {
        // SAFETY: the last `tail.len()` bytes of the source.
        *byte = unsafe { origin.add(offset).read() };
    }
}

/// Up to 8 bytes as a little-endian word, padded with zeros.
fn padded(bytes: &[u8]) -> u64 {
    let mut word = [0; WORD_SIZE];
    word[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

/// An 8-byte chunk at an address that is a multiple of 8, as a little-endian word.
fn load(chunk: &[u8]) -> u64 {
    debug_assert!(chunk.len() == WORD_SIZE && chunk.as_ptr().cast::<u64>().is_aligned());
    // SAFETY: the callers pass chunks of exactly 8 bytes of a slice that start
    // at a multiple of 8 (after the prefix that brings the slice to a word
    // boundary), so the read stays inside the slice and is aligned; every bit
    // pattern is a valid `u64`.
    u64::from_le(unsafe { chunk.as_ptr().cast::<u64>().read() })
}

/// Writes `word` little-endian into an 8-byte chunk at an address that is a
/// multiple of 8.
fn save(chunk: &mut [u8], word: u64) {
    debug_assert!(chunk.len() == WORD_SIZE && chunk.as_ptr().cast::<u64>().is_aligned());
    // SAFETY: as in `load`: 8 bytes of a mutable slice, aligned for a `u64`.
    unsafe { chunk.as_mut_ptr().cast::<u64>().write(word.to_le()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that differ from one another, in a buffer aligned to 8.
    #[repr(align(8))]
    struct Aligned([u8; 64]);

    fn numbered() -> Aligned {
        let mut buffer = Aligned([0; 64]);
        for (index, byte) in buffer.0.iter_mut().enumerate() {
            *byte = index as u8 + 1;
        }
        buffer
    }

    #[test]
    fn every_alignment_and_length_reads_the_same_words() {
        let buffer = numbered();
        for start in 0..WORD_SIZE {
            for length in 0..40 {
                let source = &buffer.0[start..start + length];
                let mut words = Vec::new();
                read_words(source, |word| words.push(word));
                let expected: Vec<u64> = source.chunks(WORD_SIZE).map(padded).collect();
                assert_eq!(words, expected, "start {start}, length {length}");
            }
        }
    }

    #[test]
    fn copies_to_and_from_raw_memory_at_every_alignment() {
        let source = numbered();
        for from in 0..WORD_SIZE {
            for to in 0..WORD_SIZE {
                for length in 0..40 {
                    let mut target = Aligned([0xee; 64]);
                    let bytes = &source.0[from..from + length];
                    // SAFETY: the target has room for 40 bytes from `to`.
                    unsafe { copy_to(target.0.as_mut_ptr().add(to), bytes) };
                    assert_eq!(&target.0[to..to + length], bytes, "{from} {to} {length}");
                    assert!(target.0[..to]
                        .iter()
                        .chain(&target.0[to + length..])
                        .all(|&b| b == 0xee));
                    let mut back = Aligned([0xee; 64]);
                    // SAFETY: the source has 40 bytes from `from`.
                    unsafe { copy_from(&mut back.0[to..to + length], source.0.as_ptr().add(from)) };
                    assert_eq!(&back.0[to..to + length], bytes, "{from} {to} {length}");
                    assert!(back.0[..to].iter().chain(&back.0[to + length..]).all(|&b| b == 0xee));
                }
            }
        }
    }

    #[test]
    fn every_alignment_and_length_writes_the_same_bytes() {
        let words: Vec<u64> = numbered().0.chunks(WORD_SIZE).map(padded).collect();
        for start in 0..WORD_SIZE {
            for length in 0..40 {
                let mut buffer = Aligned([0xee; 64]);
                let mut next = words.iter();
                let mut loads = 0;
                write_words(&mut buffer.0[start..start + length], || {
                    loads += 1;
                    *next.next().unwrap()
                });
                assert_eq!(loads, length.div_ceil(WORD_SIZE), "start {start}, length {length}");
                assert_eq!(&buffer.0[start..start + length], &numbered().0[..length]);
                assert!(buffer.0[..start].iter().all(|&byte| byte == 0xee), "nothing before");
                assert!(buffer.0[start + length..].iter().all(|&byte| byte == 0xee), "or after");
            }
        }
    }
}
