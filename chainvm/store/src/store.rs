//! The store: opening and formatting a disk, reads, and atomic commits.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Bound;

use crate::checksum::{crc32c, Checksum};
use crate::device::{BlockDevice, MAX_SECTORS_PER_TRANSFER, SECTOR_SIZE};
use crate::error::{Error, Structure};
use crate::layout::{
    decode_catalog, encode_catalog, sectors_for, Entry, Extent, Run, Superblock, SuperblockSector,
    CATALOG_RUNS_PER_COPY, MAX_KEY_LENGTH, MINIMUM_SECTORS, SUPERBLOCK_SECTORS,
};
use crate::space::SpaceMap;

/// An append rewrites the last extent of a value together with the new bytes while that
/// extent is shorter than this and ends in a partly filled sector; past it, an append starts
/// a new extent.
pub const APPEND_REWRITE_LIMIT: u32 = 32 * 1024;

const TRANSFER_BYTES: usize = MAX_SECTORS_PER_TRANSFER * SECTOR_SIZE;

/// Damage found when the store was opened, that the store worked around.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Superblock copies (of 2) that failed their checks; the other one was used.
    pub damaged_superblocks: u8,
    /// Catalog copies (of 2) that failed their checks; the other one was used.
    pub damaged_catalogs: u8,
}

impl Health {
    /// True when no damage was found.
    pub fn is_clean(&self) -> bool {
        self.damaged_superblocks == 0 && self.damaged_catalogs == 0
    }
}

/// How much a set of keys holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The number of keys.
    pub keys: u64,
    /// The total length of their values, in bytes.
    pub value_bytes: u64,
    /// The sectors their values occupy (each value rounds up to whole sectors).
    pub sectors: u64,
}

/// A batch of puts, deletes and appends that [`Store::commit`] applies all at once or not
/// at all. Operations apply in the order they were added; the transaction borrows the
/// values, so nothing is copied before the commit writes them.
#[derive(Clone, Debug, Default)]
pub struct Transaction<'a> {
    operations: Vec<(&'a [u8], Operation<'a>)>,
}

