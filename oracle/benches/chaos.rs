//! Chaos run: 200 tasks, 5 workers, while workers are killed (SIGKILL, restarted a few seconds
//! later), the workers' RPC endpoint drops (every connection cut for a few seconds) and the chain
//! reorganises (`anvil_rollback` of 1 to 6 blocks: some shallower than the workers' 3
//! confirmations, some deeper). It must end with every task on chain terminal, no honest worker
//! slashed, and `maskoracle audit` clean.
//!
//! The faults follow a seeded generator (`CHAOS_SEED`, default 1): a failing run can be repeated.
//! Requests come from an unlocked anvil account straight to anvil; requests a reorg removed are
//! not sent again, so the run tops up to 200 tasks at the end.
//!
//! Every commit locks the task stake (100 tokens) until the task settles, so a worker with the
//! set-up's 1,000 tokens takes part in at most 10 open tasks at once; with 200 tasks sent in about
//! two minutes most would expire at their commit deadline (terminal, refunded, nobody slashed).
//! Each worker therefore stakes `CHAOS_EXTRA_STAKE` more tokens (default 2,000: 30 open tasks),
//! so that the faults hit commits and reveals rather than idle workers; 0 gives the stake bound.
//!
//! Run: `make bench` (or `cargo bench -p maskoracle --bench chaos`).

#[path = "../tests/support/net.rs"]
mod net;

use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use maskoracle::bindings::{TaskHub, TestToken};
use maskoracle::chain::tokens;
use net::{root, Net, Setup};

const TASKS: u64 = 200;
const WORKERS: u32 = 5;
const SETTLE: Duration = Duration::from_secs(1_200);

/// xorshift64*: the run's faults, repeatable from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

async fn request(net: &Net, model: u32, input: &str) {
    let p = maskoracle::bindings::hub::ITaskHub::RequestParams {
        modelId: model,
        replication: 3,
        quorum: 2,
        reward: alloy::primitives::Uint::<96, 2>::from(3_000_000_000u64),
        maxFee: alloy::primitives::Uint::<96, 2>::MAX,
        commitWindow: 300,
        revealWindow: 300,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(0u32),
        input: input.to_owned(),
        params: Default::default(),
    };
    net.send_as(
        Net::addr(0),
        net.c.deployment.task_hub,
        TaskHub::requestCall { p }.abi_encode(),
    )
    .await
    .expect("eth_sendTransaction (unlocked anvil account)");
}

