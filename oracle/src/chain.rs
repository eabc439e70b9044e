//! Chain access: the deployment record, providers, the one signer task, and revert decoding.
//!
//! Every transaction of a process goes through one [`TxSender`]: a tokio task that owns the
//! account's nonce, estimates gas (a failing estimate is a revert, decoded into the contracts'
//! error names before anything is sent), sends, waits for the receipt with a timeout and, when a
//! transaction is stuck, re-sends it with the same nonce and fees raised by 25%.

use std::path::Path;
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolInterface;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::bindings::{
    ExampleConsumer, ModelRegistry, TaskHub, TestToken, VrfRandomness, WorkerRegistry,
};

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

/// Deadline of one JSON-RPC request: an endpoint that stops answering (a dropped connection, a
/// hung proxy) fails the call instead of stalling the node.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP JSON-RPC client with [`RPC_TIMEOUT`] on every request.
pub fn rpc_client(url: &str) -> anyhow::Result<alloy::rpc::client::RpcClient> {
    let parsed: alloy::transports::http::reqwest::Url = url
        .parse()
        .with_context(|| format!("invalid RPC URL {url}"))?;
    let http_client = alloy::transports::http::reqwest::Client::builder()
        .timeout(RPC_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .context("building the HTTP client")?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "::1"));
    let transport = alloy::transports::http::Http::with_client(http_client, parsed);
    Ok(alloy::rpc::client::RpcClient::new(transport, local))
}

/// A read-only provider for `url` (HTTP).
pub fn read_provider(url: &str) -> anyhow::Result<DynProvider> {
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(rpc_client(url)?)
        .erased())
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

/// Decodes revert data into `ErrorName(args)` using every MaskOracle contract's errors.
pub fn decode_revert(data: &[u8]) -> String {
    if let Ok(e) = TaskHub::TaskHubErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = WorkerRegistry::WorkerRegistryErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = ModelRegistry::ModelRegistryErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = ExampleConsumer::ExampleConsumerErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = TestToken::TestTokenErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = VrfRandomness::VrfRandomnessErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Some(reason) = alloy::sol_types::decode_revert_reason(data) {
        return reason;
    }
    format!("unknown revert 0x{}", hex::encode(data))
}

/// The short name of a decoded revert (`TaskHubNotDrawn(...)` → `TaskHubNotDrawn`).
pub fn revert_name(decoded: &str) -> &str {
    decoded.split(['(', ' ', '{']).next().unwrap_or(decoded)
}

/// Why a transaction did not go through.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The call reverts (found by gas estimation, before sending): the decoded error.
    #[error("{label}: reverts with {reason}")]
    Revert {
        /// What the transaction was for.
        label: String,
        /// Decoded error, e.g. `TaskHubNotDrawn(TaskHubNotDrawn { taskId: 3, worker: 0x... })`.
        reason: String,
        /// The raw revert data (decode it with [`TxError::hub_error`] and friends).
        data: Bytes,
    },
    /// Mined but reverted.
    #[error("{label}: mined in block {block} but reverted (tx {hash})")]
    MinedRevert {
        /// What the transaction was for.
        label: String,
        /// Its hash.
        hash: B256,
        /// Its block.
        block: u64,
    },
    /// The RPC endpoint failed repeatedly.
    #[error("{label}: RPC error: {message}")]
    Rpc {
        /// What the transaction was for.
        label: String,
        /// Last error.
        message: String,
    },
    /// The signer task is gone (shutdown).
    #[error("the signer task has stopped")]
    Stopped,
}

