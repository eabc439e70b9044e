//! The MaskOracle node as a library: the `maskoracle` binary is a thin shell over [`cli`].

pub mod audit;
pub mod bindings;
pub mod chain;
pub mod cli;
pub mod config;
pub mod devnet;
pub mod doctor;
pub mod events;
pub mod keys;
pub mod localnet;
pub mod metrics;
pub mod models;
pub mod node;
pub mod node_cli;
pub mod request;
pub mod segment;
pub mod shutdown;
pub mod state;
pub mod storage;
pub mod ui;
pub mod worker;
