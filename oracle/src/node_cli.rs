//! Flags shared by the chain-facing commands, and the operator commands of `maskoracle worker`
//! and `maskoracle model`.

use std::path::PathBuf;

use alloy::primitives::{utils::parse_units, U256};
use alloy::sol_types::SolCall;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::bindings::{ModelRegistry, TaskHub, TestToken, WorkerRegistry};
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
    /// Metrics, health and status endpoint address [config: worker.metrics_listen].
    #[arg(long)]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Devnet test switch: commit wrong results [config: worker.faulty].
    #[arg(long)]
    pub faulty: bool,
    /// Devnet test switch: perturb the model's raw outputs by this relative noise, e.g. 1e-5,
    /// to emulate another machine (honest results then differ slightly and settle through the
    /// tolerant fallback) [config: worker.emulate_noise].
    #[arg(long, value_name = "REL")]
    pub emulate_noise: Option<f64>,
    /// Drain mode: take no new task, finish those already committed to [config: worker.drain].
    #[arg(long)]
    pub drain: bool,
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
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Start unbonding `amount` (or `--all` the free stake), or `--withdraw` what finished
    /// unbonding (after the registry's unbonding delay).
    Unstake {
        /// Amount to unbond.
        #[arg(value_parser = parse_amount, required_unless_present_any = ["withdraw", "all"], conflicts_with_all = ["withdraw", "all"])]
        amount: Option<U256>,
        /// Unbond all the free (unlocked) stake.
        #[arg(long, conflicts_with = "withdraw")]
        all: bool,
        /// Withdraw the unbonded stake instead.
        #[arg(long)]
        withdraw: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve a model: become eligible for its draws.
    OptIn {
        /// Model id.
        #[arg(long)]
        model: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop serving a model (or `--all`): no longer drawn for requests made after this block.
    OptOut {
        /// Model id.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        model: Option<u32>,
        /// Every model the worker serves.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pay the earnings held in the hub (`--amount`, or `--all`) to the worker's account.
    Withdraw {
        /// Amount (tokens, or `Nwei`).
        #[arg(long, value_parser = parse_amount, required_unless_present = "all", conflicts_with = "all")]
        amount: Option<U256>,
        /// The whole free hub balance.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Opt out of every served model and say how to let the daemon finish its tasks.
    Drain {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show stake, balances, models and the daemon's or the state file's task records.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The daemon's metrics endpoint, e.g. `http://127.0.0.1:9100` (default: from
        /// worker.metrics_listen). Without an answer, the state file is read instead.
        #[arg(long)]
        metrics_url: Option<String>,
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
        /// Register without a tolerance rule: only identical results settle (by default the
        /// model's default tolerance is registered with it, immutable, so that tasks whose
        /// workers miss exact agreement settle through the tolerant fallback).
        #[arg(long)]
        exact_only: bool,
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
    tx.send(label, to, data).await.map_err(explain)
}

/// An operator-readable error for a failed transaction: each registry and hub error the
/// operator commands can meet is said in words, followed by the decoded error.
pub fn explain(e: crate::chain::TxError) -> anyhow::Error {
    let words = match (e.registry_error(), e.hub_error()) {
        (Some(r), _) => registry_message(&r),
        (None, Some(h)) => hub_message(&h),
        (None, None) => None,
    };
    match words {
        Some(w) => anyhow::anyhow!("{w} [{e}]"),
        None => anyhow::Error::new(e),
    }
}

/// The registry's custom errors in words.
pub fn registry_message(e: &WorkerRegistry::WorkerRegistryErrors) -> Option<String> {
    use WorkerRegistry::WorkerRegistryErrors as E;
    Some(match e {
        E::WorkerRegistryZeroAmount(_) => "the amount is zero".into(),
        E::WorkerRegistryInsufficientFreeStake(x) => format!(
            "only {} of the stake is free; {} was asked for (stake locked by live tasks is \
             released when they settle; see `worker status`)",
            amount(x.free),
            amount(x.needed)
        ),
        E::WorkerRegistryNothingUnbonding(_) => {
            "nothing is unbonding: start with `worker unstake AMOUNT` (or `--all`)".into()
        }
        E::WorkerRegistryStillUnbonding(x) => format!(
            "the unbonding stake can be withdrawn from unix time {} on; try again then",
            x.releaseTime
        ),
        E::WorkerRegistryModelInactive(x) => {
            format!("model {} is unknown or retired", x.modelId)
        }
        E::WorkerRegistryAlreadyOptedIn(x) => format!("already serving model {}", x.modelId),
        E::WorkerRegistryNotOptedIn(x) => format!(
            "not serving model {} (`worker status` lists the served models)",
            x.modelId
        ),
        E::WorkerRegistryTooManyModels(x) => format!(
            "already serving the most models a worker may serve ({}): opt out of one first",
            x.max
        ),
        E::WorkerRegistryStakeOverflow(_) => {
            "the stake would exceed the registry's maximum (2^96 - 1 wei)".into()
        }
        _ => return None,
    })
}

/// The hub's custom errors an operator command can meet, in words.
pub fn hub_message(e: &TaskHub::TaskHubErrors) -> Option<String> {
    use TaskHub::TaskHubErrors as E;
    Some(match e {
        E::TaskHubZeroAmount(_) => "the amount is zero".into(),
        E::TaskHubInsufficientBalance(x) => format!(
            "the hub holds {} for {}; {} was asked for",
            amount(x.balance),
            x.account,
            amount(x.needed)
        ),
        _ => return None,
    })
}

/// `12.5 tokens (12500000000000000000 wei)`.
fn amount(wei: U256) -> String {
    let tokens = alloy::primitives::utils::format_units(wei, 18).unwrap_or_default();
    let tokens = if tokens.contains('.') {
        tokens.trim_end_matches('0').trim_end_matches('.')
    } else {
        &tokens
    };
    format!("{tokens} tokens ({wei} wei)")
}

/// Prints `v` as JSON, or `human`.
fn emit(json: bool, v: serde_json::Value, human: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{human}");
    }
    Ok(())
}

/// A registry `uint96` amount as a `U256`.
fn u96(x: alloy::primitives::Uint<96, 2>) -> U256 {
    U256::from(x.to::<u128>())
}

fn tx_json(m: &crate::chain::Mined) -> serde_json::Value {
    serde_json::json!({ "hash": m.hash.to_string(), "block": m.block, "gas_used": m.gas_used })
}

/// Runs `maskoracle worker ...`.
pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let mut cfg = args.node.resolve()?;
    if args.faulty {
        cfg.worker.faulty = true;
    }
    if args.emulate_noise.is_some() {
        cfg.worker.emulate_noise = args.emulate_noise;
    }
    if args.drain {
        cfg.worker.drain = true;
    }
    if args.metrics_listen.is_some() {
        cfg.worker.metrics_listen = args.metrics_listen;
    }
    let Some(cmd) = args.command else {
        if cfg.worker.drain {
            tracing::info!(target: "maskoracle::worker", "drain mode: no new task; finishing the tasks already committed to");
        }
        return crate::worker::run(cfg, crate::worker::Role::Worker).await;
    };
    if let WorkerCommand::Status { json, metrics_url } = cmd {
        return status(&cfg, json, metrics_url).await;
    }
    let c = crate::node::contracts(&cfg).await?;
    let tx = crate::node::signer(&cfg, c.deployment.chain_id)?;
    let me = tx.address();
    let reg = c.deployment.worker_registry;
    match cmd {
        WorkerCommand::Stake {
            amount: value,
            json,
        } => {
            let approve = TestToken::approveCall {
                spender: reg,
                value,
            }
            .abi_encode();
            send(&tx, "approve", c.deployment.token, approve).await?;
            let m = send(
                &tx,
                "stake",
                reg,
                WorkerRegistry::stakeCall { amount: value }.abi_encode(),
            )
            .await?;
            let stake = m.event::<WorkerRegistry::Staked>()?.newStake;
            emit(
                json,
                serde_json::json!({"action": "stake", "amount_wei": value.to_string(), "stake_wei": stake.to_string(), "tx": tx_json(&m)}),
                &format!(
                    "staked {}; stake now {} (tx {}, gas {})",
                    amount(value),
                    amount(stake),
                    m.hash,
                    m.gas_used
                ),
            )?;
        }
        WorkerCommand::Unstake {
            withdraw: true,
            json,
            ..
        } => {
            let info = c.workers.workerInfo(me).call().await?;
            let unbonding = u96(info.unbonding);
            anyhow::ensure!(
                !unbonding.is_zero(),
                "nothing is unbonding for {me}: start with `worker unstake AMOUNT` (or `--all`)"
            );
            let release = info.unbondingReleaseTime.to::<u64>();
            let now = crate::chain::latest_timestamp(&c.provider).await?;
            anyhow::ensure!(
                now >= release,
                "{} is unbonding until unix time {release}: {} s from the chain's last block; \
                 withdraw then",
                amount(unbonding),
                release - now
            );
            let m = send(
                &tx,
                "withdrawUnstaked",
                reg,
                WorkerRegistry::withdrawUnstakedCall {}.abi_encode(),
            )
            .await?;
            let paid = m.event::<WorkerRegistry::UnstakeWithdrawn>()?.amount;
            emit(
                json,
                serde_json::json!({"action": "withdraw-unstaked", "amount_wei": paid.to_string(), "tx": tx_json(&m)}),
                &format!(
                    "withdrew {} of unbonded stake (tx {})",
                    amount(paid),
                    m.hash
                ),
            )?;
        }
        WorkerCommand::Unstake {
            amount: value,
            all,
            json,
            ..
        } => {
            let value = if all {
                let free = c.workers.freeStake(me).call().await?;
                let info = c.workers.workerInfo(me).call().await?;
                anyhow::ensure!(
                    !free.is_zero(),
                    "no free stake to unbond: stake {}, of which {} is locked by live tasks",
                    amount(u96(info.stake)),
                    amount(u96(info.locked))
                );
                free
            } else {
                value.unwrap_or_default()
            };
            let m = send(
                &tx,
                "requestUnstake",
                reg,
                WorkerRegistry::requestUnstakeCall { amount: value }.abi_encode(),
            )
            .await?;
            let ev = m.event::<WorkerRegistry::UnstakeRequested>()?;
            emit(
                json,
                serde_json::json!({
                    "action": "unstake",
                    "amount_wei": value.to_string(),
                    "unbonding_wei": ev.unbonding.to_string(),
                    "release_time": ev.releaseTime.to_string(),
                    "tx": tx_json(&m),
                }),
                &format!(
                    "unbonding {} (in all {}); `worker unstake --withdraw` from unix time {} on (tx {})",
                    amount(value),
                    amount(ev.unbonding),
                    ev.releaseTime,
                    m.hash
                ),
            )?;
        }
        WorkerCommand::OptIn { model, json } => {
            let m = send(
                &tx,
                "optIn",
                reg,
                WorkerRegistry::optInCall { modelId: model }.abi_encode(),
            )
            .await?;
            emit(
                json,
                serde_json::json!({"action": "opt-in", "model": model, "tx": tx_json(&m)}),
                &format!("opted in to model {model} (tx {})", m.hash),
            )?;
        }
        WorkerCommand::OptOut { model, all, json } => {
            let models = if all {
                c.workers.modelsOf(me).call().await?
            } else {
                model.into_iter().collect()
            };
            let done = opt_out(&tx, reg, &models).await?;
            let human = if done.is_empty() {
                "serves no model: nothing to opt out of".to_owned()
            } else {
                format!("opted out of models {models:?}")
            };
            emit(
                json,
                serde_json::json!({"action": "opt-out", "models": models, "txs": done}),
                &human,
            )?;
        }
        WorkerCommand::Withdraw {
            amount: value,
            all,
            json,
        } => {
            let balance = c.hub.balanceOf(me).call().await?;
            let value = if all {
                balance
            } else {
                value.unwrap_or_default()
            };
            anyhow::ensure!(
                !(all && value.is_zero()),
                "nothing to withdraw: the hub holds 0 for {me}"
            );
            let m = send(
                &tx,
                "withdraw",
                c.deployment.task_hub,
                TaskHub::withdrawCall { amount: value }.abi_encode(),
            )
            .await?;
            let left = c.hub.balanceOf(me).call().await?;
            let wallet = c.token.balanceOf(me).call().await?;
            emit(
                json,
                serde_json::json!({
                    "action": "withdraw",
                    "amount_wei": value.to_string(),
                    "hub_balance_wei": left.to_string(),
                    "wallet_balance_wei": wallet.to_string(),
                    "tx": tx_json(&m),
                }),
                &format!(
                    "withdrew {} from the hub to {me}; {} left in the hub (tx {})",
                    amount(value),
                    amount(left),
                    m.hash
                ),
            )?;
        }
        WorkerCommand::Drain { json } => {
            let models = c.workers.modelsOf(me).call().await?;
            let done = opt_out(&tx, reg, &models).await?;
            let block = done
                .iter()
                .filter_map(|t| t["block"].as_u64())
                .max()
                .unwrap_or_default();
            let delay = c.workers.unbondingDelay().call().await?;
            let steps = drain_steps(delay.to::<u64>());
            let mut human = if models.is_empty() {
                "serves no model already: no new draw for requests from now on.\n".to_owned()
            } else {
                format!(
                    "opted out of models {models:?} (block {block}): no draw for requests made \
                     after it. Requests made before it may still draw this worker.\n"
                )
            };
            for (i, s) in steps.iter().enumerate() {
                human.push_str(&format!("{}. {s}\n", i + 1));
            }
            emit(
                json,
                serde_json::json!({
                    "action": "drain",
                    "opted_out": models,
                    "txs": done,
                    "block": block,
                    "unbonding_delay_s": delay.to::<u64>(),
                    "next_steps": steps,
                }),
                human.trim_end(),
            )?;
        }
        WorkerCommand::Status { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Opts out of each of `models`; returns the mined transactions as JSON.
async fn opt_out(
    tx: &crate::chain::TxSender,
    reg: alloy::primitives::Address,
    models: &[u32],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut done = Vec::new();
    for &model in models {
        let m = send(
            tx,
            "optOut",
            reg,
            WorkerRegistry::optOutCall { modelId: model }.abi_encode(),
        )
        .await?;
        let mut t = tx_json(&m);
        t["model"] = model.into();
        done.push(t);
    }
    Ok(done)
}

/// What to do after `worker drain`, in order.
fn drain_steps(unbonding_delay_s: u64) -> Vec<String> {
    vec![
        "Let the daemon finish: run it with `--drain` (or `worker.drain = true`, \
         MASKORACLE_WORKER__DRAIN=true). Restart it if it runs without: the restart keeps its \
         records. In drain mode it takes no new task and reveals what it committed to."
            .into(),
        "Wait until `maskoracle worker status` shows no task in seen, computed, commit-sent or \
         reveal-sent, then stop the daemon (SIGTERM; it finishes in-flight work within 60 s)."
            .into(),
        format!(
            "`maskoracle worker unstake --all`, then after the unbonding delay ({unbonding_delay_s} s) \
             `maskoracle worker unstake --withdraw`."
        ),
        "`maskoracle worker withdraw --all` for the earnings left in the hub.".into(),
    ]
}

/// The URL a local client reaches a listen address at (an unspecified address becomes loopback).
pub fn metrics_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v) if v.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v) if v.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// Asks a running daemon for its `/status`.
pub async fn fetch_daemon_status(base: &str) -> anyhow::Result<crate::metrics::DaemonStatus> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let url = format!("{}/status", base.trim_end_matches('/'));
    let res = client.get(&url).send().await?.error_for_status()?;
    Ok(serde_json::from_slice(&res.bytes().await?)?)
}

/// Local task records by phase (`seen`, `computed`, `commit-sent`, `reveal-sent`, `done`).
pub fn tasks_by_phase(
    phases: impl IntoIterator<Item = crate::state::TaskPhase>,
) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for phase in phases {
        let name = serde_json::to_value(phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{phase:?}"));
        *out.entry(name).or_insert(0) += 1;
    }
    out
}

/// `worker status`: the daemon's `/status` when it answers, the state file (opened read-only,
/// which works while the daemon runs), and the chain; each part reports its own error.
async fn status(cfg: &Config, json: bool, metrics_url_flag: Option<String>) -> anyhow::Result<()> {
    use serde_json::json;
    let url = metrics_url_flag.or_else(|| cfg.worker.metrics_listen.map(metrics_url));
    let daemon = match &url {
        Some(u) => fetch_daemon_status(u)
            .await
            .map_err(|e| format!("{u}: {e:#}")),
        None => Err("no metrics endpoint (set worker.metrics_listen or --metrics-url)".into()),
    };
    let path = cfg.data_dir.join("state.redb");
    let state = crate::state::StateReader::open(&path).and_then(|r| {
        Ok((
            r.schema_version()?,
            r.identity()?,
            r.cursor()?,
            r.all_tasks()?,
        ))
    });
    let deployment = crate::chain::Deployment::load(&cfg.deployment);
    let me = deployment
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .and_then(|d| Ok(crate::keys::load_signer(&cfg.worker, d.chain_id)?.address()));
    let mut report = json!({
        "address": me.as_ref().map(|a| a.to_string()).ok(),
        "metrics_url": url,
        "state_file": path.display().to_string(),
    });
    match &daemon {
        Ok(d) => {
            report["source"] = "daemon".into();
            report["daemon"] = serde_json::to_value(d)?;
        }
        Err(e) => report["daemon_error"] = e.clone().into(),
    }
    match &state {
        Ok((version, identity, cursor, records)) => {
            if daemon.is_err() {
                report["source"] = "state-file".into();
            }
            if let (Ok(d), Some(found)) = (&deployment, identity) {
                if *found != d.identity() {
                    report["state_warning"] = format!(
                        "the state file belongs to {found}, the configured deployment is {}",
                        d.identity()
                    )
                    .into();
                }
            }
            report["state"] = json!({"schema_version": version, "cursor": cursor});
            report["tasks"] =
                serde_json::to_value(tasks_by_phase(records.iter().map(|(_, r)| r.phase)))?;
            report["timings"] = records
                .iter()
                .filter(|(_, r)| r.commit_sent_unix_ms.is_some())
                .map(|(k, r)| {
                    json!({
                        "task": U256::from_be_bytes(*k).to_string(),
                        "seen_unix_ms": r.seen_unix_ms,
                        "inference_ms": r.inference_ms,
                        "commit_sent_unix_ms": r.commit_sent_unix_ms,
                    })
                })
                .collect::<Vec<_>>()
                .into();
        }
        Err(e) => {
            report["state_error"] = e.to_string().into();
            if let Ok(d) = &daemon {
                report["tasks"] = serde_json::to_value(&d.snapshot.tasks_by_phase)?;
            }
        }
    }
    if daemon.is_err() && state.is_err() {
        report["source"] = "chain".into();
    }
    let chain = async {
        let me = me.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let c = crate::node::contracts(cfg).await?;
        let info = c.workers.workerInfo(*me).call().await?;
        let models = c.workers.modelsOf(*me).call().await?;
        let balance = c.hub.balanceOf(*me).call().await?;
        let gas = alloy::providers::Provider::get_balance(&c.provider, *me).await?;
        anyhow::Ok((info, models, balance, gas))
    }
    .await;
    match &chain {
        Ok((info, models, balance, gas)) => {
            report["stake"] = info.stake.to_string().into();
            report["locked"] = info.locked.to_string().into();
            report["unbonding"] = info.unbonding.to_string().into();
            report["unbonding_release_time"] = info.unbondingReleaseTime.to_string().into();
            report["models"] = json!(models);
            report["hub_balance"] = balance.to_string().into();
            report["gas_balance_wei"] = gas.to_string().into();
        }
        Err(e) => report["chain_error"] = format!("{e:#}").into(),
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    match &me {
        Ok(a) => println!("address    {a}"),
        Err(e) => println!("address    unknown ({e:#})"),
    }
    match &daemon {
        Ok(d) => {
            let lag = match (d.head_block, d.cursor_block) {
                (Some(h), Some(c)) => format!("{}", h.saturating_sub(c)),
                _ => "?".into(),
            };
            println!(
                "daemon     running, {}; drain {}; cursor {} (lag {lag}); signer queue {}, in flight {}",
                if d.health.healthy { "healthy" } else { "UNHEALTHY" },
                if d.snapshot.drain { "on" } else { "off" },
                d.cursor_block.map_or("?".into(), |c| c.to_string()),
                d.signer.queue_len,
                d.signer.in_flight,
            );
            if let (Some(t), Some(s)) = (&d.snapshot.next_reveal_task, d.seconds_to_reveal_deadline)
            {
                println!("reveal     task {t}: deadline in {s} s");
            }
        }
        Err(e) => println!("daemon     not answering ({e})"),
    }
    match &state {
        Ok((version, _, cursor, _)) => println!(
            "state      {} (schema {version}, cursor {})",
            path.display(),
            cursor.map_or("none".into(), |c| c.to_string())
        ),
        Err(e) => println!("state      {e}"),
    }
    match &chain {
        Ok((info, models, balance, gas)) => {
            println!(
                "stake      {} ({} locked, {} unbonding until unix {})",
                amount(u96(info.stake)),
                amount(u96(info.locked)),
                amount(u96(info.unbonding)),
                info.unbondingReleaseTime
            );
            println!("balance    {} in the hub", amount(*balance));
            println!(
                "gas        {} ETH",
                alloy::primitives::utils::format_ether(*gas)
            );
            println!("models     {models:?}");
        }
        Err(e) => println!("chain      {e:#}"),
    }
    if report["tasks"].is_null() {
        println!("tasks      unknown (neither the daemon nor the state file answered)");
    } else {
        println!("tasks      {}", report["tasks"]);
    }
    Ok(())
}

/// Runs `maskoracle model ...`.
pub async fn run_model(args: ModelArgs) -> anyhow::Result<()> {
    let cfg = args.node.resolve()?;
    match args.command {
        ModelCommand::Register {
            dir,
            fee,
            exact_only,
            json,
        } => {
            let c = crate::node::contracts(&cfg).await?;
            let tx = crate::node::signer(&cfg, c.deployment.chain_id)?;
            let storage = crate::node::open_storage(&cfg).await?;
            let p = crate::models::publish(&storage, &dir).await?;
            let fee96 = u128::try_from(fee)
                .ok()
                .and_then(|f| alloy::primitives::Uint::<96, 2>::try_from(f).ok())
                .ok_or_else(|| anyhow::anyhow!("fee too large"))?;
            let input = if exact_only {
                ModelRegistry::registerCall {
                    cid: p.manifest_cid.clone(),
                    modelSha256: p.sha256,
                    kind: p.kind,
                    fee: fee96,
                }
                .abi_encode()
            } else {
                ModelRegistry::registerWithToleranceCall {
                    cid: p.manifest_cid.clone(),
                    modelSha256: p.sha256,
                    kind: p.kind,
                    fee: fee96,
                    tolerance: crate::worker::tolerant::tolerance_to_sol(&p.tolerance),
                }
                .abi_encode()
            };
            let m = tx
                .send("register", c.deployment.model_registry, input)
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
