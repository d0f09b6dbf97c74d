//! elastos did: see the crate overview.
