//! Helpers shared by the integration tests: a model of the store's contents, and workloads.

#![allow(dead_code)] // Each test file uses a different part.

use std::collections::BTreeMap;

use elastos_store::{BlockDevice, Error, Store, Transaction};

/// What the store should hold.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// One operation of a transaction, owning its bytes.
#[derive(Clone, Debug)]
pub enum Operation {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Append(Vec<u8>, Vec<u8>),
}

/// Applies `operations` to the model, as a commit applies them to the store.
pub fn apply(model: &mut Model, operations: &[Operation]) {
    for operation in operations {
        match operation {
            Operation::Put(key, value) => {
                model.insert(key.clone(), value.clone());
            }
            Operation::Delete(key) => {
                model.remove(key);
            }
            Operation::Append(key, bytes) => {
                model.entry(key.clone()).or_default().extend_from_slice(bytes)
            }
        }
    }
}

/// Commits `operations` as one transaction.
pub fn commit<D: BlockDevice>(store: &mut Store<D>, operations: &[Operation]) -> Result<(), Error> {
    let mut transaction = Transaction::new();
    for operation in operations {
        match operation {
            Operation::Put(key, value) => transaction.put(key, value),
            Operation::Delete(key) => transaction.delete(key),
            Operation::Append(key, bytes) => transaction.append(key, bytes),
        };
    }
    store.commit(transaction)
}

/// Everything the store holds, every value read and checked.
pub fn contents<D: BlockDevice>(store: &mut Store<D>) -> Result<Model, Error> {
    let keys: Vec<Vec<u8>> = store.keys(b"").map(<[u8]>::to_vec).collect();
    let mut model = Model::new();
    for key in keys {
        let value = store.get(&key)?.expect("a listed key has a value");
        assert_eq!(store.value_length(&key), Some(value.len() as u64));
        model.insert(key, value);
    }
    Ok(model)
}

/// Bytes that differ from key to key and from version to version.
pub fn pattern(seed: u32, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

pub fn put(key: &str, value: Vec<u8>) -> Operation {
    Operation::Put(key.as_bytes().to_vec(), value)
}

pub fn delete(key: &str) -> Operation {
    Operation::Delete(key.as_bytes().to_vec())
}

pub fn append(key: &str, bytes: Vec<u8>) -> Operation {
    Operation::Append(key.as_bytes().to_vec(), bytes)
}
