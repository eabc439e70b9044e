//! The shared test vector `test/vectors/digest.json`, read by the forge tests.
//!
//! `MASKORACLE_WRITE_VECTORS=1 cargo test -p maskoracle-inference --test digest_vector` rewrites
//! it; otherwise the committed file must equal what this test computes, byte for byte.

mod common;

use alloy_primitives::{Address, U256};
use maskoracle_inference::canonical::{CanonicalResult, Detection, Mask};
use maskoracle_inference::summary::{result_hash, Attestation};
use maskoracle_inference::ModelKind;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    task_id: String,
    worker: String,
    summary: String,
    result_sha256: String,
    summary_hash: String,
    digest: String,
    result_hash: String,
    /// The result's sketch (instance shape), revealed in the tolerant fallback.
    sketch: String,
    sketch_hash: String,
    /// Seal v2: `keccak256(abi.encode(worker, taskId, digest, sketchHash))`.
    result_seal: String,
    status: u8,
    width: u16,
    height: u16,
    detections: usize,
}

/// A fixed 64x48 result with two detections (independent of any model).
fn fixture() -> CanonicalResult {
    let (w, h) = (64usize, 48usize);
    let disc: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            u8::from((x - 20).pow(2) + (y - 18).pow(2) <= 100)
        })
        .collect();
    let rect: Vec<u8> = (0..w * h)
        .map(|i| u8::from((40..60).contains(&(i % w)) && (25..45).contains(&(i / w))))
        .collect();
    let dets = vec![
        Detection::new(
            2,
            8700,
            Mask::from_grid(&rect, w, h).expect("rect"),
            (64, 48),
            (64, 48),
        ),
        Detection::new(
            1,
            9600,
            Mask::from_grid(&disc, w, h).expect("disc"),
            (64, 48),
            (64, 48),
        ),
    ];
    CanonicalResult::ok([0x11; 32], [0x22; 32], (64, 48), (64, 48), dets)
}

#[test]
fn shared_digest_vector_matches() {
    let r = fixture();
    let att = Attestation::of(&r, ModelKind::Instance);
    let task = U256::from(42);
    let worker: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        .parse()
        .expect("address");
    let v = Vector {
        task_id: task.to_string(),
        worker: format!("{worker:#x}"),
        summary: format!("0x{}", hex::encode(&att.summary_bytes)),
        result_sha256: att.result_sha256.to_string(),
        summary_hash: att.summary_hash.to_string(),
        digest: att.digest.to_string(),
        result_hash: result_hash(task, att.digest).to_string(),
        sketch: format!("0x{}", hex::encode(&att.sketch)),
        sketch_hash: att.sketch_hash.to_string(),
        result_seal: att.seal(worker, task).to_string(),
        status: r.status.code(),
        width: r.width,
        height: r.height,
        detections: r.detections.len(),
    };
    assert_eq!(v.detections, 2);
    assert_eq!(r.detections[0].label, 1, "highest score first");
    let text = serde_json::to_string_pretty(&v).expect("json") + "\n";
    let path = common::crate_dir().join("../test/vectors/digest.json");
    if std::env::var("MASKORACLE_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(&path, &text).expect("write vector");
    }
    let committed = std::fs::read_to_string(&path).expect("test/vectors/digest.json exists");
    assert_eq!(
        committed, text,
        "rewrite with MASKORACLE_WRITE_VECTORS=1 if the format changed on purpose"
    );
}
