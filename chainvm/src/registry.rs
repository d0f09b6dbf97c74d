//! The installed dapps and their storage, kept in the Elastos store.
//!
//! Keys (docs/dapps.md):
//!
//! | key                      | value                                          |
//! |--------------------------|------------------------------------------------|
//! | `dapp/NAME/package`      | the package, as installed                      |
//! | `dapp/NAME/manifest`     | its manifest, in the package's encoding        |
//! | `dapp/NAME/running`      | present while the dapp should run (empty)      |
//! | `data/NAME/KEY`          | the dapp's own storage                         |
//!
//! An install writes package and manifest in one commit; a removal deletes
//! every key of the dapp in one commit, so a power cut leaves the dapp
//! wholly installed or not at all. Packages are verified here, on the
//! Elastos side, before anything is written.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use elastos_package::{Installed, Manifest, Package, PackageError, Refusal, SystemPolicy};
use elastos_store::{BlockDevice, Store, Transaction};

/// The most bytes of keys and values a dapp's storage may hold, whatever its
/// manifest says, past which the store itself would fill up.
pub const STORAGE_HARD_LIMIT: u64 = 16 << 20;

/// Why a registry operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The package is not a valid, correctly signed package.
    Package(PackageError),
    /// The package is valid but may not be installed here.
    Refused(Refusal),
    /// No dapp of that name is installed.
    NotInstalled,
    /// The store failed.
    Store(elastos_store::Error),
    /// What the store holds for the dapp does not read back (damage).
    Damaged(&'static str),
    /// A storage key is empty, too long or not allowed.
    BadKey,
    /// The dapp's storage would go over its quota.
    QuotaExceeded,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Package(error) => write!(formatter, "{error}"),
            Self::Refused(refusal) => write!(formatter, "{refusal}"),
            Self::NotInstalled => write!(formatter, "no dapp of that name is installed"),
            Self::Store(error) => write!(formatter, "the Elastos store failed: {error}"),
            Self::Damaged(what) => write!(formatter, "the stored {what} is damaged"),
            Self::BadKey => write!(formatter, "the storage key is empty or too long"),
            Self::QuotaExceeded => write!(formatter, "the dapp's storage quota is spent"),
        }
    }
}

impl From<elastos_store::Error> for RegistryError {
    fn from(error: elastos_store::Error) -> Self {
        Self::Store(error)
    }
}

/// The longest storage key a dapp may use (the store's limit less the
/// prefix `data/NAME/`).
pub const DAPP_KEY_MAX: usize = 200;

fn key(name: &str, what: &str) -> Vec<u8> {
    format!("dapp/{name}/{what}").into_bytes()
}

fn data_prefix(name: &str) -> Vec<u8> {
    format!("data/{name}/").into_bytes()
}

/// The installed dapps, on a store.
pub struct Registry<D: BlockDevice> {
    store: Store<D>,
}

impl<D: BlockDevice> Registry<D> {
    /// The registry on `store`.
    pub fn new(store: Store<D>) -> Self {
        Self { store }
    }

    /// The store, for what else keeps state in it.
    pub fn store(&mut self) -> &mut Store<D> {
        &mut self.store
    }

