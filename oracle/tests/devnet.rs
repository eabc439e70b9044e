//! End-to-end test of `maskoracle devnet` (what `make demo` runs): the binary under test starts
//! anvil, deploys, registers the shipped model, stakes and starts real worker processes and a
//! keeper, and sends a request through the example consumer; run headless with `--json`, its
//! report is checked against a segmentation computed here and against the money rules.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy::primitives::U256;

/// One devnet at a time (each runs several libtorch workers).
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[path = "support/expected.rs"]
mod expected;
use expected::Expected;

/// What an honest worker delivers for the demo's photo and model.
fn expected() -> Expected {
    expected_for(
        maskoracle::devnet::DEFAULT_MODEL,
        maskoracle::devnet::DEFAULT_IMAGE,
    )
}

fn expected_for(model: &str, image: &str) -> Expected {
    expected::segment(&root(), Path::new(model), Path::new(image))
}

/// Runs `maskoracle devnet --json` with `extra`; returns the report and the run folder.
fn devnet(extra: &[&str]) -> (serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maskoracle"))
        .current_dir(root())
        .args([
            "--log",
            "warn",
            "devnet",
            "--json",
            "--timeout-s",
            "150",
            "--out",
        ])
        .arg(dir.path())
        .args(extra)
        .env_remove("MASKORACLE_CONFIG")
        .output()
        .expect("run maskoracle devnet (anvil and forge on PATH: source .toolchain/env.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "maskoracle devnet {extra:?} failed: {}\n{stderr}",
        out.status
    );
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    (v, dir)
}

fn amount(v: &serde_json::Value) -> U256 {
    v.as_str().expect("amount string").parse().expect("amount")
}

fn workers(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["worker_results"].as_array().expect("worker_results")
}

/// The checks every run must pass: settled, called back, audited, and the money adds up.
fn check_common(v: &serde_json::Value, dir: &Path) {
    assert_eq!(v["outcome"], "Finalized", "{v:#}");
    assert_eq!(v["callback"], "Succeeded", "{v:#}");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(
        v["audit_problems"].as_array().map(Vec::len),
        Some(0),
        "{v:#}"
    );
    assert!(
        v["delivered"]["delivered"].as_bool().unwrap_or(false)
            && v["delivered"]["finalized"].as_bool().unwrap_or(false)
    );
    // Credits add up to reward + fee + slashed stake; slashed workers lost exactly the task stake.
    let task_stake = amount(&v["task_stake"]);
    let slashed = v["slashed"].as_array().expect("slashed").len();
    let mut credited = amount(&v["publisher_credit"]);
    for w in workers(v) {
        let before = amount(&w["stake_before"]);
        let after = amount(&w["stake_after"]);
        credited += amount(&w["credited"]);
        if w["slashed"] == true {
            assert_eq!(before - after, task_stake, "{w:#}");
            assert_eq!(amount(&w["credited"]), U256::ZERO, "{w:#}");
        } else {
            assert_eq!(before, after, "{w:#}");
        }
        assert_eq!(
            amount(&w["locked_after"]),
            U256::ZERO,
            "every lock released: {w:#}"
        );
        if v["settlement"] == "tolerant" {
            // The fallback: every committer reveals its sketch; outliers are not paid.
            assert!(w["winner"] != true || w["revealed"] == true, "{w:#}");
        } else {
            assert_eq!(w["winner"] == true, w["revealed"] == true, "{w:#}");
        }
        if w["winner"] == true {
            assert!(amount(&w["credited"]) > U256::ZERO, "{w:#}");
        }
    }
    let want = amount(&v["reward"]) + amount(&v["fee"]) + task_stake * U256::from(slashed);
    assert_eq!(credited, want, "credits = reward + fee + slashed\n{v:#}");
    // The requester's escrow (the consumer's hub balance) was spent on the task.
    assert_eq!(
        amount(&v["consumer_balance_before"]),
        amount(&v["consumer_balance_after"]),
        "{v:#}"
    );
    // The files.
    assert!(dir.join("summary.json").is_file());
    assert!(dir.join("result.bin").is_file());
    assert!(dir.join("deployment.json").is_file());
    let gas = v["gas"].as_array().expect("gas");
    assert!(
        gas.iter()
            .any(|g| g["step"].as_str().is_some_and(|s| s.starts_with("commit"))),
        "{gas:?}"
    );
    assert!(
        gas.iter()
            .all(|g| g["gas"].as_u64().is_some_and(|x| x > 20_000)),
        "{gas:?}"
    );
}

