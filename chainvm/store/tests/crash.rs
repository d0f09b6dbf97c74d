//! Power cuts at every write and flush of a scripted workload: the store always opens
//! with exactly the state before or after the interrupted commit.

mod common;

use common::{append, apply, commit, contents, delete, pattern, put, Model, Operation};
use elastos_store::{BlockDevice, Error, MemoryDisk, Store, Survivors};

const DISK_SECTORS: u64 = 1024;

/// Installs, overwrites, removals, appends and mixed transactions.
fn workload() -> Vec<Vec<Operation>> {
    vec![
        vec![put("keys/identity", pattern(1, 32))],
        vec![put("package/alpha", pattern(2, 40_000)), put("installed/alpha", b"1.0".to_vec())],
        vec![put("state/chain", pattern(3, 600))],
        vec![append("log/audit", pattern(4, 100))],
        vec![append("log/audit", pattern(5, 100))],
        vec![put("package/alpha", pattern(6, 50_000)), put("installed/alpha", b"2.0".to_vec())],
        vec![put("package/beta", pattern(7, 30_000)), put("installed/beta", b"1.0".to_vec())],
        vec![delete("package/alpha"), delete("installed/alpha")],
        vec![append("log/audit", pattern(8, 40_000))],
        vec![append("log/audit", pattern(9, 77))],
        vec![
            delete("state/chain"),
            append("state/chain", pattern(10, 300)),
            append("state/chain", pattern(11, 5)),
            put("keys/identity", pattern(12, 32)),
        ],
        vec![put("empty", Vec::new()), append("log/other", pattern(13, 1200))],
        vec![put("package/beta", pattern(14, 120_000))],
        vec![delete("package/beta"), delete("installed/beta"), delete("never/there")],
    ]
}

/// The model after each commit: `states[0]` is the empty store, `states[i]` after commit i.
fn states(workload: &[Vec<Operation>]) -> Vec<Model> {
    let mut states = vec![Model::new()];
    for operations in workload {
        let mut next = states.last().unwrap().clone();
        apply(&mut next, operations);
        states.push(next);
    }
    states
}

/// Runs the workload on a fresh disk; returns the disk and the number of the commit that
/// failed (0 for the format), or `None` if all completed.
fn run(disk: &mut MemoryDisk, workload: &[Vec<Operation>]) -> Option<usize> {
    let Ok(mut store) = Store::format(&mut *disk) else {
        return Some(0);
    };
    for (number, operations) in workload.iter().enumerate() {
        if let Err(error) = commit(&mut store, operations) {
            assert!(
                matches!(error, Error::Device(_) | Error::Poisoned),
                "commit {number}: {error:?}"
            );
            return Some(number + 1);
        }
    }
    None
}

#[test]
fn every_cut_leaves_the_state_before_or_after_the_commit() {
    let workload = workload();
    let states = states(&workload);
    let mut clean = MemoryDisk::new(DISK_SECTORS);
    assert_eq!(run(&mut clean, &workload), None);
    let events = clean.events();
    let mut store = Store::open(&mut clean).unwrap();
    assert_eq!(contents(&mut store).unwrap(), *states.last().unwrap());
    assert!(events > 100, "{events} events");

    let mut outcomes = [0usize; 2];
    for cut in 0..events {
        for survivors in
            [Survivors::All, Survivors::None, Survivors::Random(cut), Survivors::Random(!cut)]
        {
            let mut disk = MemoryDisk::new(DISK_SECTORS);
            disk.cut_power_at(cut, cut.wrapping_mul(7919));
            let interrupted = run(&mut disk, &workload).expect("the power was cut");
            disk.power_cycle(survivors);
            let context = format!("cut at event {cut}, commit {interrupted}, {survivors:?}");
            let mut store = match Store::open(&mut disk) {
                Err(Error::Blank) if interrupted == 0 => continue,
                Err(error) => panic!("{context}: open failed: {error:?}"),
                Ok(store) => store,
            };
            assert!(store.health().is_clean(), "{context}: {:?}", store.health());
            let found = contents(&mut store).unwrap_or_else(|error| panic!("{context}: {error:?}"));
            let before = &states[interrupted.saturating_sub(1)];
            let after = &states[interrupted];
            if found == *before {
                outcomes[0] += 1;
            } else if found == *after {
                outcomes[1] += 1;
            } else {
                panic!("{context}: neither the state before nor after the commit");
            }
            assert!(store.verify().unwrap().is_empty(), "{context}");

            drop(store);

            // The recovered store takes new commits without harming what it holds, and a
            // second power cut during that commit is as safe as the first.
            let mut expected = found.clone();
            let extra = [put("after/crash", pattern(99, 3000)), append("log/audit", vec![1; 9])];
            apply(&mut expected, &extra);
            for second_cut in 0.. {
                let mut copy = disk.clone();
                copy.cut_power_at(copy.events() + second_cut, second_cut);
                let mut store = Store::open(&mut copy).unwrap();
                let committed = commit(&mut store, &extra).is_ok();
                drop(store);
                copy.power_cycle(Survivors::Random(second_cut ^ cut));
                let mut store = Store::open(&mut copy).unwrap_or_else(|error| {
                    panic!("{context}, second cut {second_cut}: {error:?}")
                });
                let again = contents(&mut store).unwrap();
                if committed {
                    assert_eq!(again, expected, "{context}: after a new commit");
                    break;
                }
                assert!(again == found || again == expected, "{context}, second cut {second_cut}");
            }
        }
    }
    // Both outcomes occur: cuts before the commit point and after it.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

#[test]
fn a_cut_inside_every_sector_of_a_large_write_is_safe() {
    // One write call per 64 KiB: cut each of the big value's writes with many tear patterns.
    let mut disk = MemoryDisk::new(DISK_SECTORS);
    let mut store = Store::format(&mut disk).unwrap();
    store.put(b"big", &pattern(1, 200_000)).unwrap();
    drop(store);
    let start = disk.events();
    let new_value = pattern(2, 200_000);
    for offset in 0..4 {
        for seed in 0..8 {
            let mut copy = disk.clone();
            copy.cut_power_at(start + offset, seed);
            let mut store = Store::open(&mut copy).unwrap();
            assert!(store.put(b"big", &new_value).is_err());
            drop(store);
            copy.power_cycle(Survivors::Random(seed));
            let mut store = Store::open(&mut copy).unwrap();
            assert_eq!(store.get(b"big").unwrap(), Some(pattern(1, 200_000)));
        }
    }
}

#[test]
fn a_failed_superblock_write_poisons_the_handle() {
    let mut disk = MemoryDisk::new(DISK_SECTORS);
    let mut store = Store::format(&mut disk).unwrap();
    store.put(b"a", b"1").unwrap();
    drop(store);
    // A small commit: value, two catalog copies, flush, superblock A (event 4).
    let start = disk.events();
    disk.cut_power_at(start + 4, 0);
    let mut store = Store::open(&mut disk).unwrap();
    assert!(matches!(store.put(b"a", b"2"), Err(Error::Device(_))));
    assert_eq!(store.put(b"a", b"3"), Err(Error::Poisoned));
    drop(store);
    disk.power_cycle(Survivors::All);
    let mut store = Store::open(&mut disk).unwrap();
    assert_eq!(store.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.into_device().sector_count(), DISK_SECTORS);
}
