//! Flags shared by the chain-facing commands, and the operator commands of `maskoracle worker`
//! and `maskoracle model`.

use std::path::PathBuf;

use alloy::primitives::{utils::parse_units, U256};
use alloy::sol_types::SolCall;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::bindings::{ModelRegistry, TestToken, WorkerRegistry};
use crate::config::Config;

/// Where the configuration comes from; every flag overrides the file and `MASKORACLE_*` env.
#[derive(Debug, Clone, Args, Default)]
pub struct NodeArgs {
    /// TOML config file (default: $MASKORACLE_CONFIG, else ./maskoracle.toml if present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint [config: rpc_url; env: MASKORACLE_RPC_URL].
    #[arg(long, global = true)]
    pub rpc_url: Option<String>,
    /// Deployment record [config: deployment; env: MASKORACLE_DEPLOYMENT].
    #[arg(long, global = true)]
    pub deployment: Option<PathBuf>,
    /// Folder for state, model cache and the embedded IPFS repository [config: data_dir].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Encrypted JSON keystore [config: worker.keystore].
    #[arg(long, global = true)]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore password [config: worker.password_file].
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// anvil dev account index, devnet (chain 31337) only [config: worker.dev_account].
    #[arg(long, global = true)]
    pub dev_account: Option<u32>,
    /// Content store: embedded or kubo [config: ipfs.backend].
    #[arg(long, global = true)]
    pub ipfs_backend: Option<String>,
    /// Kubo RPC URL [config: ipfs.kubo_url].
    #[arg(long, global = true)]
    pub kubo_url: Option<String>,
}

#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    rpc_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    worker: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    ipfs: serde_json::Map<String, serde_json::Value>,
}

impl NodeArgs {
    /// Resolves the configuration with these flags on top.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let mut o = Overrides {
            rpc_url: self.rpc_url.clone(),
            deployment: self.deployment.clone(),
            data_dir: self.data_dir.clone(),
            ..Overrides::default()
        };
        if let Some(k) = &self.keystore {
            o.worker.insert("keystore".into(), serde_json::json!(k));
        }
        if let Some(p) = &self.password_file {
            o.worker
                .insert("password_file".into(), serde_json::json!(p));
        }
        if let Some(d) = self.dev_account {
            o.worker.insert("dev_account".into(), serde_json::json!(d));
        }
        if let Some(b) = &self.ipfs_backend {
            o.ipfs.insert("backend".into(), serde_json::json!(b));
        }
        if let Some(u) = &self.kubo_url {
            o.ipfs.insert("kubo_url".into(), serde_json::json!(u));
        }
        Ok(Config::resolve(self.config.as_deref(), o)?)
    }
}

/// Parses a token amount: `100` (whole tokens, 18 decimals) or `100wei`.
pub fn parse_amount(s: &str) -> Result<U256, String> {
    if let Some(w) = s.strip_suffix("wei") {
        return w.trim().parse::<U256>().map_err(|e| e.to_string());
    }
    parse_units(s.trim(), 18)
        .map(|u| u.get_absolute())
        .map_err(|e| e.to_string())
}

/// `maskoracle worker ...`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Metrics and health endpoint address [config: worker.metrics_listen].
    #[arg(long)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Devnet test switch: commit wrong results [config: worker.faulty].
    #[arg(long)]
    pub faulty: bool,
    #[command(subcommand)]
    pub command: Option<WorkerCommand>,
}

/// Operator subcommands; without one, the daemon runs.
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Approve and stake tokens (e.g. `1000` tokens or `5wei`).
    Stake {
        /// Amount.
        #[arg(value_parser = parse_amount)]
        amount: U256,
    },
    /// Start unbonding `amount`, or `--withdraw` what finished unbonding.
    Unstake {
        /// Amount to unbond.
        #[arg(value_parser = parse_amount, required_unless_present = "withdraw")]
        amount: Option<U256>,
        /// Withdraw the unbonded stake instead.
        #[arg(long)]
        withdraw: bool,
    },
    /// Serve a model: become eligible for its draws.
    OptIn {
        /// Model id.
        #[arg(long)]
        model: u32,
    },
    /// Show stake, balance, models and the local task records.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `maskoracle model ...`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(subcommand)]
    pub command: ModelCommand,
}

