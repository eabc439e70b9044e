//! The deployment record and the contract handles on one provider.

use std::path::Path;

use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::bindings::{ExampleConsumer, ModelRegistry, TaskHub, TestToken, WorkerRegistry};

/// The record `deploy/Deploy.s.sol` writes: where the contracts are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain id the contracts live on.
    pub chain_id: u64,
    /// A block at or before the deployment: event backfill starts here.
    pub deploy_block: u64,
    /// The fee and stake token.
    pub token: Address,
    /// Model registry.
    pub model_registry: Address,
    /// Worker registry (stakes, draw).
    pub worker_registry: Address,
    /// Task hub (escrow, lifecycle).
    pub task_hub: Address,
    /// The example consumer contract.
    pub example_consumer: Address,
    /// The hub's randomness source kind: `blockhash` or `vrf` (records before v2: blockhash).
    #[serde(default = "default_randomness")]
    pub randomness: String,
    /// The hub's randomness source (`IRandomnessSource`).
    #[serde(default)]
    pub randomness_source: Address,
    /// The VRF coordinator (zero with blockhash; a `VRFCoordinatorV2_5Mock` on a VRF devnet).
    #[serde(default)]
    pub vrf_coordinator: Address,
    /// The devnet's VRF setup contract (zero with blockhash).
    #[serde(default)]
    pub vrf_setup: Address,
    /// The VRF key hash (zero with blockhash).
    #[serde(default)]
    pub vrf_key_hash: B256,
}

fn default_randomness() -> String {
    "blockhash".into()
}

impl Deployment {
    /// Reads a deployment record.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the deployment record {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("parsing the deployment record {}", path.display()))
    }

    /// Identity of a state folder bound to this deployment.
    pub fn identity(&self) -> String {
        format!("{}/{:#x}", self.chain_id, self.task_hub)
    }
}

/// Contract handles on one provider.
#[derive(Clone)]
pub struct Contracts {
    /// The deployment.
    pub deployment: Deployment,
    /// Provider used for reads.
    pub provider: DynProvider,
    /// Task hub.
    pub hub: TaskHub::TaskHubInstance<DynProvider>,
    /// Worker registry.
    pub workers: WorkerRegistry::WorkerRegistryInstance<DynProvider>,
    /// Model registry.
    pub models: ModelRegistry::ModelRegistryInstance<DynProvider>,
    /// Token (any ERC-20; the test token's ABI covers the calls made).
    pub token: TestToken::TestTokenInstance<DynProvider>,
    /// Example consumer.
    pub consumer: ExampleConsumer::ExampleConsumerInstance<DynProvider>,
}

impl Contracts {
    /// Handles on `provider`, after checking that the chain id matches the record.
    pub async fn connect(deployment: Deployment, provider: DynProvider) -> anyhow::Result<Self> {
        let chain_id = provider
            .get_chain_id()
            .await
            .context("asking the RPC endpoint for its chain id")?;
        anyhow::ensure!(
            chain_id == deployment.chain_id,
            "the RPC endpoint is chain {chain_id}, the deployment record is for chain {}",
            deployment.chain_id
        );
        let d = &deployment;
        Ok(Self {
            hub: TaskHub::new(d.task_hub, provider.clone()),
            workers: WorkerRegistry::new(d.worker_registry, provider.clone()),
            models: ModelRegistry::new(d.model_registry, provider.clone()),
            token: TestToken::new(d.token, provider.clone()),
            consumer: ExampleConsumer::new(d.example_consumer, provider.clone()),
            provider,
            deployment,
        })
    }
}
