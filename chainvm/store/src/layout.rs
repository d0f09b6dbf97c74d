//! The on-disk formats: the superblock and the catalog, and their checks.
//!
//! All integers are little-endian. `docs/store.md` draws the same layout.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::checksum::crc32c;
use crate::device::SECTOR_SIZE;

/// The sectors that hold the two copies of the superblock.
pub(crate) const SUPERBLOCK_SECTORS: [u64; 2] = [0, 4];
/// The first sector that values and catalogs may use; the sectors before it are reserved.
pub(crate) const DATA_START: u64 = 8;
/// The smallest device the store formats: 32 KiB.
pub(crate) const MINIMUM_SECTORS: u64 = 64;
/// The format version this code writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The most runs of sectors one copy of the catalog may occupy.
pub(crate) const CATALOG_RUNS_PER_COPY: usize = 16;
/// The longest key, in bytes.
pub const MAX_KEY_LENGTH: usize = 255;
/// The most sectors one extent of a value covers (its byte length must fit a `u32`).
pub(crate) const MAX_EXTENT_SECTORS: u64 = 1 << 22;

const SUPERBLOCK_MAGIC: [u8; 8] = *b"ELSTORE\0";
const CATALOG_MAGIC: [u8; 8] = *b"ELCATLG\0";
const CATALOG_HEADER_LENGTH: usize = 24;
const EXTENT_RECORD_LENGTH: usize = 16;
const RUN_RECORD_LENGTH: usize = 12;
const RUNS_OFFSET: usize = 48;
const SUPERBLOCK_CHECKSUM_OFFSET: usize = SECTOR_SIZE - 4;

/// A run of whole sectors: where one copy of the catalog lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) start: u64,
    pub(crate) sectors: u64,
}

/// One piece of a value: `length` bytes from sector `start` on, and their CRC-32C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) start: u64,
    pub(crate) length: u32,
    pub(crate) checksum: u32,
}

impl Extent {
    pub(crate) fn sectors(&self) -> u64 {
        sectors_for(u64::from(self.length))
    }
}

/// Where the value of one key lies: its length and its extents, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) length: u64,
    pub(crate) extents: Vec<Extent>,
}

/// The number of sectors that hold `bytes` bytes.
pub(crate) fn sectors_for(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR_SIZE as u64)
}

/// The root of the store: which catalog is current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Superblock {
    /// The device's size when it was formatted.
    pub(crate) sector_count: u64,
    /// The number of commits since the format.
    pub(crate) sequence: u64,
    pub(crate) catalog_length: u64,
    pub(crate) catalog_checksum: u32,
    /// The two copies of the catalog.
    pub(crate) copies: [Vec<Run>; 2],
}

/// What one superblock sector holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SuperblockSector {
    /// Only zeros: never written.
    Zero,
    /// Not the store's magic.
    Foreign,
    /// The store's magic, but a failed checksum or impossible fields.
    Damaged,
    /// A checksummed superblock of another format version.
    Version(u32),
    Valid(Superblock),
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes([bytes[offset], bytes[offset + 1]])
}

