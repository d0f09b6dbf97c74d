//! The store's API on its own: keys, prefixes, sizes, free space, limits, and a 64 MiB disk.

mod common;

use common::pattern;
use elastos_store::{Error, MemoryDisk, Store, Transaction, Usage, MAX_KEY_LENGTH, SECTOR_SIZE};

#[test]
fn puts_gets_deletes_and_lists_by_prefix() {
    let mut disk = MemoryDisk::new(2048);
    let mut store = Store::format(&mut disk).unwrap();
    assert_eq!(store.sequence(), 0);
    store.put(b"dapp/notes/a", b"1").unwrap();
    store.put(b"dapp/notes/b", b"22").unwrap();
    store.put(b"dapp/notesx", b"333").unwrap();
    store.put(b"dapp/other/a", &[]).unwrap();
    assert_eq!(store.get(b"dapp/notes/b").unwrap(), Some(b"22".to_vec()));
    assert_eq!(store.get(b"dapp/other/a").unwrap(), Some(Vec::new()));
    assert_eq!(store.get(b"missing").unwrap(), None);
    let listed: Vec<&[u8]> = store.keys(b"dapp/notes/").collect();
    assert_eq!(listed, vec![&b"dapp/notes/a"[..], &b"dapp/notes/b"[..]]);
    assert_eq!(store.keys(b"").count(), 4);
    assert_eq!(store.keys(b"zzz").count(), 0);
    assert_eq!(store.value_length(b"dapp/notesx"), Some(3));
    assert_eq!(store.usage(b"dapp/notes"), Usage { keys: 3, value_bytes: 6, sectors: 3 });
    assert!(store.delete(b"dapp/notes/a").unwrap());
    assert!(!store.delete(b"dapp/notes/a").unwrap());
    assert!(!store.contains(b"dapp/notes/a"));
    assert_eq!(store.sequence(), 5);
    drop(store);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.sequence(), 5);
    assert_eq!(store.keys(b"").count(), 3);
    assert_eq!(store.get(b"dapp/notesx").unwrap(), Some(b"333".to_vec()));
}

#[test]
fn a_transaction_folds_its_operations_in_order() {
    let mut disk = MemoryDisk::new(2048);
    let mut store = Store::format(&mut disk).unwrap();
    store.put(b"k", b"old").unwrap();
    let mut transaction = Transaction::new();
    transaction
        .append(b"k", b"+1")
        .append(b"k", b"+2")
        .delete(b"gone")
        .put(b"fresh", b"a")
        .append(b"fresh", b"b")
        .delete(b"k2")
        .append(b"k2", b"c");
    assert_eq!(transaction.len(), 7);
    store.commit(transaction).unwrap();
    assert_eq!(store.get(b"k").unwrap(), Some(b"old+1+2".to_vec()));
    assert_eq!(store.get(b"fresh").unwrap(), Some(b"ab".to_vec()));
    assert_eq!(store.get(b"k2").unwrap(), Some(b"c".to_vec()));
    let mut transaction = Transaction::new();
    transaction.put(b"k", b"x").delete(b"k");
    store.commit(transaction).unwrap();
    assert!(!store.contains(b"k"));
}

#[test]
fn appends_build_a_log_without_rewriting_it() {
    let mut disk = MemoryDisk::new(4096);
    let mut store = Store::format(&mut disk).unwrap();
    let mut expected = Vec::new();
    for line in 0..2000u32 {
        let entry = format!("signature {line}: {}\n", "x".repeat((line % 50) as usize));
        store.append(b"log/audit", entry.as_bytes()).unwrap();
        expected.extend_from_slice(entry.as_bytes());
    }
    drop(store);
    let writes_before = disk.sector_writes();
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.get(b"log/audit").unwrap(), Some(expected.clone()));
    store.append(b"log/audit", b"one more\n").unwrap();
    expected.extend_from_slice(b"one more\n");
    // The append rewrote at most the short last extent (under 32 KiB), two small catalogs
    // and two superblocks: far less than the 80 KiB log plus metadata rewritten whole.
    drop(store);
    let written = disk.sector_writes() - writes_before;
    assert!(written < 80, "{written} sectors written");
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.get(b"log/audit").unwrap(), Some(expected));
}

#[test]
fn limits_are_errors_and_change_nothing() {
    let mut disk = MemoryDisk::new(256);
    let mut store = Store::format(&mut disk).unwrap();
    let long_key = [b'k'; MAX_KEY_LENGTH + 1];
    assert_eq!(store.put(&long_key, b"v"), Err(Error::KeyTooLong));
    store.put(&long_key[..MAX_KEY_LENGTH], b"v").unwrap();
    let free = store.free_bytes();
    let too_big = vec![1u8; free as usize];
    let mut transaction = Transaction::new();
    transaction.put(b"a", b"small").put(b"b", &too_big);
    assert_eq!(store.commit(transaction), Err(Error::Full));
    assert_eq!(store.free_bytes(), free);
    assert!(!store.contains(b"a"));
    drop(store);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.free_bytes(), free);
    assert_eq!(store.get(&long_key[..MAX_KEY_LENGTH]).unwrap(), Some(b"v".to_vec()));
}

#[test]
fn space_of_deleted_and_overwritten_values_is_reused() {
    // 1 MiB disk: writing 300 KiB forty times only fits if space comes back.
    let mut disk = MemoryDisk::new(2048);
    let mut store = Store::format(&mut disk).unwrap();
    let empty = store.free_bytes();
    for round in 0..40u32 {
        let value = pattern(round, 300_000);
        store.put(b"package", &value).unwrap();
        if round % 3 == 0 {
            assert_eq!(store.get(b"package").unwrap(), Some(value));
            drop(store);
            store = Store::open(&mut disk).unwrap();
        }
    }
    store.delete(b"package").unwrap();
    assert_eq!(store.free_bytes(), empty);
}

#[test]
fn a_64_mib_disk_holds_a_1_mib_value_and_an_8_mib_value() {
    let sectors = 64 * 1024 * 1024 / SECTOR_SIZE as u64;
    let mut disk = MemoryDisk::new(sectors);
    let mut store = Store::format(&mut disk).unwrap();
    assert_eq!(store.capacity_bytes(), 64 * 1024 * 1024);
    let empty = store.free_bytes();
    let package = pattern(1, 1024 * 1024);
    let mut install = Transaction::new();
    install.put(b"package/wallet", &package).put(b"installed/wallet", b"1");
    store.commit(install).unwrap();
    assert_eq!(store.value_length(b"package/wallet"), Some(1024 * 1024));
    assert!(store.free_bytes() <= empty - 1024 * 1024);
    drop(store);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.get(b"package/wallet").unwrap(), Some(package));
    let large = pattern(2, 8 * 1024 * 1024);
    store.put(b"package/large", &large).unwrap();
    drop(store);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.get(b"package/large").unwrap(), Some(large));
    let mut remove = Transaction::new();
    remove.delete(b"package/wallet").delete(b"installed/wallet").delete(b"package/large");
    store.commit(remove).unwrap();
    assert_eq!(store.free_bytes(), empty);
}
