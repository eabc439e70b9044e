//! `docs/integrate.md`, followed as an integrator would: the page quotes the files of
//! `examples/integrate/` exactly; that project, copied into a fresh folder next to a copy of the
//! contracts laid out as `lib/maskoracle` (with its node_modules' OpenZeppelin and forge-std), builds
//! with the documented remappings; its walkthrough runs against a local network (real anvil, the
//! contracts deployed by the deploy script, the devnet's IPFS node, three workers running the shipped
//! selfie model) with exactly the environment `maskoracle devnet --keep` prints: the photo goes into
//! the network's IPFS node through `maskoracle ipfs add`, one request is delivered by its callback,
//! one whose callback runs out of gas is recovered from `ResultRecorded`, and the canonical result
//! fetched by its sha256 is the one computed locally.

// The serial lock is held for the whole test on purpose (one network at a time).
#![allow(clippy::await_holding_lock)]

#[path = "support/net.rs"]
mod net;

#[path = "support/expected.rs"]
mod expected;

use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use maskoracle::localnet::{LocalNet, Mining};
use net::{bin, root, serial};

alloy::sol! {
    #[sol(rpc)]
    contract DetectionCounter {
        function outcomes(uint256 taskId) external view returns (bool done, bool finalized, uint8 status, uint16 detections, bytes32 resultSha256);
        function recovered(uint256 taskId) external view returns (bool);
    }
}

const PHOTO: &str = "inference/tests/data/photos/astronaut.png";
const MODEL: &str = "inference/models/selfie-segmentation";

/// The `<!-- file: PATH -->` blocks of the page, as (path, quoted text).
fn quoted_files(page: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().expect("a code block after the marker");
        assert!(
            fence.starts_with("```"),
            "{path}: no code block after the marker"
        );
        let mut text = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        out.push((path.to_owned(), text));
    }
    out
}