    /// The names of the installed dapps, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .store
            .keys(b"dapp/")
            .filter_map(|key| {
                let rest = key.strip_prefix(b"dapp/")?;
                let name = rest.strip_suffix(b"/manifest")?;
                core::str::from_utf8(name).ok().map(ToString::to_string)
            })
            .collect();
        names.sort();
        names
    }

    /// The manifest of `name`, if installed.
    pub fn manifest(&mut self, name: &str) -> Result<Option<Manifest>, RegistryError> {
        match self.store.get(&key(name, "manifest"))? {
            Some(bytes) => {
                Manifest::decode(&bytes).map(Some).map_err(|_| RegistryError::Damaged("manifest"))
            }
            None => Ok(None),
        }
    }

    /// The package of `name`, if installed.
    pub fn package(&mut self, name: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        Ok(self.store.get(&key(name, "package"))?)
    }

    /// Verifies `bytes` and installs the package (or updates the dapp of its
    /// name), under `policy`. Nothing is written unless it passes.
    pub fn install(
        &mut self,
        bytes: &[u8],
        policy: &SystemPolicy,
    ) -> Result<Manifest, RegistryError> {
        let package = Package::parse(bytes).map_err(RegistryError::Package)?;
        let manifest = package.manifest().clone();
        let installed = self
            .manifest(&manifest.name)?
            .map(|current| Installed { publisher: current.publisher, version: current.version });
        manifest.check_install(installed.as_ref(), policy).map_err(RegistryError::Refused)?;
        let package_key = key(&manifest.name, "package");
        let manifest_key = key(&manifest.name, "manifest");
        let mut transaction = Transaction::new();
        transaction.put(&package_key, bytes).put(&manifest_key, package.manifest_bytes());
        self.store.commit(transaction)?;
        Ok(manifest)
    }

    /// Removes `name`: its package, manifest and storage, in one commit.
    pub fn remove(&mut self, name: &str) -> Result<(), RegistryError> {
        if !self.store.contains(&key(name, "manifest")) {
            return Err(RegistryError::NotInstalled);
        }
        let prefix = key(name, "");
        let data = data_prefix(name);
        let keys: Vec<Vec<u8>> =
            self.store.keys(&prefix).chain(self.store.keys(&data)).map(<[u8]>::to_vec).collect();
        let mut transaction = Transaction::new();
        for key in &keys {
            transaction.delete(key);
        }
        self.store.commit(transaction)?;
        Ok(())
    }

    /// The restart policy of each installed dapp.
    pub fn restart_policies(&mut self) -> Vec<(String, elastos_package::RestartPolicy)> {
        self.names()
            .into_iter()
            .filter_map(|name| {
                let restart = self.manifest(&name).ok().flatten()?.restart;
                Some((name, restart))
            })
            .collect()
    }

    /// Whether `name` should be running (it was started and not stopped).
    pub fn wanted_running(&self, name: &str) -> bool {
        self.store.contains(&key(name, "running"))
    }

    /// Notes whether `name` should be running, across restarts.
    pub fn set_wanted_running(&mut self, name: &str, running: bool) -> Result<(), RegistryError> {
        let key = key(name, "running");
        if running == self.store.contains(&key) {
            return Ok(());
        }
        if running {
            self.store.put(&key, b"")?;
        } else {
            self.store.delete(&key)?;
        }
        Ok(())
    }

    /// The storage key of `name`'s `key`.
    fn data_key(name: &str, key: &[u8]) -> Result<Vec<u8>, RegistryError> {
        if key.is_empty() || key.len() > DAPP_KEY_MAX {
            return Err(RegistryError::BadKey);
        }
        let mut full = data_prefix(name);
        full.extend_from_slice(key);
        Ok(full)
    }

    /// Bytes of keys and values `name`'s storage holds.
    pub fn storage_used(&self, name: &str) -> u64 {
        let prefix = data_prefix(name);
        let keys: u64 = self.store.keys(&prefix).map(|key| (key.len() - prefix.len()) as u64).sum();
        keys + self.store.usage(&prefix).value_bytes
    }

    /// The value of `name`'s `key`.
    pub fn storage_get(
        &mut self,
        name: &str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let key = Self::data_key(name, key)?;
        Ok(self.store.get(&key)?)
    }

    /// Writes `name`'s `key`, within `quota` bytes of keys and values.
    pub fn storage_put(
        &mut self,
        name: &str,
        key: &[u8],
        value: &[u8],
        quota: u64,
    ) -> Result<(), RegistryError> {
        let full = Self::data_key(name, key)?;
        let old = self.store.value_length(&full).map_or(0, |length| length + key.len() as u64);
        let new = (key.len() + value.len()) as u64;
        let used = self.storage_used(name);
        if used - old.min(used) + new > quota.min(STORAGE_HARD_LIMIT) {
            return Err(RegistryError::QuotaExceeded);
        }
        self.store.put(&full, value)?;
        Ok(())
    }

    /// Deletes `name`'s `key`; returns whether it was there.
    pub fn storage_delete(&mut self, name: &str, key: &[u8]) -> Result<bool, RegistryError> {
        let key = Self::data_key(name, key)?;
        Ok(self.store.delete(&key)?)
    }

    /// `name`'s keys that start with `prefix`, without the storage prefix.
    pub fn storage_list(&self, name: &str, prefix: &[u8]) -> Vec<Vec<u8>> {
        let mut full = data_prefix(name);
        let strip = full.len();
        full.extend_from_slice(prefix);
        self.store.keys(&full).map(|key| key[strip..].to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use elastos_package::{pack, Capabilities, Capability, Limits, PublisherKey, RestartPolicy};
    use elastos_store::MemoryDisk;

    const SECRET: [u8; 32] = [7; 32];
    const OTHER: [u8; 32] = [8; 32];

    /// A tiny valid module: the magic and version of an empty wasm module.
    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn manifest(name: &str, version: &str, secret: &[u8; 32]) -> Manifest {
        Manifest {
            name: name.into(),
            version: elastos_package::Version::parse(version).unwrap(),
            description: String::new(),
            publisher: PublisherKey::from_secret_key(secret),
            entry: "elastos_main".into(),
            restart: RestartPolicy::Stop,
            capabilities: Capabilities::of(&[Capability::Log, Capability::Storage]),
            limits: Limits::DEFAULT,
            sign: None,
        }
    }

    fn package(name: &str, version: &str, secret: &[u8; 32]) -> Vec<u8> {
        pack(&manifest(name, version, secret), MODULE, secret).unwrap()
    }

    fn registry() -> Registry<MemoryDisk> {
        Registry::new(Store::format(MemoryDisk::new(8192)).unwrap())
    }

    const POLICY: SystemPolicy = SystemPolicy::FORMAT_MAXIMA;

    #[test]
    fn installs_lists_updates_and_removes() {
        let mut registry = registry();
        registry.install(&package("notes", "1.0.0", &SECRET), &POLICY).unwrap();
        registry.install(&package("chat", "0.1.0", &SECRET), &POLICY).unwrap();
        assert_eq!(registry.names(), ["chat", "notes"]);
        assert_eq!(
            registry.install(&package("notes", "1.0.0", &SECRET), &POLICY),
            Err(RegistryError::Refused(Refusal::SameVersion(elastos_package::Version::new(
                1, 0, 0
            ))))
        );
        assert_eq!(
            registry.install(&package("notes", "2.0.0", &OTHER), &POLICY),
            Err(RegistryError::Refused(Refusal::PublisherChanged))
        );
        registry.install(&package("notes", "1.1.0", &SECRET), &POLICY).unwrap();
        assert_eq!(registry.manifest("notes").unwrap().unwrap().version.to_string(), "1.1.0");
        registry.storage_put("notes", b"1", b"buy milk", 1000).unwrap();
        registry.set_wanted_running("notes", true).unwrap();
        registry.remove("notes").unwrap();
        assert_eq!(registry.names(), ["chat"]);
        assert_eq!(registry.storage_list("notes", b""), Vec::<Vec<u8>>::new());
        assert!(!registry.wanted_running("notes"));
        assert_eq!(registry.remove("notes"), Err(RegistryError::NotInstalled));
    }

    #[test]
    fn a_refused_package_changes_nothing() {
        let mut registry = registry();
        registry.install(&package("notes", "1.0.0", &SECRET), &POLICY).unwrap();
        let sequence = registry.store().sequence();
        let mut tampered = package("notes", "2.0.0", &SECRET);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(registry.install(&tampered, &POLICY), Err(RegistryError::Package(_))));
        assert!(matches!(
            registry.install(&tampered[..40], &POLICY),
            Err(RegistryError::Package(_))
        ));
        assert_eq!(registry.store().sequence(), sequence);
        assert_eq!(registry.manifest("notes").unwrap().unwrap().version.to_string(), "1.0.0");
    }

    #[test]
    fn storage_is_per_dapp_and_within_its_quota() {
        let mut registry = registry();
        registry.storage_put("a", b"k", b"12345", 10).unwrap();
        assert_eq!(registry.storage_get("b", b"k").unwrap(), None);
        assert_eq!(registry.storage_get("a", b"k").unwrap().unwrap(), b"12345");
        // Six bytes used; overwriting the same key counts only the new value.
        registry.storage_put("a", b"k", b"123456789", 10).unwrap();
        assert_eq!(registry.storage_put("a", b"j", b"1", 10), Err(RegistryError::QuotaExceeded));
        assert_eq!(registry.storage_put("a", b"", b"1", 10), Err(RegistryError::BadKey));
        registry.storage_put("a", b"kk", b"", 100).unwrap();
        assert_eq!(registry.storage_list("a", b"k"), [b"k".to_vec(), b"kk".to_vec()]);
        assert!(registry.storage_delete("a", b"k").unwrap());
        assert!(!registry.storage_delete("a", b"k").unwrap());
        assert_eq!(registry.storage_used("a"), 2);
    }

    #[test]
    fn installs_survive_reopening_the_store() {
        let mut registry = registry();
        registry.install(&package("notes", "1.0.0", &SECRET), &POLICY).unwrap();
        registry.storage_put("notes", b"1", b"x", 100).unwrap();
        let disk = registry.store.into_device();
        let mut reopened = Registry::new(Store::open(disk).unwrap());
        assert_eq!(reopened.names(), ["notes"]);
        assert_eq!(reopened.storage_get("notes", b"1").unwrap().unwrap(), b"x");
        let package = reopened.package("notes").unwrap().unwrap();
        assert!(Package::parse(&package).is_ok());
    }
}
