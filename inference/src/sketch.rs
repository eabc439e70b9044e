//! Compact sketches of canonical results and the tolerance rule that compares them
//! (docs/tolerant-consensus.md). A sketch keeps, per detection, what honest numerical noise
//! barely moves and a tamperer cannot keep still: the label, the quantized score, the mask's box,
//! area and centroid on the working grid. Two results agree within tolerance when their
//! detections match one to one under [`Tolerance`]; a detection left unmatched is allowed only
//! when it sits at the model's score threshold or is barely above the smallest reported area
//! (where honest noise can make it appear or vanish).
//!
//! Two shapes, by model kind: an instance model's sketch has one entry per detection; a
//! semantic model's has one entry per label, the union of all its connected components, since
//! honest noise on a semantic model's logits splits and merges components (measured by the
//! agreement benchmark, `cargo bench -p maskoracle-inference --bench agreement`) but barely moves
//! the union. The contracts compare both shapes with the same rule.

use crate::canonical::{CanonicalResult, Detection};
use crate::model::ModelKind;
use crate::status::Status;

/// Detections a sketch keeps (the summary's first 16, in canonical order).
pub const MAX_SKETCH_DETECTIONS: usize = 16;

/// One detection of a sketch; geometry in cells of the working grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SketchDetection {
    /// Class index.
    pub label: u16,
    /// Quantized score (basis points, a multiple of 100).
    pub score_bps: u16,
    /// Mask box on the grid, half-open `[x0, x1) x [y0, y1)`.
    pub gbox: [u16; 4],
    /// Set cells.
    pub area: u32,
    /// Centroid of the set cells in 1/16 cell: `floor(16 * mean(x + 1/2))`, same for y.
    pub centroid: [u32; 2],
}

/// A fixed-layout summary of a canonical result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sketch {
    /// Outcome code.
    pub status: u8,
    /// sha256 of the model file, as the result records it.
    pub model_sha256: [u8; 32],
    /// sha256 of the input bytes, as the result records it.
    pub input_sha256: [u8; 32],
    /// Grid width.
    pub grid_width: u16,
    /// Grid height.
    pub grid_height: u16,
    /// Up to [`MAX_SKETCH_DETECTIONS`] detections in canonical order.
    pub detections: Vec<SketchDetection>,
}

/// Bytes of one encoded detection.
pub const SKETCH_DETECTION_BYTES: usize = 2 + 2 + 8 + 4 + 8;
/// Bytes of the encoded header.
pub const SKETCH_HEADER_BYTES: usize = 1 + 32 + 32 + 1 + 2 + 2;

/// Sums over a set of cells, from which a sketch entry's centroid follows.
#[derive(Debug, Clone, Copy, Default)]
struct CellSums {
    x: u64,
    y: u64,
    n: u64,
}

impl CellSums {
    fn of(d: &Detection) -> Self {
        let m = &d.mask;
        let bw = u64::from(m.x1.saturating_sub(m.x0)).max(1);
        let mut sums = CellSums::default();
        let mut pos = 0u64;
        let mut set = false;
        for &r in &m.runs {
            let r = u64::from(r);
            if set {
                // Cells pos..pos+r of the box, row-major: sum their coordinates.
                for i in pos..pos + r {
                    sums.x += u64::from(m.x0) + i % bw;
                    sums.y += u64::from(m.y0) + i / bw;
                }
                sums.n += r;
            }
            pos += r;
            set = !set;
        }
        sums
    }

    fn add(&mut self, o: CellSums) {
        self.x += o.x;
        self.y += o.y;
        self.n += o.n;
    }

    /// `floor(16 * mean(x + 1/2))` per axis (0 for no cells).
    fn centroid(&self) -> [u32; 2] {
        let c = |s: u64| {
            (16 * s + 8 * self.n)
                .checked_div(self.n)
                .map_or(0, |v| v.min(u64::from(u32::MAX)) as u32)
        };
        [c(self.x), c(self.y)]
    }
}

impl SketchDetection {
    /// The sketch of one detection.
    pub fn of(d: &Detection) -> Self {
        let m = &d.mask;
        SketchDetection {
            label: d.label,
            score_bps: d.score_bps,
            gbox: [m.x0, m.y0, m.x1, m.y1],
            area: m.area,
            centroid: CellSums::of(d).centroid(),
        }
    }

