//! CRC-32C (Castagnoli), the checksum of every structure on the disk.

use crc::{Crc, Digest, Table, CRC_32_ISCSI};

/// CRC-32C with a slice-by-16 table: values of several MiB are checked on every read.
static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// The CRC-32C of `bytes`.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

/// A CRC-32C computed over bytes that arrive in pieces.
pub(crate) struct Checksum(Digest<'static, u32, Table<16>>);

impl Checksum {
    pub(crate) fn new() -> Self {
        Checksum(CRC32C.digest())
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn finish(self) -> u32 {
        self.0.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_check_value() {
        // RFC 3720, B.4: CRC-32C of "123456789" is 0xE3069283.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut pieces = Checksum::new();
        pieces.update(b"1234");
        pieces.update(b"56789");
        assert_eq!(pieces.finish(), 0xE306_9283);
    }
}
