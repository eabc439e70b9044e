//! The worker on endpoints like a public chain's: its primary RPC endpoint refuses `eth_getLogs`
//! over a few blocks (as public providers do), and later dies; a second endpoint is configured.
//! The workers keep committing and revealing throughout. And a worker started while its only
//! endpoint is down waits for it instead of exiting.

#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

#[path = "support/rpc_proxy.rs"]
mod rpc_proxy;

use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use net::{scene, serial, Net, Proxy, Setup};
use rpc_proxy::RpcProxy;

const SETTLE: Duration = Duration::from_secs(240);
/// The primary endpoint's largest accepted log range.
const MAX_RANGE: u64 = 5;

async fn request(net: &Net, n: u32) -> U256 {
    let model = net.model.to_string();
    let out = net
        .ok(&[
            "request",
            "--dev-account",
            "0",
            "--image",
            scene(n).to_str().expect("utf-8"),
            "--model",
            &model,
            "--json",
            "--commit-window",
            "180",
            "--reveal-window",
            "180",
        ])
        .await;
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["task_id"]
        .as_str()
        .expect("task_id")
        .parse()
        .expect("u256")
}

async fn settled(net: &Net, task: U256) {
    net.wait_for("settlement", SETTLE, || async {
        (net.status(task).await >= 3).then_some(())
    })
    .await;
    assert_eq!(net.status(task).await, 3, "{}", net.logs());
    for i in 1..=3 {
        assert_eq!(
            net.contribution(task, Net::addr(i)).await,
            3,
            "worker {i} revealed\n{}",
            net.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_keep_committing_through_range_refusals_and_the_death_of_their_primary_endpoint() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let proxy = RpcProxy::start(&net.rpc, Some(MAX_RANGE)).await;
    net.worker_rpc = Some(proxy.url.clone());
    let fallback = format!("[\"{}\"]", net.rpc);
    net.worker_env
        .push(("MASKORACLE_RPC_FALLBACK_URLS".into(), fallback));
    // The deployment is many blocks old before the workers start: their backfill asks for
    // ranges the primary refuses.
    let _: serde_json::Value = net
        .c
        .provider
        .raw_request("anvil_mine".into(), [8 * MAX_RANGE])
        .await
        .expect("anvil_mine");
    let head = net.c.provider.get_block_number().await.expect("head");
    assert!(head > 4 * MAX_RANGE, "blocks to backfill: {head}");
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let first = request(&net, 3).await;
    settled(&net, first).await;
    let refused = proxy.counts().refused.load(Ordering::Relaxed);
    assert!(
        refused > 0,
        "the primary refused some log ranges (and the workers went on)"
    );
    // The primary dies; the fallback answers.
    proxy.kill();
    let second = request(&net, 5).await;
    settled(&net, second).await;
    let (ok, audit) = net.audit(&[]).await;
    assert!(ok, "{audit:#}");
    eprintln!(
        "log ranges refused by the primary: {refused}; forwarded calls: {}",
        proxy.counts().forwarded.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_while_its_endpoint_is_down_waits_for_it() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let proxy = Proxy::start(net.anvil.port()).await;
    proxy.set_up(false);
    net.worker_rpc = Some(proxy.url.clone());
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    // Long enough for a start-up that gives up to have exited.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(net.exited(), None, "a worker exited\n{}", net.logs());
    let log = std::fs::read_to_string(net.worker_log(1)).expect("worker log");
    assert!(
        log.contains("cannot be reached; waiting for it"),
        "the wait is logged\n{log}"
    );
    proxy.set_up(true);
    let task = request(&net, 3).await;
    settled(&net, task).await;
    assert_eq!(net.exited(), None, "{}", net.logs());
}