#[test]
fn the_page_quotes_the_example_project_exactly() {
    let root = root();
    let page = std::fs::read_to_string(root.join("docs/integrate.md")).expect("docs/integrate.md");
    let quoted = quoted_files(&page);
    let mut paths: Vec<&str> = quoted.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "examples/integrate/foundry.toml",
            "examples/integrate/remappings.txt",
            "examples/integrate/script/Ask.s.sol",
            "examples/integrate/script/Deploy.s.sol",
            "examples/integrate/script/Recover.s.sol",
            "examples/integrate/src/DetectionCounter.sol",
            "examples/integrate/test/DetectionCounter.t.sol",
            "examples/integrate/walkthrough.sh",
        ]
    );
    for (path, text) in &quoted {
        let file = std::fs::read_to_string(root.join(path)).expect("quoted file exists");
        assert_eq!(
            text, &file,
            "docs/integrate.md quotes {path} differently from the file"
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// A fresh integrator's project: `examples/integrate/` plus `lib/maskoracle` holding what a checkout
/// with its set-up run provides to it (the contracts, OpenZeppelin, forge-std), as plain copies.
fn integrator_project(dir: &Path) -> PathBuf {
    let root = root();
    let project = dir.join("project");
    for sub in ["src", "script", "test"] {
        copy_tree(
            &root.join("examples/integrate").join(sub),
            &project.join(sub),
        );
    }
    for f in ["foundry.toml", "remappings.txt", "walkthrough.sh"] {
        std::fs::copy(root.join("examples/integrate").join(f), project.join(f)).expect("copy");
    }
    let lib = project.join("lib/maskoracle");
    copy_tree(&root.join("contracts"), &lib.join("contracts"));
    for sub in [
        "node_modules/@openzeppelin/contracts",
        "node_modules/@layerzerolabs/toolbox-foundry/lib/forge-std",
    ] {
        copy_tree(
            &std::fs::canonicalize(root.join(sub)).expect(sub),
            &lib.join(sub),
        );
    }
    project
}

/// A folder with `maskoracle` (the binary under test) for PATH.
fn bin_dir(dir: &Path) -> PathBuf {
    let d = dir.join("bin");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::os::unix::fs::symlink(bin(), d.join("maskoracle")).expect("symlink");
    d
}

fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the walkthrough's output:\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_consumer_built_from_the_page_requests_receives_and_recovers() {
    let _serial = serial();
    let t0 = Instant::now();
    let root = root();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = LocalNet::builder(dir.path().join("net"))
        .root(&root)
        .mining(Mining::Interval(0.25))
        .model(root.join(MODEL))
        .workers(3)
        .binary(bin())
        .build()
        .await
        .unwrap_or_else(|e| panic!("local network: {e}"));
    // As on the devnet: the nodes act on the head.
    net.worker_env
        .push(("MASKORACLE_WORKER__CONFIRMATIONS".into(), "1".into()));
    for i in 1..=3 {
        net.spawn_worker(i, &[]).expect("worker");
    }
    let project = integrator_project(dir.path());
    let path = format!(
        "{}:{}",
        bin_dir(dir.path()).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let account = maskoracle::devnet::keep_accounts(3)
        .into_iter()
        .find(|(_, role)| role.starts_with("unused"))
        .expect("a free account")
        .0;
    let key = maskoracle::keys::dev_signer(account, 31337).expect("dev key");
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("walkthrough.sh")
        .current_dir(&project)
        .env("PATH", path)
        .env("FOUNDRY_OFFLINE", "true")
        .env("RPC", &net.rpc)
        .env("HUB", net.deployment.task_hub.to_string())
        .env("MODEL", net.model.to_string())
        .env("PHOTO", root.join(PHOTO))
        .env(
            "KEY",
            format!(
                "0x{}",
                alloy::primitives::hex::encode(key.credential().to_bytes())
            ),
        )
        .env_remove("MASKORACLE_CONFIG")
        .env_remove("MASKORACLE_DATA_DIR");
    // Exactly what `devnet --keep` tells the user to export.
    for (k, v) in maskoracle::devnet::keep_env(
        &net.rpc,
        &net.record,
        &net.kubo,
        &net.data_dir.join("client"),
    ) {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nworker log:\n{}",
        std::fs::read_to_string(net.worker_log(1)).unwrap_or_default()
    );
    // `maskoracle ipfs add` said which store it used: the devnet's node, not one of its own.
    assert!(
        stderr.contains(&format!("content store: the Kubo RPC API at {}", net.kubo)),
        "{stderr}"
    );
    assert!(
        !stderr.contains("embedded IPFS node of this process"),
        "{stderr}"
    );
    let counter: Address = field(&stdout, "COUNTER").parse().expect("address");
    let task: U256 = field(&stdout, "TASK").parse().expect("task id");
    let low: U256 = field(&stdout, "LOW").parse().expect("task id");

    // The hub's records: both settled; the first callback succeeded, the second failed.
    let hub = &net.c.hub;
    let (a, b) = (
        hub.task(task).call().await.expect("task"),
        hub.task(low).call().await.expect("task"),
    );
    assert_eq!((a.requester, b.requester), (counter, counter));
    assert_eq!(
        (a.status, a.callbackOutcome),
        (3, 2),
        "Finalized, Succeeded"
    );
    assert_eq!((b.status, b.callbackOutcome), (3, 3), "Finalized, Failed");

    // Both outcomes in the consumer, the second delivered by recoverSegmentation, with the result
    // an honest worker computes from the photo.
    let want = expected::segment(&root, &root.join(MODEL), &root.join(PHOTO));
    let c = DetectionCounter::new(counter, net.c.provider.clone());
    for id in [task, low] {
        let o = c.outcomes(id).call().await.expect("outcomes");
        assert!(
            o.done && o.finalized,
            "task {id}: done {} finalized {}",
            o.done,
            o.finalized
        );
        assert_eq!((o.status, o.detections), (0, 1), "one person in the photo");
        assert_eq!(o.resultSha256, want.result_sha256, "task {id}");
    }
    assert!(!c.recovered(task).call().await.expect("recovered"));
    assert!(c.recovered(low).call().await.expect("recovered"));
    let sha: B256 = field(&stdout, "SHA").parse().expect("sha");
    assert_eq!(sha, want.result_sha256);
    // What Recover.s.sol checked the event's summary against: keccak256 of the honest summary.
    let recorded = hub.result(low).call().await.expect("result");
    assert_eq!(
        recorded.summaryHash,
        alloy::primitives::keccak256(&want.summary_bytes)
    );

    // The result fetched by its sha256 through the devnet's node is the canonical result.
    let bytes = std::fs::read(project.join("result.bin")).expect("result.bin");
    assert_eq!(B256::from(sha2_digest(&bytes)), want.result_sha256);
    let parsed = maskoracle_inference::CanonicalResult::parse(&bytes).expect("a canonical result");
    assert_eq!(parsed.detections.len(), 1);
    assert!(
        stdout.contains(&format!("{}  result.bin", hex_of(&want.result_sha256))),
        "sha256sum of result.bin:\n{stdout}"
    );
    // The hook's gas, as the page reports it (section 3).
    for line in stdout.lines().filter(|l| l.contains("callback gas")) {
        eprintln!("{}", line.trim());
    }
    eprintln!(
        "integration walkthrough: {:.1} s in all",
        t0.elapsed().as_secs_f64()
    );
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

fn hex_of(b: &B256) -> String {
    alloy::primitives::hex::encode(b.as_slice())
}