#[derive(Clone, Copy, Debug)]
enum Operation<'a> {
    Put(&'a [u8]),
    Delete,
    Append(&'a [u8]),
}

impl<'a> Transaction<'a> {
    /// An empty transaction. Committing it rewrites the store's metadata, which repairs a
    /// damaged superblock or catalog copy.
    pub fn new() -> Self {
        Transaction { operations: Vec::new() }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &'a [u8], value: &'a [u8]) -> &mut Self {
        self.operations.push((key, Operation::Put(value)));
        self
    }

    /// Removes `key` (nothing happens if it is absent).
    pub fn delete(&mut self, key: &'a [u8]) -> &mut Self {
        self.operations.push((key, Operation::Delete));
        self
    }

    /// Adds `bytes` to the end of the value of `key`, creating it if it is absent.
    pub fn append(&mut self, key: &'a [u8], bytes: &'a [u8]) -> &mut Self {
        self.operations.push((key, Operation::Append(bytes)));
        self
    }

    /// The number of operations added.
    pub fn len(&self) -> usize {
        self.operations.len()
    }

    /// True when no operation was added.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// What a commit does to one key, once the transaction's operations are folded together.
enum Pending<'a> {
    Remove,
    Replace(Vec<&'a [u8]>),
    Extend(Vec<&'a [u8]>),
}

/// A key-value store on a block device. See the crate overview for the layout and the
/// commit protocol.
pub struct Store<D: BlockDevice> {
    device: D,
    sector_count: u64,
    sequence: u64,
    index: BTreeMap<Vec<u8>, Entry>,
    catalog_copies: [Vec<Run>; 2],
    space: SpaceMap,
    health: Health,
    poisoned: bool,
}

impl<D: BlockDevice> Store<D> {
    /// Writes an empty store over whatever `device` holds, and opens it.
    pub fn format(mut device: D) -> Result<Self, Error> {
        let sector_count = device.sector_count();
        if sector_count < MINIMUM_SECTORS {
            return Err(Error::DeviceTooSmall);
        }
        let mut space = SpaceMap::new(sector_count);
        let catalog = encode_catalog(0, core::iter::empty());
        let copies = write_catalog(&mut device, &mut space, &catalog)?;
        device.flush()?;
        let superblock = Superblock {
            sector_count,
            sequence: 0,
            catalog_length: catalog.len() as u64,
            catalog_checksum: crc32c(&catalog),
            copies: copies.clone(),
        };
        write_superblocks(&mut device, &superblock)?;
        Ok(Store {
            device,
            sector_count,
            sequence: 0,
            index: BTreeMap::new(),
            catalog_copies: copies,
            space,
            health: Health::default(),
            poisoned: false,
        })
    }

    /// Opens the store on `device`. A disk whose superblocks are zero is [`Error::Blank`];
    /// damage the store cannot work around is [`Error::Corrupt`]. Nothing is written.
    pub fn open(mut device: D) -> Result<Self, Error> {
        let device_sectors = device.sector_count();
        if device_sectors < MINIMUM_SECTORS {
            return Err(Error::DeviceTooSmall);
        }
        let mut readings = Vec::with_capacity(2);
        for &sector in &SUPERBLOCK_SECTORS {
            let mut buffer = [0u8; SECTOR_SIZE];
            device.read(sector, &mut buffer)?;
            readings.push(Superblock::decode(&buffer));
        }
        if readings.iter().all(|reading| *reading == SuperblockSector::Zero) {
            return Err(Error::Blank);
        }
        if let Some(version) = readings.iter().find_map(|reading| match reading {
            SuperblockSector::Version(version) => Some(*version),
            _ => None,
        }) {
            return Err(Error::UnsupportedVersion(version));
        }
        let mut valid: Vec<&Superblock> = readings
            .iter()
            .filter_map(|reading| match reading {
                SuperblockSector::Valid(superblock) => Some(superblock),
                _ => None,
            })
            .collect();
        // A zero copy is not damage: a format cut short before copy B leaves one.
        let damaged_superblocks = readings
            .iter()
            .filter(|reading| {
                matches!(reading, SuperblockSector::Damaged | SuperblockSector::Foreign)
            })
            .count() as u8;
        valid.sort_by_key(|superblock| core::cmp::Reverse(superblock.sequence));
        let Some(&superblock) = valid.first() else {
            if readings.contains(&SuperblockSector::Damaged) {
                let position = readings.iter().position(|r| *r == SuperblockSector::Damaged);
                let sector = SUPERBLOCK_SECTORS[position.unwrap_or(0)];
                return Err(Error::Corrupt { what: Structure::Superblock, sector });
            }
            return Err(Error::Unrecognized);
        };
        if superblock.sector_count > device_sectors {
            return Err(Error::DeviceTooSmall);
        }
        let sector_count = superblock.sector_count;
        let mut damaged_catalogs = 0u8;
        let mut index = None;
        for runs in &superblock.copies {
            match read_catalog(&mut device, superblock, runs)? {
                Some(found) => {
                    index = Some(found);
                    break;
                }
                None => damaged_catalogs += 1,
            }
        }
        let catalog_sector = superblock.copies[0][0].start;
        let index =
            index.ok_or(Error::Corrupt { what: Structure::Catalog, sector: catalog_sector })?;
        let space = SpaceMap::build(sector_count, index.values(), &superblock.copies).map_err(
            |overlap| Error::Corrupt { what: Structure::Catalog, sector: overlap.sector },
        )?;
        Ok(Store {
            device,
            sector_count,
            sequence: superblock.sequence,
            index,
            catalog_copies: superblock.copies.clone(),
            space,
            health: Health { damaged_superblocks, damaged_catalogs },
            poisoned: false,
        })
    }

    /// Gives the device back.
    pub fn into_device(self) -> D {
        self.device
    }

    /// Damage found by `open` and worked around; the next commit rewrites the metadata.
    pub fn health(&self) -> Health {
        self.health
    }

    /// The number of commits since the disk was formatted.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The value of `key`, read from the disk and checked, or `None` if it is absent.
    /// A value that fails its checksum is [`Error::Corrupt`] with [`Structure::Value`].
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let Some(entry) = self.index.get(key) else {
            return Ok(None);
        };
        let mut value = Vec::new();
        value.try_reserve_exact(entry.length as usize).map_err(|_| Error::OutOfMemory)?;
        for extent in &entry.extents {
            read_extent(&mut self.device, extent, &mut value)?;
        }
        Ok(Some(value))
    }

    /// True if `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.index.contains_key(key)
    }

    /// The length of the value of `key` in bytes, without reading it.
    pub fn value_length(&self, key: &[u8]) -> Option<u64> {
        self.index.get(key).map(|entry| entry.length)
    }

    /// The keys that start with `prefix`, in byte order.
    pub fn keys<'s>(&'s self, prefix: &'s [u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.index
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(key, _)| key.as_slice())
            .take_while(move |key| key.starts_with(prefix))
    }

    /// What the keys that start with `prefix` hold (for quotas: pass a dapp's prefix).
    pub fn usage(&self, prefix: &[u8]) -> Usage {
        let mut usage = Usage::default();
        for (key, entry) in self.index.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
        {
            if !key.starts_with(prefix) {
                break;
            }
            usage.keys += 1;
            usage.value_bytes += entry.length;
            usage.sectors += entry.extents.iter().map(Extent::sectors).sum::<u64>();
        }
        usage
    }

    /// Free space in bytes. A commit also needs room for two new copies of the catalog
    /// (about 30 bytes a key plus the key) beside the current ones.
    pub fn free_bytes(&self) -> u64 {
        self.space.free_sectors() * SECTOR_SIZE as u64
    }

    /// The size of the disk the store was formatted on, in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.sector_count * SECTOR_SIZE as u64
    }

    /// Sets `key` to `value` in a commit of its own.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let mut transaction = Transaction::new();
        transaction.put(key, value);
        self.commit(transaction)
    }

    /// Removes `key` in a commit of its own; returns whether it was present. Nothing is
    /// written if it was absent.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, Error> {
        if !self.index.contains_key(key) {
            return Ok(false);
        }
        let mut transaction = Transaction::new();
        transaction.delete(key);
        self.commit(transaction)?;
        Ok(true)
    }

    /// Adds `bytes` to the end of the value of `key` (created if absent) in a commit of its
    /// own. The bytes before are not rewritten, except a short last extent (see
    /// [`APPEND_REWRITE_LIMIT`]).
    pub fn append(&mut self, key: &[u8], bytes: &[u8]) -> Result<(), Error> {
        let mut transaction = Transaction::new();
        transaction.append(key, bytes);
        self.commit(transaction)
    }

    /// Reads every value and returns the keys whose values fail their checksums.
    pub fn verify(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let mut damaged = Vec::new();
        let mut buffer = Vec::new();
        for (key, entry) in &self.index {
            for extent in &entry.extents {
                buffer.clear();
                match read_extent(&mut self.device, extent, &mut buffer) {
                    Ok(()) => {}
                    Err(Error::Corrupt { .. }) => {
                        damaged.push(key.clone());
                        break;
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(damaged)
    }

    /// Applies `transaction` atomically: after a power cut at any point, the store opens
    /// with all of it or none of it. On an error other than [`Error::Poisoned`] the store is
    /// unchanged, on disk and in memory.
    pub fn commit(&mut self, transaction: Transaction<'_>) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if transaction.operations.iter().any(|(key, _)| key.len() > MAX_KEY_LENGTH) {
            return Err(Error::KeyTooLong);
        }
        let pending = fold(transaction);
        // New values and catalogs go only where the committed state has nothing, so the
        // committed state stays whole on the disk until the superblocks name the new one.
        let mut working = self.space.clone();
        let mut changes: Vec<(&[u8], Option<Entry>)> = Vec::with_capacity(pending.len());
        for (key, action) in pending {
            let change = match action {
                Pending::Remove => {
                    if !self.index.contains_key(key) {
                        continue;
                    }
                    None
                }
                Pending::Replace(pieces) => {
                    Some(write_value(&mut self.device, &mut working, &[], &pieces)?)
                }
                Pending::Extend(pieces) => match self.index.get(key).cloned() {
                    None => Some(write_value(&mut self.device, &mut working, &[], &pieces)?),
                    Some(old) => Some(self.extend(&mut working, old, &pieces)?),
                },
            };
            changes.push((key, change));
        }
        let sequence = self.sequence + 1;
        let catalog = encode_catalog(sequence, merge(&self.index, &changes));
        let copies = write_catalog(&mut self.device, &mut working, &catalog)?;
        self.device.flush()?;
        let superblock = Superblock {
            sector_count: self.sector_count,
            sequence,
            catalog_length: catalog.len() as u64,
            catalog_checksum: crc32c(&catalog),
            copies: copies.clone(),
        };
        drop(catalog);
        if let Err(error) = write_superblocks(&mut self.device, &superblock) {
            self.poisoned = true;
            return Err(error);
        }
        for (key, change) in changes {
            match change {
                None => {
                    self.index.remove(key);
                }
                Some(entry) => {
                    self.index.insert(key.to_vec(), entry);
                }
            }
        }
        self.sequence = sequence;
        self.catalog_copies = copies;
        self.health = Health::default();
        match SpaceMap::build(self.sector_count, self.index.values(), &self.catalog_copies) {
            Ok(space) => self.space = space,
            Err(_) => {
                // Cannot happen: every extent was allocated from free space. Refuse work
                // rather than hand out sectors that may be in use.
                self.poisoned = true;
                return Err(Error::Poisoned);
            }
        }
        Ok(())
    }

    /// Writes an appended value: the old extents stay, except a short, partly filled last
    /// extent, which is read, checked and rewritten together with the new bytes.
    fn extend(
        &mut self,
        working: &mut SpaceMap,
        mut entry: Entry,
        pieces: &[&[u8]],
    ) -> Result<Entry, Error> {
        let mut carried = Vec::new();
        if let Some(last) = entry.extents.last().copied() {
            if !last.length.is_multiple_of(SECTOR_SIZE as u32) && last.length < APPEND_REWRITE_LIMIT
            {
                read_extent(&mut self.device, &last, &mut carried)?;
                entry.extents.pop();
            }
        }
        let added = write_value(&mut self.device, working, &carried, pieces)?;
        entry.length += added.length - carried.len() as u64;
        entry.extents.extend(added.extents);
        Ok(entry)
    }
}

/// Folds a transaction's operations into one action per key, in key order.
fn fold(transaction: Transaction<'_>) -> BTreeMap<&[u8], Pending<'_>> {
    let mut pending: BTreeMap<&[u8], Pending<'_>> = BTreeMap::new();
    for (key, operation) in transaction.operations {
        match operation {
            Operation::Put(value) => {
                pending.insert(key, Pending::Replace(vec![value]));
            }
            Operation::Delete => {
                pending.insert(key, Pending::Remove);
            }
            Operation::Append(bytes) => match pending.get_mut(key) {
                Some(Pending::Replace(pieces) | Pending::Extend(pieces)) => pieces.push(bytes),
                Some(slot @ Pending::Remove) => *slot = Pending::Replace(vec![bytes]),
                None => {
                    pending.insert(key, Pending::Extend(vec![bytes]));
                }
            },
        }
    }
    pending
}

/// The committed index with `changes` (sorted by key) applied, in key order.
fn merge<'a>(
    index: &'a BTreeMap<Vec<u8>, Entry>,
    changes: &'a [(&'a [u8], Option<Entry>)],
) -> impl Iterator<Item = (&'a [u8], &'a Entry)> {
    let mut old = index.iter().map(|(key, entry)| (key.as_slice(), entry)).peekable();
    let mut new = changes.iter().peekable();
    core::iter::from_fn(move || loop {
        let take_new = match (old.peek(), new.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some((old_key, _)), Some((new_key, _))) => {
                if old_key == new_key {
                    old.next();
                    true
                } else {
                    new_key < old_key
                }
            }
        };
        if take_new {
            if let Some((key, Some(entry))) = new.next() {
                return Some((*key, entry));
            }
        } else {
            return old.next();
        }
    })
}

