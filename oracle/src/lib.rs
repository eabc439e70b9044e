//! The MaskOracle node as a library: the `maskoracle` binary is a thin shell over [`cli`].

pub mod cli;
pub mod config;
pub mod doctor;
pub mod keys;
pub mod metrics;
pub mod segment;
pub mod state;
pub mod storage;
