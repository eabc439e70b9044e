//! A whole MaskOracle network on this machine, for the devnet, the integration tests and the
//! benchmarks: anvil (interval mining, automine, or blocks only on demand), the contracts
//! deployed by the real deploy script (blockhash or VRF randomness), one embedded IPFS node
//! served to other processes through the Kubo-compatible RPC facade, a model published and
//! registered, N workers (anvil dev accounts 1..=N) staked and opted in, and worker nodes started
//! either as child processes of a `maskoracle` binary or in this process on a tokio task.
//!
//! ```no_run
//! # async fn demo() -> Result<(), maskoracle::localnet::LocalNetError> {
//! use maskoracle::localnet::{LocalNet, Mining};
//! let mut net = LocalNet::builder("target/net")
//!     .mining(Mining::Interval(0.25))
//!     .model("inference/models/shapes-maskrcnn")
//!     .workers(3)
//!     .binary("target/debug/maskoracle")
//!     .build()
//!     .await?;
//! for i in 1..=3 {
//!     net.spawn_worker(i, &[])?;
//! }
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use tokio::process::{Child, Command};

use crate::bindings::{ModelRegistry, TestToken, WorkerRegistry};
use crate::chain::{read_provider, tokens, Contracts, Deployment, Mined, TxSender, TxSettings};
use crate::config::{Config, IpfsBackend, WorkerConfig};
use crate::events::{ContributionState, TaskStatus};
use crate::models::Published;
use crate::storage::SharedStorage;

/// anvil's first dev account: deploys, publishes the model and (by convention) requests.
pub const DEPLOYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// The devnet chain id.
pub const CHAIN_ID: u64 = 31337;
/// Dev accounts anvil creates (and the deploy script funds).
pub const DEV_ACCOUNTS: u32 = 10;
/// Stake each worker bonds by default, in tokens.
pub const WORKER_STAKE: u64 = 1000;

/// Why the local network could not be set up or driven.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// anvil did not start.
    #[error("starting anvil (is Foundry on PATH? source .toolchain/env.sh): {0}")]
    Anvil(String),
    /// The deploy script failed.
    #[error("the deploy script failed:\n{0}")]
    Deploy(String),
    /// A process could not be started.
    #[error("starting {name}: {source}")]
    Spawn {
        /// The node's name.
        name: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A `maskoracle` command failed.
    #[error("maskoracle {args:?} failed: {status}\n{stderr}")]
    Command {
        /// Its arguments.
        args: Vec<String>,
        /// Its exit status.
        status: ExitStatus,
        /// Its stderr.
        stderr: String,
    },
    /// No `maskoracle` binary was given to the builder.
    #[error("no maskoracle binary given (LocalNetBuilder::binary)")]
    NoBinary,
    /// No node of that name is running.
    #[error("{0} is not running")]
    NotRunning(String),
    /// A node did not stop in time.
    #[error("{0} did not stop within {1:?}")]
    StopTimeout(String, Duration),
    /// A wait timed out.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// File system.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Chain, storage or set-up step.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// How anvil produces blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mining {
    /// A block every so many seconds (sub-second allowed).
    Interval(f64),
    /// A block per transaction.
    Auto,
    /// Automine during the set-up, then no blocks until [`LocalNet::mine`] (anvil's
    /// `--no-mining`, switched on after the deployment so the deploy script can finish).
    Manual,
}

/// The hub's randomness source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Randomness {
    /// `BlockhashRandomness`: the seed is the hash of the block after the request.
    #[default]
    Blockhash,
    /// `VrfRandomness` on a `VRFCoordinatorV2_5Mock` (deployed with `MASKORACLE_RANDOMNESS=vrf`).
    Vrf,
}

impl Randomness {
    /// The deploy script's `MASKORACLE_RANDOMNESS` value (also the record's `randomness` key).
    pub fn name(self) -> &'static str {
        match self {
            Randomness::Blockhash => "blockhash",
            Randomness::Vrf => "vrf",
        }
    }
}

/// Gas used by one set-up (or later) step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GasStep {
    /// What the step did.
    pub step: String,
    /// Transactions.
    pub txs: u32,
    /// Gas used in all.
    pub gas: u64,
}

/// A set-up step just done, for a live display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// anvil answers on `rpc`.
    AnvilUp {
        /// Its URL.
        rpc: &'a str,
    },
    /// The contracts are deployed.
    Deployed {
        /// The record.
        deployment: &'a Deployment,
        /// Transactions of the deployment.
        txs: u32,
        /// Their gas.
        gas: u64,
    },
    /// The IPFS node and its Kubo-compatible facade are up.
    IpfsUp {
        /// The facade's URL.
        kubo: &'a str,
    },
    /// The model is published and registered.
    ModelRegistered {
        /// Its id.
        id: u32,
        /// What was published.
        published: &'a Published,
    },
}