#[derive(Default)]
struct Faults {
    kills: u32,
    drops: u32,
    reorgs: u32,
    deep_reorgs: u32,
    /// Workers that ended by themselves (a crash, a refusal to start), restarted as a supervisor
    /// (systemd's `Restart=on-failure`) would; reported, and a failure of the run.
    crashes: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let started = Instant::now();
    let mut net = Net::start(Setup {
        workers: WORKERS,
        block_time: 0.5,
    })
    .await;
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
    let extra: u64 = std::env::var("CHAOS_EXTRA_STAKE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    for i in 1..=WORKERS {
        if extra > 0 {
            net.ok(&[
                "worker",
                "--dev-account",
                &i.to_string(),
                "stake",
                &extra.to_string(),
            ])
            .await;
        }
        net.ok(&[
            "worker",
            "--dev-account",
            &i.to_string(),
            "opt-in",
            "--model",
            &model.to_string(),
        ])
        .await;
    }
    let mut inputs = Vec::new();
    for name in ["astronaut.png", "coffee.png", "chelsea.png"] {
        let path = root().join("inference/tests/data/photos").join(name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let cid = net
            .storage
            .put(bytes.into(), Default::default())
            .await
            .expect("put");
        inputs.push(format!("ipfs://{cid}"));
    }
    assert!(
        !inputs.is_empty(),
        "no photos under inference/tests/data/photos"
    );
    let d = net.c.deployment.clone();
    let amount = tokens(1_000_000);
    net.send_as(
        Net::addr(0),
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
        Net::addr(0),
        d.task_hub,
        TaskHub::depositCall {
            account: Net::addr(0),
            amount,
        }
        .abi_encode(),
    )
    .await
    .expect("eth_sendTransaction (unlocked anvil account)");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let proxy = net::Proxy::start(net.anvil.port()).await;
    net.worker_rpc = Some(proxy.url.clone());
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "3".into()));
    for i in 1..=WORKERS {
        net.spawn_worker(i, &[]);
    }
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Requests in bursts, with a fault between bursts.
    let mut faults = Faults::default();
    let mut sent = 0u64;
    let mut down: Vec<(u32, Instant)> = Vec::new();
    let chaos_from = Instant::now();
    while sent < TASKS {
        for _ in 0..8.min(TASKS - sent) {
            let input = &inputs[rng.below(inputs.len() as u64) as usize];
            request(&net, model, input).await;
            sent += 1;
        }
        // Restart killed workers whose pause is over.
        let now = Instant::now();
        let (due, rest): (Vec<_>, Vec<_>) = down.into_iter().partition(|(_, t)| *t <= now);
        down = rest;
        for (w, _) in due {
            net.spawn_worker(w, &[]);
        }
        supervise(&mut net, &mut faults);
        match rng.below(4) {
            0 => {
                let w = 1 + rng.below(u64::from(WORKERS)) as u32;
                if !down.iter().any(|(x, _)| *x == w) {
                    net.kill_worker(w).await;
                    down.push((w, Instant::now() + Duration::from_secs(2 + rng.below(6))));
                    faults.kills += 1;
                }
            }
            1 => {
                proxy.set_up(false);
                tokio::time::sleep(Duration::from_secs(2 + rng.below(4))).await;
                proxy.set_up(true);
                faults.drops += 1;
            }
            2 => {
                let depth = 1 + rng.below(6);
                let _: serde_json::Value = net
                    .c
                    .provider
                    .raw_request("anvil_rollback".into(), [depth])
                    .await
                    .expect("anvil_rollback");
                faults.reorgs += 1;
                if depth > 3 {
                    faults.deep_reorgs += 1;
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(1_500 + rng.below(1_500))).await;
        // Requests a reorg removed are made up for at the end.
        if sent >= TASKS {
            let on_chain: u64 = net.last_task().await.to();
            sent = on_chain;
        }
    }
    for (w, _) in down.drain(..) {
        net.spawn_worker(w, &[]);
    }
    supervise(&mut net, &mut faults);
    let chaos_s = chaos_from.elapsed().as_secs_f64();
    // Every task on chain reaches a terminal state.
    let n: u64 = net.last_task().await.to();
    let deadline = Instant::now() + SETTLE;
    let (finalized, expired) = loop {
        let mut finalized = 0u64;
        let mut expired = 0u64;
        for id in 1..=n {
            match net.status(U256::from(id)).await {
                3 => finalized += 1,
                4 => expired += 1,
                _ => {}
            }
        }
        supervise(&mut net, &mut faults);
        if finalized + expired == n || Instant::now() > deadline {
            break (finalized, expired);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let settle_s = chaos_from.elapsed().as_secs_f64();
    let (ok, audit) = net.audit(&[]).await;
    let mut slashed = 0usize;
    if let Some(tasks) = audit["tasks"].as_array() {
        for t in tasks {
            slashed += t["slashed_workers"].as_array().map(Vec::len).unwrap_or(0);
        }
    }
    println!(
        "chaos (seed {seed}): {n} tasks, {WORKERS} workers; faults: {} kills, {} RPC drops, {} reorgs ({} deeper than the 3 confirmations) over {chaos_s:.0} s",
        faults.kills, faults.drops, faults.reorgs, faults.deep_reorgs
    );
    println!(
        "chaos: terminal {}/{n} ({finalized} finalized, {expired} expired) after {settle_s:.0} s; honest workers slashed: {slashed}; audit {}; whole run {:.0} s",
        finalized + expired,
        if ok { "clean" } else { "PROBLEMS" },
        started.elapsed().as_secs_f64()
    );
    // Start-ups that found the endpoint down and waited for it (instead of exiting).
    let waited: usize = (1..=WORKERS)
        .map(|i| {
            std::fs::read_to_string(net.worker_log(i))
                .unwrap_or_default()
                .matches("cannot be reached; waiting for it")
                .count()
        })
        .sum();
    println!("chaos: worker start-ups that waited for the RPC endpoint: {waited}");
    if !faults.crashes.is_empty() {
        println!(
            "chaos: workers that ended by themselves (restarted): {}",
            faults.crashes.join("; ")
        );
    }
    if !ok || slashed > 0 || finalized + expired != n || !faults.crashes.is_empty() {
        println!("{audit:#}");
        // Keep the nodes' logs for the post-mortem (the network's folder goes with it).
        let keep = root().join("target/bench/chaos-logs");
        let _ = std::fs::create_dir_all(&keep);
        for i in 1..=WORKERS {
            let _ = std::fs::copy(net.worker_log(i), keep.join(format!("worker{i}.log")));
        }
        println!("logs kept in {}", keep.display());
    }
    assert_eq!(finalized + expired, n, "tasks not terminal\n{}", net.logs());
    assert_eq!(slashed, 0, "honest workers slashed\n{audit:#}");
    assert!(ok, "audit problems");
    assert!(faults.crashes.is_empty(), "workers ended by themselves");
}

/// Restarts the workers that ended by themselves, recording how they ended.
fn supervise(net: &mut Net, faults: &mut Faults) {
    while let Some((name, how)) = net.exited() {
        eprintln!(
            "chaos: {name} {how}; restarting it\n{}",
            net.tail(&name, 20)
        );
        faults.crashes.push(format!("{name} {how}"));
        if let Some(i) = name.strip_prefix("worker").and_then(|i| i.parse().ok()) {
            net.spawn_worker(i, &[]);
        }
    }
}
