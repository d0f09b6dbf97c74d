//! Damage to the disk: detected and reported, never trusted, never a panic.

mod common;

use common::{contents, pattern, Model};
use elastos_store::{Error, MemoryDisk, Store, Structure, Transaction, SECTOR_SIZE};
use proptest::prelude::*;

const DISK_SECTORS: u64 = 512;

/// A store with a few values of different sizes, and the model of it.
fn populated() -> (MemoryDisk, Model) {
    let mut disk = MemoryDisk::new(DISK_SECTORS);
    let mut store = Store::format(&mut disk).unwrap();
    let mut model = Model::new();
    for (number, length) in [(1u32, 10usize), (2, 700), (3, 5000), (4, 20_000), (5, 0)] {
        let key = format!("key/{number}").into_bytes();
        let value = pattern(number, length);
        store.put(&key, &value).unwrap();
        model.insert(key, value);
    }
    store.append(b"log", b"first line\n").unwrap();
    store.append(b"log", b"second line\n").unwrap();
    model.insert(b"log".to_vec(), b"first line\nsecond line\n".to_vec());
    drop(store);
    (disk, model)
}

/// Opens a damaged disk; whatever it gives is either an error or the right data.
fn check_never_wrong(disk: &mut MemoryDisk, model: &Model) {
    let mut store = match Store::open(&mut *disk) {
        Ok(store) => store,
        Err(Error::Corrupt { .. } | Error::Unrecognized) => return,
        Err(error) => panic!("unexpected error {error:?}"),
    };
    let keys: Vec<Vec<u8>> = store.keys(b"").map(<[u8]>::to_vec).collect();
    assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>(), "the key set changed");
    let mut damaged = Vec::new();
    for (key, value) in model {
        match store.get(key) {
            Ok(found) => assert_eq!(found.as_ref(), Some(value), "wrong data for {key:?}"),
            Err(Error::Corrupt { what: Structure::Value, .. }) => damaged.push(key.clone()),
            Err(error) => panic!("unexpected error {error:?}"),
        }
    }
    assert_eq!(store.verify().unwrap(), damaged);
    // The store still takes commits, and they do not land on live data.
    let mut transaction = Transaction::new();
    transaction.put(b"new", b"value");
    match store.commit(transaction) {
        Ok(()) => {
            drop(store);
            let mut store = Store::open(&mut *disk).unwrap();
            assert_eq!(store.get(b"new").unwrap(), Some(b"value".to_vec()));
            for (key, value) in model {
                if !damaged.contains(key) {
                    assert_eq!(store.get(key).unwrap().as_ref(), Some(value));
                }
            }
        }
        Err(Error::Full) => {}
        Err(error) => panic!("unexpected error {error:?}"),
    }
}

/// The first sector of each catalog copy, read from superblock copy A (layout in
/// docs/store.md: run counts at 44 and 46, runs of 12 bytes from 48).
fn catalog_sectors(disk: &MemoryDisk) -> [u64; 2] {
    let superblock = disk.sector(0);
    let first_count = u16::from_le_bytes([superblock[44], superblock[45]]) as usize;
    let start =
        |offset: usize| u64::from_le_bytes(superblock[offset..offset + 8].try_into().unwrap());
    [start(48), start(48 + 12 * first_count)]
}

/// The sector where `value` starts.
fn sector_of(disk: &MemoryDisk, value: &[u8]) -> u64 {
    let length = value.len().min(32);
    (0..DISK_SECTORS).find(|&sector| disk.sector(sector)[..length] == value[..length]).unwrap()
}

#[test]
fn a_blank_or_foreign_disk_is_not_formatted() {
    let mut disk = MemoryDisk::new(DISK_SECTORS);
    assert!(matches!(Store::open(&mut disk), Err(Error::Blank)));
    disk.overwrite(0, &[0x55; SECTOR_SIZE]);
    assert!(matches!(Store::open(&mut disk), Err(Error::Unrecognized)));
    assert_eq!(disk.sector(0), &[0x55; SECTOR_SIZE][..]);
    let mut tiny = MemoryDisk::new(10);
    assert!(matches!(Store::format(&mut tiny), Err(Error::DeviceTooSmall)));
}

#[test]
fn one_damaged_superblock_is_worked_around_and_repaired() {
    let (mut disk, model) = populated();
    disk.flip_bit(0, 200);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.health().damaged_superblocks, 1);
    assert_eq!(contents(&mut store).unwrap(), model);
    store.commit(Transaction::new()).unwrap();
    drop(store);
    let store = Store::open(&mut disk).unwrap();
    assert!(store.health().is_clean());
}

#[test]
fn two_damaged_superblocks_are_reported() {
    let (mut disk, _) = populated();
    disk.flip_bit(0, 200);
    disk.flip_bit(4, 3000);
    assert!(matches!(
        Store::open(&mut disk),
        Err(Error::Corrupt { what: Structure::Superblock, sector: 0 })
    ));
}

#[test]
fn one_damaged_catalog_is_worked_around_and_both_are_reported() {
    let (mut disk, model) = populated();
    let [first, second] = catalog_sectors(&disk);
    disk.flip_bit(first, 100);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.health().damaged_catalogs, 1);
    assert_eq!(contents(&mut store).unwrap(), model);
    drop(store);
    disk.flip_bit(second, 100);
    assert_eq!(
        Store::open(&mut disk).err(),
        Some(Error::Corrupt { what: Structure::Catalog, sector: first })
    );
}

#[test]
fn a_damaged_value_is_reported_for_its_key_only() {
    let (mut disk, model) = populated();
    let log_sector = sector_of(&disk, b"first line\nsecond line\n");
    let value = &model[b"key/4".as_slice()];
    let sector = sector_of(&disk, value);
    disk.flip_bit(sector + 3, 77);
    let mut store = Store::open(&mut disk).unwrap();
    assert!(store.health().is_clean());
    assert_eq!(store.get(b"key/4"), Err(Error::Corrupt { what: Structure::Value, sector }));
    assert_eq!(store.get(b"key/3").unwrap().as_ref(), model.get(b"key/3".as_slice()));
    assert_eq!(store.verify().unwrap(), vec![b"key/4".to_vec()]);
    // Appending to a damaged short value is refused rather than built on bad bytes; a put
    // replaces it.
    drop(store);
    disk.flip_bit(log_sector, 0);
    let mut store = Store::open(&mut disk).unwrap();
    assert!(matches!(store.append(b"log", b"x"), Err(Error::Corrupt { .. })));
    store.put(b"key/4", b"fresh").unwrap();
    assert_eq!(store.get(b"key/4").unwrap(), Some(b"fresh".to_vec()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bit_flips_are_never_trusted(
        flips in prop::collection::vec((0..DISK_SECTORS, 0usize..SECTOR_SIZE * 8), 1..6),
    ) {
        let (mut disk, model) = populated();
        for (sector, bit) in flips {
            disk.flip_bit(sector, bit);
        }
        check_never_wrong(&mut disk, &model);
    }

    #[test]
    fn random_sector_garbage_is_never_trusted(
        damage in prop::collection::vec(
            (0..DISK_SECTORS, prop::collection::vec(any::<u8>(), SECTOR_SIZE..=SECTOR_SIZE)),
            1..4,
        ),
    ) {
        let (mut disk, model) = populated();
        for (sector, bytes) in damage {
            disk.overwrite(sector, &bytes);
        }
        check_never_wrong(&mut disk, &model);
    }
}
