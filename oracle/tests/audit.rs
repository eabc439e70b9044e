//! The auditor's checks on a real network (see `support/net.rs`): an honest run passes every
//! check, and for each check one tampered scenario fails exactly that check, with its evidence.
//! Most lies are told by a doctored copy of the event stream (what a lying RPC endpoint or log
//! indexer would serve); the fee's publisher is changed on the chain itself with
//! `anvil_setStorageAt` while a task is open; the availability check is pointed at an IPFS node
//! that does not have the results; and for `recompute` every drawn worker computes the same wrong
//! result (`--faulty`), which the chain accepts.
// One network for the whole test, held under the serial lock on purpose (see network.rs).
#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use maskoracle::audit::{self, AuditInput, Options, TaskAudit, Verdict};
use maskoracle::bindings::hub::TaskHub::TaskHubEvents as H;
use maskoracle::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use maskoracle::events::{EventLog, OracleEvent};
use net::{scene, serial, Net, Setup};

const SETTLE: Duration = Duration::from_secs(240);

async fn request(net: &Net, image: u32, consumer: bool, wait: bool) -> U256 {
    let img = scene(image);
    let model = net.model.to_string();
    let mut args = vec![
        "request",
        "--dev-account",
        "0",
        "--image",
        img.to_str().expect("utf-8"),
        "--model",
        &model,
        "--json",
        "--commit-window",
        "120",
        "--reveal-window",
        "120",
    ];
    if consumer {
        args.push("--via-consumer");
    }
    if wait {
        args.extend_from_slice(&["--wait", "--timeout-s", "240"]);
    }
    let out = net.ok(&args).await;
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
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
}

fn verdicts(t: &TaskAudit) -> Vec<(&'static str, Verdict)> {
    t.checks.iter().map(|c| (c.name, c.verdict)).collect()
}

/// The names of the checks of `t` that failed.
fn failed(t: &TaskAudit) -> Vec<&'static str> {
    t.checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.name)
        .collect()
}

async fn chain_audit(net: &Net, input: &AuditInput) -> Vec<TaskAudit> {
    audit::audit(
        &net.c,
        input,
        &Options {
            only: None,
            from: net.c.deployment.deploy_block,
            progress: false,
        },
    )
    .await
    .expect("audit")
}

/// Applies `doctor` to a copy of `input`, audits it, and checks that task `id` fails exactly
/// `check`, with evidence, and passes or skips every other check.
async fn expect_only(
    net: &Net,
    input: &AuditInput,
    id: U256,
    check: &str,
    doctor: impl FnOnce(&mut Vec<EventLog>),
) {
    let mut doctored = input.clone();
    doctor(&mut doctored.events);
    let tasks = chain_audit(net, &doctored).await;
    let t = tasks
        .iter()
        .find(|t| t.task_id == id)
        .expect("the task is audited");
    assert_eq!(failed(t), vec![check], "scenario {check}: {:#?}", t.checks);
    let c = t.checks.iter().find(|c| c.name == check).expect("check");
    assert!(!c.evidence.is_empty(), "{check} without evidence");
    eprintln!(
        "tampered {check}: FAIL {} ({} evidence)",
        c.detail,
        c.evidence.len()
    );
}

/// The events of task `id`, mutably.
fn of_task(events: &mut [EventLog], id: U256) -> impl Iterator<Item = &mut EventLog> {
    events
        .iter_mut()
        .filter(move |e| e.about_task() == Some(id))
}

