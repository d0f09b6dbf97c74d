//! EVM headers and EIP-1186 proofs.
