//! `maskoracle devnet`: a whole MaskOracle network on this machine, end to end.
//!
//! The process is the orchestrator. It starts anvil (the Foundry binary on PATH) on loopback with
//! sub-second blocks, deploys the contracts with the real deploy script, starts an embedded IPFS
//! node (served to the other processes through the Kubo-compatible RPC facade), publishes and
//! registers the shipped model, funds, stakes and opts in N workers (anvil dev accounts 1..=N),
//! starts them and a keeper (account N+1) as separate `maskoracle` processes (this same binary),
//! and sends a demo request for a bundled sample image through the example consumer contract
//! (account 0 owns it). It prints the hub's events as they are mined (draw, commits, consensus,
//! result, reveals, settlement, stake release, callback), then a table per worker, the overlay
//! and canonical result it wrote, the result CID and the gas used per step. The set-up (anvil,
//! deployment, IPFS, model, staking, node processes) is [`crate::localnet::LocalNet`], the same
//! builder the integration tests and the benchmarks use; the live display reads the events
//! through [`crate::events::Sources`].
//!
//! `--faulty K` makes the last K workers commit a deliberately wrong result (the worker's devnet
//! test switch appends a fixed marker to the canonical result, so cheaters agree with each
//! other). Commits stay open until every drawn worker committed (or the commit deadline), so all
//! workers start at once: with an honest quorum the cheaters are slashed; when the cheaters hold
//! the quorum they win and the honest workers are slashed.
//!
//! `--randomness vrf` deploys Chainlink VRF v2.5 as the seed source (a `VRFCoordinatorV2_5Mock`,
//! `MASKORACLE_RANDOMNESS=vrf`); nothing answers its requests by itself, so a VRF operator task
//! in this process answers each `SeedRequested` with `fulfillRandomWords`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::utils::format_units;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolValue};
use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use serde_json::json;

use crate::bindings::hub::TaskHub::TaskHubEvents as H;
use crate::bindings::vrf_randomness::VrfRandomness::VrfRandomnessEvents as V;
use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use crate::bindings::{ExampleConsumer, TaskHub, VRFCoordinatorV2_5Mock};
use crate::chain::{tokens, TxSender};
use crate::events::{CallbackOutcome, OracleEvent, Sources, TaskStatus, WaitReason};
pub use crate::localnet::Randomness;
use crate::localnet::{GasStep, LocalNet, Mining, Progress, DEV_ACCOUNTS, WORKER_STAKE};
use crate::storage::ImportParams;

/// The default image: a public-domain photo of a person (NASA's astronaut portrait, from
/// scikit-image; see `inference/tests/data/photos/PROVENANCE.md`).
pub const DEFAULT_IMAGE: &str = "inference/tests/data/photos/astronaut.png";
/// The default model: MediaPipe's pretrained selfie segmentation, converted to TorchScript
/// (`inference/models/selfie-segmentation/`, semantic: background / person).
pub const DEFAULT_MODEL: &str = "inference/models/selfie-segmentation";
/// The instance-segmentation sample (`--instance`): a generated scene (see
/// `assets/samples/README.md`).
pub const INSTANCE_IMAGE: &str = "assets/samples/scene_4242_0001.png";
/// The instance-segmentation model (`--instance`): the shapes Mask R-CNN trained by the project.
pub const INSTANCE_MODEL: &str = "inference/models/shapes-maskrcnn";
/// Arguments of `maskoracle devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Workers to fund, stake and start (dev accounts 1..=N; at most 8).
    #[arg(long, default_value_t = 3)]
    pub workers: u32,
    /// Workers (the last K) that commit a wrong result, to watch slashing.
    #[arg(long, default_value_t = 0)]
    pub faulty: u32,
    /// Emulated hardware: every honest worker perturbs the model's raw outputs by this relative
    /// noise (of each output's scale, another seed per worker), e.g. 1e-5, so that exact digests
    /// differ and the task settles through the tolerant fallback (docs/tolerant-consensus.md).
    #[arg(long, value_name = "REL")]
    pub noise: Option<f64>,
    /// Image to segment (default: the astronaut photo, or with `--instance` the generated
    /// scene `assets/samples/scene_4242_0001.png`).
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Model directory to publish and register (default: the shipped selfie-segmentation, or
    /// with `--instance` the shipped shapes-maskrcnn).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The instance-segmentation path: the shapes Mask R-CNN on a generated scene instead of the
    /// person segmentation of a photo.
    #[arg(long)]
    pub instance: bool,
    /// Workers drawn per task (R; default: all the workers).
    #[arg(long)]
    pub replication: Option<u8>,
    /// Equal results needed (Q; default: floor(R/2) + 1).
    #[arg(long)]
    pub quorum: Option<u8>,
    /// Reward for the task, in tokens.
    #[arg(long, default_value_t = 10)]
    pub reward: u64,
    /// Seconds from the request to the commit deadline.
    #[arg(long, default_value_t = 120)]
    pub commit_window: u32,
    /// Seconds from the commit deadline to the reveal deadline.
    #[arg(long, default_value_t = 120)]
    pub reveal_window: u32,
    /// anvil block time in seconds.
    #[arg(long, default_value_t = 0.25)]
    pub block_time: f64,
    /// anvil port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Folder for the deployment record, logs, worker state, the overlay and the result.
    #[arg(long, default_value = "target/devnet")]
    pub out: PathBuf,
    /// Give up when the task has not settled after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// Leave the network running (until Ctrl-C) and print how to use it.
    #[arg(long)]
    pub keep: bool,
    /// Print the outcome as JSON on stdout (the live log goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// The hub's randomness source: the hash of the block after the request, or Chainlink VRF
    /// v2.5 through a `VRFCoordinatorV2_5Mock`, answered by a devnet VRF operator in this process.
    #[arg(long, value_enum, default_value_t = Randomness::Blockhash)]
    pub randomness: Randomness,
}