    /// The sketch entry of the union of `dets` (all of one label, at least one): the box around
    /// them all, the total area, the centroid of all their cells, and the score averaged over
    /// the cells (`floor(sum(score_bps * area) / sum(area))`).
    pub fn union(dets: &[&Detection]) -> Self {
        let mut sums = CellSums::default();
        let mut gbox = [u16::MAX, u16::MAX, 0, 0];
        let (mut area, mut weighted) = (0u64, 0u64);
        for d in dets {
            let m = &d.mask;
            sums.add(CellSums::of(d));
            gbox = [
                gbox[0].min(m.x0),
                gbox[1].min(m.y0),
                gbox[2].max(m.x1),
                gbox[3].max(m.y1),
            ];
            area += u64::from(m.area);
            weighted += u64::from(d.score_bps) * u64::from(m.area);
        }
        let score = weighted.checked_div(area).unwrap_or(0);
        SketchDetection {
            label: dets.first().map_or(0, |d| d.label),
            score_bps: score.min(u64::from(u16::MAX)) as u16,
            gbox: if dets.is_empty() { [0; 4] } else { gbox },
            area: area.min(u64::from(u32::MAX)) as u32,
            centroid: sums.centroid(),
        }
    }
}

/// What one entry of a sketch stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SketchShape {
    /// One entry per detection, in canonical order (instance models).
    PerDetection,
    /// One entry per label, the union of the label's detections, in ascending label order
    /// (semantic models, whose detections are connected components of a class map).
    PerLabel,
}

impl From<ModelKind> for SketchShape {
    fn from(k: ModelKind) -> Self {
        match k {
            ModelKind::Instance => Self::PerDetection,
            ModelKind::Semantic => Self::PerLabel,
        }
    }
}

impl Sketch {
    /// The sketch of a canonical result of a model of `kind` (its shape follows the kind).
    pub fn of(r: &CanonicalResult, kind: ModelKind) -> Self {
        Self::with_shape(r, kind.into())
    }

    /// The sketch of a canonical result in the given shape.
    pub fn with_shape(r: &CanonicalResult, shape: SketchShape) -> Self {
        let detections = match shape {
            SketchShape::PerDetection => r
                .detections
                .iter()
                .take(MAX_SKETCH_DETECTIONS)
                .map(SketchDetection::of)
                .collect(),
            SketchShape::PerLabel => {
                let mut labels: Vec<u16> = r.detections.iter().map(|d| d.label).collect();
                labels.sort_unstable();
                labels.dedup();
                labels
                    .iter()
                    .take(MAX_SKETCH_DETECTIONS)
                    .map(|&l| {
                        let of_label: Vec<&Detection> =
                            r.detections.iter().filter(|d| d.label == l).collect();
                        SketchDetection::union(&of_label)
                    })
                    .collect()
            }
        };
        Sketch {
            status: r.status.code(),
            model_sha256: r.model_sha256,
            input_sha256: r.input_sha256,
            grid_width: r.grid_width,
            grid_height: r.grid_height,
            detections,
        }
    }

    /// Big-endian bytes: `status u8 | model_sha256 [32] | input_sha256 [32] | count u8 |
    /// grid_width u16 | grid_height u16`, then per
    /// detection `label u16 | score_bps u16 | gx0 gy0 gx1 gy1 u16 | area u32 | cx u32 | cy u32`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            SKETCH_HEADER_BYTES + self.detections.len() * SKETCH_DETECTION_BYTES,
        );
        out.push(self.status);
        out.extend_from_slice(&self.model_sha256);
        out.extend_from_slice(&self.input_sha256);
        out.push(self.detections.len() as u8);
        out.extend_from_slice(&self.grid_width.to_be_bytes());
        out.extend_from_slice(&self.grid_height.to_be_bytes());
        for d in &self.detections {
            out.extend_from_slice(&d.label.to_be_bytes());
            out.extend_from_slice(&d.score_bps.to_be_bytes());
            for v in d.gbox {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&d.area.to_be_bytes());
            out.extend_from_slice(&d.centroid[0].to_be_bytes());
            out.extend_from_slice(&d.centroid[1].to_be_bytes());
        }
        out
    }
}

