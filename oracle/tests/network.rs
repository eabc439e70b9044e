//! End-to-end tests of the oracle node against a real anvil with the real contracts, the real
//! shipped model and a real IPFS node (see `support/net.rs`). Each test runs a whole network, so
//! they take the `serial()` lock and run one at a time.

// The serial lock is held for a whole test on purpose: each test runs on its own runtime and
// thread, so holding it across awaits can only make the others wait, never deadlock.
#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use maskoracle::chain::{tokens, TxSender, TxSettings};
use net::{model_dir, scene, serial, Net, Setup};

#[path = "support/expected.rs"]
mod expected;

const SETTLE: Duration = Duration::from_secs(240);

/// The summary and result sha256 an honest worker computes for `image`.
fn expected(image: &std::path::Path) -> expected::Expected {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    expected::segment(root, &model_dir(), image)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn request(net: &Net, image: &str, extra: &[&str]) -> serde_json::Value {
    let out = net.dir.path().join("out");
    let model = net.model.to_string();
    let mut args = vec![
        "request",
        "--dev-account",
        "0",
        "--image",
        image,
        "--model",
        &model,
        "--via-consumer",
        "--json",
        "--out",
        out.to_str().expect("utf-8"),
        "--commit-window",
        "120",
        "--reveal-window",
        "120",
    ];
    args.extend_from_slice(extra);
    json(&net.ok(&args).await)
}

async fn settled(net: &Net, task: U256) {
    net.wait_for("settlement", SETTLE, || async {
        (net.status(task).await >= 3).then_some(())
    })
    .await;
}

fn task_of(v: &serde_json::Value) -> U256 {
    v["task_id"]
        .as_str()
        .expect("task_id")
        .parse()
        .expect("u256")
}

fn audit_task(v: &serde_json::Value) -> &serde_json::Value {
    &v["tasks"][0]
}

fn addrs(v: &serde_json::Value) -> Vec<Address> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_deliver_to_the_consumer_and_payouts_match_the_audit() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let accounts: Vec<Address> = (0..=3).map(Net::addr).collect();
    let mut before = Vec::new();
    for a in &accounts {
        before.push(net.balance(*a).await);
    }
    let image = scene(3);
    let v = request(
        &net,
        image.to_str().expect("utf-8"),
        &["--wait", "--timeout-s", "240"],
    )
    .await;
    assert_eq!(v["outcome"], "Finalized", "{v}\n{}", net.logs());
    assert_eq!(v["callback"], "Succeeded", "{v}");
    let task: U256 = task_of(&v);

    // The consumer holds exactly what an honest worker computes locally.
    let want = expected(&image);
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    assert!(d.delivered && d.finalized);
    assert_eq!(d.resultSha256, want.result_sha256);
    assert_eq!(d.summary.to_vec(), want.summary_bytes, "delivered summary");
    assert!(
        v["summary"]["detections"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{v}"
    );
    // result.bin and overlay.png were written; result.bin hashes to the on-chain sha256.
    let out = net.dir.path().join("out");
    let bin = std::fs::read(out.join("result.bin")).expect("result.bin");
    let sha: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &bin)).into();
    assert_eq!(alloy::primitives::B256::from(sha), want.result_sha256);
    assert!(out.join("overlay.png").metadata().expect("overlay").len() > 1000);

    // Payouts and fee credits are exactly what the audit reconstructs.
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "audit problems: {a:#}");
    let t = audit_task(&a);
    assert_eq!(t["problems"].as_array().map(Vec::len), Some(0));
    let credits = t["credits"].as_object().expect("credits");
    assert!(credits.len() >= 2, "{t:#}");
    for (i, acct) in accounts.iter().enumerate() {
        let delta = net.balance(*acct).await - before[i];
        let credited: U256 = credits
            .iter()
            .find(|(k, _)| k.parse::<Address>().ok() == Some(*acct))
            .map(|(_, v)| {
                v.as_str()
                    .map(|s| s.parse().expect("amount"))
                    .unwrap_or_else(|| U256::from(v.as_u64().unwrap_or(0)))
            })
            .unwrap_or_default();
        assert_eq!(
            delta, credited,
            "account {acct}: balance change vs audit credit\n{t:#}"
        );
    }
    // SIGTERM: the worker finishes what is in flight and exits cleanly.
    let exit = net.stop_worker(1).await;
    assert!(exit.success(), "{exit:?}\n{}", net.logs());
    let log = std::fs::read_to_string(net.worker_log(1)).expect("log");
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_worker_is_slashed_and_the_majority_result_delivered() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let cheater = Net::addr(3);
    let stake_before = net
        .c
        .workers
        .workerInfo(cheater)
        .call()
        .await
        .expect("info")
        .stake;
    // The cheater runs first so that its wrong commit lands before the honest majority forms.
    net.spawn_worker(3, &["--faulty"]);
    let image = scene(5);
    let v = request(&net, image.to_str().expect("utf-8"), &[]).await;
    let task: U256 = task_of(&v);
    net.wait_for("the cheater's commit", SETTLE, || async {
        (net.contribution(task, cheater).await >= 2).then_some(())
    })
    .await;
    net.spawn_worker(1, &[]);
    net.spawn_worker(2, &[]);
    settled(&net, task).await;
    assert_eq!(net.status(task).await, 3, "finalized\n{}", net.logs());

    let want = expected(&image);
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    assert_eq!(
        d.summary.to_vec(),
        want.summary_bytes,
        "the honest result is delivered"
    );
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "{a:#}");
    let t = audit_task(&a);
    assert_eq!(addrs(&t["slashed_workers"]), vec![cheater], "{t:#}");
    let winners = addrs(&t["settlement"]["winners"]);
    assert!(!winners.contains(&cheater) && winners.len() == 2, "{t:#}");
    let task_stake = net.c.workers.taskStake().call().await.expect("taskStake");
    let stake_after = net
        .c
        .workers
        .workerInfo(cheater)
        .call()
        .await
        .expect("info")
        .stake;
    assert_eq!(
        U256::from(stake_before) - U256::from(stake_after),
        U256::from(task_stake)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_committing_reveals_after_restart_and_is_not_slashed() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let victim = Net::addr(1);
    net.spawn_worker(1, &[]);
    let image = scene(7);
    // Q = R = 3: consensus needs every worker, so the victim's reveal is awaited.
    let v = request(
        &net,
        image.to_str().expect("utf-8"),
        &["--replication", "3", "--quorum", "3"],
    )
    .await;
    let task: U256 = task_of(&v);
    net.wait_for("the victim's commit", SETTLE, || async {
        (net.contribution(task, victim).await >= 2).then_some(())
    })
    .await;
    net.kill_worker(1).await;
    net.spawn_worker(2, &[]);
    net.spawn_worker(3, &[]);
    net.wait_for("consensus", SETTLE, || async {
        (net.status(task).await == 2).then_some(())
    })
    .await;
    net.spawn_worker(1, &[]);
    settled(&net, task).await;
    assert_eq!(net.status(task).await, 3, "{}", net.logs());
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "{a:#}");
    let t = audit_task(&a);
    assert!(
        addrs(&t["settlement"]["winners"]).contains(&victim),
        "{t:#}"
    );
    assert!(addrs(&t["slashed_workers"]).is_empty(), "{t:#}");
    // It revealed from its record: the restarted process did not compute again. (Its log line
    // follows the receipt, which may come a moment after the settlement the test saw.)
    let log = net
        .wait_for(
            "the victim's reveal in its log",
            Duration::from_secs(30),
            || async {
                let log = std::fs::read_to_string(net.worker_log(1)).unwrap_or_default();
                log.contains("revealed task=").then_some(log)
            },
        )
        .await;
    assert_eq!(log.matches("computed task=").count(), 1, "{log}");
    assert!(log.matches("revealed task=").count() == 1, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_ends_as_an_agreed_error_delivered_to_the_consumer() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let text = net.dir.path().join("not-an-image.txt");
    std::fs::write(&text, b"this is a text file, not an image").expect("write");
    let v = request(
        &net,
        text.to_str().expect("utf-8"),
        &["--wait", "--timeout-s", "240"],
    )
    .await;
    assert_eq!(v["outcome"], "Finalized", "{v}\n{}", net.logs());
    let status = v["status"].as_u64().expect("status");
    assert_ne!(status, 0, "an error status: {v}");
    let task: U256 = task_of(&v);
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    assert!(d.delivered && d.finalized);
    let s = net
        .c
        .consumer
        .summaryOf(task)
        .call()
        .await
        .expect("summary");
    assert_eq!(u64::from(s.status), status);
    assert!(s.detections.is_empty());
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "{a:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverting_consumer_leaves_the_task_finalized_and_the_failure_visible_in_the_audit() {
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let hub = net.c.deployment.task_hub;
    let out = std::process::Command::new("forge")
        .current_dir(net::root())
        .args([
            "create",
            "test/mocks/HostileConsumers.sol:RevertingConsumer",
            "--broadcast",
            "--json",
        ])
        .args(["--rpc-url", &net.rpc])
        .args([
            "--private-key",
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        ])
        .args(["--constructor-args", &hub.to_string()])
        .output()
        .expect("forge create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created = json(&stdout[stdout.find('{').expect("forge create JSON")..]);
    let consumer: Address = created["deployedTo"]
        .as_str()
        .expect("deployedTo")
        .parse()
        .expect("address");

    let tx = TxSender::spawn(
        &net.rpc,
        maskoracle::keys::dev_signer(0, 31337).expect("key"),
        TxSettings::default(),
    )
    .expect("signer");
    let amount = tokens(100);
    tx.deposit(&net.c.deployment, consumer, amount)
        .await
        .expect("fund the consumer");
    let cid = net
        .storage
        .put(
            std::fs::read(scene(3)).expect("scene").into(),
            Default::default(),
        )
        .await
        .expect("publish");
    let p = maskoracle::bindings::hub::ITaskHub::RequestParams {
        modelId: net.model,
        replication: 3,
        quorum: 2,
        reward: alloy::primitives::Uint::<96, 2>::from(10u64)
            * alloy::primitives::Uint::<96, 2>::from(10u64)
                .pow(alloy::primitives::Uint::from(18u64)),
        maxFee: alloy::primitives::Uint::<96, 2>::MAX,
        commitWindow: 120,
        revealWindow: 120,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(200_000u32),
        input: format!("ipfs://{cid}"),
        params: Default::default(),
    };
    tx.send(
        "request",
        consumer,
        // The hostile mocks' `request(RequestParams)` has the hub's signature and selector.
        maskoracle::bindings::TaskHub::requestCall { p }.abi_encode(),
    )
    .await
    .expect("request through the reverting consumer");
    let task = net.last_task().await;
    settled(&net, task).await;
    assert_eq!(
        net.status(task).await,
        3,
        "finalized despite the consumer\n{}",
        net.logs()
    );
    let (ok, a) = net.audit(&["--task", &task.to_string()]).await;
    assert!(ok, "{a:#}");
    assert_eq!(audit_task(&a)["callback"], "Failed", "{a:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_resume_from_their_cursor_after_an_rpc_outage_without_missing_or_repeating_a_task()
{
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let proxy = net::Proxy::start(net.anvil.port()).await;
    net.worker_rpc = Some(proxy.url.clone());
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    // A first task while the endpoint is up.
    let v = request(&net, scene(3).to_str().expect("utf-8"), &[]).await;
    let first: U256 = task_of(&v);
    settled(&net, first).await;
    // The workers' endpoint goes away; a task is requested meanwhile (directly on anvil).
    proxy.set_up(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = request(&net, scene(5).to_str().expect("utf-8"), &[]).await;
    let second: U256 = task_of(&v);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        net.status(second).await,
        1,
        "nobody could act during the outage"
    );
    proxy.set_up(true);
    settled(&net, second).await;
    assert_eq!(net.status(second).await, 3, "{}", net.logs());
    let (ok, a) = net.audit(&[]).await;
    assert!(ok, "{a:#}");
    // Every worker catches up (one may still be backing off when the others settled the task).
    net.wait_for(
        "every worker to ingest the second task",
        Duration::from_secs(60),
        || async {
            (1..=3)
                .all(|i| {
                    std::fs::read_to_string(net.worker_log(i))
                        .unwrap_or_default()
                        .contains(&format!("task requested task={second} "))
                })
                .then_some(())
        },
    )
    .await;
    let mut noticed = 0;
    for i in 1..=3 {
        let log = std::fs::read_to_string(net.worker_log(i)).expect("log");
        noticed += usize::from(log.contains("turn failed"));
        for task in [first, second] {
            let seen = log.matches(&format!("task requested task={task} ")).count();
            assert_eq!(
                seen, 1,
                "worker {i} ingested task {task} {seen} times\n{log}"
            );
            assert!(
                log.matches(&format!("computed task={task} ")).count() <= 1,
                "{log}"
            );
        }
    }
    assert!(
        noticed > 0,
        "the outage was seen by the workers\n{}",
        net.logs()
    );
    // No worker committed twice to a task.
    for t in a["tasks"].as_array().expect("tasks") {
        let commits: Vec<&str> = t["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .filter_map(|c| c[0].as_str())
            .collect();
        let mut dedup = commits.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), commits.len(), "{t:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replaced_by_a_reorg_is_answered_for_its_new_input_never_the_old() {
    use alloy::providers::Provider;
    let _serial = serial();
    let mut net = Net::start(Setup::default()).await;
    let p = net.c.provider.clone();
    // The chain as it is before any request: reverting to it replaces every later block.
    let snapshot: U256 = p
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("evm_snapshot");
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    let (old, new) = (scene(1), scene(5));
    let a = request(&net, old.to_str().expect("utf-8"), &[]).await;
    let task = task_of(&a);
    // The workers computed and committed request A (commits closed: all three are in).
    net.wait_for("the commits for request A", SETTLE, || async {
        (net.status(task).await >= 2).then_some(())
    })
    .await;
    // A reorg: request A's blocks are replaced by ones holding request B at the same task id.
    let reverted: bool = p
        .raw_request("evm_revert".into(), [snapshot])
        .await
        .expect("evm_revert");
    assert!(reverted);
    let b = request(
        &net,
        new.to_str().expect("utf-8"),
        &["--wait", "--timeout-s", "240"],
    )
    .await;
    assert_eq!(task_of(&b), task, "the same task id, another request");
    assert_eq!(b["outcome"], "Finalized", "{b}\n{}", net.logs());
    // What was delivered is request B's segmentation, never A's.
    let want = expected(&new);
    let d = net
        .c
        .consumer
        .delivery(task)
        .call()
        .await
        .expect("delivery");
    assert_eq!(d.resultSha256, want.result_sha256, "{}", net.logs());
    assert_ne!(d.resultSha256, expected(&old).result_sha256);
    assert!(
        net.logs().contains("(reorg)"),
        "the workers saw the request change:\n{}",
        net.logs()
    );
    let (ok, audit) = net.audit(&[]).await;
    assert!(ok, "{audit:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fee_raised_above_max_fee_reverts_the_request_and_the_error_is_decoded() {
    let _serial = serial();
    let net = Net::start(Setup {
        workers: 0,
        ..Setup::default()
    })
    .await;
    let tx = TxSender::spawn(
        &net.rpc,
        maskoracle::keys::dev_signer(0, 31337).expect("dev key"),
        TxSettings::default(),
    )
    .expect("signer");
    let fee = net
        .c
        .models
        .requestTerms(net.model)
        .call()
        .await
        .expect("terms")
        .fee;
    tx.deposit(&net.c.deployment, tx.address(), tokens(100))
        .await
        .expect("deposit");
    // The requester accepted one base unit less than the fee now asked (a front-run raise).
    let p = maskoracle::bindings::hub::ITaskHub::RequestParams {
        modelId: net.model,
        replication: 1,
        quorum: 1,
        reward: alloy::primitives::Uint::<96, 2>::from(1_000u64),
        maxFee: fee - alloy::primitives::Uint::<96, 2>::from(1u64),
        commitWindow: 120,
        revealWindow: 120,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(0u32),
        input: "ipfs://bafkqaaa".into(),
        params: Default::default(),
    };
    let before = net.balance(tx.address()).await;
    let err = tx
        .send(
            "request",
            net.c.deployment.task_hub,
            maskoracle::bindings::TaskHub::requestCall { p }.abi_encode(),
        )
        .await
        .expect_err("the request reverts");
    match err.hub_error() {
        Some(maskoracle::bindings::hub::TaskHub::TaskHubErrors::TaskHubFeeAboveMax(e)) => {
            assert_eq!(e.modelId, net.model);
            assert_eq!(e.fee, U256::from(fee));
            assert_eq!(e.maxFee, U256::from(fee) - U256::from(1u64));
        }
        other => panic!("not TaskHubFeeAboveMax: {other:?} ({err})"),
    }
    assert_eq!(net.balance(tx.address()).await, before, "nothing charged");
    // `maskoracle request --max-fee` below the fee is refused before anything is sent.
    let (ok, _, stderr) = net
        .try_run(&[
            "request",
            "--dev-account",
            "0",
            "--image",
            "ipfs://bafkqaaa",
            "--model",
            &net.model.to_string(),
            "--max-fee",
            "1wei",
        ])
        .await;
    assert!(!ok);
    assert!(stderr.contains("above --max-fee"), "{stderr}");
}