/// The delivered result equals the local segmentation; the detections' names are `names`.
fn check_delivered(v: &serde_json::Value, dir: &Path, want: &Expected, names: &[&str]) {
    assert_eq!(v["honest_result_delivered"], true, "{v:#}");
    assert_eq!(
        v["delivered"]["result_sha256"],
        want.result_sha256.to_string()
    );
    assert_eq!(
        v["delivered"]["summary_hex"],
        alloy::primitives::hex::encode_prefixed(&want.summary_bytes)
    );
    assert_eq!(v["result_cid"], want.cid);
    let mut got: Vec<&str> = v["delivered"]["summary"]["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    got.sort();
    assert_eq!(got, names, "{v:#}");
    assert!(v["slashed"].as_array().is_some_and(Vec::is_empty), "{v:#}");
    assert!(dir.join("overlay.png").metadata().expect("overlay").len() > 1000);
    // result.bin is the delivered result.
    let bin = std::fs::read(dir.join("result.bin")).expect("result.bin");
    let sha: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &bin)).into();
    assert_eq!(alloy::primitives::B256::from(sha), want.result_sha256);
}

#[test]
fn make_demo_delivers_the_person_segmentation_of_a_photo_to_the_consumer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = expected();
    let (v, dir) = devnet(&[]);
    check_common(&v, dir.path());
    assert_eq!(
        (
            v["workers"].as_u64(),
            v["replication"].as_u64(),
            v["quorum"].as_u64()
        ),
        (Some(3), Some(3), Some(2))
    );
    // The astronaut photo holds one person (one connected component of the person class).
    check_delivered(&v, dir.path(), &want, &["person"]);
    let det = &v["delivered"]["summary"]["detections"][0];
    assert!(
        det["score_bps"].as_u64().is_some_and(|s| s >= 8000),
        "a confident person mask: {det}"
    );
}

#[test]
fn the_instance_path_delivers_the_shapes_of_a_generated_scene() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = expected_for(
        maskoracle::devnet::INSTANCE_MODEL,
        maskoracle::devnet::INSTANCE_IMAGE,
    );
    let (v, dir) = devnet(&["--instance"]);
    check_common(&v, dir.path());
    // The sample holds a circle and a square (assets/samples/scene_4242_0001.json).
    check_delivered(&v, dir.path(), &want, &["circle", "square"]);
}

#[test]
fn two_faulty_workers_of_five_are_slashed_and_the_honest_result_delivered() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (v, dir) = devnet(&["--workers", "5", "--faulty", "2"]);
    check_common(&v, dir.path());
    assert_eq!(v["honest_result_delivered"], true, "{v:#}");
    assert_eq!(
        (v["replication"].as_u64(), v["quorum"].as_u64()),
        (Some(5), Some(3))
    );
    for w in workers(&v) {
        let faulty = w["faulty"] == true;
        assert_eq!(
            w["slashed"] == true,
            faulty,
            "exactly the faulty workers are slashed: {w:#}"
        );
        if faulty {
            assert_eq!(w["with_consensus"], false, "{w:#}");
        }
    }
    assert_eq!(v["slashed"].as_array().map(Vec::len), Some(2), "{v:#}");
    assert_eq!(v["winners"].as_array().map(Vec::len), Some(3), "{v:#}");
}

#[test]
fn honest_workers_on_emulated_hardware_settle_within_tolerance_and_a_faulty_one_is_slashed_on_evidence(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (v, dir) = devnet(&["--workers", "4", "--faulty", "1", "--noise", "1e-4"]);
    check_common(&v, dir.path());
    assert_eq!(v["settlement"], "tolerant", "{v:#}");
    assert_eq!(
        v["consensus"],
        serde_json::Value::Null,
        "no Q equal hashes: {v:#}"
    );
    // The emulated hardware broke exact agreement: the honest workers committed three hashes.
    let mut honest: Vec<&str> = workers(&v)
        .iter()
        .filter(|w| w["faulty"] != true)
        .filter_map(|w| w["committed"].as_str())
        .collect();
    honest.sort_unstable();
    honest.dedup();
    assert_eq!(honest.len(), 3, "{v:#}");
    // The representative's result agrees with the noise-free one within the model's tolerance.
    assert_eq!(v["honest_result_delivered"], true, "{v:#}");
    for w in workers(&v) {
        let faulty = w["faulty"] == true;
        assert_eq!(
            w["revealed"], true,
            "every committer revealed its sketch: {w:#}"
        );
        assert_eq!(w["slashed"] == true, faulty, "{w:#}");
        assert_eq!(w["winner"] == true, !faulty, "{w:#}");
    }
    assert!(
        v["gas"].as_array().expect("gas").iter().any(|g| g["step"]
            .as_str()
            .is_some_and(|s| s.starts_with("settle tolerant"))),
        "{v:#}"
    );
}