/// The ModelRegistry storage slot that holds `model`'s publisher (its mapping slot found by
/// probing the first few declared slots for the known publisher).
async fn publisher_slot(net: &Net, model: u32, publisher: Address) -> U256 {
    use alloy::sol_types::SolValue;
    for p in 0u64..16 {
        let slot = U256::from_be_bytes(
            alloy::primitives::keccak256((U256::from(model), U256::from(p)).abi_encode()).0,
        );
        let v = net
            .c
            .provider
            .get_storage_at(net.c.deployment.model_registry, slot)
            .await
            .expect("storage");
        if Address::from_word(B256::from(v.to_be_bytes::<32>())) == publisher {
            return slot;
        }
    }
    panic!("publisher slot of model {model} not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_run_passes_every_check_and_each_lie_fails_its_own_check() {
    let _serial = serial();
    let started = Instant::now();
    let mut net = Net::start(Setup::default()).await;
    for i in 1..=3 {
        net.spawn_worker(i, &[]);
    }
    // One task through the consumer (a callback with gas), one from an account (Skipped).
    let consumer_task = request(&net, 1, true, true).await;
    let eoa_task = request(&net, 2, false, true).await;
    settled(&net, consumer_task).await;
    settled(&net, eoa_task).await;
    eprintln!(
        "two tasks settled after {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // Honest: every check passes (none fails, none warns) through the command line, with the
    // model re-run and the HTML report written.
    let report = net.dir.path().join("report.html");
    let (ok, v) = net
        .audit(&["--recompute", "--report", report.to_str().expect("utf-8")])
        .await;
    assert!(ok, "{v:#}");
    for t in v["tasks"].as_array().expect("tasks") {
        for c in t["checks"].as_array().expect("checks") {
            assert_eq!(c["verdict"], "pass", "honest task {}: {c:#}", t["task_id"]);
        }
        assert_eq!(
            t["checks"].as_array().map(Vec::len),
            Some(audit::CHECKS.len())
        );
    }
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(
        html.contains("data:image/png;base64,"),
        "the report embeds overlays"
    );
    assert!(html.contains("Every check passes."));
    eprintln!(
        "honest audit (CLI, --recompute, report) after {:.0} s",
        started.elapsed().as_secs_f64()
    );

    // The events as the chain gives them; every scenario below doctors a copy.
    let input = audit::collect(&net.c, net.c.deployment.deploy_block, false)
        .await
        .expect("collect");
    let honest = chain_audit(&net, &input).await;
    for t in &honest {
        assert!(
            failed(t).is_empty(),
            "honest (in process): {:?}",
            verdicts(t)
        );
    }
    let last = eoa_task; // the last request: no draw after its settlement
    let random = |n: u8| B256::repeat_byte(n);

    expect_only(&net, &input, eoa_task, "draw.seed", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::WorkersDrawn(d)) = &mut e.event {
                d.seed = random(0x5e);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "draw.weights", |ev| {
        // Worker 1's first stake, one wei more than it was.
        let w = Net::addr(1);
        for e in ev.iter_mut() {
            if let OracleEvent::Registry(R::Staked(s)) = &mut e.event {
                if s.worker == w {
                    s.newStake += U256::from(1);
                    s.amount += U256::from(1);
                    break;
                }
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "draw.set", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::WorkersDrawn(d)) = &mut e.event {
                d.workers.swap(0, 1);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "commits", |ev| {
        // A commit by an account that was not drawn (the chain refuses it: forged evidence).
        let i = ev
            .iter()
            .position(|e| {
                e.about_task() == Some(eoa_task)
                    && matches!(e.event, OracleEvent::Hub(H::Committed(_)))
            })
            .expect("a commit");
        let mut forged = ev[i].clone();
        if let OracleEvent::Hub(H::Committed(c)) = &mut forged.event {
            c.worker = Address::repeat_byte(0xbd);
            c.resultHash = random(0xbd);
        }
        forged.log_index += 10_000;
        ev.insert(i + 1, forged);
    })
    .await;
    expect_only(&net, &input, eoa_task, "quorum", |ev| {
        // Two of the three commits were of other hashes: one commit backs the consensus.
        let mut n = 0u8;
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::Committed(c)) = &mut e.event {
                if n < 2 {
                    c.resultHash = random(0xc0 + n);
                    n += 1;
                }
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "timing.commit", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::TaskRequested(r)) = &mut e.event {
                r.task.commitDeadline = alloy::primitives::aliases::U40::from(1u64);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "timing.reveal", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::TaskRequested(r)) = &mut e.event {
                r.task.revealDeadline = alloy::primitives::aliases::U40::from(1u64);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "timing.settlement", |ev| {
        // The settlement moved out of the last reveal into a finalize() of its own, before the
        // reveal deadline.
        for e in of_task(ev, eoa_task) {
            if matches!(
                e.event,
                OracleEvent::Hub(H::TaskFinalized(_))
                    | OracleEvent::Hub(H::CallbackAttempted(_))
                    | OracleEvent::Registry(R::StakesReleased(_))
            ) {
                e.tx_hash = random(0xf1);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "result", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::ResultRecorded(r)) = &mut e.event {
                let mut s = r.summary.to_vec();
                s[95] ^= 1; // the width
                r.summary = s.into();
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "money.split", |ev| {
        // The same credits, split as reward - 1 and a slash share of 1 that no one was slashed for.
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::TaskFinalized(f)) = &mut e.event {
                f.rewardEach -= U256::from(1);
                f.slashShareEach += U256::from(1);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "money.balances", |ev| {
        // A consistent story (a reward 3 higher, split in three) that the balances do not show.
        for e in of_task(ev, eoa_task) {
            match &mut e.event {
                OracleEvent::Hub(H::TaskRequested(r)) => {
                    r.task.reward += alloy::primitives::aliases::U96::from(3u64)
                }
                OracleEvent::Hub(H::TaskFinalized(f)) => f.rewardEach += U256::from(1),
                _ => {}
            }
        }
    })
    .await;
    expect_only(&net, &input, last, "money.slash", |ev| {
        for e in of_task(ev, last) {
            if let OracleEvent::Registry(R::StakesReleased(r)) = &mut e.event {
                r.slashMask = U256::from(1);
            }
        }
    })
    .await;
    expect_only(&net, &input, eoa_task, "callback", |ev| {
        for e in of_task(ev, eoa_task) {
            if let OracleEvent::Hub(H::CallbackAttempted(c)) = &mut e.event {
                c.outcome = 2; // Succeeded, for an account without code
            }
        }
    })
    .await;

    // availability: an IPFS endpoint that does not have the results.
    {
        let cfg = net.node_config("auditor", 0);
        let dead: maskoracle::storage::SharedStorage = std::sync::Arc::new(
            maskoracle::storage::kubo::KuboStorage::with_timeout(
                "http://127.0.0.1:9",
                Duration::from_secs(2),
            )
            .expect("kubo client"),
        );
        let rc = audit::Rechecker::with_storage(&cfg, &net.c, dead).expect("rechecker");
        let mut t = honest
            .iter()
            .find(|t| t.task_id == eoa_task)
            .expect("task")
            .clone();
        rc.check(&mut t, true, false, false).await;
        assert_eq!(failed(&t), vec!["availability"], "{:#?}", t.checks);
        let good =
            audit::Rechecker::with_storage(&cfg, &net.c, net.storage.clone()).expect("rechecker");
        let mut t2 = honest[0].clone();
        good.check(&mut t2, true, false, false).await;
        assert!(failed(&t2).is_empty(), "{:#?}", t2.checks);
        eprintln!("tampered availability: FAIL");
    }

    // money.fee: the model's publisher is changed on chain while a task is open; the
    // settlement pays the new one, which was not the publisher at the request.
    let publisher = net
        .c
        .models
        .publisherOf(net.model)
        .call()
        .await
        .expect("publisher");
    let slot = publisher_slot(&net, net.model, publisher).await;
    let fee_task = request(&net, 3, false, false).await;
    // anvil_setStorageAt changes the head's state: wait for a block after the request first.
    let h0 = net.c.provider.get_block_number().await.expect("head");
    net.wait_for(
        "a block after the request",
        Duration::from_secs(30),
        || async { (net.c.provider.get_block_number().await.ok()? > h0).then_some(()) },
    )
    .await;
    let word = net
        .c
        .provider
        .get_storage_at(net.c.deployment.model_registry, slot)
        .await
        .expect("slot");
    let mut bytes = word.to_be_bytes::<32>();
    bytes[12..].copy_from_slice(Address::repeat_byte(0xfe).as_slice());
    let _: serde_json::Value = net
        .c
        .provider
        .raw_request(
            "anvil_setStorageAt".into(),
            (
                net.c.deployment.model_registry,
                B256::from(slot.to_be_bytes::<32>()),
                B256::from(bytes),
            ),
        )
        .await
        .expect("anvil_setStorageAt");
    settled(&net, fee_task).await;
    let now = net
        .c
        .models
        .publisherOf(net.model)
        .call()
        .await
        .expect("publisher");
    assert_eq!(
        now,
        Address::repeat_byte(0xfe),
        "the publisher was changed on chain"
    );
    let input2 = audit::collect(&net.c, net.c.deployment.deploy_block, false)
        .await
        .expect("collect");
    let tasks = chain_audit(&net, &input2).await;
    let t = tasks
        .iter()
        .find(|t| t.task_id == fee_task)
        .expect("fee task");
    assert_eq!(failed(t), vec!["money.fee"], "{:#?}", t.checks);
    eprintln!(
        "tampered money.fee (anvil_setStorageAt): FAIL {}",
        t.checks
            .iter()
            .find(|c| c.name == "money.fee")
            .map(|c| c.detail.clone())
            .unwrap_or_default()
    );

    // recompute: every drawn worker delivers the same wrong result; the chain cannot tell.
    for i in 1..=3 {
        net.stop_worker(i).await;
    }
    for i in 1..=3 {
        net.spawn_worker(i, &["--faulty"]);
    }
    let lied = request(&net, 4, false, true).await;
    settled(&net, lied).await;
    let (ok, v) = net
        .audit(&["--task", &lied.to_string(), "--recompute"])
        .await;
    assert!(!ok, "the audit must fail");
    let t = &v["tasks"][0];
    let fails: Vec<&str> = t["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(fails, vec!["recompute"], "{t:#}");
    eprintln!(
        "tampered recompute (all workers --faulty): FAIL; whole test {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