/// Model publisher subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Publish a model directory to IPFS and register it; prints the model id.
    Register {
        /// Model directory (model.pt + manifest.json).
        dir: PathBuf,
        /// Fee per finalized task (tokens, or `Nwei`).
        #[arg(long, value_parser = parse_amount, default_value = "1")]
        fee: U256,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

async fn send(
    tx: &crate::chain::TxSender,
    label: &str,
    to: alloy::primitives::Address,
    data: Vec<u8>,
) -> anyhow::Result<crate::chain::Mined> {
    Ok(tx.send(label, to, data).await?)
}

/// Runs `maskoracle worker ...`.
pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let mut cfg = args.node.resolve()?;
    if args.faulty {
        cfg.worker.faulty = true;
    }
    if args.metrics_listen.is_some() {
        cfg.worker.metrics_listen = args.metrics_listen;
    }
    let Some(cmd) = args.command else {
        return crate::worker::run(cfg, crate::worker::Role::Worker).await;
    };
    let c = crate::node::contracts(&cfg).await?;
    let tx = crate::node::signer(&cfg, c.deployment.chain_id)?;
    let me = tx.address();
    let reg = c.deployment.worker_registry;
    match cmd {
        WorkerCommand::Stake { amount } => {
            let approve = TestToken::approveCall {
                spender: reg,
                value: amount,
            }
            .abi_encode();
            send(&tx, "approve", c.deployment.token, approve).await?;
            let m = send(
                &tx,
                "stake",
                reg,
                WorkerRegistry::stakeCall { amount }.abi_encode(),
            )
            .await?;
            println!("staked {amount} wei (tx {}, gas {})", m.hash, m.gas_used);
        }
        WorkerCommand::Unstake { withdraw: true, .. } => {
            let m = send(
                &tx,
                "withdrawUnstaked",
                reg,
                WorkerRegistry::withdrawUnstakedCall {}.abi_encode(),
            )
            .await?;
            println!("withdrew unbonded stake (tx {})", m.hash);
        }
        WorkerCommand::Unstake { amount, .. } => {
            let amount = amount.unwrap_or_default();
            let m = send(
                &tx,
                "requestUnstake",
                reg,
                WorkerRegistry::requestUnstakeCall { amount }.abi_encode(),
            )
            .await?;
            println!("unbonding {amount} wei (tx {})", m.hash);
        }
        WorkerCommand::OptIn { model } => {
            let m = send(
                &tx,
                "optIn",
                reg,
                WorkerRegistry::optInCall { modelId: model }.abi_encode(),
            )
            .await?;
            println!("opted in to model {model} (tx {})", m.hash);
        }
        WorkerCommand::Status { json } => {
            let info = c.workers.workerInfo(me).call().await?;
            let models = c.workers.modelsOf(me).call().await?;
            let balance = c.hub.balanceOf(me).call().await?;
            let records = match crate::state::StateStore::open(
                &cfg.data_dir.join("state.redb"),
                &c.deployment.identity(),
            ) {
                Ok(s) => s.all_tasks()?,
                Err(e) => {
                    tracing::warn!(target: "maskoracle::worker", error = %e, "no local state (is the worker running?)");
                    Vec::new()
                }
            };
            let report = serde_json::json!({
                "address": me.to_string(),
                "stake": info.stake.to_string(),
                "locked": info.locked.to_string(),
                "unbonding": info.unbonding.to_string(),
                "unbonding_release_time": info.unbondingReleaseTime.to_string(),
                "models": models,
                "hub_balance": balance.to_string(),
                "tasks": crate::worker::summarize(&records),
                "timings": records.iter().filter(|(_, r)| r.commit_sent_unix_ms.is_some()).map(|(k, r)| serde_json::json!({
                    "task": U256::from_be_bytes(*k).to_string(),
                    "seen_unix_ms": r.seen_unix_ms,
                    "inference_ms": r.inference_ms,
                    "commit_sent_unix_ms": r.commit_sent_unix_ms,
                })).collect::<Vec<_>>(),
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("address    {me}");
                println!(
                    "stake      {} wei ({} locked, {} unbonding)",
                    info.stake, info.locked, info.unbonding
                );
                println!("balance    {balance} wei in the hub");
                println!("models     {models:?}");
                println!("tasks      {}", report["tasks"]);
            }
        }
    }
    Ok(())
}

/// Runs `maskoracle model ...`.
pub async fn run_model(args: ModelArgs) -> anyhow::Result<()> {
    let cfg = args.node.resolve()?;
    match args.command {
        ModelCommand::Register { dir, fee, json } => {
            let c = crate::node::contracts(&cfg).await?;
            let tx = crate::node::signer(&cfg, c.deployment.chain_id)?;
            let storage = crate::node::open_storage(&cfg).await?;
            let p = crate::models::publish(&storage, &dir).await?;
            let fee96 = u128::try_from(fee)
                .ok()
                .and_then(|f| alloy::primitives::Uint::<96, 2>::try_from(f).ok())
                .ok_or_else(|| anyhow::anyhow!("fee too large"))?;
            let call = ModelRegistry::registerCall {
                cid: p.manifest_cid.clone(),
                modelSha256: p.sha256,
                kind: p.kind,
                fee: fee96,
            };
            let m = tx
                .send("register", c.deployment.model_registry, call.abi_encode())
                .await?;
            let id = m.event::<ModelRegistry::ModelRegistered>()?.modelId;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"model_id": id, "published": p, "tx": m.hash.to_string()})
                );
            } else {
                println!(
                    "model {id}: {} ({}), manifest {}, weights {}",
                    p.name, p.sha256, p.manifest_cid, p.weights_cid
                );
            }
        }
    }
    Ok(())
}
