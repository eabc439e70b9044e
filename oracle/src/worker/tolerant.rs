//! The tolerant fallback, off chain: which representative to name in `settleTolerant`.
//!
//! The hub takes the representative from the caller and computes the rest itself: its members
//! are the revealed workers whose sketch agrees with the representative's (`compare(rep, other)`),
//! and a revealed worker outside is slashed only when its sketch agrees with no member. So the
//! one choice left to the settler is the representative, and it is made here the same way by
//! every keeper: the revealed worker with the most agreeing workers, ties broken by the lowest
//! `resultSha256` (independent of transaction order), and only one whose published result
//! checks out. The hub cannot see the canonical result behind a sketch; a keeper can: it
//! fetches the candidate's result by its CID, and skips a candidate whose bytes do not hash to
//! the revealed sha256, whose sketch is not the revealed one, or whose summary is not the
//! revealed summary hash. The auditor runs the same rule (`audit`).

use alloy::primitives::{keccak256, Address, B256};
use maskoracle_inference::sketch::{compare, Sketch, Tolerance};

/// One revealed sketch as `SketchRevealed` logged it, in slot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revealed {
    /// The worker.
    pub worker: Address,
    /// `keccak256(summary)` of its result.
    pub summary_hash: B256,
    /// sha256 of its canonical result.
    pub result_sha256: B256,
    /// Its encoded sketch.
    pub sketch: Vec<u8>,
}

/// A possible representative: an index into the revealed list and who agrees with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Index into the revealed list (what `settleTolerant` takes as `representative`).
    pub index: usize,
    /// Indexes of the revealed workers whose sketch agrees with the candidate's (itself too).
    pub members: Vec<usize>,
}

/// The representatives that would settle (at least `quorum` members), best first: most
/// members, then the lowest `resultSha256`. A sketch that does not parse agrees with nothing.
pub fn candidates(revealed: &[Revealed], tol: &Tolerance, quorum: usize) -> Vec<Candidate> {
    let sketches: Vec<Option<Sketch>> =
        revealed.iter().map(|r| Sketch::decode(&r.sketch)).collect();
    let mut out: Vec<Candidate> = sketches
        .iter()
        .enumerate()
        .filter_map(|(i, rep)| {
            let rep = rep.as_ref()?;
            let members: Vec<usize> = sketches
                .iter()
                .enumerate()
                .filter(|(j, s)| {
                    *j == i || s.as_ref().is_some_and(|s| compare(rep, s, tol).is_ok())
                })
                .map(|(j, _)| j)
                .collect();
            Some(Candidate { index: i, members })
        })
        .filter(|c| c.members.len() >= quorum)
        .collect();
    out.sort_by(|a, b| {
        b.members.len().cmp(&a.members.len()).then(
            revealed[a.index]
                .result_sha256
                .cmp(&revealed[b.index].result_sha256),
        )
    });
    out
}

/// The revealed workers outside `members` that the hub slashes: those agreeing with no member
/// (`compare(member, outsider)` fails for every member).
pub fn slashed_outliers(revealed: &[Revealed], members: &[usize], tol: &Tolerance) -> Vec<usize> {
    let sketches: Vec<Option<Sketch>> =
        revealed.iter().map(|r| Sketch::decode(&r.sketch)).collect();
    (0..revealed.len())
        .filter(|k| !members.contains(k))
        .filter(|&k| {
            !members.iter().any(|&j| match (&sketches[j], &sketches[k]) {
                (Some(a), Some(b)) => compare(a, b, tol).is_ok(),
                _ => false,
            })
        })
        .collect()
}

/// Why a candidate's published result cannot represent the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultMismatch {
    /// The bytes fetched do not hash to the revealed sha256.
    #[error("the published bytes do not hash to the revealed resultSha256")]
    Sha256,
    /// The bytes are not a canonical result.
    #[error("the published bytes are not a canonical result: {0}")]
    NotCanonical(String),
    /// The result's sketch is not the revealed sketch.
    #[error("the result's sketch is not the revealed one")]
    Sketch,
    /// The result's summary does not hash to the revealed summary hash.
    #[error("the result's summary does not hash to the revealed summaryHash")]
    Summary,
}

