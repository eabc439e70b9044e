//! Tasks per minute one worker settles on a chain with real block times: the pipelined signer
//! (up to 16 transactions of the account in flight) against one transaction at a time (the
//! worker before v2), measured in the same run on the same chain.
//!
//! Set-up: anvil (fast blocks while deploying), then interval mining at 2 s and at 12 s. One
//! worker serves the shipped selfie model; each task is R = Q = 1, so a task costs the worker a
//! draw, a commit and a reveal (the reveal settles it). The requests (50 per run) are sent at once
//! from an unlocked anvil account. Tasks/min = settled tasks / time from the first request's
//! block to the last settlement; one transaction at a time on 12 s blocks is capped at
//! `SERIAL_CAP_12S` and counts what settled by then.
//!
//! Run: `make bench` (or `cargo bench -p maskoracle --bench throughput`).

#[path = "../tests/support/net.rs"]
mod net;

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use maskoracle::bindings::{TaskHub, TestToken};
use maskoracle::chain::tokens;
use net::{root, Net, Setup};

const TASKS: usize = 50;
const SERIAL_CAP_12S: Duration = Duration::from_secs(300);
const GOAL_12S: f64 = 20.0;

async fn mine_interval(net: &Net, seconds: u64) {
    let _: serde_json::Value = net
        .c
        .provider
        .raw_request("evm_setIntervalMining".into(), [seconds])
        .await
        .expect("evm_setIntervalMining");
}

struct Run {
    settled: usize,
    seconds: f64,
}

impl Run {
    fn per_min(&self) -> f64 {
        self.settled as f64 * 60.0 / self.seconds.max(1e-9)
    }
}

/// Sends `TASKS` requests at once and waits until they settled (or `cap`).
async fn run(net: &Net, model: u32, input: &str, cap: Duration) -> Run {
    let hub = net.c.deployment.task_hub;
    let requester = Net::addr(0);
    let first = net.last_task().await + U256::from(1);
    for _ in 0..TASKS {
        let p = maskoracle::bindings::hub::ITaskHub::RequestParams {
            modelId: model,
            replication: 1,
            quorum: 1,
            reward: alloy::primitives::Uint::<96, 2>::from(1_000_000_000u64),
            maxFee: alloy::primitives::Uint::<96, 2>::MAX,
            commitWindow: 3_600,
            revealWindow: 3_600,
            callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(0u32),
            input: input.to_owned(),
            params: Default::default(),
        };
        net.send_as(requester, hub, TaskHub::requestCall { p }.abi_encode())
            .await
            .expect("eth_sendTransaction (unlocked anvil account)");
    }
    let last = first + U256::from(TASKS - 1);
    // Time starts when the requests are on chain.
    net.wait_for(
        "the requests to be mined",
        Duration::from_secs(120),
        || async { (net.last_task().await >= last).then_some(()) },
    )
    .await;
    let started = Instant::now();
    let deadline = started + cap;
    let mut settled = 0;
    let mut done_at = started;
    while Instant::now() < deadline {
        let mut n = 0;
        let mut id = first;
        while id <= last {
            if net.status(id).await >= 3 {
                n += 1;
            }
            id += U256::from(1);
        }
        if n > settled {
            settled = n;
            done_at = Instant::now();
        }
        if settled == TASKS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let seconds = if settled == TASKS {
        done_at.duration_since(started).as_secs_f64()
    } else {
        cap.as_secs_f64()
    };
    Run { settled, seconds }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut net = Net::start(Setup {
        workers: 1,
        block_time: 0.25,
    })
    .await;
    // The selfie model, served by worker 1.
    let selfie = root().join("inference/models/selfie-segmentation");
    let out = net
        .ok(&[
            "model",
            "register",
            selfie.to_str().expect("utf-8"),
            "--json",
            "--dev-account",
            "0",
        ])
        .await;
    let v: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or_default()).expect("register json");
    let model = v["model_id"].as_u64().expect("model id") as u32;
    net.ok(&[
        "worker",
        "--dev-account",
        "1",
        "opt-in",
        "--model",
        &model.to_string(),
    ])
    .await;
    let photo =
        std::fs::read(root().join("inference/tests/data/photos/astronaut.png")).expect("photo");
    let cid = net
        .storage
        .put(photo.into(), Default::default())
        .await
        .expect("put");
    let input = format!("ipfs://{cid}");
    // Funds for every run, deposited once.
    let requester = Net::addr(0);
    let d = net.c.deployment.clone();
    let amount = tokens(1_000_000);
    net.send_as(
        requester,
        d.token,
        TestToken::approveCall {
            spender: d.task_hub,
            value: amount,
        }
        .abi_encode(),
    )
    .await
    .expect("eth_sendTransaction (unlocked anvil account)");
    net.send_as(
        requester,
        d.task_hub,
        TaskHub::depositCall {
            account: requester,
            amount,
        }
        .abi_encode(),
    )
    .await
    .expect("eth_sendTransaction (unlocked anvil account)");
    tokio::time::sleep(Duration::from_secs(2)).await;
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "1".into()));

    let mut lines = Vec::new();
    let mut results = Vec::new();
    for (block_s, cap_serial) in [(2u64, Duration::from_secs(600)), (12, SERIAL_CAP_12S)] {
        mine_interval(&net, block_s).await;
        let mut pair = Vec::new();
        for in_flight in [16u32, 1] {
            let mut net_env = net.worker_env.clone();
            net_env.push((
                "MASKORACLE_SIGNER__MAX_IN_FLIGHT".into(),
                in_flight.to_string(),
            ));
            std::mem::swap(&mut net.worker_env, &mut net_env);
            net.spawn_worker(1, &[]);
            std::mem::swap(&mut net.worker_env, &mut net_env);
            // The model is loaded and warmed at start.
            tokio::time::sleep(Duration::from_secs(8)).await;
            let cap = if in_flight == 1 {
                cap_serial
            } else {
                Duration::from_secs(900)
            };
            let r = run(&net, model, &input, cap).await;
            eprintln!(
                "{block_s} s blocks, {in_flight} in flight: {}/{TASKS} settled in {:.1} s = {:.1} tasks/min",
                r.settled,
                r.seconds,
                r.per_min()
            );
            net.stop_worker(1).await;
            pair.push(r);
        }
        let ratio = pair[0].per_min() / pair[1].per_min().max(1e-9);
        lines.push(format!(
            "throughput {block_s:>2} s blocks: pipelined {:>6.1} tasks/min ({}/{TASKS} in {:.0} s), one in flight {:>5.1} tasks/min ({}/{TASKS} in {:.0} s): ratio {ratio:.1}x",
            pair[0].per_min(),
            pair[0].settled,
            pair[0].seconds,
            pair[1].per_min(),
            pair[1].settled,
            pair[1].seconds,
        ));
        results.push((block_s, pair));
    }
    for l in &lines {
        println!("{l}");
    }
    let at12 = results
        .iter()
        .find(|(b, _)| *b == 12)
        .map(|(_, p)| p[0].per_min())
        .unwrap_or_default();
    println!(
        "goal >= {GOAL_12S} tasks/min at 12 s blocks (pipelined): {at12:.1} — {}",
        if at12 >= GOAL_12S { "met" } else { "NOT met" }
    );
}