/// Bytes that come in pieces, copied out in order.
struct PieceReader<'a> {
    pieces: Vec<&'a [u8]>,
    piece: usize,
    offset: usize,
}

impl PieceReader<'_> {
    /// Fills `out` as far as the pieces go; returns how many bytes it copied.
    fn fill(&mut self, out: &mut [u8]) -> usize {
        let mut filled = 0;
        while filled < out.len() && self.piece < self.pieces.len() {
            let piece = &self.pieces[self.piece][self.offset..];
            let count = piece.len().min(out.len() - filled);
            out[filled..filled + count].copy_from_slice(&piece[..count]);
            filled += count;
            self.offset += count;
            if self.offset == self.pieces[self.piece].len() {
                self.piece += 1;
                self.offset = 0;
            }
        }
        filled
    }
}

/// Writes `prefix` followed by `pieces` to newly allocated sectors; returns the entry that
/// describes them. Nothing is flushed.
fn write_value(
    device: &mut impl BlockDevice,
    space: &mut SpaceMap,
    prefix: &[u8],
    pieces: &[&[u8]],
) -> Result<Entry, Error> {
    let length = prefix.len() as u64 + pieces.iter().map(|piece| piece.len() as u64).sum::<u64>();
    let runs = space.allocate(sectors_for(length), usize::MAX).ok_or(Error::Full)?;
    let mut all = Vec::with_capacity(pieces.len() + 1);
    all.push(prefix);
    all.extend_from_slice(pieces);
    let mut reader = PieceReader { pieces: all, piece: 0, offset: 0 };
    let mut extents = Vec::with_capacity(runs.len());
    let mut remaining = length;
    let mut buffer = vec![0u8; TRANSFER_BYTES.min(sectors_for(length) as usize * SECTOR_SIZE)];
    for run in runs {
        let run_bytes = (run.sectors * SECTOR_SIZE as u64).min(remaining);
        let mut checksum = Checksum::new();
        let mut sector = run.start;
        let mut left = run_bytes;
        while left > 0 {
            let chunk = (left as usize).min(buffer.len());
            let padded = chunk.next_multiple_of(SECTOR_SIZE);
            let filled = reader.fill(&mut buffer[..chunk]);
            debug_assert_eq!(filled, chunk);
            buffer[chunk..padded].fill(0);
            checksum.update(&buffer[..chunk]);
            device.write(sector, &buffer[..padded])?;
            sector += (padded / SECTOR_SIZE) as u64;
            left -= chunk as u64;
        }
        remaining -= run_bytes;
        extents.push(Extent {
            start: run.start,
            length: run_bytes as u32,
            checksum: checksum.finish(),
        });
    }
    Ok(Entry { length, extents })
}

