//! Reorg drills on a real anvil (`anvil_rollback` removes the newest blocks; the chain then grows
//! again with other blocks at the same heights, as after a reorg on a public chain). The
//! workers run with several confirmations, as on a public chain.
//!
//! - a commit and a reveal removed by a reorg are sent again, from the worker's record (nothing
//!   is computed twice), and nobody honest is slashed;
//! - a reveal removed by a reorg is sent again;
//! - a request removed and replaced by another at the same task id is answered for the new one
//!   only;
//! - a request reorged out before it was confirmed is never acted on.

#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

#[path = "support/expected.rs"]
mod expected;

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use maskoracle::bindings::TaskHub::TaskHubEvents as H;
use maskoracle::events::{OracleEvent, Sources};
use net::{model_dir, scene, serial, Net, Setup};

const SETTLE: Duration = Duration::from_secs(240);
const CONFIRMATIONS: &str = "3";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn expected(image: &std::path::Path) -> expected::Expected {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    expected::segment(root, &model_dir(), image)
}

async fn request(net: &Net, image: &std::path::Path) -> U256 {
    let model = net.model.to_string();
    let v = json(
        &net.ok(&[
            "request",
            "--dev-account",
            "0",
            "--image",
            image.to_str().expect("utf-8"),
            "--model",
            &model,
            "--via-consumer",
            "--json",
            "--commit-window",
            "180",
            "--reveal-window",
            "180",
        ])
        .await,
    );
    v["task_id"]
        .as_str()
        .expect("task_id")
        .parse()
        .expect("u256")
}

/// A network of three workers acting on logs `CONFIRMATIONS` deep.
async fn start() -> Net {
    let mut net = Net::start(Setup::default()).await;
    net.worker_env.push((
        "MASKORACLE_WORKER__CONFIRMATIONS".into(),
        CONFIRMATIONS.into(),
    ));
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    net
}

/// Blocks of the task's hub events of each kind, in chain order.
async fn event_blocks(net: &Net, task: U256) -> Vec<(&'static str, u64)> {
    let p = &net.c.provider;
    let head = p.get_block_number().await.expect("head");
    let s = Sources {
        hub: net.c.deployment.task_hub,
        ..Sources::default()
    };
    let events = s.read(p, 0, head, 10_000).await.expect("logs");
    events
        .into_iter()
        .filter(|e| e.task_id() == Some(task))
        .map(|e| {
            let name = match &e.event {
                OracleEvent::Hub(H::TaskRequested(_)) => "requested",
                OracleEvent::Hub(H::WorkersDrawn(_)) => "drawn",
                OracleEvent::Hub(H::Committed(_)) => "committed",
                OracleEvent::Hub(H::ConsensusReached(_)) => "consensus",
                OracleEvent::Hub(H::Revealed(_)) => "revealed",
                OracleEvent::Hub(H::TaskFinalized(_)) => "finalized",
                OracleEvent::Hub(H::TaskExpired(_)) => "expired",
                _ => "other",
            };
            (name, e.block)
        })
        .collect()
}

fn first(blocks: &[(&str, u64)], name: &str) -> u64 {
    blocks
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("no {name} event in {blocks:?}"))
}

/// Removes every block after `keep` (the chain grows again from there).
async fn rollback_to(net: &Net, keep: u64) {
    let p = &net.c.provider;
    let head = p.get_block_number().await.expect("head");
    assert!(head > keep);
    let _: serde_json::Value = p
        .raw_request("anvil_rollback".into(), [head - keep])
        .await
        .expect("anvil_rollback");
    let now = p.get_block_number().await.expect("head");
    assert!(now <= keep + 1, "rolled back to {now}, wanted {keep}");
}

/// Waits until every worker closed the task in its records (its settlement confirmed).
async fn all_done(net: &Net, task: U256, times: usize) {
    net.wait_for("every worker to close the task", SETTLE, || async {
        (1..=3)
            .all(|i| {
                std::fs::read_to_string(net.worker_log(i))
                    .unwrap_or_default()
                    .matches(&format!("task done task={task} "))
                    .count()
                    >= times
            })
            .then_some(())
    })
    .await;
}

fn count(net: &Net, i: u32, what: &str, task: U256) -> usize {
    std::fs::read_to_string(net.worker_log(i))
        .unwrap_or_default()
        .matches(&format!("{what} task={task} "))
        .count()
}

