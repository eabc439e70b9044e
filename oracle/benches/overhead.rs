//! The oracle's own overhead per task: from the block that holds the request to the moment the
//! worker hands its commit transaction to the RPC endpoint, minus the model's inference time.
//!
//! What remains is the node's work: noticing the request (polling), reading the task and the
//! draw, fetching the input from IPFS, writing the durable record, estimating gas and sending.
//! The chain runs anvil in automine mode and the benchmark mines the seed block (and the block
//! after it, which makes the seed block's hash readable) right after each request, so block production does not enter the figure. Workers poll every 10 ms. Tasks run one
//! at a time (no queueing); the first task (model download and load) is a warm-up and not
//! counted. Run: `make bench` (or `cargo bench -p maskoracle --bench overhead`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use maskoracle::bindings::TaskHub;
use maskoracle::chain::{tokens, TxSender, TxSettings};
use maskoracle::localnet::{LocalNet, Mining};

const TASKS: usize = 21;
const TARGET_MS: f64 = 50.0;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = LocalNet::builder(dir.path())
        .root(root())
        .mining(Mining::Auto)
        .model(root().join("inference/models/shapes-maskrcnn"))
        .workers(3)
        .binary(env!("CARGO_BIN_EXE_maskoracle"))
        .build()
        .await
        .expect("local network");
    net.worker_env
        .push(("MASKORACLE_WORKER__POLL_INTERVAL_MS".into(), "10".into()));
    // The node's own overhead, not the confirmation wait: act on the head (automine).
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "1".into()));
    for i in 1..=3 {
        net.spawn_worker(i, &[]).expect("spawn worker");
    }
    let tx = TxSender::spawn(
        &net.rpc,
        maskoracle::keys::dev_signer(0, 31337).expect("key"),
        TxSettings::default(),
    )
    .expect("signer");
    let hub = net.c.deployment.task_hub;
    let me = tx.address();
    let funds = tokens(10_000);
    tx.deposit(&net.c.deployment, me, funds)
        .await
        .expect("deposit");
    let mut inputs = Vec::new();
    for n in [1u32, 3, 5, 7] {
        let cid = net
            .storage
            .put(
                std::fs::read(scene(n)).expect("scene").into(),
                Default::default(),
            )
            .await
            .expect("put");
        inputs.push(format!("ipfs://{cid}"));
    }
    let mut requested: Vec<(U256, u64)> = Vec::new();
    for k in 0..TASKS {
        let p = maskoracle::bindings::hub::ITaskHub::RequestParams {
            modelId: net.model,
            replication: 3,
            quorum: 2,
            reward: alloy::primitives::Uint::<96, 2>::from(1_000_000_000u64),
            maxFee: alloy::primitives::Uint::<96, 2>::MAX,
            commitWindow: 600,
            revealWindow: 600,
            callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(0u32),
            input: inputs[k % inputs.len()].clone(),
            params: Default::default(),
        };
        tx.send("request", hub, TaskHub::requestCall { p }.abi_encode())
            .await
            .expect("request");
        let at = unix_ms();
        // The seed block (request block + 1) at once, and one more so that the seed block's
        // hash is readable (`blockhash` of an earlier block).
        net.mine(2).await.expect("anvil_mine");
        let id = net.last_task().await.expect("taskCount");
        requested.push((id, at));
        net.wait_for("settlement", Duration::from_secs(300), || async {
            net.status(id)
                .await
                .is_ok_and(|s| s.is_terminal())
                .then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", net.logs()));
        eprintln!("task {id} settled");
    }
    let mut samples: Vec<f64> = Vec::new();
    let mut inference: Vec<f64> = Vec::new();
    for i in 1..=3 {
        net.stop_worker(i).await.expect("worker stops");
        let data_dir = net.worker_dir(i);
        let out = net
            .ok(&[
                "worker",
                "--dev-account",
                &i.to_string(),
                "--data-dir",
                data_dir.to_str().expect("utf-8"),
                "status",
                "--json",
            ])
            .await
            .expect("worker status");
        let v: serde_json::Value = serde_json::from_str(&out).expect("status json");
        for t in v["timings"].as_array().cloned().unwrap_or_default() {
            let id: U256 = t["task"].as_str().expect("task").parse().expect("id");
            let Some(pos) = requested.iter().position(|(r, _)| *r == id) else {
                continue;
            };
            if pos == 0 {
                continue; // warm-up
            }
            let (sent, inf) = (
                t["commit_sent_unix_ms"].as_u64(),
                t["inference_ms"].as_u64(),
            );
            if let (Some(sent), Some(inf)) = (sent, inf) {
                samples.push(sent as f64 - requested[pos].1 as f64 - inf as f64);
                inference.push(inf as f64);
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    inference.sort_by(f64::total_cmp);
    let median = percentile(&samples, 0.5);
    println!("oracle overhead per task (request block -> commit sent, minus inference), {} samples over {} tasks", samples.len(), TASKS - 1);
    println!(
        "  median {median:.1} ms   p10 {:.1} ms   p90 {:.1} ms   max {:.1} ms",
        percentile(&samples, 0.1),
        percentile(&samples, 0.9),
        samples.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  inference median {:.0} ms (excluded)",
        percentile(&inference, 0.5)
    );
    println!(
        "  median / target ({TARGET_MS} ms) = {:.2}  -> {}",
        median / TARGET_MS,
        if median <= TARGET_MS {
            "target met"
        } else {
            "target NOT met"
        }
    );
}