#[test]
fn three_faulty_workers_of_five_hold_the_quorum_their_result_wins_and_the_honest_are_slashed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = expected();
    let (v, dir) = devnet(&["--workers", "5", "--faulty", "3"]);
    // The protocol settles on the majority: it finalizes, audits clean, and pays the cheaters.
    check_common(&v, dir.path());
    assert_eq!(v["honest_result_delivered"], false, "{v:#}");
    assert_ne!(
        v["delivered"]["result_sha256"],
        want.result_sha256.to_string()
    );
    for w in workers(&v) {
        let faulty = w["faulty"] == true;
        assert_eq!(w["winner"] == true, faulty, "the faulty workers win: {w:#}");
        assert_eq!(
            w["slashed"] == true,
            !faulty,
            "the honest workers are slashed: {w:#}"
        );
    }
    assert!(
        v["verdict"].as_str().is_some_and(|s| s.contains("WRONG")),
        "{v:#}"
    );
}

#[test]
fn vrf_randomness_draws_from_a_fulfilled_seed_and_the_task_settles() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let want = expected();
    let (v, dir) = devnet(&["--randomness", "vrf"]);
    check_common(&v, dir.path());
    check_delivered(&v, dir.path(), &want, &["person"]);
    assert_eq!(v["randomness"], "vrf", "{v:#}");
    assert_eq!(v["contracts"]["randomness"], "vrf", "{v:#}");
    // One seed request for the task, answered by the devnet's VRF operator.
    assert_eq!(v["vrf"]["seed_requests"].as_u64(), Some(1), "{v:#}");
    assert_eq!(v["vrf"]["seeds_fulfilled"].as_u64(), Some(1), "{v:#}");
    let gas = v["gas"].as_array().expect("gas");
    assert!(
        gas.iter().any(|g| g["step"]
            .as_str()
            .is_some_and(|s| s.starts_with("VRF fulfilment"))),
        "{gas:?}"
    );
}

/// The library's set-up under manual mining (what reorg tests drive): after the deployment no
/// block comes unless asked for; `mine`, `snapshot` and `revert_to` move the head as anvil's
/// RPC says, and the staked workers are in the registry.
// The serial lock is held for the whole test on purpose (see tests/network.rs): the test runs on
// its own runtime and thread, so holding it across awaits only makes the others wait.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_net_with_manual_mining_mines_only_on_demand_and_reverts_to_a_snapshot() {
    use alloy::providers::Provider;
    use maskoracle::localnet::{LocalNet, Mining};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let net = LocalNet::builder(dir.path())
        .root(root())
        .mining(Mining::Manual)
        .workers(2)
        .build()
        .await
        .expect("local network");
    let head = || async { net.c.provider.get_block_number().await.expect("head") };
    let h0 = head().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(head().await, h0, "no block without a request for one");
    let snap = net.snapshot().await.expect("snapshot");
    net.mine(3).await.expect("mine");
    assert_eq!(head().await, h0 + 3);
    assert!(net.revert_to(snap).await.expect("revert"));
    assert_eq!(head().await, h0);
    // A reorg keeps the height and changes the hashes of the replaced blocks.
    net.mine(2).await.expect("mine");
    let provider = &net.c.provider;
    let hash_of = |n: u64| async move {
        provider
            .get_block_by_number(n.into())
            .await
            .expect("block")
            .expect("mined")
            .header
            .hash
    };
    let before = hash_of(h0 + 2).await;
    net.reorg(1).await.expect("anvil_reorg");
    assert_eq!(head().await, h0 + 2);
    assert_ne!(hash_of(h0 + 2).await, before, "the top block was replaced");
    for i in 1..=2 {
        let info = net
            .c
            .workers
            .workerInfo(LocalNet::addr(i))
            .call()
            .await
            .expect("workerInfo");
        assert_eq!(
            U256::from(info.stake),
            maskoracle::chain::tokens(maskoracle::localnet::WORKER_STAKE)
        );
    }
    // No binary was given: commands are refused, not run with a guessed one.
    assert!(matches!(
        net.cmd(&["audit"]),
        Err(maskoracle::localnet::LocalNetError::NoBinary)
    ));
}