fn addrs(v: &serde_json::Value) -> Vec<Address> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// The audit of `task` checks out, it settled with every worker a winner, and nobody was slashed.
async fn settled_cleanly(net: &Net, task: U256) {
    net.wait_for("settlement", SETTLE, || async {
        (net.status(task).await >= 3).then_some(())
    })
    .await;
    assert_eq!(net.status(task).await, 3, "{}", net.logs());
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "audit problems: {a:#}");
    let t = &a["tasks"][0];
    assert!(addrs(&t["slashed_workers"]).is_empty(), "{t:#}");
    let winners = addrs(&t["settlement"]["winners"]);
    for i in 1..=3 {
        assert!(
            winners.contains(&Net::addr(i)),
            "worker {i} not paid: {t:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_and_reveals_removed_by_a_reorg_are_sent_again_and_nobody_is_slashed() {
    let _serial = serial();
    let net = start().await;
    let image = scene(3);
    let task = request(&net, &image).await;
    all_done(&net, task, 1).await;
    let blocks = event_blocks(&net, task).await;
    let fork = first(&blocks, "committed") - 1;
    rollback_to(&net, fork).await;
    // The chain no longer holds a commit: the workers see it (by block hash) and commit again,
    // from their records.
    assert!(net.status(task).await <= 1, "{blocks:?}");
    all_done(&net, task, 2).await;
    settled_cleanly(&net, task).await;
    for i in 1..=3 {
        assert_eq!(count(&net, i, "computed", task), 1, "{}", net.logs());
        assert_eq!(count(&net, i, "committed", task), 2, "{}", net.logs());
        assert_eq!(count(&net, i, "revealed", task), 2, "{}", net.logs());
    }
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    let want = expected(&image);
    assert_eq!(d.resultSha256, want.result_sha256);
    assert_eq!(d.summary.to_vec(), want.summary_bytes);
    assert!(net.logs().contains("reorg"), "{}", net.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reveal_removed_by_a_reorg_is_sent_again() {
    let _serial = serial();
    let net = start().await;
    let task = request(&net, &scene(5)).await;
    all_done(&net, task, 1).await;
    let blocks = event_blocks(&net, task).await;
    let fork = first(&blocks, "revealed") - 1;
    assert!(first(&blocks, "consensus") <= fork, "{blocks:?}");
    rollback_to(&net, fork).await;
    assert_eq!(net.status(task).await, 2, "reveals open again: {blocks:?}");
    all_done(&net, task, 2).await;
    settled_cleanly(&net, task).await;
    for i in 1..=3 {
        assert_eq!(count(&net, i, "committed", task), 1, "{}", net.logs());
        assert_eq!(count(&net, i, "revealed", task), 2, "{}", net.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replaced_at_the_same_id_is_answered_for_the_new_one_only() {
    let _serial = serial();
    let net = start().await;
    let (old, new) = (scene(1), scene(7));
    let p = net.c.provider.clone();
    let before = p.get_block_number().await.expect("head");
    let task = request(&net, &old).await;
    // The workers computed and committed request A.
    net.wait_for("a commit for request A", SETTLE, || async {
        let blocks = event_blocks(&net, task).await;
        blocks.iter().any(|(n, _)| *n == "committed").then_some(())
    })
    .await;
    rollback_to(&net, before).await;
    let again = request(&net, &new).await;
    assert_eq!(again, task, "the same task id, another request");
    settled_cleanly(&net, task).await;
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    assert_eq!(
        d.resultSha256,
        expected(&new).result_sha256,
        "{}",
        net.logs()
    );
    // Every commit in the chain is for request B: all three revealed B's result.
    for i in 1..=3 {
        assert_eq!(net.contribution(task, Net::addr(i)).await, 3);
    }
    assert!(net.logs().contains("(reorg)"), "{}", net.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reorged_out_before_it_was_confirmed_is_never_acted_on() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    // Deep confirmations (about 5 s of 0.25 s blocks) and no keeper duty.
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "20".into()));
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let p = net.c.provider.clone();
    let before = p.get_block_number().await.expect("head");
    let task = request(&net, &scene(1)).await;
    rollback_to(&net, before).await;
    let again = request(&net, &scene(7)).await;
    assert_eq!(again, task);
    settled_cleanly(&net, task).await;
    for i in 1..=3 {
        assert_eq!(count(&net, i, "task requested", task), 1, "{}", net.logs());
        assert_eq!(count(&net, i, "computed", task), 1, "{}", net.logs());
    }
    assert!(!net.logs().contains("(reorg)"), "{}", net.logs());
}