impl TxError {
    /// The decoded revert, if this is one.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            TxError::Revert { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The raw revert data, if this is a revert found by gas estimation.
    pub fn revert_data(&self) -> Option<&[u8]> {
        match self {
            TxError::Revert { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The revert as one of the hub's errors, if it is one.
    pub fn hub_error(&self) -> Option<TaskHub::TaskHubErrors> {
        self.revert_data()
            .and_then(|d| TaskHub::TaskHubErrors::abi_decode(d).ok())
    }

    /// The revert as one of the worker registry's errors, if it is one.
    pub fn registry_error(&self) -> Option<WorkerRegistry::WorkerRegistryErrors> {
        self.revert_data()
            .and_then(|d| WorkerRegistry::WorkerRegistryErrors::abi_decode(d).ok())
    }
}

impl Mined {
    /// The first event of type `E` in the receipt (e.g. the `TaskRequested` of a request).
    pub fn event<E: alloy::sol_types::SolEvent>(&self) -> anyhow::Result<E> {
        self.receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<E>().ok())
            .map(|l| l.inner.data)
            .with_context(|| format!("no {} event in the receipt of {}", E::SIGNATURE, self.hash))
    }
}

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Mined {
    /// Transaction hash (of the copy that was mined).
    pub hash: B256,
    /// Block number.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Times the fees were raised before it was mined.
    pub bumps: u32,
    /// The receipt.
    pub receipt: TransactionReceipt,
}

struct Job {
    label: String,
    to: Address,
    input: Bytes,
    sent: Option<oneshot::Sender<()>>,
    reply: oneshot::Sender<Result<Mined, TxError>>,
}

/// Handle on the signer task. Cheap to clone.
#[derive(Clone)]
pub struct TxSender {
    jobs: mpsc::Sender<Job>,
    address: Address,
}

/// Settings of the signer task.
#[derive(Debug, Clone, Copy)]
pub struct TxSettings {
    /// Time to wait for a receipt before raising the fees.
    pub receipt_timeout: Duration,
    /// Fee raises before giving up.
    pub max_bumps: u32,
    /// Attempts on RPC transport errors (with a 1 s pause) before giving up.
    pub rpc_retries: u32,
}

impl Default for TxSettings {
    fn default() -> Self {
        Self {
            receipt_timeout: Duration::from_secs(30),
            max_bumps: 5,
            rpc_retries: 30,
        }
    }
}

impl TxSender {
    /// Starts the signer task for `signer` on `url`.
    pub fn spawn(
        url: &str,
        signer: PrivateKeySigner,
        settings: TxSettings,
    ) -> anyhow::Result<Self> {
        let address = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_client(rpc_client(url)?)
            .erased();
        let (jobs, rx) = mpsc::channel(256);
        tokio::spawn(signer_task(provider, address, settings, rx));
        Ok(Self { jobs, address })
    }

    /// The signing account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Approves the hub for `amount` of the token and deposits it to `account`'s hub balance
    /// (the caller's own, or a consumer contract's). Returns the two mined transactions.
    pub async fn deposit(
        &self,
        d: &Deployment,
        account: Address,
        amount: U256,
    ) -> Result<(Mined, Mined), TxError> {
        use alloy::sol_types::SolCall;
        let approve = TestToken::approveCall {
            spender: d.task_hub,
            value: amount,
        };
        let approved = self.send("approve", d.token, approve.abi_encode()).await?;
        let deposit = TaskHub::depositCall { account, amount };
        let deposited = self
            .send("deposit", d.task_hub, deposit.abi_encode())
            .await?;
        Ok((approved, deposited))
    }

    /// Sends a call to `to` and waits until it is mined.
    pub async fn send(
        &self,
        label: impl Into<String>,
        to: Address,
        input: impl Into<Bytes>,
    ) -> Result<Mined, TxError> {
        self.send_notify(label, to, input, None).await
    }

    /// Like [`send`](Self::send); `sent` fires when the transaction is handed to the RPC.
    pub async fn send_notify(
        &self,
        label: impl Into<String>,
        to: Address,
        input: impl Into<Bytes>,
        sent: Option<oneshot::Sender<()>>,
    ) -> Result<Mined, TxError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                label: label.into(),
                to,
                input: input.into(),
                sent,
                reply,
            })
            .await
            .map_err(|_| TxError::Stopped)?;
        rx.await.map_err(|_| TxError::Stopped)?
    }
}

async fn signer_task(
    provider: DynProvider,
    address: Address,
    settings: TxSettings,
    mut jobs: mpsc::Receiver<Job>,
) {
    let mut nonce: Option<u64> = None;
    while let Some(job) = jobs.recv().await {
        let result = send_one(
            &provider, address, settings, &mut nonce, &job.label, job.to, &job.input, job.sent,
        )
        .await;
        if let Err(e) = &result {
            tracing::warn!(target: "maskoracle::tx", label = %job.label, error = %e, "transaction failed");
        }
        let _ = job.reply.send(result);
    }
}

fn is_transport(e: &alloy::transports::TransportError) -> bool {
    e.is_transport_error() || e.as_error_resp().is_none()
}