impl Sketch {
    /// Parses [`Sketch::encode`]'s bytes; `None` when the length does not match the count or the
    /// count is above [`MAX_SKETCH_DETECTIONS`] (what the contracts reject as malformed).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let header = b.get(..SKETCH_HEADER_BYTES)?;
        let count = usize::from(header[65]);
        if count > MAX_SKETCH_DETECTIONS
            || b.len() != SKETCH_HEADER_BYTES + count * SKETCH_DETECTION_BYTES
        {
            return None;
        }
        let u16_at = |s: &[u8], o: usize| u16::from_be_bytes([s[o], s[o + 1]]);
        let u32_at = |s: &[u8], o: usize| u32::from_be_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]]);
        let detections = b[SKETCH_HEADER_BYTES..]
            .chunks_exact(SKETCH_DETECTION_BYTES)
            .map(|d| SketchDetection {
                label: u16_at(d, 0),
                score_bps: u16_at(d, 2),
                gbox: [u16_at(d, 4), u16_at(d, 6), u16_at(d, 8), u16_at(d, 10)],
                area: u32_at(d, 12),
                centroid: [u32_at(d, 16), u32_at(d, 20)],
            })
            .collect();
        Some(Sketch {
            status: header[0],
            model_sha256: header[1..33].try_into().ok()?,
            input_sha256: header[33..65].try_into().ok()?,
            grid_width: u16_at(header, 66),
            grid_height: u16_at(header, 68),
            detections,
        })
    }
}

/// The tolerance rule's constants (fixed per model version).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Largest score difference (basis points): one grid step.
    pub score_bps: u16,
    /// Largest difference of each box edge (cells).
    pub box_cells: u16,
    /// Largest area difference: `max(area_cells, area_ppm * area / 1e6)`.
    pub area_cells: u32,
    /// Relative part of the area tolerance (parts per million of the larger area).
    pub area_ppm: u32,
    /// Largest centroid difference per axis (1/16 cell).
    pub centroid_16ths: u32,
    /// The model's score threshold (basis points): a detection at it may be unmatched.
    pub threshold_bps: u16,
    /// A detection of at most this many cells may be unmatched (semantic models drop components
    /// under 16 cells, and noise can carry one across).
    pub small_area: u32,
}

impl Tolerance {
    /// The defaults of docs/tolerant-consensus.md for a model with score threshold
    /// `threshold_bps` whose smallest reported component is `min_area` cells.
    pub fn for_model(threshold_bps: u16, min_area: u32) -> Self {
        Tolerance {
            score_bps: 100,
            box_cells: 1,
            area_cells: 4,
            area_ppm: 5_000,
            centroid_16ths: 4,
            threshold_bps,
            small_area: 2 * min_area,
        }
    }

    /// The defaults for a model of `kind` with score threshold `threshold_bps`. A semantic
    /// model's entries are unions of components, whose box a small component appearing far from
    /// the rest (honest noise near the smallest reported area) can stretch arbitrarily: its box
    /// is not compared (`box_cells` is the largest grid coordinate), and the centroid and area,
    /// which such a component barely moves, carry the check against moved masks.
    pub fn for_kind(kind: ModelKind, threshold_bps: u16) -> Self {
        match kind {
            ModelKind::Instance => Self::for_model(threshold_bps, 1),
            ModelKind::Semantic => Tolerance {
                box_cells: u16::MAX,
                ..Self::for_model(threshold_bps, crate::postprocess::SEMANTIC_MIN_AREA)
            },
        }
    }
}

/// Why two sketches do not agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// Status, model, input or grid size differ.
    Header,
    /// A detection of one has no partner in the other and is not exempt (a dropped or added
    /// detection, a swapped label, a moved mask).
    Unmatched {
        /// Index in the first sketch, or `None` when it is in the second.
        first: Option<usize>,
        /// Its label.
        label: u16,
    },
}

/// A distance of [`WITHIN`] is the tolerance's edge (distances are in millionths of it).
pub const WITHIN: u64 = 1_000_000;
/// The distance of sketches that cannot be matched at all.
pub const STRUCTURAL: u64 = u64::MAX;