type ProgressFn = Box<dyn Fn(&Progress<'_>) + Send + Sync>;

/// Sets up a [`LocalNet`]; see [`LocalNet::builder`].
pub struct LocalNetBuilder {
    dir: PathBuf,
    logs: Option<PathBuf>,
    data: Option<PathBuf>,
    root: Option<PathBuf>,
    mining: Mining,
    port: u16,
    randomness: Randomness,
    model: Option<PathBuf>,
    model_fee: U256,
    workers: u32,
    stake: U256,
    binary: Option<PathBuf>,
    progress: Option<ProgressFn>,
}

/// How a node of the network runs.
enum Handle {
    /// A child process (killed on drop).
    Process(Child),
    /// A node on its own thread and runtime in this process (the embedded IPFS builder's
    /// futures are not `Send`), with its stop and kill signals and its outcome.
    Task {
        thread: std::thread::JoinHandle<()>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        kill: tokio::sync::oneshot::Sender<()>,
        done: tokio::sync::oneshot::Receiver<Result<(), String>>,
    },
}

/// How a stopped node ended.
#[derive(Debug)]
pub enum Exit {
    /// A process, with its exit status.
    Process(ExitStatus),
    /// An in-process node: `Err` with its error (or panic) in words.
    Task(Result<(), String>),
}

impl Exit {
    /// Whether the node stopped cleanly.
    pub fn success(&self) -> bool {
        match self {
            Exit::Process(s) => s.success(),
            Exit::Task(r) => r.is_ok(),
        }
    }
}

/// The running network. Dropping it kills every process and task it started, stops the IPFS
/// node and anvil.
pub struct LocalNet {
    /// anvil (killed on drop).
    pub anvil: AnvilInstance,
    /// anvil's RPC URL.
    pub rpc: String,
    /// Run folder (the record, and by default the logs and the node state).
    pub dir: PathBuf,
    /// Folder of the nodes' logs (`<name>.log`).
    pub logs_dir: PathBuf,
    /// Folder of the nodes' state (`<name>/`; `client/` for [`LocalNet::cmd`]).
    pub data_dir: PathBuf,
    /// Deployment record path.
    pub record: PathBuf,
    /// The deployment.
    pub deployment: Deployment,
    /// Kubo-compatible RPC URL of the shared IPFS node.
    pub kubo: String,
    /// The shared IPFS node.
    pub storage: SharedStorage,
    /// Contract handles (read-only).
    pub c: Contracts,
    /// Registered model id (0 when no model was registered).
    pub model: u32,
    /// What was published for the model.
    pub published: Option<Published>,
    /// Gas of the set-up steps.
    pub setup_gas: Vec<GasStep>,
    /// The `maskoracle` binary node processes run.
    pub binary: Option<PathBuf>,
    /// RPC URL given to worker nodes instead of `rpc` (e.g. a [`Proxy`]).
    pub worker_rpc: Option<String>,
    /// Extra environment for worker processes.
    pub worker_env: Vec<(String, String)>,
    /// Transaction settings of the set-up's signers (and a good default for callers').
    pub tx_settings: TxSettings,
    nodes: Vec<(String, Option<Handle>)>,
    stop_ipfs: Option<tokio::sync::oneshot::Sender<()>>,
}

impl LocalNet {
    /// A builder writing under `dir`: anvil with 0.25 s blocks, blockhash randomness, no model,
    /// no workers, no binary.
    pub fn builder(dir: impl Into<PathBuf>) -> LocalNetBuilder {
        LocalNetBuilder {
            dir: dir.into(),
            logs: None,
            data: None,
            root: None,
            mining: Mining::Interval(0.25),
            port: 0,
            randomness: Randomness::Blockhash,
            model: None,
            model_fee: tokens(1),
            workers: 0,
            stake: tokens(WORKER_STAKE),
            binary: None,
            progress: None,
        }
    }
}

impl LocalNetBuilder {
    /// Folder for the nodes' logs (default: the run folder).
    pub fn logs_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.logs = Some(p.into());
        self
    }

    /// Folder for the nodes' state (default: the run folder).
    pub fn data_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.data = Some(p.into());
        self
    }

    /// The repository root (foundry.toml, deploy/; default: the current folder if it is one,
    /// else the checkout this crate was built from).
    pub fn root(mut self, p: impl Into<PathBuf>) -> Self {
        self.root = Some(p.into());
        self
    }

    /// How anvil mines.
    pub fn mining(mut self, m: Mining) -> Self {
        self.mining = m;
        self
    }

    /// anvil's port (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The hub's randomness source.
    pub fn randomness(mut self, r: Randomness) -> Self {
        self.randomness = r;
        self
    }

    /// A model directory to publish and register (by dev account 0).
    pub fn model(mut self, dir: impl Into<PathBuf>) -> Self {
        self.model = Some(dir.into());
        self
    }

    /// The model's fee per finalized task (default 1 token).
    pub fn model_fee(mut self, fee: U256) -> Self {
        self.model_fee = fee;
        self
    }

    /// Workers (dev accounts 1..=n) to stake and opt in to the model.
    pub fn workers(mut self, n: u32) -> Self {
        self.workers = n;
        self
    }

    /// Stake each worker bonds (default 1,000 tokens).
    pub fn stake(mut self, amount: U256) -> Self {
        self.stake = amount;
        self
    }

    /// The `maskoracle` binary for node processes and [`LocalNet::cmd`].
    pub fn binary(mut self, p: impl Into<PathBuf>) -> Self {
        self.binary = Some(p.into());
        self
    }

    /// Called after each set-up step (a live display).
    pub fn on_progress(mut self, f: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn say(&self, p: Progress<'_>) {
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    /// Starts anvil, deploys, starts the IPFS node, registers the model and stakes the workers.
    pub async fn build(self) -> Result<LocalNet, LocalNetError> {
        let root = match &self.root {
            Some(r) => r.clone(),
            None => repo_root()?,
        };
        let logs_dir = self.logs.clone().unwrap_or_else(|| self.dir.clone());
        let data_dir = self.data.clone().unwrap_or_else(|| self.dir.clone());
        for d in [&self.dir, &logs_dir, &data_dir] {
            std::fs::create_dir_all(d)?;
        }

        // 1. anvil.
        let mut anvil = Anvil::new().port(self.port).chain_id(CHAIN_ID);
        if let Mining::Interval(s) = self.mining {
            anvil = anvil.block_time_f64(s);
        }
        let anvil = tokio::task::spawn_blocking(move || anvil.timeout(20_000).try_spawn())
            .await
            .map_err(|e| LocalNetError::Anvil(e.to_string()))?
            .map_err(|e| LocalNetError::Anvil(e.to_string()))?;
        let rpc = anvil.endpoint();
        let provider = read_provider(&rpc)?;
        self.say(Progress::AnvilUp { rpc: &rpc });

        // 2. The contracts, with the real deploy script.
        let name = format!(
            "{CHAIN_ID}-localnet-{}-{}.json",
            std::process::id(),
            anvil.port()
        );
        let deployed = Command::new("forge")
            .current_dir(&root)
            .args(["script", "deploy/Deploy.s.sol", "--rpc-url", &rpc])
            .args(["--broadcast", "--silent", "--private-key", DEPLOYER_KEY])
            .env("MASKORACLE_DEVNET", "true")
            .env("MASKORACLE_RANDOMNESS", self.randomness.name())
            .env("MASKORACLE_RECORD_NAME", &name)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| LocalNetError::Spawn {
                name: "forge (is Foundry on PATH? source .toolchain/env.sh)".into(),
                source: e,
            })?;
        if !deployed.status.success() {
            return Err(LocalNetError::Deploy(format!(
                "{}{}",
                String::from_utf8_lossy(&deployed.stdout),
                String::from_utf8_lossy(&deployed.stderr)
            )));
        }
        // The record lives beside the logs; the one under deploy/records is removed.
        let src = root.join("deploy/records").join(&name);
        let record = self.dir.join("deployment.json");
        std::fs::copy(&src, &record)?;
        let _ = std::fs::remove_file(&src);
        let deployment = Deployment::load(&record)?;
        if deployment.randomness != self.randomness.name() {
            return Err(LocalNetError::Deploy(format!(
                "asked for randomness {}, but the deploy script recorded {:?}",
                self.randomness.name(),
                deployment.randomness
            )));
        }
        let c = Contracts::connect(deployment.clone(), provider.clone()).await?;
        let head = provider
            .get_block_number()
            .await
            .map_err(anyhow::Error::from)?;
        let (mut txs, mut gas) = (0u32, 0u64);
        for b in 0..=head {
            if let Some(rs) = provider
                .get_block_receipts(b.into())
                .await
                .map_err(anyhow::Error::from)?
            {
                txs += rs.len() as u32;
                gas += rs.iter().map(|r| r.gas_used).sum::<u64>();
            }
        }
        let mut setup_gas = vec![GasStep {
            step: "deploy (token, mints, registries, hub, consumer)".into(),
            txs,
            gas,
        }];
        self.say(Progress::Deployed {
            deployment: &deployment,
            txs,
            gas,
        });

        // 3. IPFS: one embedded node, shared with other processes through the Kubo facade.
        let storage = start_ipfs(self.dir.join("ipfs")).await?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr, _h) = crate::storage::rpc_server::serve(
            storage.clone(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            async move {
                let _ = stop_rx.await;
            },
        )
        .await?;
        let kubo = format!("http://{addr}");
        self.say(Progress::IpfsUp { kubo: &kubo });

        let tx_settings = TxSettings {
            receipt_timeout: Duration::from_secs(10),
            ..TxSettings::default()
        };
        let mut net = LocalNet {
            anvil,
            rpc,
            dir: self.dir.clone(),
            logs_dir,
            data_dir,
            record,
            deployment,
            kubo,
            storage,
            c,
            model: 0,
            published: None,
            setup_gas: Vec::new(),
            binary: self.binary.clone(),
            worker_rpc: None,
            worker_env: Vec::new(),
            tx_settings,
            nodes: Vec::new(),
            stop_ipfs: Some(stop_tx),
        };

        // 4. The model: published to IPFS, registered on chain.
        if let Some(dir) = &self.model {
            let published = crate::models::publish(&net.storage, dir).await?;
            let fee = u128::try_from(self.model_fee)
                .ok()
                .and_then(|f| alloy::primitives::Uint::<96, 2>::try_from(f).ok())
                .ok_or_else(|| anyhow::anyhow!("model fee too large"))?;
            let m = net
                .signer(0)?
                .send(
                    "register",
                    net.deployment.model_registry,
                    // With the model's default tolerance: a task whose workers miss exact
                    // agreement settles through the tolerant fallback.
                    ModelRegistry::registerWithToleranceCall {
                        cid: published.manifest_cid.clone(),
                        modelSha256: published.sha256,
                        kind: published.kind,
                        fee,
                        tolerance: crate::worker::tolerant::tolerance_to_sol(&published.tolerance),
                    }
                    .abi_encode(),
                )
                .await
                .map_err(anyhow::Error::from)?;
            net.model = m.event::<ModelRegistry::ModelRegistered>()?.modelId;
            setup_gas.push(GasStep {
                step: "register model".into(),
                txs: 1,
                gas: m.gas_used,
            });
            self.say(Progress::ModelRegistered {
                id: net.model,
                published: &published,
            });
            net.published = Some(published);
        }

        // 5. Workers: approve + stake + opt in, all accounts at once.
        if self.workers > 0 {
            let mut jobs = Vec::new();
            for i in 1..=self.workers {
                let tx = net.signer(i)?;
                let d = net.deployment.clone();
                let (stake, model) = (self.stake, net.published.as_ref().map(|_| net.model));
                jobs.push(tokio::spawn(async move {
                    let a = tx
                        .send(
                            "approve",
                            d.token,
                            TestToken::approveCall {
                                spender: d.worker_registry,
                                value: stake,
                            }
                            .abi_encode(),
                        )
                        .await?;
                    let s = tx
                        .send(
                            "stake",
                            d.worker_registry,
                            WorkerRegistry::stakeCall { amount: stake }.abi_encode(),
                        )
                        .await?;
                    let mut mined = vec![a, s];
                    // Opted in to the model registered above (none: staked only).
                    if let Some(model) = model {
                        mined.push(
                            tx.send(
                                "optIn",
                                d.worker_registry,
                                WorkerRegistry::optInCall { modelId: model }.abi_encode(),
                            )
                            .await?,
                        );
                    }
                    anyhow::Ok(mined)
                }));
            }
            let mut sums = [(0u32, 0u64); 3];
            for j in jobs {
                let mined: Vec<Mined> = j.await.map_err(anyhow::Error::from)??;
                for (s, m) in sums.iter_mut().zip(mined.iter()) {
                    s.0 += 1;
                    s.1 += m.gas_used;
                }
            }
            for (label, (txs, gas)) in [
                "workers: approve stake",
                "workers: stake",
                "workers: opt in",
            ]
            .iter()
            .zip(sums)
            .filter(|(_, (txs, _))| *txs > 0)
            {
                setup_gas.push(GasStep {
                    step: (*label).into(),
                    txs,
                    gas,
                });
            }
        }
        net.setup_gas = setup_gas;
        if self.mining == Mining::Manual {
            net.set_automine(false).await?;
        }
        Ok(net)
    }
}