/// Checks a candidate's published canonical bytes against what it revealed and returns the
/// summary bytes to deliver (`abi.encode(Summary)`).
pub fn check_result(
    r: &Revealed,
    canonical: &[u8],
    kind: maskoracle_inference::ModelKind,
) -> Result<Vec<u8>, ResultMismatch> {
    let sha: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
        sha2::Sha256::default(),
        canonical,
    ))
    .into();
    if B256::from(sha) != r.result_sha256 {
        return Err(ResultMismatch::Sha256);
    }
    let result = maskoracle_inference::CanonicalResult::parse(canonical)
        .map_err(|e| ResultMismatch::NotCanonical(e.to_string()))?;
    if Sketch::of(&result, kind).encode() != r.sketch {
        return Err(ResultMismatch::Sketch);
    }
    let summary = maskoracle_inference::Summary::of(&result).abi_bytes();
    if keccak256(&summary) != r.summary_hash {
        return Err(ResultMismatch::Summary);
    }
    Ok(summary)
}

/// The Rust form of the registry's tolerance.
pub fn tolerance_of(t: &crate::bindings::ModelRegistry::Tolerance) -> Tolerance {
    Tolerance {
        score_bps: t.scoreBps,
        box_cells: t.boxCells,
        area_cells: t.areaCells,
        area_ppm: t.areaPpm,
        centroid_16ths: t.centroid16ths,
        threshold_bps: t.thresholdBps,
        small_area: t.smallArea,
    }
}

/// The registry's form of a tolerance (for `registerWithTolerance`).
pub fn tolerance_to_sol(t: &Tolerance) -> crate::bindings::ModelRegistry::Tolerance {
    crate::bindings::ModelRegistry::Tolerance {
        scoreBps: t.score_bps,
        boxCells: t.box_cells,
        areaCells: t.area_cells,
        areaPpm: t.area_ppm,
        centroid16ths: t.centroid_16ths,
        thresholdBps: t.threshold_bps,
        smallArea: t.small_area,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maskoracle_inference::sketch::SketchDetection;

    fn sketch(dx: u32, area: u32) -> Vec<u8> {
        Sketch {
            status: 0,
            model_sha256: [1; 32],
            input_sha256: [2; 32],
            grid_width: 64,
            grid_height: 48,
            detections: vec![SketchDetection {
                label: 1,
                score_bps: 9_000,
                gbox: [10, 10, 30, 30],
                area,
                centroid: [20 * 16 + dx, 20 * 16],
            }],
        }
        .encode()
    }

    fn revealed(byte: u8, sketch: Vec<u8>) -> Revealed {
        Revealed {
            worker: Address::repeat_byte(byte),
            summary_hash: B256::repeat_byte(byte),
            result_sha256: B256::repeat_byte(byte),
            sketch,
        }
    }

    fn tol() -> Tolerance {
        Tolerance::for_model(5_000, 1)
    }

    #[test]
    fn the_largest_agreeing_set_wins_then_the_lowest_sha256() {
        // 0, 1, 2 agree (centroids within 4/16 of each other pairwise); 3 is a mask moved by one
        // cell (16/16).
        let r = vec![
            revealed(9, sketch(0, 400)),
            revealed(5, sketch(2, 400)),
            revealed(7, sketch(4, 401)),
            revealed(1, sketch(16, 400)),
        ];
        let c = candidates(&r, &tol(), 2);
        assert_eq!(c[0].members, vec![0, 1, 2]);
        // Among the three with three members the lowest sha256 (byte 5: index 1) leads.
        assert_eq!(c[0].index, 1);
        assert_eq!(c.len(), 3, "the moved mask agrees with nobody: below Q");
        assert_eq!(slashed_outliers(&r, &c[0].members, &tol()), vec![3]);
    }

    #[test]
    fn an_outlier_that_agrees_with_one_member_is_not_slashed() {
        // 0 and 1 agree; 2 agrees with 1 (distance 4/16) but not with 0 (8/16).
        let r = vec![
            revealed(1, sketch(0, 400)),
            revealed(2, sketch(4, 400)),
            revealed(3, sketch(8, 400)),
        ];
        let c = candidates(&r, &tol(), 2);
        let best = &c[0];
        assert_eq!(best.index, 1, "index 1 agrees with both others");
        assert_eq!(best.members, vec![0, 1, 2]);
        let from_0 = c.iter().find(|x| x.index == 0).expect("0 reaches Q");
        assert_eq!(from_0.members, vec![0, 1]);
        assert!(slashed_outliers(&r, &from_0.members, &tol()).is_empty());
    }

    #[test]
    fn no_candidate_below_the_quorum_and_a_malformed_sketch_agrees_with_nothing() {
        let r = vec![
            revealed(1, sketch(0, 400)),
            revealed(2, vec![0; 10]),
            revealed(3, sketch(40, 400)),
        ];
        assert!(candidates(&r, &tol(), 2).is_empty());
        assert_eq!(slashed_outliers(&r, &[0], &tol()), vec![1, 2]);
    }
}
