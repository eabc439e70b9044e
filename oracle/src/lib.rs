//! The MaskOracle node as a library: the `maskoracle` binary is a thin shell over [`cli`].

pub mod cli;
pub mod doctor;
pub mod storage;
