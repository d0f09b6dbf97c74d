//! The Elastos side's crash-safe key-value store on a block device.
//!
//! chainvm keeps its state here, on a virtio-blk disk: installed dapp packages, each dapp's
//! key-value storage, its own keys, trusted chain state and append-only logs. Keys are byte
//! strings of up to 255 bytes; values are any length the disk has room for.
//!
//! # Use
//!
//! ```
//! use elastos_store::{Error, MemoryDisk, Store, Transaction};
//!
//! let mut disk = MemoryDisk::new(2048);
//! let mut store = match Store::open(&mut disk) {
//!     Err(Error::Blank) => Store::format(&mut disk)?,
//!     other => other?,
//! };
//! let mut install = Transaction::new();
//! install.put(b"package/notes", b"...wasm...").put(b"installed/notes", b"1.0.0");
//! store.commit(install)?;
//! store.append(b"log/audit", b"signed 0x12\n")?;
//! assert_eq!(store.get(b"installed/notes")?, Some(b"1.0.0".to_vec()));
//! assert_eq!(store.keys(b"package/").count(), 1);
//! # Ok::<(), Error>(())
//! ```
//!
//! # On the disk
//!
//! Sectors 0 and 4 hold two copies of the **superblock** (one sector, CRC-32C): the commit
//! sequence number and where the **catalog** lies, in two copies. The catalog lists every
//! key with its value's length and **extents** (start sector, byte length, CRC-32C of the
//! bytes); it carries the sequence number and its CRC-32C is in the superblock. Values lie
//! in extents anywhere past sector 8. Nothing else is on the disk: free space is what the
//! catalog does not name, worked out at `open`.
//!
//! # Commits
//!
//! A commit never writes over anything the committed state uses. It writes the new values
//! and two copies of the new catalog to free sectors, flushes, then writes superblock copy A
//! (a one-sector write: the commit point), flushes, writes copy B, flushes. A power cut
//! before copy A is durable leaves the old superblocks naming the old catalog, whose sectors
//! are untouched; after it, copy A names the new one, written and flushed before it. Torn
//! or lost writes can only hit sectors that no superblock names. Space of deleted and
//! overwritten values is free once the commit that dropped them is complete.
//!
//! `open` reads both superblocks and takes the valid one with the higher sequence number,
//! then the first catalog copy whose checksum and checks pass. Damage it works around is
//! reported by [`Store::health`]; damage it cannot is [`Error::Corrupt`]. Values are
//! checked when read: a damaged value is an error for its key only. `docs/store.md` has
//! the byte layout and the device model.
//!
//! # Memory
//!
//! The index in memory holds keys and extents (about 60 bytes a key plus the key), and a
//! space map of one bit a sector (16 KiB for 64 MiB). Values stay on the disk until read.
//! Each commit rewrites the whole catalog: for a few thousand keys, some tens of KiB.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod checksum;
pub mod device;
mod error;
mod layout;
pub mod memory_disk;
mod space;
mod store;

pub use device::{BlockDevice, DeviceError, SECTOR_SIZE};
pub use error::{Error, Structure};
pub use layout::MAX_KEY_LENGTH;
pub use memory_disk::{MemoryDisk, Survivors};
pub use store::{Health, Store, Transaction, Usage, APPEND_REWRITE_LIMIT};