impl Superblock {
    /// The superblock as one sector.
    pub(crate) fn encode(&self) -> [u8; SECTOR_SIZE] {
        let mut sector = [0u8; SECTOR_SIZE];
        sector[0..8].copy_from_slice(&SUPERBLOCK_MAGIC);
        sector[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        sector[12..16].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        sector[16..24].copy_from_slice(&self.sector_count.to_le_bytes());
        sector[24..32].copy_from_slice(&self.sequence.to_le_bytes());
        sector[32..40].copy_from_slice(&self.catalog_length.to_le_bytes());
        sector[40..44].copy_from_slice(&self.catalog_checksum.to_le_bytes());
        let mut offset = RUNS_OFFSET;
        for (copy, runs) in self.copies.iter().enumerate() {
            // A copy has at most CATALOG_RUNS_PER_COPY runs: the allocator is asked for no more.
            sector[44 + 2 * copy..46 + 2 * copy]
                .copy_from_slice(&(runs.len() as u16).to_le_bytes());
            for run in runs.iter().take(CATALOG_RUNS_PER_COPY) {
                sector[offset..offset + 8].copy_from_slice(&run.start.to_le_bytes());
                sector[offset + 8..offset + 12]
                    .copy_from_slice(&(run.sectors as u32).to_le_bytes());
                offset += RUN_RECORD_LENGTH;
            }
        }
        let checksum = crc32c(&sector[..SUPERBLOCK_CHECKSUM_OFFSET]);
        sector[SUPERBLOCK_CHECKSUM_OFFSET..].copy_from_slice(&checksum.to_le_bytes());
        sector
    }

    /// Reads one superblock sector and checks it.
    pub(crate) fn decode(sector: &[u8; SECTOR_SIZE]) -> SuperblockSector {
        if sector.iter().all(|&byte| byte == 0) {
            return SuperblockSector::Zero;
        }
        if sector[0..8] != SUPERBLOCK_MAGIC {
            return SuperblockSector::Foreign;
        }
        let stored = u32_at(sector, SUPERBLOCK_CHECKSUM_OFFSET);
        if crc32c(&sector[..SUPERBLOCK_CHECKSUM_OFFSET]) != stored {
            return SuperblockSector::Damaged;
        }
        let version = u32_at(sector, 8);
        if version != FORMAT_VERSION {
            return SuperblockSector::Version(version);
        }
        let sector_count = u64_at(sector, 16);
        let catalog_length = u64_at(sector, 32);
        if u32_at(sector, 12) != SECTOR_SIZE as u32
            || sector_count < MINIMUM_SECTORS
            || (catalog_length as usize) < CATALOG_HEADER_LENGTH
        {
            return SuperblockSector::Damaged;
        }
        let counts = [u16_at(sector, 44) as usize, u16_at(sector, 46) as usize];
        if counts.iter().any(|&count| count == 0 || count > CATALOG_RUNS_PER_COPY) {
            return SuperblockSector::Damaged;
        }
        let mut offset = RUNS_OFFSET;
        let mut copies: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for (copy, &count) in counts.iter().enumerate() {
            let mut total = 0u64;
            for _ in 0..count {
                let run = Run {
                    start: u64_at(sector, offset),
                    sectors: u64::from(u32_at(sector, offset + 8)),
                };
                offset += RUN_RECORD_LENGTH;
                if run.sectors == 0
                    || run.start < DATA_START
                    || run.start.checked_add(run.sectors).is_none_or(|end| end > sector_count)
                {
                    return SuperblockSector::Damaged;
                }
                total += run.sectors;
                copies[copy].push(run);
            }
            if total != sectors_for(catalog_length) {
                return SuperblockSector::Damaged;
            }
        }
        SuperblockSector::Valid(Superblock {
            sector_count,
            sequence: u64_at(sector, 24),
            catalog_length,
            catalog_checksum: u32_at(sector, 40),
            copies,
        })
    }
}

/// Serialises a catalog: the header, then each key with its value's extents, in key order.
pub(crate) fn encode_catalog<'a>(
    sequence: u64,
    entries: impl Iterator<Item = (&'a [u8], &'a Entry)>,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4096);
    bytes.extend_from_slice(&CATALOG_MAGIC);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    for (key, entry) in entries {
        count += 1;
        // Keys are checked against MAX_KEY_LENGTH before they reach the index.
        bytes.push(key.len() as u8);
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(&entry.length.to_le_bytes());
        bytes.extend_from_slice(&(entry.extents.len() as u32).to_le_bytes());
        for extent in &entry.extents {
            bytes.extend_from_slice(&extent.start.to_le_bytes());
            bytes.extend_from_slice(&extent.length.to_le_bytes());
            bytes.extend_from_slice(&extent.checksum.to_le_bytes());
        }
    }
    bytes[16..24].copy_from_slice(&count.to_le_bytes());
    bytes
}

/// Where in the catalog's bytes a check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CatalogDamage {
    pub(crate) offset: usize,
}