#[allow(clippy::too_many_arguments)]
async fn send_one(
    provider: &DynProvider,
    from: Address,
    settings: TxSettings,
    nonce_slot: &mut Option<u64>,
    label: &str,
    to: Address,
    input: &Bytes,
    mut sent: Option<oneshot::Sender<()>>,
) -> Result<Mined, TxError> {
    let rpc = |message: String| TxError::Rpc {
        label: label.to_owned(),
        message,
    };
    let base = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(input.clone());
    // Estimate (a revert shows here, decoded), retrying transport failures.
    let mut tries = 0;
    let gas = loop {
        match provider.estimate_gas(base.clone()).await {
            Ok(g) => break g,
            Err(e) => {
                if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
                    return Err(TxError::Revert {
                        label: label.to_owned(),
                        reason: decode_revert(&data),
                        data,
                    });
                }
                if is_transport(&e) && tries < settings.rpc_retries {
                    tries += 1;
                    tracing::warn!(target: "maskoracle::tx", %label, error = %e, "RPC unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                return Err(rpc(e.to_string()));
            }
        }
    };
    let pending = provider
        .get_transaction_count(from)
        .pending()
        .await
        .map_err(|e| rpc(e.to_string()))?;
    // The local nonce, unless the chain is behind it: a reorg dropped transactions of ours that
    // had been mined, and a nonce past the gap would never be mined.
    let nonce = match *nonce_slot {
        Some(n) if n > pending => {
            tracing::warn!(target: "maskoracle::tx", %label, local = n, chain = pending, "transactions of this account were dropped (reorg?): nonce taken from the chain");
            pending
        }
        Some(n) => n,
        None => pending,
    };
    let fees = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| rpc(e.to_string()))?;
    let (mut max_fee, mut tip) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas);
    let mut hashes: Vec<B256> = Vec::new();
    let mut bumps = 0;
    tries = 0;
    loop {
        let req = base
            .clone()
            .with_nonce(nonce)
            .with_gas_limit(gas_limit(gas))
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(tip);
        match provider.send_transaction(req).await {
            Ok(pending) => {
                hashes.push(*pending.tx_hash());
                if let Some(s) = sent.take() {
                    let _ = s.send(());
                }
                tracing::debug!(target: "maskoracle::tx", %label, hash = %pending.tx_hash(), nonce, "sent");
            }
            Err(e) => {
                let msg = e.to_string();
                let replaced = msg.contains("nonce too low")
                    || msg.contains("already known")
                    || msg.contains("underpriced");
                if !replaced {
                    if is_transport(&e) && tries < settings.rpc_retries {
                        tries += 1;
                        tracing::warn!(target: "maskoracle::tx", %label, error = %e, "RPC unavailable; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
                        return Err(TxError::Revert {
                            label: label.to_owned(),
                            reason: decode_revert(&data),
                            data,
                        });
                    }
                    // The nonce may be wrong now: ask the node next time.
                    *nonce_slot = None;
                    return Err(rpc(msg));
                }
            }
        }
        // Wait for any copy sent so far to be mined.
        let deadline = tokio::time::Instant::now() + settings.receipt_timeout;
        while tokio::time::Instant::now() < deadline {
            for h in &hashes {
                if let Ok(Some(receipt)) = provider.get_transaction_receipt(*h).await {
                    *nonce_slot = Some(nonce + 1);
                    let block = receipt.block_number.unwrap_or_default();
                    if !receipt.status() {
                        return Err(TxError::MinedRevert {
                            label: label.to_owned(),
                            hash: *h,
                            block,
                        });
                    }
                    return Ok(Mined {
                        hash: *h,
                        block,
                        gas_used: receipt.gas_used,
                        bumps,
                        receipt,
                    });
                }
            }
            // Someone else used the nonce (another process with the same key): give up on it.
            if let Ok(latest) = provider.get_transaction_count(from).latest().await {
                if latest > nonce && hashes.is_empty() {
                    *nonce_slot = None;
                    return Err(rpc("nonce consumed by another transaction".into()));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if bumps >= settings.max_bumps {
            *nonce_slot = None;
            return Err(rpc(format!(
                "not mined after {} fee raises",
                settings.max_bumps
            )));
        }
        bumps += 1;
        max_fee += max_fee / 4 + 1;
        tip += tip / 4 + 1;
        tracing::warn!(target: "maskoracle::tx", %label, nonce, bumps, max_fee, "stuck; re-sending with higher fees");
    }
}

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
