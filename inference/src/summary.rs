//! The on-chain summary and the digests the contracts check.
//!
//! ```solidity
//! struct Detection { uint16 label; uint16 scoreBps; uint16 x0; uint16 y0; uint16 x1; uint16 y1; uint32 maskArea; }
//! struct Summary { uint8 status; uint16 width; uint16 height; Detection[] detections; }
//! ```
//! `summaryBytes = abi.encode(summary)`;
//! `digest = keccak256(abi.encode(keccak256(summaryBytes), resultSha256))`;
//! `resultHash = keccak256(abi.encode(taskId, digest))`;
//! `sketchHash = keccak256(sketchBytes)` (the result's [`Sketch`], shaped by the model's kind);
//! `resultSeal = keccak256(abi.encode(worker, taskId, digest, sketchHash))` (seal v2: the seal also
//! binds the sketch, which the tolerant fallback reveals; the exact path compares `resultHash`
//! only, so identical results still agree).

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;

use crate::canonical::CanonicalResult;
use crate::model::ModelKind;
use crate::sketch::Sketch;

/// Most detections the summary carries: the first ones of the canonical order.
pub const MAX_SUMMARY_DETECTIONS: usize = 16;

alloy_sol_types::sol! {
    /// One detection as the contracts see it.
    #[derive(Debug, PartialEq, Eq)]
    struct SummaryDetection {
        uint16 label;
        uint16 scoreBps;
        uint16 x0;
        uint16 y0;
        uint16 x1;
        uint16 y1;
        uint32 maskArea;
    }

    /// The summary the contracts check against the digest.
    #[derive(Debug, PartialEq, Eq)]
    struct Summary {
        uint8 status;
        uint16 width;
        uint16 height;
        SummaryDetection[] detections;
    }
}

impl Summary {
    /// The summary of a canonical result.
    pub fn of(result: &CanonicalResult) -> Self {
        Summary {
            status: result.status.code(),
            width: result.width,
            height: result.height,
            detections: result
                .detections
                .iter()
                .take(MAX_SUMMARY_DETECTIONS)
                .map(|d| SummaryDetection {
                    label: d.label,
                    scoreBps: d.score_bps,
                    x0: d.bbox[0],
                    y0: d.bbox[1],
                    x1: d.bbox[2],
                    y1: d.bbox[3],
                    maskArea: d.mask_area,
                })
                .collect(),
        }
    }

    /// `abi.encode(summary)` (one tuple argument: starts with the 0x20 offset word).
    pub fn abi_bytes(&self) -> Vec<u8> {
        SolValue::abi_encode(self)
    }
}

/// `keccak256(abi.encode(keccak256(summaryBytes), resultSha256))`.
pub fn digest(summary_bytes: &[u8], result_sha256: &[u8; 32]) -> B256 {
    let summary_hash = keccak256(summary_bytes);
    keccak256((summary_hash, B256::from(*result_sha256)).abi_encode())
}

/// `keccak256(abi.encode(taskId, digest))`, what a worker commits.
pub fn result_hash(task_id: U256, digest: B256) -> B256 {
    keccak256((task_id, digest).abi_encode())
}

/// `keccak256(abi.encode(worker, taskId, digest, sketchHash))`, the worker's seal on its commit.
pub fn result_seal(worker: Address, task_id: U256, digest: B256, sketch_hash: B256) -> B256 {
    keccak256((worker, task_id, digest, sketch_hash).abi_encode())
}

/// Everything a worker needs from one result for commit and reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// `abi.encode(summary)`.
    pub summary_bytes: Vec<u8>,
    /// `keccak256(summaryBytes)`.
    pub summary_hash: B256,
    /// sha256 of the canonical bytes.
    pub result_sha256: B256,
    /// The digest committed to (through `resultHash`) and revealed.
    pub digest: B256,
    /// CIDv1 of the canonical bytes.
    pub cid: String,
    /// The encoded sketch, revealed in the tolerant fallback.
    pub sketch: Vec<u8>,
    /// `keccak256(sketch)`, bound by the seal.
    pub sketch_hash: B256,
}

impl Attestation {
    /// Computes the attestation of a canonical result of a model of `kind`.
    pub fn of(result: &CanonicalResult, kind: ModelKind) -> Self {
        let summary_bytes = Summary::of(result).abi_bytes();
        let sha = result.sha256();
        let sketch = Sketch::of(result, kind).encode();
        Attestation {
            summary_hash: keccak256(&summary_bytes),
            result_sha256: B256::from(sha),
            digest: digest(&summary_bytes, &sha),
            cid: crate::canonical::cid_of_sha256(&sha),
            summary_bytes,
            sketch_hash: keccak256(&sketch),
            sketch,
        }
    }

    /// This worker's seal on its commit to `task_id`.
    pub fn seal(&self, worker: Address, task_id: U256) -> B256 {
        result_seal(worker, task_id, self.digest, self.sketch_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn summary_encoding_is_a_single_dynamic_tuple() {
        let r = CanonicalResult::error(Status::TooLarge, [0; 32], [0; 32], (0, 0));
        let b = Summary::of(&r).abi_bytes();
        // offset 0x20, status, width, height, offset of the array (0x80), length 0.
        assert_eq!(b.len(), 6 * 32);
        assert_eq!(U256::from_be_slice(&b[0..32]), U256::from(0x20));
        assert_eq!(U256::from_be_slice(&b[32..64]), U256::from(4));
        assert_eq!(U256::from_be_slice(&b[128..160]), U256::from(0x80));
        assert_eq!(U256::from_be_slice(&b[160..192]), U256::ZERO);
        let decoded = Summary::abi_decode(&b).expect("decodes");
        assert_eq!(decoded, Summary::of(&r));
    }

    #[test]
    fn digests_follow_the_formulas() {
        let s = [7u8; 32];
        let d = digest(b"abc", &s);
        let mut buf = keccak256(b"abc").to_vec();
        buf.extend_from_slice(&s);
        assert_eq!(d, keccak256(&buf));
        let worker = Address::repeat_byte(0x11);
        let mut seal = vec![0u8; 12];
        seal.extend_from_slice(worker.as_slice());
        seal.extend_from_slice(&U256::from(42).to_be_bytes::<32>());
        seal.extend_from_slice(d.as_slice());
        assert_eq!(result_hash(U256::from(42), d), keccak256(&seal[32..]));
        let sketch_hash = B256::repeat_byte(0x22);
        seal.extend_from_slice(sketch_hash.as_slice());
        assert_eq!(
            result_seal(worker, U256::from(42), d, sketch_hash),
            keccak256(&seal)
        );
    }
}
