//! What an operator does with a staked worker, against a real anvil with the real contracts (see
//! `support/net.rs`): withdraw earnings, opt out, drain, unstake and withdraw the stake, each
//! refusal in words; then a real daemon in drain mode, read by `worker status` through its
//! endpoint and through its state file while it holds it.

// The serial lock is held for a whole test on purpose (see tests/network.rs).
#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use maskoracle::chain::{tokens, TxSender, TxSettings};
use net::{serial, Net, Setup};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `maskoracle worker --dev-account 1 ARGS...`.
async fn worker_ok(net: &Net, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["worker", "--dev-account", "1"];
    all.extend_from_slice(args);
    all.push("--json");
    json(&net.ok(&all).await)
}

/// The same, expected to fail; returns stderr.
async fn worker_err(net: &Net, args: &[&str]) -> String {
    let mut all = vec!["worker", "--dev-account", "1"];
    all.extend_from_slice(args);
    let (ok, out, err) = net.try_run(&all).await;
    assert!(!ok, "maskoracle {all:?} should fail: {out}");
    err
}

fn wei(v: &serde_json::Value) -> U256 {
    v.as_str()
        .unwrap_or_else(|| panic!("a wei string: {v}"))
        .parse()
        .expect("wei")
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_and_status_of_a_draining_daemon() {
    let _serial = serial();
    let mut net = Net::start(Setup {
        workers: 1,
        block_time: 0.0,
    })
    .await;
    let me = Net::addr(1);
    let model = net.model.to_string();

    // --- Earnings: withdraw from the hub.
    let err = worker_err(&net, &["withdraw", "--all"]).await;
    assert!(err.contains("nothing to withdraw"), "{err}");
    let payer = TxSender::spawn(
        &net.rpc,
        maskoracle::keys::dev_signer(0, 31337).expect("dev key"),
        TxSettings::default(),
    )
    .expect("signer");
    payer
        .deposit(&net.c.deployment, me, tokens(5))
        .await
        .expect("credit 5 tokens to the worker's hub balance");
    let wallet_before = net.c.token.balanceOf(me).call().await.expect("balance");
    let v = worker_ok(&net, &["withdraw", "--amount", "2"]).await;
    assert_eq!(wei(&v["amount_wei"]), tokens(2), "{v}");
    assert_eq!(wei(&v["hub_balance_wei"]), tokens(3), "{v}");
    assert_eq!(
        wei(&v["wallet_balance_wei"]),
        wallet_before + tokens(2),
        "{v}"
    );
    assert_eq!(net.balance(me).await, tokens(3));
    let err = worker_err(&net, &["withdraw", "--amount", "10"]).await;
    assert!(
        err.contains("the hub holds 3 tokens") && err.contains("10 tokens"),
        "decoded TaskHubInsufficientBalance in words: {err}"
    );
    let v = worker_ok(&net, &["withdraw", "--all"]).await;
    assert_eq!(wei(&v["amount_wei"]), tokens(3), "{v}");
    assert_eq!(net.balance(me).await, U256::ZERO);

    // --- Models: opt out, and drain.
    let v = worker_ok(&net, &["opt-out", "--model", &model]).await;
    assert_eq!(v["models"], serde_json::json!([net.model]), "{v}");
    let served = net.c.workers.modelsOf(me).call().await.expect("models");
    assert!(served.is_empty(), "{served:?}");
    let err = worker_err(&net, &["opt-out", "--model", &model]).await;
    assert!(err.contains(&format!("not serving model {model}")), "{err}");
    worker_ok(&net, &["opt-in", "--model", &model]).await;
    let v = worker_ok(&net, &["drain"]).await;
    assert_eq!(v["opted_out"], serde_json::json!([net.model]), "{v}");
    assert_eq!(v["next_steps"].as_array().map(Vec::len), Some(4), "{v}");
    assert!(
        v["next_steps"][0]
            .as_str()
            .is_some_and(|s| s.contains("--drain")),
        "{v}"
    );
    assert!(net
        .c
        .workers
        .modelsOf(me)
        .call()
        .await
        .expect("models")
        .is_empty());
    let v = worker_ok(&net, &["drain"]).await;
    assert_eq!(
        v["opted_out"],
        serde_json::json!([]),
        "draining twice is harmless: {v}"
    );

    // --- Stake: unbond, wait out the delay, withdraw.
    let err = worker_err(&net, &["unstake", "5000"]).await;
    assert!(
        err.contains("only 1000 tokens") && err.contains("5000 tokens"),
        "decoded WorkerRegistryInsufficientFreeStake in words: {err}"
    );
    let err = worker_err(&net, &["unstake", "--withdraw"]).await;
    assert!(err.contains("nothing is unbonding"), "{err}");
    let v = worker_ok(&net, &["unstake", "100"]).await;
    assert_eq!(wei(&v["unbonding_wei"]), tokens(100), "{v}");
    let err = worker_err(&net, &["unstake", "--withdraw"]).await;
    assert!(err.contains("is unbonding until unix time"), "{err}");
    let delay: u64 = net
        .c
        .workers
        .unbondingDelay()
        .call()
        .await
        .expect("delay")
        .to();
    let p = &net.c.provider;
    let _: serde_json::Value = p
        .raw_request("evm_increaseTime".into(), (delay + 1,))
        .await
        .expect("increase time");
    let _: String = p.raw_request("evm_mine".into(), ()).await.expect("mine");
    let v = worker_ok(&net, &["unstake", "--withdraw"]).await;
    assert_eq!(wei(&v["amount_wei"]), tokens(100), "{v}");
    let info = net.c.workers.workerInfo(me).call().await.expect("info");
    assert_eq!(info.stake.to::<u128>(), 900u128 * 10u128.pow(18));
    assert_eq!(info.unbonding.to::<u128>(), 0);

    // --- A real daemon in drain mode: status through its endpoint, and through its state file
    // while it holds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let listen = format!("127.0.0.1:{port}");
    net.spawn_worker(1, &["--drain", "--metrics-listen", &listen]);
    let data_dir = net.worker_dir(1);
    let status = |url: String| {
        let mut cmd = net.cmd(&[
            "worker",
            "--dev-account",
            "1",
            "status",
            "--json",
            "--metrics-url",
            &url,
        ]);
        cmd.env("MASKORACLE_DATA_DIR", &data_dir);
        async move {
            let out = cmd.output().await.expect("status runs");
            assert!(out.status.success(), "{out:?}");
            json(&String::from_utf8_lossy(&out.stdout))
        }
    };
    let v = net
        .wait_for(
            "the daemon's endpoint and a cursor",
            Duration::from_secs(120),
            || {
                let s = status(format!("http://{listen}"));
                async move {
                    let v = s.await;
                    (v["source"] == "daemon" && v["state"]["cursor"].is_u64()).then_some(v)
                }
            },
        )
        .await;
    assert_eq!(v["daemon"]["health"]["sync"]["healthy"], true, "{v:#}");
    assert_eq!(v["models"], serde_json::json!([]), "{v:#}");
    assert_eq!(wei(&v["stake"]), tokens(900), "{v:#}");
    // Endpoint unreachable: the state file, read-only, beside the running daemon.
    let v = status("http://127.0.0.1:9".into()).await;
    assert_eq!(v["source"], "state-file", "{v:#}");
    assert_eq!(
        v["state"]["schema_version"],
        maskoracle::state::SCHEMA_VERSION,
        "{v:#}"
    );
    assert!(v["state"]["cursor"].as_u64().is_some(), "{v:#}");
    assert!(v.get("state_error").is_none(), "{v:#}");
    let exit = net.stop_worker(1).await;
    assert!(
        exit.success(),
        "daemon stops cleanly: {exit:?}\n{}",
        net.logs()
    );
    let log = std::fs::read_to_string(net.worker_log(1)).expect("log");
    assert!(log.contains("drain mode"), "{log}");
}
