//! Load run: many requests through the example consumer against five workers on the devnet set-up
//! (anvil with 0.25 s blocks, the real contracts, one embedded IPFS node behind the Kubo-RPC
//! facade, the shipped model; set up by `maskoracle::localnet::LocalNet`).
//!
//! Workers are dev accounts 1..=5 (each also keeps: finalizes and expires). Account 0 owns the
//! example consumer and sends every request through `ExampleConsumer.requestSegmentation`
//! (R = 3, Q = 2, 1,200 s commit and reveal windows, 2,000,000 gas for the callback). Inputs
//! rotate over the bundled samples and test scenes (published once) and, every 20th request, a
//! hostile input (a text file, a truncated PNG) whose agreed result is an error status.
//!
//! Two phases of `LOAD_REQUESTS` (default 200) requests each:
//! - **paced**: through the node's signer task (`TxSender`), which waits for each receipt before
//!   the next transaction: about 4 requests a second at 0.25 s blocks, the rate one account
//!   can sustain;
//! - **burst**: all requests handed to anvil at once (explicit nonces, no waiting), so they are
//!   mined within a few blocks and the workers face the whole backlog.
//!
//! Latency is request -> callback in wall-clock time, both ends seen by the same log poller
//! (every 200 ms): the `TaskRequested` log of the task, then its `CallbackAttempted` log; the same
//! figure in blocks (callback block - request block, 0.25 s each) is printed beside it. The
//! baseline is the same measure for single requests on the idle network, taken first in the same
//! run (after one warm-up request that makes every worker fetch and load the model). Throughput is
//! terminal tasks / minutes from the first request's log to the last terminal log seen.
//!
//! Run: `make bench` (all benchmarks) or `cargo bench -p maskoracle --bench load` (add
//! `--profile dev` for a debug build). `LOAD_REQUESTS`, `LOAD_PHASES` (default `paced,burst`),
//! `LOAD_DEADLINE_S` (default 2400: the longest wait for a phase after its last request),
//! `LOAD_STAKE` (tokens each worker stakes, default 1,000: at 100 per commit a worker holds at
//! most 10 open tasks), `LOAD_KEEP_NET` (a file: keep the network up after the run for an outside audit, its settings
//! written there, until SIGINT),
//! `LOAD_CALLBACK_GAS` and `LOAD_KEEP_LOGS` (a folder to copy the worker logs to) change the run.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use maskoracle::audit::TaskAudit;
use maskoracle::bindings::hub::TaskHub::TaskHubEvents as H;
use maskoracle::bindings::{ExampleConsumer, TaskHub};
use maskoracle::chain::{tokens, TxSender, TxSettings};
use maskoracle::events::{CallbackOutcome, OracleEvent, Sources, TaskStatus, WaitReason};
use maskoracle::localnet::{LocalNet, Mining};

type Net = LocalNet;

/// Workspace root.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A bundled test scene.
fn scene(n: u32) -> std::path::PathBuf {
    root().join(format!("inference/tests/data/scenes/scene_9001_{n:04}.png"))
}