/// The repository root: where `foundry.toml` and the deploy script are (the current folder, or
/// the checkout this crate was built from).
pub fn repo_root() -> anyhow::Result<PathBuf> {
    let is_root =
        |p: &Path| p.join("foundry.toml").is_file() && p.join("deploy/Deploy.s.sol").is_file();
    if let Ok(cwd) = std::env::current_dir() {
        if is_root(&cwd) {
            return Ok(cwd);
        }
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf);
    match built {
        Some(p) if is_root(&p) => Ok(p),
        _ => anyhow::bail!(
            "run from the MaskOracle repository root (it needs foundry.toml and deploy/)"
        ),
    }
}

#[cfg(feature = "embedded-ipfs")]
async fn start_ipfs(repo: PathBuf) -> anyhow::Result<SharedStorage> {
    use anyhow::Context as _;
    let node = crate::storage::embedded::EmbeddedNode::start(
        crate::storage::embedded::EmbeddedConfig::loopback(repo),
    )
    .await
    .context("starting the embedded IPFS node")?;
    Ok(Arc::new(node))
}

#[cfg(not(feature = "embedded-ipfs"))]
async fn start_ipfs(_repo: PathBuf) -> anyhow::Result<SharedStorage> {
    anyhow::bail!(
        "the local network needs the embedded IPFS node (build with the `embedded-ipfs` feature)"
    )
}

