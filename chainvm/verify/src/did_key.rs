//! did key: see the crate overview.
