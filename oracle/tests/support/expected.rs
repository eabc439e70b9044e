//! What an honest worker delivers for an image: a local `maskoracle segment --json`, i.e. the
//! workers' own binary with its pinned numerics profile, never this (unpinned) test process.

use std::path::Path;

use alloy::primitives::B256;

/// The parts of a segmentation the chain and the consumer see.
pub struct Expected {
    pub result_sha256: B256,
    pub summary_bytes: Vec<u8>,
    /// Read by the devnet test; the network tests compare the sha256 and summary only.
    #[allow(dead_code)]
    pub cid: String,
}

/// Segments `image` with the model directory `model` at 2 threads (the workers' default), from
/// the workspace root `root`.
pub fn segment(root: &Path, model: &Path, image: &Path) -> Expected {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_maskoracle"))
        .current_dir(root)
        .args(["--log", "warn", "segment"])
        .arg(image)
        .arg("--model")
        .arg(model)
        .args(["--json", "--threads", "2"])
        .env_remove("MASKORACLE_CONFIG")
        .env_remove("MASKORACLE_NUMERICS")
        .output()
        .expect("maskoracle segment runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("segment JSON");
    assert_eq!(v["profile"]["numerics"], "cpu-avx2", "{v}");
    let s = |k: &str| v[k].as_str().expect(k).to_string();
    Expected {
        result_sha256: s("result_sha256").parse().expect("sha256"),
        summary_bytes: alloy::primitives::hex::decode(s("summary")).expect("summary hex"),
        cid: s("cid"),
    }
}