impl LocalNet {
    /// Address of dev account `i`.
    pub fn addr(i: u32) -> Address {
        crate::keys::dev_signer(i, CHAIN_ID)
            .map(|s| s.address())
            .unwrap_or_default()
    }

    /// A signer task for dev account `i` on anvil, with [`LocalNet::tx_settings`].
    pub fn signer(&self, i: u32) -> anyhow::Result<TxSender> {
        TxSender::spawn(
            &self.rpc,
            crate::keys::dev_signer(i, CHAIN_ID)?,
            self.tx_settings,
        )
    }

    /// The node's state folder (`worker{i}` for worker `i`).
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.data_dir.join(name)
    }

    /// The node's log file.
    pub fn node_log(&self, name: &str) -> PathBuf {
        self.logs_dir.join(format!("{name}.log"))
    }

    /// Worker `i`'s state folder.
    pub fn worker_dir(&self, i: u32) -> PathBuf {
        self.node_dir(&format!("worker{i}"))
    }

    /// Worker `i`'s log file.
    pub fn worker_log(&self, i: u32) -> PathBuf {
        self.node_log(&format!("worker{i}"))
    }

    /// A `maskoracle` command with this network's settings in the environment (state in
    /// `<data>/client`).
    pub fn cmd(&self, args: &[&str]) -> Result<Command, LocalNetError> {
        let bin = self.binary.as_ref().ok_or(LocalNetError::NoBinary)?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("MASKORACLE_RPC_URL", &self.rpc)
            .env("MASKORACLE_DEPLOYMENT", &self.record)
            .env("MASKORACLE_IPFS__BACKEND", "kubo")
            .env("MASKORACLE_IPFS__KUBO_URL", &self.kubo)
            .env("MASKORACLE_DATA_DIR", self.data_dir.join("client"))
            .env("MASKORACLE_WORKER__POLL_INTERVAL_MS", "100")
            .env("MASKORACLE_WORKER__RECEIPT_TIMEOUT_S", "10")
            .env("MASKORACLE_LOG", "info")
            .env_remove("MASKORACLE_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Runs a command and returns (success, stdout, stderr).
    pub async fn try_run(&self, args: &[&str]) -> Result<(bool, String, String), LocalNetError> {
        let out = self
            .cmd(args)?
            .output()
            .await
            .map_err(|e| LocalNetError::Spawn {
                name: format!("maskoracle {args:?}"),
                source: e,
            })?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Runs a command to completion; its stdout, or an error with its stderr.
    pub async fn ok(&self, args: &[&str]) -> Result<String, LocalNetError> {
        let out = self
            .cmd(args)?
            .output()
            .await
            .map_err(|e| LocalNetError::Spawn {
                name: format!("maskoracle {args:?}"),
                source: e,
            })?;
        if !out.status.success() {
            return Err(LocalNetError::Command {
                args: args.iter().map(|s| s.to_string()).collect(),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts a node process `name` (`maskoracle <args>`) with the network's settings, state in
    /// [`LocalNet::node_dir`], stdout and stderr appended to [`LocalNet::node_log`], and `env`.
    pub fn spawn_node(
        &mut self,
        name: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> Result<(), LocalNetError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.node_log(name))?;
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.cmd(&refs)?;
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MASKORACLE_DATA_DIR", self.node_dir(name))
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd.spawn().map_err(|e| LocalNetError::Spawn {
            name: name.to_owned(),
            source: e,
        })?;
        self.forget(name);
        self.nodes
            .push((name.to_owned(), Some(Handle::Process(child))));
        Ok(())
    }

    /// Starts worker `i` (dev account `i`) as a process with extra flags, on
    /// [`LocalNet::worker_rpc`] if set, with [`LocalNet::worker_env`].
    pub fn spawn_worker(&mut self, i: u32, extra: &[&str]) -> Result<(), LocalNetError> {
        let mut args = vec!["worker".to_owned(), "--dev-account".into(), i.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut env = self.worker_env.clone();
        if let Some(rpc) = &self.worker_rpc {
            env.push(("MASKORACLE_RPC_URL".into(), rpc.clone()));
        }
        self.spawn_node(&format!("worker{i}"), &args, &env)
    }

    /// Starts a keeper process on dev account `account` (node name `keeper`).
    pub fn spawn_keeper(&mut self, account: u32) -> Result<(), LocalNetError> {
        let args = [
            "keeper".to_owned(),
            "--dev-account".into(),
            account.to_string(),
        ];
        self.spawn_node("keeper", &args, &[])
    }

    /// The configuration a node on dev account `account` gets: this network's RPC (or
    /// [`LocalNet::worker_rpc`]), record and IPFS facade, state in [`LocalNet::node_dir`]`(name)`,
    /// 100 ms polls and 10 s receipt timeouts.
    pub fn node_config(&self, name: &str, account: u32) -> Config {
        let mut cfg = Config {
            rpc_url: self.worker_rpc.clone().unwrap_or_else(|| self.rpc.clone()),
            deployment: self.record.clone(),
            data_dir: self.node_dir(name),
            worker: WorkerConfig {
                dev_account: Some(account),
                poll_interval_ms: 100,
                receipt_timeout_s: 10,
                ..WorkerConfig::default()
            },
            ..Config::default()
        };
        cfg.ipfs.backend = IpfsBackend::Kubo;
        cfg.ipfs.kubo_url = self.kubo.clone();
        cfg
    }

    /// Worker `i`'s configuration (see [`LocalNet::node_config`]).
    pub fn worker_config(&self, i: u32) -> Config {
        self.node_config(&format!("worker{i}"), i)
    }

    /// Runs a node in this process (its own thread and tokio runtime, two worker threads)
    /// until [`LocalNet::stop_node`] (graceful) or [`LocalNet::kill_node`] (its future dropped).
    /// A worker refuses to start unless this process pinned its numerics
    /// (`maskoracle_inference::numerics::pin()` before any thread started).
    pub fn start_in_process(
        &mut self,
        name: &str,
        cfg: Config,
        role: crate::worker::Role,
    ) -> Result<(), LocalNetError> {
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (kill, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let node = name.to_owned();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("{name}-rt"))
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let run = async move {
                    let worker =
                        crate::worker::Worker::open(cfg, role, crate::metrics::Metrics::new())
                            .await?;
                    tracing::info!(target: "maskoracle::localnet", %node, "in-process node started");
                    worker
                        .run(async move {
                            let _ = stop_rx.await;
                        })
                        .await
                };
                let r = rt.block_on(async move {
                    tokio::select! {
                        r = run => r.map_err(|e| format!("{e:#}")),
                        _ = kill_rx => Err("killed".to_owned()),
                    }
                });
                // In-flight inference on the blocking pool is not waited for.
                rt.shutdown_background();
                let _ = done_tx.send(r);
            })?;
        self.forget(name);
        self.nodes.push((
            name.to_owned(),
            Some(Handle::Task {
                thread,
                stop: Some(stop),
                kill,
                done,
            }),
        ));
        Ok(())
    }

    /// Starts worker `i` in this process with [`LocalNet::worker_config`].
    pub fn start_worker_in_process(&mut self, i: u32, faulty: bool) -> Result<(), LocalNetError> {
        let mut cfg = self.worker_config(i);
        cfg.worker.faulty = faulty;
        self.start_in_process(&format!("worker{i}"), cfg, crate::worker::Role::Worker)
    }

    fn forget(&mut self, name: &str) {
        self.nodes.retain(|(n, h)| n != name || h.is_some());
    }

    fn handle(&mut self, name: &str) -> Option<Handle> {
        self.nodes
            .iter_mut()
            .find(|(n, h)| n == name && h.is_some())
            .and_then(|(_, h)| h.take())
    }

    /// Kills node `name` at once (SIGKILL, or the task aborted).
    pub async fn kill_node(&mut self, name: &str) -> Result<(), LocalNetError> {
        match self.handle(name) {
            Some(Handle::Process(mut c)) => Ok(c.kill().await?),
            Some(Handle::Task { kill, done, .. }) => {
                let _ = kill.send(());
                let _ = done.await;
                Ok(())
            }
            None => Err(LocalNetError::NotRunning(name.to_owned())),
        }
    }

    /// Kills worker `i` at once.
    pub async fn kill_worker(&mut self, i: u32) -> Result<(), LocalNetError> {
        self.kill_node(&format!("worker{i}")).await
    }

    /// Stops node `name` gracefully (SIGTERM, or its stop signal) and waits up to `timeout`.
    pub async fn stop_node(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Exit, LocalNetError> {
        match self.handle(name) {
            Some(Handle::Process(mut c)) => {
                if let Some(pid) = c.id() {
                    let _ = std::process::Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status();
                }
                let st = tokio::time::timeout(timeout, c.wait())
                    .await
                    .map_err(|_| LocalNetError::StopTimeout(name.to_owned(), timeout))??;
                Ok(Exit::Process(st))
            }
            Some(Handle::Task {
                stop, done, kill, ..
            }) => {
                if let Some(s) = stop {
                    let _ = s.send(());
                }
                // `kill` lives until the node stopped (dropping it would end the node at once).
                let r = tokio::time::timeout(timeout, done).await;
                drop(kill);
                let r = r.map_err(|_| LocalNetError::StopTimeout(name.to_owned(), timeout))?;
                Ok(Exit::Task(r.unwrap_or_else(|_| {
                    Err("the node's thread panicked".to_owned())
                })))
            }
            None => Err(LocalNetError::NotRunning(name.to_owned())),
        }
    }

    /// Stops worker `i` gracefully, waiting up to 90 s.
    pub async fn stop_worker(&mut self, i: u32) -> Result<Exit, LocalNetError> {
        self.stop_node(&format!("worker{i}"), Duration::from_secs(90))
            .await
    }

    /// A node that ended by itself (a crash, a refusal to start), with how it ended; it is then
    /// no longer tracked.
    pub fn exited(&mut self) -> Option<(String, String)> {
        for (name, h) in &mut self.nodes {
            let ended = match h {
                Some(Handle::Process(c)) => match c.try_wait() {
                    Ok(Some(st)) => Some(format!("exited ({st})")),
                    _ => None,
                },
                Some(Handle::Task { thread, done, .. }) if thread.is_finished() => {
                    Some(match done.try_recv() {
                        Ok(Err(e)) => format!("stopped: {e}"),
                        _ => "stopped".to_owned(),
                    })
                }
                _ => None,
            };
            if let Some(how) = ended {
                *h = None;
                return Some((name.clone(), how));
            }
        }
        None
    }

    /// The names of the nodes started (running or not).
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The last `lines` lines of node `name`'s log.
    pub fn tail(&self, name: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.node_log(name)).unwrap_or_default();
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    /// The last 40 lines of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &self.nodes {
            if seen.insert(name.clone()) {
                out.push_str(&format!("---- {name} (last lines) ----\n"));
                out.push_str(&self.tail(name, 40));
                out.push('\n');
            }
        }
        out
    }

    /// Polls `f` every 200 ms until it returns `Some`, or fails after `timeout`.
    pub async fn wait_for<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: F,
    ) -> Result<T, LocalNetError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(LocalNetError::Timeout(what.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The contribution state of `worker` in `task` (`None` when not drawn).
    pub async fn contribution(
        &self,
        task: U256,
        worker: Address,
    ) -> Result<ContributionState, LocalNetError> {
        let cs = self
            .c
            .hub
            .contributions(task)
            .call()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(cs
            .iter()
            .find(|c| c.worker == worker)
            .map(|c| ContributionState::from(c.state))
            .unwrap_or_default())
    }

    /// The task's status.
    pub async fn status(&self, task: U256) -> Result<TaskStatus, LocalNetError> {
        let st = self
            .c
            .hub
            .taskState(task)
            .call()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(TaskStatus::from(st.status))
    }

    /// Hub balance of `a`.
    pub async fn balance(&self, a: Address) -> Result<U256, LocalNetError> {
        Ok(self
            .c
            .hub
            .balanceOf(a)
            .call()
            .await
            .map_err(anyhow::Error::from)?)
    }

    /// The id of the last task.
    pub async fn last_task(&self) -> Result<U256, LocalNetError> {
        Ok(self
            .c
            .hub
            .taskCount()
            .call()
            .await
            .map_err(anyhow::Error::from)?)
    }

    /// `maskoracle audit --json` with `extra`: (exit success, the report). The command exits
    /// non-zero when it finds problems; the report is still read.
    pub async fn audit(&self, extra: &[&str]) -> Result<(bool, serde_json::Value), LocalNetError> {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        let (ok, out, err) = self.try_run(&args).await?;
        let v = serde_json::from_str(&out)
            .map_err(|e| anyhow::anyhow!("audit JSON: {e}\n{out}\n{err}"))?;
        Ok((ok, v))
    }

    async fn anvil_rpc(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, LocalNetError> {
        Ok(self
            .c
            .provider
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .map_err(anyhow::Error::from)?)
    }

    /// Sends a call from one of anvil's unlocked accounts (`eth_sendTransaction`, gas limit
    /// 2,000,000) without waiting for it to be mined: requests and deposits in bulk.
    pub async fn send_as(
        &self,
        from: Address,
        to: Address,
        input: Vec<u8>,
    ) -> Result<alloy::primitives::TxHash, LocalNetError> {
        use alloy::network::TransactionBuilder;
        let req = alloy::rpc::types::TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(input)
            .with_gas_limit(2_000_000);
        let pending = self
            .c
            .provider
            .send_transaction(req)
            .await
            .map_err(anyhow::Error::from)?;
        Ok(*pending.tx_hash())
    }

    /// Mines `blocks` blocks now (`anvil_mine`).
    pub async fn mine(&self, blocks: u64) -> Result<(), LocalNetError> {
        self.anvil_rpc("anvil_mine", serde_json::json!([U256::from(blocks)]))
            .await?;
        Ok(())
    }

    /// Turns automine (a block per transaction) on or off (`evm_setAutomine`); off with no
    /// interval, blocks come only from [`LocalNet::mine`].
    pub async fn set_automine(&self, on: bool) -> Result<(), LocalNetError> {
        self.anvil_rpc("evm_setAutomine", serde_json::json!([on]))
            .await?;
        Ok(())
    }

    /// Mines a block every `seconds` (0: stops interval mining; `evm_setIntervalMining`).
    pub async fn set_interval_mining(&self, seconds: u64) -> Result<(), LocalNetError> {
        self.anvil_rpc("evm_setIntervalMining", serde_json::json!([seconds]))
            .await?;
        Ok(())
    }

    /// Snapshots the chain (`evm_snapshot`); returns the id for [`LocalNet::revert_to`].
    pub async fn snapshot(&self) -> Result<U256, LocalNetError> {
        let v = self
            .anvil_rpc("evm_snapshot", serde_json::json!([]))
            .await?;
        serde_json::from_value(v).map_err(|e| anyhow::anyhow!("evm_snapshot: {e}").into())
    }

    /// Reverts the chain to a snapshot (`evm_revert`): every later block is dropped, as in a
    /// reorg to a shorter chain.
    pub async fn revert_to(&self, snapshot: U256) -> Result<bool, LocalNetError> {
        let v = self
            .anvil_rpc("evm_revert", serde_json::json!([snapshot]))
            .await?;
        Ok(v.as_bool().unwrap_or(false))
    }

    /// Replaces the last `depth` blocks with as many empty ones (`anvil_reorg`, parameters as
    /// alloy's `AnvilApi` sends them): their transactions are dropped, block hashes change, the
    /// head stays at the same height.
    pub async fn reorg(&self, depth: u64) -> Result<(), LocalNetError> {
        self.anvil_rpc(
            "anvil_reorg",
            serde_json::json!({"depth": depth, "tx_block_pairs": []}),
        )
        .await?;
        Ok(())
    }

    /// Drops the last `depth` blocks (`anvil_rollback`): the head goes back `depth` blocks.
    pub async fn rollback(&self, depth: u64) -> Result<(), LocalNetError> {
        self.anvil_rpc("anvil_rollback", serde_json::json!([depth]))
            .await?;
        Ok(())
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        for (_, h) in &mut self.nodes {
            match h {
                Some(Handle::Process(c)) => {
                    let _ = c.start_kill();
                }
                Some(Handle::Task { .. }) => {
                    // Dropping the handle drops the kill sender: the node's future ends.
                    *h = None;
                }
                None => {}
            }
        }
        if let Some(s) = self.stop_ipfs.take() {
            let _ = s.send(());
        }
    }
}

/// A TCP proxy in front of an RPC endpoint that can be taken down (listener closed, every
/// connection cut) and brought back on the same port: an RPC outage as a worker sees it.
pub struct Proxy {
    /// `http://127.0.0.1:port` of the proxy.
    pub url: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    /// Proxies to `127.0.0.1:target`.
    pub async fn start(target: u16) -> std::io::Result<Proxy> {
        use tokio::net::{TcpListener, TcpStream};
        let first = TcpListener::bind("127.0.0.1:0").await?;
        let addr = first.local_addr()?;
        let (up, mut rx) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            let mut listener = Some(first);
            let mut conns = tokio::task::JoinSet::new();
            loop {
                if *rx.borrow_and_update() {
                    if listener.is_none() {
                        match TcpListener::bind(addr).await {
                            Ok(l) => listener = Some(l),
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                        }
                    }
                    let Some(l) = listener.as_ref() else { continue };
                    tokio::select! {
                        acc = l.accept() => {
                            if let Ok((mut inbound, _)) = acc {
                                conns.spawn(async move {
                                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", target)).await {
                                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                                    }
                                });
                            }
                        }
                        changed = rx.changed() => if changed.is_err() { break },
                    }
                } else {
                    listener = None;
                    conns.abort_all();
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Proxy {
            url: format!("http://{addr}"),
            up,
        })
    }

    /// Takes the endpoint down (`false`) or brings it back (`true`).
    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}