/// How far `a` is from `b` relative to the tolerance: the largest of each field's difference
/// divided by its tolerance, in millionths, rounded down (integers, so that the contracts compute
/// the same). At most [`WITHIN`] means within tolerance. `None` for other labels.
pub fn detection_distance(a: &SketchDetection, b: &SketchDetection, t: &Tolerance) -> Option<u64> {
    if a.label != b.label {
        return None;
    }
    let ratio = |d: u64, tol: u64| {
        if d == 0 {
            0
        } else {
            // A zero tolerance admits no difference.
            d.saturating_mul(WITHIN)
                .checked_div(tol)
                .unwrap_or(STRUCTURAL)
        }
    };
    let mut worst = ratio(
        u64::from(a.score_bps.abs_diff(b.score_bps)),
        u64::from(t.score_bps),
    );
    for i in 0..4 {
        worst = worst.max(ratio(
            u64::from(a.gbox[i].abs_diff(b.gbox[i])),
            u64::from(t.box_cells),
        ));
    }
    let area_tol = u64::from(t.area_cells)
        .max(u64::from(a.area.max(b.area)) * u64::from(t.area_ppm) / 1_000_000);
    worst = worst.max(ratio(u64::from(a.area.abs_diff(b.area)), area_tol));
    for i in 0..2 {
        worst = worst.max(ratio(
            u64::from(a.centroid[i].abs_diff(b.centroid[i])),
            u64::from(t.centroid_16ths),
        ));
    }
    Some(worst)
}

fn same_header(a: &Sketch, b: &Sketch) -> bool {
    a.status == b.status
        && a.model_sha256 == b.model_sha256
        && a.input_sha256 == b.input_sha256
        && a.grid_width == b.grid_width
        && a.grid_height == b.grid_height
}

/// Whether a detection may go unmatched: at the score threshold, or small enough for noise to
/// carry it across the smallest reported area.
pub fn exempt(d: &SketchDetection, t: &Tolerance) -> bool {
    d.score_bps <= t.threshold_bps || d.area <= t.small_area
}

/// Compares two sketches: `Ok(distance)` (the largest matched distance, at most [`WITHIN`]) when
/// they agree, the first reason otherwise. Detections are matched greedily in the first sketch's
/// order, each to the closest unmatched partner of the same label within tolerance (the first of
/// equally close ones).
pub fn compare(a: &Sketch, b: &Sketch, t: &Tolerance) -> Result<u64, Disagreement> {
    if !same_header(a, b) {
        return Err(Disagreement::Header);
    }
    let mut used = vec![false; b.detections.len()];
    let mut worst: u64 = 0;
    for (i, da) in a.detections.iter().enumerate() {
        let best = b
            .detections
            .iter()
            .enumerate()
            .filter(|(j, _)| !used[*j])
            .filter_map(|(j, db)| detection_distance(da, db, t).map(|d| (d, j)))
            .filter(|(d, _)| *d <= WITHIN)
            .min_by_key(|x| x.0);
        match best {
            Some((d, j)) => {
                used[j] = true;
                worst = worst.max(d);
            }
            None if exempt(da, t) => {}
            None => {
                return Err(Disagreement::Unmatched {
                    first: Some(i),
                    label: da.label,
                })
            }
        }
    }
    for (j, db) in b.detections.iter().enumerate() {
        if !used[j] && !exempt(db, t) {
            return Err(Disagreement::Unmatched {
                first: None,
                label: db.label,
            });
        }
    }
    Ok(worst)
}

/// The smallest distance at which `b` would be matched to `a` (ignoring the cap): how close a
/// disagreeing sketch came to agreeing. [`STRUCTURAL`] when the structure differs (header, count
/// of non-exempt detections, labels).
pub fn distance(a: &Sketch, b: &Sketch, t: &Tolerance) -> u64 {
    if !same_header(a, b) {
        return STRUCTURAL;
    }
    let strict_a: Vec<&SketchDetection> = a.detections.iter().filter(|d| !exempt(d, t)).collect();
    let strict_b: Vec<&SketchDetection> = b.detections.iter().filter(|d| !exempt(d, t)).collect();
    if strict_a.len() != strict_b.len() {
        return STRUCTURAL;
    }
    let mut used = vec![false; strict_b.len()];
    let mut worst: u64 = 0;
    for da in strict_a {
        let best = strict_b
            .iter()
            .enumerate()
            .filter(|(j, _)| !used[*j])
            .filter_map(|(j, db)| detection_distance(da, db, t).map(|d| (d, j)))
            .min_by_key(|x| x.0);
        match best {
            Some((d, j)) => {
                used[j] = true;
                worst = worst.max(d);
            }
            None => return STRUCTURAL,
        }
    }
    worst
}