/// Writes two copies of `catalog` to newly allocated sectors. Nothing is flushed.
fn write_catalog(
    device: &mut impl BlockDevice,
    space: &mut SpaceMap,
    catalog: &[u8],
) -> Result<[Vec<Run>; 2], Error> {
    let sectors = sectors_for(catalog.len() as u64);
    let mut copies: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for copy in &mut copies {
        *copy = space.allocate(sectors, CATALOG_RUNS_PER_COPY).ok_or(Error::Full)?;
        let mut offset = 0usize;
        for run in copy.iter() {
            let mut sector = run.start;
            let end = run.start + run.sectors;
            while sector < end {
                let count = ((end - sector) as usize).min(MAX_SECTORS_PER_TRANSFER);
                let stop = (offset + count * SECTOR_SIZE).min(catalog.len());
                let mut chunk = catalog[offset..stop].to_vec();
                chunk.resize(count * SECTOR_SIZE, 0);
                device.write(sector, &chunk)?;
                offset = stop;
                sector += count as u64;
            }
        }
    }
    Ok(copies)
}

/// Writes both superblock copies, each followed by a flush: the first write is the commit
/// point; the second keeps a spare copy.
fn write_superblocks(device: &mut impl BlockDevice, superblock: &Superblock) -> Result<(), Error> {
    let sector = superblock.encode();
    for &position in &SUPERBLOCK_SECTORS {
        device.write(position, &sector)?;
        device.flush()?;
    }
    Ok(())
}