/// A reader that never reads past the end of its bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, length: usize) -> Result<&'a [u8], CatalogDamage> {
        let end = self
            .offset
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(CatalogDamage { offset: self.offset })?;
        let taken = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, CatalogDamage> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, CatalogDamage> {
        Ok(u32_at(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, CatalogDamage> {
        Ok(u64_at(self.take(8)?, 0))
    }

    fn damage(&self) -> CatalogDamage {
        CatalogDamage { offset: self.offset }
    }
}

/// Parses and checks a catalog of a store of `sector_count` sectors written by commit
/// `sequence`. Overlaps between extents are checked where the space map is built.
pub(crate) fn decode_catalog(
    bytes: &[u8],
    sequence: u64,
    sector_count: u64,
) -> Result<BTreeMap<Vec<u8>, Entry>, CatalogDamage> {
    let mut cursor = Cursor { bytes, offset: 0 };
    if cursor.take(8)? != CATALOG_MAGIC || cursor.u64()? != sequence {
        return Err(CatalogDamage { offset: 0 });
    }
    let count = cursor.u64()?;
    let mut index = BTreeMap::new();
    let mut previous: Option<Vec<u8>> = None;
    for _ in 0..count {
        let key_length = cursor.u8()? as usize;
        let key = cursor.take(key_length)?;
        if previous.as_deref().is_some_and(|previous| previous >= key) {
            return Err(cursor.damage());
        }
        let length = cursor.u64()?;
        let extent_count = cursor.u32()? as usize;
        if extent_count > (bytes.len() - cursor.offset) / EXTENT_RECORD_LENGTH {
            return Err(cursor.damage());
        }
        let mut extents = Vec::with_capacity(extent_count);
        let mut total = 0u64;
        for _ in 0..extent_count {
            let extent =
                Extent { start: cursor.u64()?, length: cursor.u32()?, checksum: cursor.u32()? };
            if extent.length == 0
                || extent.start < DATA_START
                || extent.start.checked_add(extent.sectors()).is_none_or(|end| end > sector_count)
            {
                return Err(cursor.damage());
            }
            total += u64::from(extent.length);
            extents.push(extent);
        }
        if total != length {
            return Err(cursor.damage());
        }
        previous = Some(key.to_vec());
        index.insert(key.to_vec(), Entry { length, extents });
    }
    if cursor.offset != bytes.len() {
        return Err(cursor.damage());
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn sample_index() -> BTreeMap<Vec<u8>, Entry> {
        let mut index = BTreeMap::new();
        index.insert(b"".to_vec(), Entry { length: 0, extents: vec![] });
        index.insert(
            b"app/notes".to_vec(),
            Entry {
                length: 700,
                extents: vec![
                    Extent { start: 10, length: 512, checksum: 1 },
                    Extent { start: 40, length: 188, checksum: 2 },
                ],
            },
        );
        index
    }

    #[test]
    fn catalog_round_trips() {
        let index = sample_index();
        let bytes = encode_catalog(7, index.iter().map(|(key, entry)| (key.as_slice(), entry)));
        assert_eq!(decode_catalog(&bytes, 7, 100), Ok(index));
        // Another commit's catalog, or one naming sectors past the device, is refused.
        assert!(decode_catalog(&bytes, 8, 100).is_err());
        assert!(decode_catalog(&bytes, 7, 40).is_err());
        assert!(decode_catalog(&bytes[..bytes.len() - 1], 7, 100).is_err());
    }

    #[test]
    fn catalog_refuses_unsorted_keys_and_wrong_lengths() {
        let first = Entry { length: 1, extents: vec![Extent { start: 9, length: 1, checksum: 0 }] };
        let entries = [(&b"b"[..], &first), (&b"a"[..], &first)];
        let bytes = encode_catalog(1, entries.iter().copied());
        assert!(decode_catalog(&bytes, 1, 100).is_err());
        let wrong = Entry { length: 2, extents: first.extents.clone() };
        let bytes = encode_catalog(1, [(&b"a"[..], &wrong)].into_iter());
        assert!(decode_catalog(&bytes, 1, 100).is_err());
    }

    #[test]
    fn superblock_round_trips_and_detects_damage() {
        let superblock = Superblock {
            sector_count: 1000,
            sequence: 42,
            catalog_length: 600,
            catalog_checksum: 0xdead_beef,
            copies: [
                vec![Run { start: 8, sectors: 1 }, Run { start: 20, sectors: 1 }],
                vec![Run { start: 30, sectors: 2 }],
            ],
        };
        let sector = superblock.encode();
        assert_eq!(Superblock::decode(&sector), SuperblockSector::Valid(superblock));
        for bit in 0..SECTOR_SIZE * 8 {
            let mut damaged = sector;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(!matches!(Superblock::decode(&damaged), SuperblockSector::Valid(_)), "{bit}");
        }
        assert_eq!(Superblock::decode(&[0; SECTOR_SIZE]), SuperblockSector::Zero);
        assert_eq!(Superblock::decode(&[1; SECTOR_SIZE]), SuperblockSector::Foreign);
    }

    proptest! {
        #[test]
        fn arbitrary_catalog_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_catalog(&bytes, 0, 1 << 20);
        }

        #[test]
        fn damaged_catalog_headers_never_panic(
            count in any::<u64>(),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bytes = CATALOG_MAGIC.to_vec();
            bytes.extend_from_slice(&3u64.to_le_bytes());
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = decode_catalog(&bytes, 3, 1 << 20);
        }

        #[test]
        fn arbitrary_superblocks_never_panic(
            fill in proptest::collection::vec(any::<u8>(), SECTOR_SIZE..=SECTOR_SIZE),
        ) {
            // With the magic and a correct checksum, so that the field checks run.
            let mut sector = [0u8; SECTOR_SIZE];
            sector.copy_from_slice(&fill);
            sector[0..8].copy_from_slice(&SUPERBLOCK_MAGIC);
            sector[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            sector[12..16].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
            let checksum = crc32c(&sector[..SUPERBLOCK_CHECKSUM_OFFSET]);
            sector[SUPERBLOCK_CHECKSUM_OFFSET..].copy_from_slice(&checksum.to_le_bytes());
            let _ = Superblock::decode(&sector);
        }
    }
}
