//! Random operation sequences against a `BTreeMap` model, with reopens in between.

mod common;

use common::{apply, commit, contents, Model, Operation};
use elastos_store::{Error, MemoryDisk, Store};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Commit(Vec<Operation>),
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec!["", "a", "b", "app/x/1", "app/x/2", "app/y/1", "log", "package"])
        .prop_map(|key| key.as_bytes().to_vec())
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..1500),
        1 => (0usize..90_000, any::<u8>()).prop_map(|(length, byte)| vec![byte; length]),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        3 => (key(), value()).prop_map(|(key, value)| Operation::Put(key, value)),
        2 => key().prop_map(Operation::Delete),
        3 => (key(), value()).prop_map(|(key, bytes)| Operation::Append(key, bytes)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => prop::collection::vec(operation(), 1..2).prop_map(Step::Commit),
        2 => prop::collection::vec(operation(), 0..6).prop_map(Step::Commit),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_store_behaves_like_a_map(steps in prop::collection::vec(step(), 1..40)) {
        // 512 KiB: large values fill it, so `Full` is exercised too.
        let mut disk = MemoryDisk::new(1024);
        let mut store = Store::format(&mut disk).unwrap();
        let mut model = Model::new();
        for step in steps {
            match step {
                Step::Commit(operations) => {
                    let free_before = store.free_bytes();
                    match commit(&mut store, &operations) {
                        Ok(()) => apply(&mut model, &operations),
                        Err(Error::Full) => prop_assert_eq!(store.free_bytes(), free_before),
                        Err(error) => panic!("{error:?}"),
                    }
                }
                Step::Reopen => {
                    drop(store);
                    store = Store::open(&mut disk).unwrap();
                    prop_assert!(store.health().is_clean());
                }
            }
            prop_assert_eq!(&contents(&mut store).unwrap(), &model);
            let listed: Vec<&[u8]> = store.keys(b"app/x/").collect();
            let expected: Vec<&[u8]> =
                model.keys().filter(|key| key.starts_with(b"app/x/")).map(Vec::as_slice).collect();
            prop_assert_eq!(listed, expected);
            let usage = store.usage(b"app/");
            let app: Vec<&Vec<u8>> =
                model.iter().filter(|(key, _)| key.starts_with(b"app/")).map(|(_, v)| v).collect();
            prop_assert_eq!(usage.keys, app.len() as u64);
            prop_assert_eq!(usage.value_bytes, app.iter().map(|value| value.len() as u64).sum::<u64>());
        }
        drop(store);
        let mut store = Store::open(&mut disk).unwrap();
        prop_assert_eq!(contents(&mut store).unwrap(), model);
    }
}
