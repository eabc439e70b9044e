//! Chain access: the deployment record ([`deployment`]), RPC endpoints with failover and adaptive
//! log reading ([`rpc`]), the signer ([`tx`]) and revert decoding ([`revert`]).
//!
//! Every transaction of a process goes through one [`TxSender`]: a task that owns the account's
//! nonces, keeps up to `max_in_flight` transactions in the pool at once, sends the most urgent
//! job first (reveals before commits before everything else, then earliest deadline), estimates
//! gas (a failing estimate is a revert, decoded into the contracts' error names before anything is
//! sent), replaces a stuck transaction with higher fees, and never leaves a nonce unfilled.

pub mod deployment;
pub mod revert;
pub mod rpc;
pub mod tx;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider};
use anyhow::Context as _;

pub use deployment::{Contracts, Deployment};
pub use revert::{decode_revert, revert_name};
pub use rpc::{
    endpoint_list, fallback_client, fallback_provider, is_range_refusal, read_provider, rpc_client,
    LogReadError, LogReader, RPC_TIMEOUT,
};
pub use tx::{Mined, SignerStats, TxError, TxJob, TxPriority, TxSender, TxSettings};

/// The latest block's timestamp.
pub async fn latest_timestamp(provider: &DynProvider) -> anyhow::Result<u64> {
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await?
        .context("no latest block")?;
    Ok(block.header.timestamp)
}

/// A task id as the 32-byte big-endian key of the state store.
pub fn task_key(id: U256) -> [u8; 32] {
    id.to_be_bytes()
}

/// The token amount `x` tokens of 18 decimals.
pub fn tokens(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18))
}

/// The gas limit sent for a transaction estimated at `estimate`: the state it runs on can differ
/// from the one it was estimated on (other transactions in the same block). With a 20 % margin,
/// a devnet of five workers opting in at once saw one opt-in mined but reverted while its estimate
/// had passed: the sortition tree's writes (nodes and their per-block history) depend on what the
/// other opt-ins of the block changed first. Unused gas is not charged.
pub fn gas_limit(estimate: u64) -> u64 {
    estimate.saturating_add(estimate / 2).saturating_add(50_000)
}

#[cfg(test)]
mod gas_limit_tests {
    #[test]
    fn the_limit_covers_half_again_and_a_fixed_cushion() {
        assert_eq!(super::gas_limit(100_000), 200_000);
        assert_eq!(super::gas_limit(0), 50_000);
        assert_eq!(super::gas_limit(u64::MAX), u64::MAX);
    }
}