/// Whether a status code is an error (an error result's sketch has no detections).
pub fn is_error(status: u8) -> bool {
    status != Status::Ok.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Mask;

    fn det(label: u16, score_bps: u16, x0: usize, y0: usize, w: usize, h: usize) -> Detection {
        let (gw, gh) = (64usize, 48usize);
        let mut cells = vec![0u8; gw * gh];
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                cells[y * gw + x] = 1;
            }
        }
        let mask = Mask::from_grid(&cells, gw, gh).expect("mask");
        Detection::new(label, score_bps, mask, (640, 480), (64, 48))
    }

    fn sketch(dets: Vec<Detection>) -> Sketch {
        let r = CanonicalResult::ok([1; 32], [2; 32], (640, 480), (64, 48), dets);
        Sketch::of(&r, ModelKind::Instance)
    }

    fn tol() -> Tolerance {
        Tolerance::for_model(5_000, 16)
    }

    #[test]
    fn the_centroid_is_in_sixteenths_of_a_cell() {
        let s = sketch(vec![det(1, 9_000, 10, 20, 4, 2)]);
        let d = s.detections[0];
        // x in 10..14: mean centre 12.0; y in 20..22: mean centre 21.0.
        assert_eq!(d.centroid, [12 * 16, 21 * 16]);
        assert_eq!(d.gbox, [10, 20, 14, 22]);
        assert_eq!(d.area, 8);
        assert_eq!(
            s.encode().len(),
            SKETCH_HEADER_BYTES + SKETCH_DETECTION_BYTES
        );
    }

    #[test]
    fn identical_results_agree_at_distance_zero() {
        let a = sketch(vec![
            det(1, 9_000, 10, 10, 20, 20),
            det(2, 7_000, 40, 5, 10, 10),
        ]);
        assert_eq!(compare(&a, &a, &tol()), Ok(0));
    }

    #[test]
    fn a_score_step_and_a_boundary_pixel_are_within_tolerance() {
        let a = sketch(vec![det(1, 9_000, 10, 10, 20, 20)]);
        // One more cell on the right edge (the box grows by a column), one score step less.
        let mut d = det(1, 8_900, 10, 10, 20, 20);
        let mut cells = d.mask.to_grid(64, 48);
        cells[15 * 64 + 30] = 1;
        d = Detection::new(
            1,
            8_900,
            Mask::from_grid(&cells, 64, 48).expect("mask"),
            (640, 480),
            (64, 48),
        );
        let b = sketch(vec![d]);
        let d = compare(&a, &b, &tol()).expect("agree");
        assert!(d <= WITHIN && d > 0, "{d}");
    }

    #[test]
    fn a_mask_moved_by_one_cell_or_more_is_outside() {
        let a = sketch(vec![det(1, 9_000, 10, 10, 20, 20)]);
        for shift in 1..4 {
            let b = sketch(vec![det(1, 9_000, 10 + shift, 10, 20, 20)]);
            assert!(compare(&a, &b, &tol()).is_err(), "shift {shift}");
            assert!(distance(&a, &b, &tol()) > WITHIN);
        }
    }

    #[test]
    fn dropped_added_and_relabelled_detections_are_outside() {
        let base = vec![det(1, 9_000, 10, 10, 20, 20), det(2, 7_000, 40, 5, 10, 10)];
        let a = sketch(base.clone());
        let dropped = sketch(vec![base[0].clone()]);
        let added = sketch(vec![
            base[0].clone(),
            base[1].clone(),
            det(1, 8_000, 45, 30, 8, 8),
        ]);
        let relabelled = sketch(vec![base[0].clone(), det(3, 7_000, 40, 5, 10, 10)]);
        for (name, b) in [
            ("dropped", dropped),
            ("added", added),
            ("relabelled", relabelled),
        ] {
            assert!(compare(&a, &b, &tol()).is_err(), "{name}");
            assert!(compare(&b, &a, &tol()).is_err(), "{name} (other way)");
            assert_eq!(distance(&a, &b, &tol()), STRUCTURAL, "{name}");
        }
    }

    #[test]
    fn a_detection_at_the_threshold_or_tiny_may_be_missing() {
        let a = sketch(vec![
            det(1, 9_000, 10, 10, 20, 20),
            det(1, 5_000, 40, 5, 10, 10),
        ]);
        let b = sketch(vec![det(1, 9_000, 10, 10, 20, 20)]);
        assert_eq!(compare(&a, &b, &tol()), Ok(0));
        let c = sketch(vec![
            det(1, 9_000, 10, 10, 20, 20),
            det(1, 8_000, 50, 30, 4, 4),
        ]);
        assert_eq!(compare(&c, &b, &tol()), Ok(0), "16 cells <= small_area 32");
    }

    #[test]
    fn another_status_or_grid_never_agrees() {
        let a = sketch(vec![]);
        let e = Sketch::of(
            &CanonicalResult::error(Status::CorruptImage, [1; 32], [2; 32], (640, 480)),
            ModelKind::Instance,
        );
        assert_eq!(compare(&a, &e, &tol()), Err(Disagreement::Header));
    }

    #[test]
    fn decode_reads_back_what_encode_wrote_and_rejects_bad_lengths() {
        let s = sketch(vec![
            det(1, 9_000, 10, 10, 20, 20),
            det(2, 7_000, 40, 5, 10, 10),
        ]);
        let b = s.encode();
        assert_eq!(Sketch::decode(&b), Some(s));
        assert_eq!(Sketch::decode(&b[..b.len() - 1]), None);
        let mut extra = b.clone();
        extra.push(0);
        assert_eq!(Sketch::decode(&extra), None);
        let mut too_many = b[..SKETCH_HEADER_BYTES].to_vec();
        too_many[65] = 17;
        too_many.extend(std::iter::repeat_n(0u8, 17 * SKETCH_DETECTION_BYTES));
        assert_eq!(Sketch::decode(&too_many), None);
    }

    fn per_label(dets: Vec<Detection>) -> Sketch {
        let r = CanonicalResult::ok([1; 32], [2; 32], (640, 480), (64, 48), dets);
        Sketch::of(&r, ModelKind::Semantic)
    }

    fn semantic_tol() -> Tolerance {
        Tolerance::for_kind(ModelKind::Semantic, 5_000)
    }

    #[test]
    fn a_semantic_sketch_has_one_entry_per_label_in_label_order() {
        let s = per_label(vec![
            det(2, 9_000, 40, 5, 10, 10),
            det(1, 9_000, 0, 0, 4, 4),
            det(2, 7_000, 40, 30, 10, 10),
        ]);
        assert_eq!(s.detections.len(), 2);
        let (one, two) = (s.detections[0], s.detections[1]);
        assert_eq!((one.label, two.label), (1, 2));
        assert_eq!(two.area, 200);
        assert_eq!(two.gbox, [40, 5, 50, 40]);
        // Equal areas: the score is their mean; the centroid is between the two squares.
        assert_eq!(two.score_bps, 8_000);
        assert_eq!(two.centroid, [45 * 16, (10 * 16 + 35 * 16) / 2]);
    }

    #[test]
    fn a_component_split_in_two_keeps_the_semantic_sketch_within_tolerance() {
        // One 20x20 region, and the same cells reported as two components (the left and right
        // halves), as when noise cuts a thin seam.
        let halves = || vec![det(1, 9_000, 10, 10, 10, 20), det(1, 9_000, 20, 10, 10, 20)];
        let whole = per_label(vec![det(1, 9_000, 10, 10, 20, 20)]);
        assert_eq!(
            compare(&whole, &per_label(halves()), &semantic_tol()),
            Ok(0)
        );
        // The per-detection shape sees a detection without a partner.
        let one = sketch(vec![det(1, 9_000, 10, 10, 20, 20)]);
        assert!(compare(&one, &sketch(halves()), &tol()).is_err());
    }

    #[test]
    fn a_semantic_mask_moved_by_one_cell_is_outside_the_tolerance() {
        let a = per_label(vec![det(1, 9_000, 10, 10, 20, 20)]);
        let b = per_label(vec![det(1, 9_000, 11, 10, 20, 20)]);
        assert!(compare(&a, &b, &semantic_tol()).is_err());
        assert_eq!(distance(&a, &b, &semantic_tol()), 4 * WITHIN);
    }
}