const WORKERS: u32 = 5;
const BASELINE_RUNS: usize = 5;
const WINDOW_S: u32 = 1_200;
const POLL: Duration = Duration::from_millis(200);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Gas for the consumer's callback: `LOAD_CALLBACK_GAS`, default 2,000,000 (the devnet's 500,000
/// is not enough for the example consumer to store the largest summaries of the bundled scenes).
fn callback_gas() -> u32 {
    env_or("LOAD_CALLBACK_GAS", 2_000_000) as u32
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// What the log poller saw of a task: when (and in which block) it was requested, called back
/// (with the outcome code) and settled (finalized or expired).
#[derive(Default, Clone, Copy)]
struct Seen {
    requested: Option<(Instant, u64)>,
    callback: Option<(Instant, u64, CallbackOutcome)>,
    terminal: Option<(Instant, bool)>,
}

/// Follows the hub's logs.
struct Poller {
    cursor: u64,
    seen: HashMap<U256, Seen>,
}

impl Poller {
    async fn new(net: &Net) -> Self {
        Poller {
            cursor: net.c.provider.get_block_number().await.expect("head") + 1,
            seen: HashMap::new(),
        }
    }

    /// Reads the request, callback and settlement logs from the cursor to the head.
    async fn poll(&mut self, net: &Net) {
        let Ok(head) = net.c.provider.get_block_number().await else {
            return;
        };
        if head < self.cursor {
            return;
        }
        let hub = Sources {
            hub: net.c.deployment.task_hub,
            ..Sources::default()
        };
        let Ok(events) = hub.read(&net.c.provider, self.cursor, head, 2_000).await else {
            return;
        };
        let now = Instant::now();
        for ev in events {
            let Some(id) = ev.task_id() else {
                continue;
            };
            let block = ev.block;
            let OracleEvent::Hub(e) = ev.event else {
                continue;
            };
            let s = self.seen.entry(id).or_default();
            match e {
                H::TaskRequested(_) => {
                    s.requested.get_or_insert((now, block));
                }
                H::CallbackAttempted(c) => {
                    s.callback
                        .get_or_insert((now, block, CallbackOutcome::from(c.outcome)));
                }
                H::TaskFinalized(_) => {
                    s.terminal.get_or_insert((now, true));
                }
                H::TaskExpired(_) => {
                    s.terminal.get_or_insert((now, false));
                }
                _ => {}
            }
        }
        self.cursor = head + 1;
    }

    /// Request -> callback of `id`, in seconds and blocks, once both were seen.
    fn latency(&self, id: &U256) -> Option<(f64, u64, CallbackOutcome)> {
        let s = self.seen.get(id)?;
        let ((r, rb), (c, cb, outcome)) = (s.requested?, s.callback?);
        Some((
            c.saturating_duration_since(r).as_secs_f64(),
            cb.saturating_sub(rb),
            outcome,
        ))
    }
}

/// The consumer's request parameters for `input`.
fn params(
    model: u32,
    input: &str,
    reward: U256,
) -> maskoracle::bindings::consumer::ITaskHub::RequestParams {
    maskoracle::bindings::consumer::ITaskHub::RequestParams {
        modelId: model,
        replication: 3,
        quorum: 2,
        reward: alloy::primitives::Uint::<96, 2>::from(u128::try_from(reward).expect("reward")),
        maxFee: alloy::primitives::Uint::<96, 2>::MAX,
        commitWindow: WINDOW_S,
        revealWindow: WINDOW_S,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(callback_gas()),
        input: input.to_owned(),
        params: Default::default(),
    }
}

fn request_call(model: u32, input: &str, reward: U256) -> Vec<u8> {
    ExampleConsumer::requestSegmentationCall {
        p: params(model, input, reward),
    }
    .abi_encode()
}

/// Sends one request on the idle network and waits for its callback; returns seconds and blocks.
async fn single(net: &Net, tx: &TxSender, input: &str, reward: U256) -> (f64, u64) {
    let mut poller = Poller::new(net).await;
    let consumer = net.c.deployment.example_consumer;
    let mined = tx
        .send(
            "requestSegmentation",
            consumer,
            request_call(net.model, input, reward),
        )
        .await
        .expect("requestSegmentation");
    let id = mined
        .receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<TaskHub::TaskRequested>().ok())
        .map(|l| l.inner.data.taskId)
        .expect("TaskRequested");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        poller.poll(net).await;
        if let Some((s, b, _)) = poller.latency(&id) {
            return (s, b);
        }
        assert!(
            Instant::now() < deadline,
            "no callback for task {id} within 300 s\n{}",
            net.logs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// How a phase hands its requests to the chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Paced,
    Burst,
}

/// Sends every request of a phase; returns when the last one is mined (paced) or accepted by
/// anvil (burst).
async fn submit(mode: Mode, rpc: String, tx: TxSender, calls: Vec<Vec<u8>>, consumer: Address) {
    match mode {
        Mode::Paced => {
            for call in calls {
                tx.send("requestSegmentation", consumer, call)
                    .await
                    .expect("requestSegmentation");
            }
        }
        Mode::Burst => {
            let signer = maskoracle::keys::dev_signer(0, 31337).expect("key");
            let from = signer.address();
            let p = ProviderBuilder::new()
                .wallet(EthereumWallet::from(signer))
                .connect_client(maskoracle::chain::rpc_client(&rpc).expect("rpc client"));
            let nonce = p
                .get_transaction_count(from)
                .pending()
                .await
                .expect("nonce");
            let probe = TransactionRequest::default()
                .with_from(from)
                .with_to(consumer)
                .with_input(calls[0].clone());
            let gas = p.estimate_gas(probe).await.expect("estimate") * 3 / 2;
            for (k, call) in calls.into_iter().enumerate() {
                let t = TransactionRequest::default()
                    .with_from(from)
                    .with_to(consumer)
                    .with_input(call)
                    .with_nonce(nonce + k as u64)
                    .with_gas_limit(gas);
                let _pending = p.send_transaction(t).await.expect("send");
            }
        }
    }
}

/// Figures of one phase.
struct Phase {
    name: &'static str,
    requested: usize,
    finalized: usize,
    failed: usize,
    stuck: Vec<(U256, String)>,
    submit_s: f64,
    span_min: f64,
    lat: Vec<f64>,
    lat_blocks: Vec<f64>,
    callbacks: BTreeMap<&'static str, usize>,
    ids: Vec<U256>,
}

async fn run_phase(
    net: &Net,
    mode: Mode,
    tx: &TxSender,
    inputs: &[String],
    reward: U256,
    deadline_s: u64,
) -> Phase {
    let name = match mode {
        Mode::Paced => "paced",
        Mode::Burst => "burst",
    };
    let consumer = net.c.deployment.example_consumer;
    let before = net.last_task().await.expect("taskCount");
    let n = inputs.len();
    let ids: Vec<U256> = (1..=n as u64).map(|k| before + U256::from(k)).collect();
    let calls: Vec<Vec<u8>> = inputs
        .iter()
        .map(|i| request_call(net.model, i, reward))
        .collect();
    let mut poller = Poller::new(net).await;
    eprintln!("{name}: sending {n} requests");
    let t0 = Instant::now();
    let mut submitter = Some(tokio::spawn(submit(
        mode,
        net.rpc.clone(),
        tx.clone(),
        calls,
        consumer,
    )));
    let mut submitted: Option<Instant> = None;
    let mut last_note = Instant::now();
    loop {
        poller.poll(net).await;
        if submitter.as_ref().is_some_and(|h| h.is_finished()) {
            submitter.take().expect("handle").await.expect("submitter");
            submitted = Some(Instant::now());
            eprintln!(
                "{name}: all {n} requests sent after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
        }
        let requested = ids
            .iter()
            .filter(|id| poller.seen.get(id).is_some_and(|s| s.requested.is_some()))
            .count();
        let done = ids
            .iter()
            .filter(|id| poller.seen.get(id).is_some_and(|s| s.terminal.is_some()))
            .count();
        if submitted.is_some() && done == n {
            break;
        }
        if submitted.is_some_and(|at| at.elapsed() > Duration::from_secs(deadline_s)) {
            eprintln!("{name}: deadline, {deadline_s} s after the last request");
            break;
        }
        if last_note.elapsed() > Duration::from_secs(10) {
            last_note = Instant::now();
            eprintln!(
                "{name}: {:>6.1} s: {requested} requested, {done} terminal",
                t0.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let mut p = Phase {
        name,
        requested: 0,
        finalized: 0,
        failed: 0,
        stuck: Vec::new(),
        submit_s: submitted
            .map(|t| t.duration_since(t0).as_secs_f64())
            .unwrap_or(f64::NAN),
        span_min: 0.0,
        lat: Vec::new(),
        lat_blocks: Vec::new(),
        callbacks: BTreeMap::new(),
        ids: ids.clone(),
    };
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for id in &ids {
        let s = poller.seen.get(id).copied().unwrap_or_default();
        if let Some((t, _)) = s.requested {
            p.requested += 1;
            first = Some(first.map_or(t, |f| f.min(t)));
        }
        match s.terminal {
            Some((t, fin)) => {
                if fin {
                    p.finalized += 1;
                } else {
                    p.failed += 1;
                }
                last = Some(last.map_or(t, |l| l.max(t)));
            }
            None => {
                let st = net.c.hub.taskState(*id).call().await;
                let (s, r) = st
                    .map(|s| (TaskStatus::from(s.status), WaitReason::from(s.reason)))
                    .unwrap_or_default();
                p.stuck.push((*id, format!("{s} / {r}")));
            }
        }
        if let Some((s, b, outcome)) = poller.latency(id) {
            p.lat.push(s);
            p.lat_blocks.push(b as f64);
            *p.callbacks.entry(outcome.name()).or_default() += 1;
        }
    }
    if let (Some(f), Some(l)) = (first, last) {
        p.span_min = l.saturating_duration_since(f).as_secs_f64() / 60.0;
    }
    p.lat = sorted(p.lat);
    p.lat_blocks = sorted(p.lat_blocks);
    p
}

fn print_phase(p: &Phase, baseline: f64, audit: &[TaskAudit], names: &HashMap<String, String>) {
    let tasks: Vec<&TaskAudit> = audit
        .iter()
        .filter(|t| p.ids.contains(&t.task_id))
        .collect();
    let error_results = tasks
        .iter()
        .filter(|t| t.result_status.is_some_and(|s| s != 0))
        .count();
    let problems: usize = tasks.iter().map(|t| t.problems.len()).sum();
    let terminal = p.finalized + p.failed;
    println!("  {} phase:", p.name);
    println!(
        "    requested {}  finalized {}  failed {}  stuck {}  ({error_results} agreed error results)",
        p.requested,
        p.finalized,
        p.failed,
        p.stuck.len()
    );
    println!(
        "    requests sent over {:.1} s; {terminal} terminal tasks in {:.2} min from the first request to the last settlement -> {:.1} tasks/min",
        p.submit_s,
        p.span_min,
        terminal as f64 / p.span_min
    );
    println!(
        "    request -> callback ({} callbacks {:?}): p50 {:.2} s  p95 {:.2} s  max {:.2} s   (blocks: p50 {:.0}  p95 {:.0}  max {:.0})",
        p.lat.len(),
        p.callbacks,
        percentile(&p.lat, 0.5),
        percentile(&p.lat, 0.95),
        p.lat.last().copied().unwrap_or(f64::NAN),
        percentile(&p.lat_blocks, 0.5),
        percentile(&p.lat_blocks, 0.95),
        p.lat_blocks.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "    p50 / idle baseline = {:.2}x   p95 / idle baseline = {:.2}x",
        percentile(&p.lat, 0.5) / baseline,
        percentile(&p.lat, 0.95) / baseline
    );
    println!(
        "    audit: {} of {} tasks rebuilt, {problems} problems",
        tasks.len(),
        p.ids.len()
    );
    for t in &tasks {
        for pr in &t.problems {
            println!("      task {}: {pr}", t.task_id);
        }
        if t.callback.is_some_and(|c| c != CallbackOutcome::Succeeded) {
            println!(
                "      callback {}: task {}, input {} ({}), status {:?}, summary {} bytes",
                t.callback.unwrap_or_default(),
                t.task_id,
                t.input,
                names.get(&t.input).map(String::as_str).unwrap_or("?"),
                t.result_status,
                t.summary.as_ref().map(Vec::len).unwrap_or_default()
            );
        }
    }
    for (id, why) in &p.stuck {
        println!("    STUCK task {id}: {why}");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests = env_or("LOAD_REQUESTS", 200) as usize;
    let deadline_s = env_or("LOAD_DEADLINE_S", 2_400);
    let phases: Vec<Mode> = std::env::var("LOAD_PHASES")
        .unwrap_or_else(|_| "paced,burst".into())
        .split(',')
        .filter_map(|p| match p.trim() {
            "paced" => Some(Mode::Paced),
            "burst" => Some(Mode::Burst),
            _ => None,
        })
        .collect();
    let t_setup = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = LocalNet::builder(dir.path())
        .root(root())
        .mining(Mining::Interval(0.25))
        .model(root().join("inference/models/shapes-maskrcnn"))
        .workers(WORKERS)
        .stake(tokens(env_or(
            "LOAD_STAKE",
            maskoracle::localnet::WORKER_STAKE,
        )))
        .binary(env!("CARGO_BIN_EXE_maskoracle"))
        .build()
        .await
        .expect("local network");
    for i in 1..=WORKERS {
        net.spawn_worker(i, &[]).expect("spawn worker");
    }
    let tx = TxSender::spawn(
        &net.rpc,
        maskoracle::keys::dev_signer(0, 31337).expect("key"),
        TxSettings::default(),
    )
    .expect("signer");
    let consumer = net.c.deployment.example_consumer;
    let reward = tokens(1);
    let fee = U256::from(
        net.c
            .models
            .requestTerms(net.model)
            .call()
            .await
            .expect("terms")
            .fee,
    );
    let funds = (reward + fee) * U256::from(requests * phases.len() + BASELINE_RUNS + 1);
    tx.deposit(&net.c.deployment, consumer, funds)
        .await
        .expect("fund the consumer");

    // Inputs, published once: 3 samples, 8 test scenes; 2 hostile inputs.
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    for n in 1..=3u32 {
        let p = root().join(format!("assets/samples/scene_4242_{n:04}.png"));
        let name = format!("scene_4242_{n:04}.png");
        images.push((name, std::fs::read(p).expect("sample")));
    }
    for n in 0..8u32 {
        let name = format!("scene_9001_{n:04}.png");
        images.push((name, std::fs::read(scene(n)).expect("scene")));
    }
    let png = images[0].1.clone();
    let hostile: Vec<(String, Vec<u8>)> = vec![
        (
            "text file".into(),
            b"this is a text file, not an image".to_vec(),
        ),
        ("truncated PNG".into(), png[..png.len().min(200)].to_vec()),
    ];
    let mut names: HashMap<String, String> = HashMap::new();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (hostile, list) in [(false, images), (true, hostile)] {
        for (name, bytes) in list {
            let cid = net
                .storage
                .put(bytes.into(), Default::default())
                .await
                .expect("put");
            let uri = format!("ipfs://{cid}");
            names.insert(uri.clone(), name);
            if hostile {
                bad.push(uri);
            } else {
                good.push(uri);
            }
        }
    }
    let inputs: Vec<String> = (0..requests)
        .map(|k| {
            if k % 20 == 19 {
                bad[(k / 20) % bad.len()].clone()
            } else {
                good[k % good.len()].clone()
            }
        })
        .collect();
    let hostile_count = inputs.iter().filter(|i| bad.contains(i)).count();
    let setup_s = t_setup.elapsed().as_secs_f64();
    eprintln!("set-up done in {setup_s:.1} s; warm-up request (model fetch and load)");

    // Warm-up (every worker loads the model), then the idle-network baseline.
    let (warm_s, _) = single(&net, &tx, &good[0], reward).await;
    eprintln!("warm-up: callback after {warm_s:.2} s");
    let mut base = Vec::new();
    let mut base_blocks = Vec::new();
    for k in 0..BASELINE_RUNS {
        let (s, b) = single(&net, &tx, &good[(k + 1) % good.len()], reward).await;
        eprintln!("baseline {}: callback after {s:.2} s ({b} blocks)", k + 1);
        base.push(s);
        base_blocks.push(b as f64);
    }
    let (base, base_blocks) = (sorted(base), sorted(base_blocks));
    let baseline = percentile(&base, 0.5);
    let first_block = net.c.provider.get_block_number().await.expect("head");

    let mut results = Vec::new();
    for mode in &phases {
        results.push(run_phase(&net, *mode, &tx, &inputs, reward, deadline_s).await);
    }

    let audit = maskoracle::audit::rebuild(&net.c, first_block, None)
        .await
        .expect("audit");
    let all: Vec<U256> = results.iter().flat_map(|p| p.ids.clone()).collect();
    let audited: Vec<&TaskAudit> = audit.iter().filter(|t| all.contains(&t.task_id)).collect();
    let problems: usize = audited.iter().map(|t| t.problems.len()).sum();
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut slashed = 0usize;
    let mut drawn: BTreeMap<Address, usize> = BTreeMap::new();
    for t in &audited {
        *outcomes.entry(t.outcome.name()).or_default() += 1;
        slashed += t.slashed_workers.len();
        for w in &t.drawn {
            *drawn.entry(*w).or_default() += 1;
        }
    }

    println!(
        "load run: {WORKERS} workers, R=3 Q=2, anvil 0.25 s blocks, {requests} requests per phase through ExampleConsumer ({hostile_count} hostile), callback gas {}",
        callback_gas()
    );
    println!(
        "  set-up {setup_s:.1} s; warm-up request {warm_s:.2} s (model fetch and load, not counted)"
    );
    println!(
        "  idle baseline ({BASELINE_RUNS} single requests, request -> callback): median {baseline:.2} s (min {:.2}, max {:.2}; median {:.0} blocks)",
        base.first().copied().unwrap_or(f64::NAN),
        base.last().copied().unwrap_or(f64::NAN),
        percentile(&base_blocks, 0.5)
    );
    for p in &results {
        print_phase(p, baseline, &audit, &names);
    }
    println!(
        "  audit over all {} load tasks: outcomes {outcomes:?}, {slashed} slashings, {problems} problems -> {}",
        audited.len(),
        if problems == 0 && audited.len() == all.len() {
            "every settlement checks out"
        } else {
            "PROBLEMS FOUND"
        }
    );
    println!(
        "  tasks drawn per worker: {:?}",
        drawn.values().collect::<Vec<_>>()
    );
    for i in 1..=WORKERS {
        let log = std::fs::read_to_string(net.worker_log(i)).unwrap_or_default();
        let count = |s: &str| log.lines().filter(|l| l.contains(s)).count();
        let failed = |s: &str| {
            log.lines()
                .filter(|l| l.contains("maskoracle::tx: transaction failed") && l.contains(s))
                .count()
        };
        println!(
            "  worker {i} log: {} WARN ({} transactions refused before sending, {} mined but reverted), {} ERROR, {} panics",
            count(" WARN "),
            failed("reverts with"),
            failed("but reverted (tx"),
            count(" ERROR "),
            log.matches("panicked").count()
        );
    }
    let stuck: usize = results.iter().map(|p| p.stuck.len()).sum();
    if stuck > 0 {
        println!("{}", net.logs());
    }
    if let Ok(dir) = std::env::var("LOAD_KEEP_LOGS") {
        let _ = std::fs::create_dir_all(&dir);
        for i in 1..=WORKERS {
            let to = std::path::Path::new(&dir).join(format!("worker{i}.log"));
            let _ = std::fs::copy(net.worker_log(i), to);
        }
    }
    let ok = stuck == 0 && problems == 0 && audited.len() == all.len();
    println!("  -> {}", if ok { "OK" } else { "NOT OK" });
    if let Ok(path) = std::env::var("LOAD_KEEP_NET") {
        // Keep the network (anvil, the IPFS node behind its Kubo facade, the workers) for an
        // audit from outside: the settings a `maskoracle` command needs go to this file.
        let env = format!(
            "export MASKORACLE_RPC_URL={}\nexport MASKORACLE_DEPLOYMENT={}\nexport MASKORACLE_IPFS__BACKEND=kubo\nexport MASKORACLE_IPFS__KUBO_URL={}\nexport MASKORACLE_DATA_DIR={}\nexport LOAD_FIRST_BLOCK={first_block}\n",
            net.rpc,
            net.record.display(),
            net.kubo,
            net.data_dir.join("auditor").display(),
        );
        std::fs::write(&path, env).expect("LOAD_KEEP_NET file");
        eprintln!("network kept: settings in {path}; Ctrl-C (SIGINT) ends the run");
        let _ = tokio::signal::ctrl_c().await;
    }
    drop(net);
    if !ok {
        std::process::exit(1);
    }
}
