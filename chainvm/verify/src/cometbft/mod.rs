//! CometBFT light-client verification.