/// The devnet's VRF operator: nothing answers a seed request on a `VRFCoordinatorV2_5Mock` by
/// itself, so this follows the source's `SeedRequested` logs from `from` and answers each one
/// with `fulfillRandomWords(requestId, source)` (sent by `tx`). Runs until aborted.
async fn vrf_operator(
    provider: alloy::providers::DynProvider,
    source: Address,
    coordinator: Address,
    tx: TxSender,
    from: u64,
) {
    let mut cursor = from;
    let mut answered = std::collections::HashSet::new();
    loop {
        let step = async {
            let head = provider.get_block_number().await?;
            if head < cursor {
                return anyhow::Ok(());
            }
            let only_vrf = Sources {
                vrf: source,
                ..Sources::default()
            };
            for ev in only_vrf.read(&provider, cursor, head, 2_000).await? {
                let OracleEvent::Vrf(V::SeedRequested(e)) = ev.event else {
                    continue;
                };
                if !answered.insert(e.requestId) {
                    continue;
                }
                let call = VRFCoordinatorV2_5Mock::fulfillRandomWordsCall {
                    _requestId: e.requestId,
                    _consumer: source,
                };
                match tx
                    .send(
                        format!("fulfillRandomWords #{}", e.requestId),
                        coordinator,
                        call.abi_encode(),
                    )
                    .await
                {
                    Ok(m) => {
                        tracing::debug!(target: "maskoracle::devnet", task = %e.taskId, request = %e.requestId, block = m.block, "VRF request fulfilled")
                    }
                    Err(err) => {
                        // Tried again on the next pass.
                        answered.remove(&e.requestId);
                        tracing::warn!(target: "maskoracle::devnet", task = %e.taskId, request = %e.requestId, error = %err, "cannot fulfil the VRF request");
                        return anyhow::Ok(());
                    }
                }
            }
            cursor = head + 1;
            anyhow::Ok(())
        };
        if let Err(e) = step.await {
            tracing::warn!(target: "maskoracle::devnet", error = %format!("{e:#}"), "VRF operator: RPC error; retrying");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Live log: stdout, or stderr when stdout carries the JSON report.
#[derive(Clone, Copy)]
struct Say {
    json: bool,
    t0: Instant,
}

impl Say {
    fn line(&self, text: impl AsRef<str>) {
        let s = format!(
            "[{:>6.1}s] {}",
            self.t0.elapsed().as_secs_f64(),
            text.as_ref()
        );
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    fn plain(&self, text: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", text.as_ref());
        } else {
            println!("{}", text.as_ref());
        }
    }
}

/// One worker of the devnet.
#[derive(Debug, Clone)]
struct Member {
    index: u32,
    address: Address,
    faulty: bool,
}

fn short(a: &Address) -> String {
    let s = a.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

fn short_u256(v: U256) -> String {
    let s = v.to_string();
    if s.len() > 12 {
        format!("{}…{}", &s[..6], &s[s.len() - 4..])
    } else {
        s
    }
}

/// Aborts a background task when dropped (the devnet's VRF operator ends with the devnet).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn short_hash(h: &B256) -> String {
    let s = h.to_string();
    format!("{}…{}", &s[..10], &s[s.len() - 6..])
}

/// Tokens (18 decimals) for display, rounded to 4 decimals.
fn tok(v: U256) -> String {
    let s = format_units(v, 18).unwrap_or_else(|_| v.to_string());
    let s = match s.parse::<f64>() {
        Ok(x) => format!("{x:.4}"),
        Err(_) => s,
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// `3 (Ok)`-style name of a result status code.
fn status_name(code: u8) -> String {
    match maskoracle_inference::Status::from_code(code) {
        Some(s) => format!("{code} ({s:?})"),
        None => code.to_string(),
    }
}

/// The environment `devnet --keep` prints for other shells: the chain, the deployment record, the
/// devnet's IPFS node (through its Kubo-compatible RPC) and a client data folder, under the names
/// every command's configuration reads (`docs/oracle.md`).
pub fn keep_env(
    rpc: &str,
    record: &std::path::Path,
    kubo: &str,
    data_dir: &std::path::Path,
) -> Vec<(&'static str, String)> {
    vec![
        ("MASKORACLE_RPC_URL", rpc.to_owned()),
        ("MASKORACLE_DEPLOYMENT", record.display().to_string()),
        ("MASKORACLE_IPFS__BACKEND", "kubo".to_owned()),
        ("MASKORACLE_IPFS__KUBO_URL", kubo.to_owned()),
        ("MASKORACLE_DATA_DIR", data_dir.display().to_string()),
    ]
}

/// Dev accounts `devnet --keep` offers to send from: account 0 (the deployer, owner of the
/// example consumer, the requester of the demo) and the first account no devnet process uses.
pub fn keep_accounts(workers: u32) -> Vec<(u32, &'static str)> {
    let mut v = vec![(
        0,
        "deployer, ExampleConsumer owner, requester of the demo (shares its nonce with the devnet's requests)",
    )];
    if workers + 2 < DEV_ACCOUNTS {
        v.push((
            workers + 2,
            "unused by the devnet: free for your own contracts and requests",
        ));
    }
    v
}

/// The lock file of a devnet run folder.
pub const LOCK_FILE: &str = "devnet.lock";

/// Takes the run folder's lock (`OUT/devnet.lock`, an exclusive advisory lock the operating system
/// drops when the process ends, however it ends), or says which devnet holds it. Held for as long
/// as the returned file lives.
pub fn lock_run_dir(out: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read as _, Seek as _, Write as _};
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            anyhow::bail!(
                "another devnet is running in {} ({}): it would lose its IPFS repository, state, logs and \
                 deployment. Stop it first (Ctrl-C in its shell), or give this one another folder with --out",
                out.display(),
                holder.trim()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "pid {}", std::process::id())?;
    file.flush()?;
    Ok(file)
}

/// Runs `maskoracle devnet`. SIGINT/SIGTERM stop it at any point: every process it started
/// (anvil, workers, keeper) is killed and the IPFS node stops.
pub async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let kept = Arc::new(AtomicBool::new(false));
    tokio::select! {
        r = run_devnet(args, kept.clone()) => r,
        () = crate::shutdown::signal() => {
            if kept.load(Ordering::SeqCst) {
                eprintln!("devnet stopped");
                Ok(())
            } else {
                anyhow::bail!("interrupted: the devnet was stopped before the task settled")
            }
        }
    }
}

async fn run_devnet(args: DevnetArgs, kept: Arc<AtomicBool>) -> anyhow::Result<()> {
    let n = args.workers;
    anyhow::ensure!((1..=DEV_ACCOUNTS - 2).contains(&n), "--workers must be 1..={} (anvil has {DEV_ACCOUNTS} dev accounts: the requester, the workers and the keeper)", DEV_ACCOUNTS - 2);
    anyhow::ensure!(
        args.faulty <= n,
        "--faulty {} is more than --workers {n}",
        args.faulty
    );
    if let Some(noise) = args.noise {
        anyhow::ensure!(
            noise.is_finite() && noise > 0.0 && noise <= 0.1,
            "--noise must be in (0, 0.1]; got {noise}"
        );
    }
    let r = args.replication.unwrap_or(n as u8);
    anyhow::ensure!(
        r >= 1 && u32::from(r) <= n,
        "--replication must be 1..=--workers ({n})"
    );
    let q = args.quorum.unwrap_or(r / 2 + 1);
    anyhow::ensure!(
        q > r / 2 && q <= r,
        "--quorum must be more than half of R={r} and at most R"
    );
    anyhow::ensure!(args.block_time > 0.0, "--block-time must be positive");

    let root = crate::localnet::repo_root()?;
    let image = args.image.clone().unwrap_or_else(|| {
        root.join(if args.instance {
            INSTANCE_IMAGE
        } else {
            DEFAULT_IMAGE
        })
    });
    let model_dir = args.model.clone().unwrap_or_else(|| {
        root.join(if args.instance {
            INSTANCE_MODEL
        } else {
            DEFAULT_MODEL
        })
    });
    let image_bytes =
        std::fs::read(&image).with_context(|| format!("reading the image {}", image.display()))?;
    anyhow::ensure!(
        model_dir.join("model.pt").is_file(),
        "no model.pt in {}",
        model_dir.display()
    );

    // The run folder: what an earlier run left is replaced (idempotent), unless a devnet still
    // runs there (a `--keep` network in another shell): then this one refuses and wipes nothing.
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        std::env::current_dir()?.join(&args.out)
    };
    let _run_lock = lock_run_dir(&out)?;
    for sub in ["ipfs", "nodes", "logs"] {
        let p = out.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    for f in [
        "result.bin",
        "overlay.png",
        "summary.json",
        "deployment.json",
    ] {
        let _ = std::fs::remove_file(out.join(f));
    }
    std::fs::create_dir_all(out.join("logs"))?;
    std::fs::create_dir_all(out.join("nodes"))?;

    let say = Say {
        json: args.json,
        t0: Instant::now(),
    };
    let k = args.faulty;
    let members: Vec<Member> = (1..=n)
        .map(|i| -> anyhow::Result<Member> {
            Ok(Member {
                index: i,
                address: crate::keys::dev_signer(i, 31337)?.address(),
                faulty: i > n - k,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    say.plain(format!(
        "MaskOracle devnet: {n} workers ({k} faulty), R={r} Q={q}, image {}",
        image.display()
    ));

    // The expected (honest) result, computed here in the workers' execution profile while the
    // network starts; the same model also draws the overlay at the end.
    let expected = {
        let dir = model_dir.clone();
        let bytes = image_bytes.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            maskoracle_inference::set_intra_op_threads(
                crate::config::WorkerConfig::default().intra_op_threads,
            );
            let seg =
                maskoracle_inference::Segmenter::new(maskoracle_inference::Model::load(&dir)?);
            let s = seg.segment(&bytes);
            let att = s.attestation();
            Ok((seg, s, att))
        })
    };

    // 1.-5. anvil, the contracts (real deploy script), one embedded IPFS node shared with the
    // other processes through the Kubo RPC facade, the model published and registered, the
    // workers staked and opted in (all accounts at once).
    let block_time = args.block_time;
    let randomness = args.randomness;
    let mut net = {
        let randomness_line = std::sync::Mutex::new(None::<String>);
        LocalNet::builder(&out)
            .logs_dir(out.join("logs"))
            .data_dir(out.join("nodes"))
            .root(&root)
            .mining(Mining::Interval(block_time))
            .port(args.port)
            .randomness(randomness)
            .model(&model_dir)
            .workers(n)
            .stake(tokens(WORKER_STAKE))
            .binary(std::env::current_exe().context("locating the maskoracle binary")?)
            .on_progress(move |p| match p {
                Progress::AnvilUp { rpc } => say.line(format!(
                    "anvil up on {rpc} (chain 31337, a block every {block_time} s)"
                )),
                Progress::Deployed { deployment, txs, gas } => {
                    say.line(format!(
                        "contracts deployed ({txs} txs, {gas} gas): TaskHub {}, WorkerRegistry {}, ModelRegistry {}, ExampleConsumer {}, token {}",
                        deployment.task_hub, deployment.worker_registry, deployment.model_registry, deployment.example_consumer, deployment.token
                    ));
                    // Said once the IPFS node is up, as before the set-up moved to LocalNet.
                    let line = match randomness {
                        Randomness::Blockhash => format!(
                            "randomness: blockhash (BlockhashRandomness {}): a task's seed is the hash of the block after its request",
                            deployment.randomness_source
                        ),
                        Randomness::Vrf => format!(
                            "randomness: Chainlink VRF v2.5 (VrfRandomness {} on VRFCoordinatorV2_5Mock {}, key hash {}): a devnet VRF operator answers each seed request with fulfillRandomWords",
                            deployment.randomness_source,
                            deployment.vrf_coordinator,
                            short_hash(&deployment.vrf_key_hash)
                        ),
                    };
                    if let Ok(mut l) = randomness_line.lock() {
                        *l = Some(line);
                    }
                }
                Progress::IpfsUp { kubo } => {
                    say.line(format!("embedded IPFS node up (Kubo-compatible RPC {kubo})"));
                    if let Some(line) = randomness_line.lock().ok().and_then(|mut l| l.take()) {
                        say.line(line);
                    }
                }
                Progress::ModelRegistered { id, published } => say.line(format!(
                    "model {id} registered: {} (sha256 {}), manifest ipfs://{}, weights ipfs://{}",
                    published.name, published.sha256, published.manifest_cid, published.weights_cid
                )),
            })
            .build()
            .await?
    };
    let rpc = net.rpc.clone();
    let kubo = net.kubo.clone();
    let record = net.record.clone();
    let provider = net.c.provider.clone();
    let deployment = net.deployment.clone();
    let c = net.c.clone();
    let storage = net.storage.clone();
    let model_id = net.model;
    let mut gas: Vec<GasStep> = net.setup_gas.clone();
    let requester = net.signer(0)?;
    let head = provider.get_block_number().await?;
    // The VRF operator answers seed requests from here on (the request comes later).
    let _vrf_operator = match args.randomness {
        Randomness::Blockhash => None,
        // The deployer's account, through the requester's signer (one nonce).
        Randomness::Vrf => Some(AbortOnDrop(tokio::spawn(vrf_operator(
            provider.clone(),
            deployment.randomness_source,
            deployment.vrf_coordinator,
            requester.clone(),
            head,
        )))),
    };
    let task_stake = U256::from(c.workers.taskStake().call().await?);
    say.line(format!(
        "{n} workers staked {WORKER_STAKE} tokens each and opted in to model {model_id} (a task locks {} tokens of each drawn worker)",
        tok(task_stake)
    ));
    for w in &members {
        say.plain(format!(
            "           worker {} {} {}",
            w.index,
            w.address,
            if w.faulty {
                "FAULTY (commits a wrong result)".to_owned()
            } else if let Some(n) = args.noise {
                format!("honest, on emulated hardware (noise {n:e} of the output's scale)")
            } else {
                "honest".to_owned()
            }
        ));
    }
    let mut stake_before = HashMap::new();
    let mut balance_before = HashMap::new();
    for w in &members {
        stake_before.insert(
            w.address,
            U256::from(c.workers.workerInfo(w.address).call().await?.stake),
        );
        balance_before.insert(w.address, c.hub.balanceOf(w.address).call().await?);
    }
    let publisher = requester.address();
    balance_before.insert(publisher, c.hub.balanceOf(publisher).call().await?);
    let setup_s = say.t0.elapsed().as_secs_f64();

    // 6. The keeper and the workers, as separate processes of this binary (logs in logs/,
    // state in nodes/).
    let keeper_account = n + 1;
    // anvil does not reorganise its chain by itself: the devnet's nodes act on the head
    // (`worker.confirmations` is 3 by default; the reorg drills in oracle/tests/reorg.rs run
    // with it).
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "1".into()));
    net.spawn_keeper(keeper_account)?;
    // Since v2 commits stay open until every drawn worker committed (or the deadline), so the
    // order in which workers start does not change who is paid or slashed: all start at once.
    let noise = args.noise.map(|n| n.to_string());
    for w in &members {
        let mut extra: Vec<&str> = Vec::new();
        if w.faulty {
            extra.push("--faulty");
        } else if let Some(n) = &noise {
            extra.extend(["--emulate-noise", n]);
        }
        net.spawn_worker(w.index, &extra)?;
    }
    say.line(format!(
        "keeper started (account {keeper_account}); workers started: {}",
        members
            .iter()
            .map(|w| w.index.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // 7. The request, through the example consumer.
    let cid = storage
        .put(Bytes::from(image_bytes.clone()), ImportParams::default())
        .await
        .context("publishing the image")?;
    let input = format!("ipfs://{cid}");
    let terms = c.models.requestTerms(model_id).call().await?;
    let reward = tokens(args.reward);
    let amount = reward + U256::from(terms.fee);
    let hub = deployment.task_hub;
    let consumer = deployment.example_consumer;
    let consumer_before = c.hub.balanceOf(consumer).call().await?;
    let (a, d) = requester.deposit(&deployment, consumer, amount).await?;
    gas.push(GasStep {
        step: "requester: approve".into(),
        txs: 1,
        gas: a.gas_used,
    });
    gas.push(GasStep {
        step: "requester: deposit to the consumer".into(),
        txs: 1,
        gas: d.gas_used,
    });
    let reward96 = alloy::primitives::Uint::<96, 2>::try_from(
        u128::try_from(reward).context("reward too large")?,
    )
    .context("reward too large")?;
    let p = crate::bindings::consumer::ITaskHub::RequestParams {
        modelId: model_id,
        replication: r,
        quorum: q,
        reward: reward96,
        // The fee just read: a fee raised meanwhile makes the request revert.
        maxFee: terms.fee,
        commitWindow: args.commit_window,
        revealWindow: args.reveal_window,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(1_500_000u32),
        input: input.clone(),
        params: Default::default(),
    };
    let request_started = Instant::now();
    let mined = requester
        .send(
            "requestSegmentation",
            consumer,
            ExampleConsumer::requestSegmentationCall { p }.abi_encode(),
        )
        .await?;
    gas.push(GasStep {
        step: "consumer.requestSegmentation (hub.request)".into(),
        txs: 1,
        gas: mined.gas_used,
    });
    let task_id = mined.event::<TaskHub::TaskRequested>()?.taskId;
    say.line(format!(
        "task {task_id} requested through ExampleConsumer {consumer} in block {}: model {model_id}, R={r} Q={q}, reward {} + fee {} tokens, input {input}",
        mined.block,
        tok(reward),
        tok(U256::from(terms.fee))
    ));

    // 8. Follow the hub's and the registry's logs as they are mined.
    let who: HashMap<Address, &Member> = members.iter().map(|w| (w.address, w)).collect();
    let label = |a: &Address| -> String {
        match who.get(a) {
            Some(w) => format!(
                "worker {}{}",
                w.index,
                if w.faulty { " (faulty)" } else { "" }
            ),
            None => short(a),
        }
    };
    let mut cursor = mined.block;
    let mut step_txs: Vec<(String, B256)> = Vec::new();
    let mut committed: Vec<(Address, B256)> = Vec::new();
    let (mut vrf_requests, mut vrf_fulfilled) = (0u32, 0u32);
    let mut settled = false;
    let mut callback_seen = false;
    let mut tolerant_seen = false;
    let timeout = Duration::from_secs(args.timeout_s);
    let mut last_note = Instant::now();
    let sources = Sources::of(&deployment);
    while !(settled && callback_seen) {
        if request_started.elapsed() > timeout {
            let mut logs = String::new();
            for name in net.node_names() {
                logs.push_str(&format!("---- {name} ----\n{}\n", net.tail(&name, 15)));
            }
            let st = c.hub.taskState(task_id).call().await?;
            anyhow::bail!(
                "task {task_id} not settled within {} s ({} / {}); logs under {}\n{logs}",
                args.timeout_s,
                TaskStatus::from(st.status),
                WaitReason::from(st.reason),
                net.logs_dir.display()
            );
        }
        let head = provider.get_block_number().await?;
        if head >= cursor {
            for ev in sources.read(&provider, cursor, head, 2_000).await? {
                let task = ev.about_task();
                if task != Some(task_id) {
                    continue;
                }
                let txh = ev.tx_hash;
                let at = format!("block {:>4}  ", ev.block);
                match ev.event {
                    OracleEvent::Vrf(V::SeedRequested(e)) => {
                        vrf_requests += 1;
                        say.line(format!(
                            "{at}VRF seed requested (request id {}): the devnet VRF operator answers it",
                            short_u256(e.requestId)
                        ));
                    }
                    OracleEvent::Vrf(V::SeedFulfilled(e)) => {
                        vrf_fulfilled += 1;
                        step_txs.push(("VRF fulfilment (devnet operator)".into(), txh));
                        say.line(format!(
                            "{at}VRF seed fulfilled (request id {}): word {}",
                            short_u256(e.requestId),
                            short_hash(&e.seed)
                        ));
                    }
                    OracleEvent::Hub(H::WorkersDrawn(e)) => {
                        let ws: Vec<String> = e.workers.iter().map(&label).collect();
                        step_txs
                            .push(("draw (eager, as soon as the seed is available)".into(), txh));
                        say.line(format!(
                            "{at}draw: {} (seed {})",
                            ws.join(", "),
                            short_hash(&e.seed)
                        ));
                    }
                    OracleEvent::Registry(R::StakesLocked(e)) => {
                        let ws: Vec<String> = e.workers.iter().map(&label).collect();
                        say.line(format!(
                            "{at}stake locked: {} tokens of {}",
                            tok(e.amountEach),
                            ws.join(", ")
                        ));
                    }
                    OracleEvent::Hub(H::Committed(e)) => {
                        committed.push((e.worker, e.resultHash));
                        // A commit that found the task undrawn also drew it (same transaction).
                        match step_txs.iter_mut().find(|(_, h)| *h == txh) {
                            Some(s) => s.0 = "commit (also draws)".into(),
                            None => step_txs.push(("commit".into(), txh)),
                        }
                        say.line(format!(
                            "{at}commit: {} → result hash {}",
                            label(&e.worker),
                            short_hash(&e.resultHash)
                        ));
                    }
                    OracleEvent::Hub(H::ConsensusReached(e)) => {
                        let agree: Vec<String> = committed
                            .iter()
                            .filter(|(_, h)| *h == e.resultHash)
                            .map(|(a, _)| label(a))
                            .collect();
                        say.line(format!(
                            "{at}consensus on {} ({} of Q={q}: {})",
                            short_hash(&e.resultHash),
                            agree.len(),
                            agree.join(", ")
                        ));
                    }
                    OracleEvent::Hub(H::ResultRecorded(e)) => {
                        let dets =
                            <maskoracle_inference::Summary as SolValue>::abi_decode(&e.summary)
                                .map(|s| s.detections.len())
                                .unwrap_or(0);
                        say.line(format!(
                            "{at}result recorded: sha256 {}, status {}, {dets} detections, CID {}",
                            short_hash(&e.resultSha256),
                            status_name(e.status),
                            maskoracle_inference::canonical::cid_of_sha256(&e.resultSha256.0)
                        ));
                    }
                    OracleEvent::Hub(H::Revealed(e)) => {
                        step_txs.push(("reveal".into(), txh));
                        say.line(format!("{at}reveal: {}", label(&e.worker)));
                    }
                    OracleEvent::Hub(H::ReconciliationOpened(e)) => {
                        say.line(format!(
                            "{at}no Q equal result hashes ({}): the tolerant fallback opens, committers reveal their sketches",
                            WaitReason::from(e.why)
                        ));
                    }
                    OracleEvent::Hub(H::SketchRevealed(e)) => {
                        step_txs.push(("reveal sketch".into(), txh));
                        let entries = maskoracle_inference::sketch::Sketch::decode(&e.sketch)
                            .map_or(0, |s| s.detections.len());
                        say.line(format!(
                            "{at}sketch: {} ({} bytes, {entries} entries; result sha256 {})",
                            label(&e.worker),
                            e.sketch.len(),
                            short_hash(&e.resultSha256)
                        ));
                    }
                    OracleEvent::Hub(H::TaskSettledTolerant(e)) => {
                        tolerant_seen = true;
                        let ms: Vec<String> = e.members.iter().map(&label).collect();
                        let os: Vec<String> = e.slashedOutliers.iter().map(&label).collect();
                        say.line(format!(
                            "{at}settled within tolerance: representative {}, agreeing {} (Q={q}); outliers slashed on evidence: {}",
                            label(&e.representative),
                            ms.join(", "),
                            if os.is_empty() { "none".to_owned() } else { os.join(", ") }
                        ));
                    }
                    OracleEvent::Hub(H::TaskFinalized(e)) => {
                        settled = true;
                        if let Some(s) = step_txs.iter_mut().rev().find(|(_, h)| *h == txh) {
                            s.0 = "reveal (last: settles and calls back)".into();
                        } else if tolerant_seen {
                            step_txs.push(("settle tolerant (keeper; calls back)".into(), txh));
                        } else {
                            step_txs.push(("finalize".into(), txh));
                        }
                        let ws: Vec<String> = e.winners.iter().map(&label).collect();
                        say.line(format!(
                            "{at}finalized: winners {}; {} tokens reward each, {} tokens slashed in all ({} each to the winners), fee {} to the model publisher",
                            ws.join(", "),
                            tok(e.rewardEach),
                            tok(e.slashed),
                            tok(e.slashShareEach),
                            tok(e.fee)
                        ));
                    }
                    OracleEvent::Hub(H::TaskExpired(e)) => {
                        settled = true;
                        step_txs.push(("expire (keeper)".into(), txh));
                        say.line(format!(
                            "{at}EXPIRED ({}): {} tokens refunded to the requester, {} tokens slashed",
                            WaitReason::from(e.reason),
                            tok(e.refund),
                            tok(e.slashed)
                        ));
                    }
                    OracleEvent::Registry(R::StakesReleased(e)) => {
                        let slashed: Vec<String> = e
                            .workers
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| e.slashMask.bit(*i))
                            .map(|(_, a)| label(a))
                            .collect();
                        say.line(format!(
                            "{at}stakes released; slashed: {}",
                            if slashed.is_empty() {
                                "nobody".to_owned()
                            } else {
                                slashed.join(", ")
                            }
                        ));
                    }
                    OracleEvent::Hub(H::CallbackAttempted(e)) => {
                        callback_seen = true;
                        say.line(format!(
                            "{at}callback to {}: {}",
                            e.target,
                            CallbackOutcome::from(e.outcome)
                        ));
                    }
                    _ => {}
                }
            }
            cursor = head + 1;
        }
        if !settled && last_note.elapsed() > Duration::from_secs(10) {
            last_note = Instant::now();
            let st = c.hub.taskState(task_id).call().await?;
            say.line(format!(
                "… {} ({}), {} commits so far",
                TaskStatus::from(st.status),
                WaitReason::from(st.reason),
                committed.len()
            ));
        }
        if let Some((name, how)) = net.exited() {
            anyhow::bail!("{name} {how}:\n{}", net.tail(&name, 30));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let request_s = request_started.elapsed().as_secs_f64();
    for (label, h) in &step_txs {
        let g = provider
            .get_transaction_receipt(*h)
            .await?
            .map(|r| r.gas_used)
            .unwrap_or_default();
        gas.push(GasStep {
            step: label.clone(),
            txs: 1,
            gas: g,
        });
    }

    // 9. The outcome: audit, balances, delivery, files.
    let audit = crate::audit::rebuild(&c, mined.block, Some(task_id))
        .await?
        .into_iter()
        .next()
        .context("the task's events are missing")?;
    let delivery = c.consumer.delivery(task_id).call().await?;
    let (seg, segmentation, want) = expected.await??;
    // Exact path: the delivery is byte for byte the reference computed here. Tolerant path (the
    // workers' outputs were perturbed): the representative's sketch agrees with the reference's
    // under the model's registered rule.
    let within_tolerance = match (&audit.tolerant, c.models.toleranceOf(model_id).call().await) {
        (Some(o), Ok(t)) if t.set => audit
            .sketches
            .iter()
            .find(|s| s.worker == o.representative)
            .and_then(|s| maskoracle_inference::sketch::Sketch::decode(&s.sketch))
            .zip(maskoracle_inference::sketch::Sketch::decode(&want.sketch))
            .is_some_and(|(got, reference)| {
                maskoracle_inference::sketch::compare(
                    &reference,
                    &got,
                    &crate::worker::tolerant::tolerance_of(&t.tolerance),
                )
                .is_ok()
            }),
        _ => false,
    };
    let honest_delivered = delivery.delivered
        && delivery.finalized
        && ((delivery.resultSha256 == want.result_sha256
            && delivery.summary.to_vec() == want.summary_bytes)
            || within_tolerance);
    let mut files = BTreeMap::new();
    files.insert("deployment", record.display().to_string());
    if let (Some(sha), Some(cid)) = (audit.result_sha256, &audit.result_cid) {
        let fetched = async {
            let cid = crate::storage::cid::parse_cid(cid)?;
            let b = storage
                .get(&cid, crate::storage::cid::MAX_RESULT_SIZE as u64)
                .await?;
            let got: [u8; 32] =
                sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &b))
                    .into();
            anyhow::ensure!(
                got == sha.0,
                "the stored result does not hash to the on-chain sha256"
            );
            anyhow::Ok(b)
        }
        .await;
        match fetched {
            Ok(bytes) => {
                let p = out.join("result.bin");
                std::fs::write(&p, &bytes)?;
                files.insert("result", p.display().to_string());
                let working = segmentation.working.clone();
                match (
                    working,
                    maskoracle_inference::CanonicalResult::parse(&bytes),
                ) {
                    (Some(working), Ok(result)) => {
                        let png = maskoracle_inference::overlay::render(&working, &result, |l| {
                            seg.model().label_name(l)
                        });
                        let p = out.join("overlay.png");
                        png.save(&p)?;
                        files.insert("overlay", p.display().to_string());
                    }
                    (_, Err(e)) => say.line(format!(
                        "no overlay: the delivered result is not a valid canonical result ({e})"
                    )),
                    (None, _) => say.line("no overlay: the image did not decode"),
                }
            }
            Err(e) => say.line(format!("cannot fetch the result from IPFS: {e:#}")),
        }
    }

    let winners: Vec<Address> = audit
        .settlement
        .as_ref()
        .map(|s| s.winners.clone())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for w in &members {
        let info = c.workers.workerInfo(w.address).call().await?;
        let stake_after = U256::from(info.stake);
        let bal = c.hub.balanceOf(w.address).call().await?;
        let credited = bal - balance_before[&w.address];
        let commit = audit
            .commits
            .iter()
            .find(|(a, _)| *a == w.address)
            .map(|(_, h)| *h);
        rows.push(json!({
            "index": w.index,
            "address": w.address.to_string(),
            "faulty": w.faulty,
            "drawn": audit.drawn.contains(&w.address),
            "committed": commit.map(|h| h.to_string()),
            "with_consensus": commit.is_some() && commit == audit.consensus,
            "revealed": audit.revealed.contains(&w.address),
            "winner": winners.contains(&w.address),
            "slashed": audit.slashed_workers.contains(&w.address),
            "stake_before": stake_before[&w.address].to_string(),
            "stake_after": stake_after.to_string(),
            "stake_change": format!("-{}", stake_before[&w.address] - stake_after.min(stake_before[&w.address])),
            "credited": credited.to_string(),
            "locked_after": info.locked.to_string(),
        }));
    }
    let publisher_credit = c.hub.balanceOf(publisher).call().await? - balance_before[&publisher];
    let consumer_after = c.hub.balanceOf(consumer).call().await?;
    let summary = <maskoracle_inference::Summary as SolValue>::abi_decode(&delivery.summary).ok();
    let outcome = audit.outcome;
    let callback = audit
        .callback
        .map_or_else(|| "-".to_owned(), |c| c.name().to_owned());
    let faulty_slashed = members
        .iter()
        .filter(|w| w.faulty)
        .all(|w| audit.slashed_workers.contains(&w.address));
    let honest_slashed: Vec<u32> = members
        .iter()
        .filter(|w| !w.faulty && audit.slashed_workers.contains(&w.address))
        .map(|w| w.index)
        .collect();
    let verdict = if outcome != TaskStatus::Finalized {
        format!("the task did not finalize ({outcome}): the requester was refunded")
    } else if honest_delivered {
        if k == 0 {
            "the honest result was delivered to the consumer".to_owned()
        } else if faulty_slashed {
            format!("the honest majority won: the honest result was delivered and the {k} faulty worker(s) were slashed")
        } else {
            "the honest result was delivered (not every faulty worker was slashed)".to_owned()
        }
    } else {
        format!(
            "the faulty workers held the quorum ({k} of {n}, Q={q}): their WRONG result was delivered to the consumer and the honest workers {honest_slashed:?} were slashed. Majority consensus is only as good as its honest majority."
        )
    };

    let report = json!({
        "ok": outcome == TaskStatus::Finalized && audit.callback == Some(CallbackOutcome::Succeeded) && delivery.delivered && audit.problems.is_empty(),
        "task_id": task_id.to_string(),
        "outcome": outcome,
        "callback": callback,
        "honest_result_delivered": honest_delivered,
        "settlement": if audit.tolerant.is_some() {
            "tolerant"
        } else if outcome == TaskStatus::Finalized {
            "exact"
        } else {
            "none"
        },
        "noise": args.noise,
        "verdict": verdict,
        "workers": n,
        "faulty": k,
        "replication": r,
        "quorum": q,
        "image": image.display().to_string(),
        "input": input,
        "model_id": model_id,
        "delivered": {
            "delivered": delivery.delivered,
            "finalized": delivery.finalized,
            "result_sha256": delivery.resultSha256.to_string(),
            "summary_hex": alloy::primitives::hex::encode_prefixed(&delivery.summary),
            "summary": summary.as_ref().map(|s| json!({
                "status": s.status, "width": s.width, "height": s.height,
                "detections": s.detections.iter().map(|d| json!({
                    "label": d.label, "name": seg.model().label_name(d.label), "score_bps": d.scoreBps,
                    "box": [d.x0, d.y0, d.x1, d.y1], "mask_area": d.maskArea
                })).collect::<Vec<_>>(),
            })),
        },
        "expected": {
            "result_sha256": want.result_sha256.to_string(),
            "summary_hex": alloy::primitives::hex::encode_prefixed(&want.summary_bytes),
            "cid": want.cid,
        },
        "result_cid": audit.result_cid,
        "consensus": audit.consensus.map(|h| h.to_string()),
        "winners": winners.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "slashed": audit.slashed_workers.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "task_stake": task_stake.to_string(),
        "reward": reward.to_string(),
        "fee": U256::from(terms.fee).to_string(),
        "publisher_credit": publisher_credit.to_string(),
        "consumer_balance_before": consumer_before.to_string(),
        "consumer_balance_after": consumer_after.to_string(),
        "worker_results": rows,
        "audit_problems": audit.problems,
        "gas": gas,
        "seconds": {"setup": setup_s, "request_to_callback": request_s, "total": say.t0.elapsed().as_secs_f64()},
        "randomness": args.randomness.name(),
        "vrf": {"seed_requests": vrf_requests, "seeds_fulfilled": vrf_fulfilled},
        "rpc_url": rpc,
        "kubo_url": kubo,
        "contracts": deployment,
        "files": files,
    });
    let summary_path = out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_vec_pretty(&report)?)?;

    // 10. Print it.
    say.plain("");
    say.plain(format!(
        "task {task_id}: {} in {request_s:.1} s from the request to the callback ({callback})",
        report["outcome"].as_str().unwrap_or("?")
    ));
    say.plain(format!("  {verdict}"));
    say.plain("");
    say.plain(format!(
        "  {:<7} {:<44} {:<7} {:<6} {:<10} {:<8} {:<7} {:>10} {:>10}",
        "worker",
        "address",
        "role",
        "drawn",
        "commit",
        "revealed",
        "slashed",
        "stake Δ",
        "credited"
    ));
    for (w, row) in members.iter().zip(&rows) {
        let commit = match (
            row["committed"].is_string(),
            row["with_consensus"].as_bool().unwrap_or(false),
        ) {
            (false, _) => "-",
            (true, true) => "consensus",
            (true, false) if audit.consensus.is_none() => "committed",
            (true, false) => "DISSENT",
        };
        let yes = |b: bool| if b { "yes" } else { "no" };
        let delta = stake_before[&w.address]
            - U256::from(c.workers.workerInfo(w.address).call().await?.stake)
                .min(stake_before[&w.address]);
        say.plain(format!(
            "  {:<7} {:<44} {:<7} {:<6} {:<10} {:<8} {:<7} {:>10} {:>10}",
            w.index,
            w.address.to_string(),
            if w.faulty { "faulty" } else { "honest" },
            yes(row["drawn"].as_bool().unwrap_or(false)),
            commit,
            yes(row["revealed"].as_bool().unwrap_or(false)),
            yes(row["slashed"].as_bool().unwrap_or(false)),
            if delta.is_zero() {
                "0".to_owned()
            } else {
                format!("-{}", tok(delta))
            },
            format!(
                "+{}",
                tok(
                    U256::from_str_radix(row["credited"].as_str().unwrap_or("0"), 10)
                        .unwrap_or_default()
                )
            ),
        ));
    }
    say.plain("  commit: consensus = committed the consensus hash, DISSENT = another hash, - = no commit (commits closed first: neither paid nor slashed)");
    say.plain(format!("  stake Δ: bonded stake lost; credited: hub balance gained (tokens). Model publisher {publisher} credited +{} (fee)", tok(publisher_credit)));
    say.plain("");
    if let Some(s) = &summary {
        say.plain(format!(
            "  delivered to ExampleConsumer: status {}, {}x{}, {} detections",
            status_name(s.status),
            s.width,
            s.height,
            s.detections.len()
        ));
        for d in &s.detections {
            say.plain(format!(
                "    {:<9} {:>5.1}%  box [{}, {}, {}, {})  mask {} px",
                seg.model().label_name(d.label),
                f64::from(d.scoreBps) / 100.0,
                d.x0,
                d.y0,
                d.x1,
                d.y1,
                d.maskArea
            ));
        }
        if honest_delivered && within_tolerance {
            say.plain("  the delivered result agrees with the one computed here (without noise) within the model's tolerance (their sketches compared)");
        } else if honest_delivered {
            say.plain("  the delivered result is exactly the one computed here from the image (result sha256 and summary)");
        } else {
            say.plain(format!(
                "  the delivered result is NOT the one computed here from the image: result sha256 {} (honest: {})",
                delivery.resultSha256, want.result_sha256
            ));
            if delivery.summary.to_vec() == want.summary_bytes {
                say.plain("  (the summary looks right: the faulty switch appends a marker to the canonical result, so the result bytes, sha256 and CID are not the model's output)");
            }
        }
    } else {
        say.plain(format!(
            "  delivered to ExampleConsumer: delivered={} finalized={} (no summary)",
            delivery.delivered, delivery.finalized
        ));
    }
    if let Some(cid) = &audit.result_cid {
        say.plain(format!("  result CID   ipfs://{cid}"));
    }
    for (name, v) in &files {
        say.plain(format!("  {name:<12} {v}"));
    }
    say.plain(format!("  summary      {}", summary_path.display()));
    if !audit.problems.is_empty() {
        say.plain(format!("  AUDIT PROBLEMS: {:?}", audit.problems));
    } else {
        say.plain("  audit        the settlement checks out (maskoracle audit)");
    }
    say.plain("");
    say.plain("  gas per step:");
    for g in &gas {
        say.plain(format!("    {:<52} {:>3} tx {:>10}", g.step, g.txs, g.gas));
    }
    say.plain(format!(
        "  setup {setup_s:.1} s, request → callback {request_s:.1} s, total {:.1} s",
        say.t0.elapsed().as_secs_f64()
    ));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }

    if args.keep {
        let data = out.join("nodes/client");
        say.plain("");
        say.plain("The network keeps running (Ctrl-C stops it). In another shell:");
        say.plain(format!(
            "  alias maskoracle={}",
            std::env::current_exe()?.display()
        ));
        say.plain(format!(
            "  export {}",
            keep_env(&rpc, &record, &kubo, &data)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        say.plain(format!(
            "  (every maskoracle command reads these, `maskoracle ipfs add FILE` included: it then stores into this devnet's IPFS node, {kubo})"
        ));
        say.plain(format!(
            "  maskoracle request --dev-account 0 --image {} --model {model_id} --replication {r} --quorum {q} --via-consumer --wait",
            root.join("assets/samples/scene_4242_0002.png").display()
        ));
        say.plain("  maskoracle audit");
        say.plain(format!(
            "  cast call {consumer} 'lastTaskId()(uint256)' --rpc-url {rpc}"
        ));
        say.plain(format!(
            "  cast call {hub} 'taskState(uint256)(uint8,uint8)' {task_id} --rpc-url {rpc}"
        ));
        say.plain(format!(
            "  cast call {hub} 'balanceOf(address)(uint256)' {} --rpc-url {rpc}",
            members[0].address
        ));
        say.plain("  keys (anvil's well-known dev accounts, each holding 1,000,000 test tokens; devnet only):");
        for (index, role) in keep_accounts(n) {
            let key = crate::keys::dev_signer(index, 31337)?;
            say.plain(format!(
                "    account {index} {} key 0x{}  {role}",
                key.address(),
                alloy::primitives::hex::encode(key.credential().to_bytes())
            ));
        }
        say.plain(format!("  contracts: TaskHub {hub}, WorkerRegistry {}, ModelRegistry {}, ExampleConsumer {consumer}, token {}", deployment.worker_registry, deployment.model_registry, deployment.token));
        say.plain(format!("  logs: {}", net.logs_dir.display()));
        say.plain(format!(
            "  web app: {}",
            crate::ui::serve_local(&rpc, &net.c, &net.storage).await?
        ));
        kept.store(true, Ordering::SeqCst);
        // Runs until SIGINT/SIGTERM (see `run`), which drops the network.
        std::future::pending::<()>().await;
    }
    drop(net);
    Ok(())
}