/// Reads one copy of the catalog; `None` if it fails its checksum or its checks.
fn read_catalog(
    device: &mut impl BlockDevice,
    superblock: &Superblock,
    runs: &[Run],
) -> Result<Option<BTreeMap<Vec<u8>, Entry>>, Error> {
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(superblock.catalog_length as usize).map_err(|_| Error::OutOfMemory)?;
    let mut buffer = vec![0u8; TRANSFER_BYTES];
    'runs: for run in runs {
        let mut sector = run.start;
        let end = run.start + run.sectors;
        while sector < end {
            let count = ((end - sector) as usize).min(MAX_SECTORS_PER_TRANSFER);
            let chunk = &mut buffer[..count * SECTOR_SIZE];
            device.read(sector, chunk)?;
            let wanted = (superblock.catalog_length as usize - bytes.len()).min(chunk.len());
            bytes.extend_from_slice(&chunk[..wanted]);
            if bytes.len() as u64 == superblock.catalog_length {
                break 'runs;
            }
            sector += count as u64;
        }
    }
    if crc32c(&bytes) != superblock.catalog_checksum {
        return Ok(None);
    }
    Ok(decode_catalog(&bytes, superblock.sequence, superblock.sector_count).ok())
}

/// Reads one extent of a value, appends its bytes to `out` and checks its checksum.
fn read_extent(
    device: &mut impl BlockDevice,
    extent: &Extent,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let base = out.len();
    let length = extent.length as usize;
    out.resize(base + extent.sectors() as usize * SECTOR_SIZE, 0);
    let mut sector = extent.start;
    let mut offset = base;
    while offset < out.len() {
        let chunk = (out.len() - offset).min(TRANSFER_BYTES);
        device.read(sector, &mut out[offset..offset + chunk])?;
        offset += chunk;
        sector += (chunk / SECTOR_SIZE) as u64;
    }
    out.truncate(base + length);
    if crc32c(&out[base..]) != extent.checksum {
        out.truncate(base);
        return Err(Error::Corrupt { what: Structure::Value, sector: extent.start });
    }
    Ok(())
}
