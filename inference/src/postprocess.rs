//! Raw model outputs to canonical detections.

use tch::{Kind, Tensor};

use crate::canonical::{quantize_score, Detection, Mask};
use crate::model::{InstanceOutput, ModelError, Thresholds};

/// Smallest connected component (in grid cells) a semantic model reports.
pub const SEMANTIC_MIN_AREA: u32 = 16;

/// Score threshold in basis points: detections need `score_bps >= ceil(score * 10000)`.
pub fn score_threshold_bps(t: &Thresholds) -> u16 {
    (t.score * 10_000.0).ceil().clamp(0.0, 10_000.0) as u16
}

fn to_vec<T: tch::kind::Element + Copy>(t: &Tensor) -> Result<Vec<T>, ModelError> {
    let flat = t.f_flatten(0, -1)?;
    Ok(Vec::<T>::try_from(&flat)?)
}

/// Instance outputs to detections: score quantized then thresholded, mask probabilities
/// `> thresholds.mask`, boxes taken from the thresholded mask (so they are integers by
/// construction), detections with background label or empty masks dropped.
pub fn instance_detections(
    out: &InstanceOutput,
    thresholds: &Thresholds,
    image: (u16, u16),
    grid: (u16, u16),
) -> Result<Vec<Detection>, ModelError> {
    let (gw, gh) = (usize::from(grid.0), usize::from(grid.1));
    let size = out.masks.size();
    if size.len() != 4 || size[2] != gh as i64 || size[3] != gw as i64 {
        return Err(ModelError::Output(format!(
            "masks {size:?} do not match the {gw}x{gh} input"
        )));
    }
    let scores: Vec<f32> = to_vec(&out.scores.f_to_kind(Kind::Float)?)?;
    let labels: Vec<i64> = to_vec(&out.labels.f_to_kind(Kind::Int64)?)?;
    let cells: Vec<u8> = to_vec(&out.masks.f_gt(thresholds.mask)?.f_to_kind(Kind::Uint8)?)?;
    let min_bps = score_threshold_bps(thresholds);
    let per = gw * gh;
    let mut dets = Vec::new();
    for (i, (&score, &label)) in scores.iter().zip(&labels).enumerate() {
        let score_bps = quantize_score(score);
        if score_bps < min_bps || label <= 0 || label > i64::from(u16::MAX) {
            continue;
        }
        let Some(slice) = cells.get(i * per..(i + 1) * per) else {
            return Err(ModelError::Output(
                "mask tensor shorter than expected".into(),
            ));
        };
        if let Some(mask) = Mask::from_grid(slice, gw, gh) {
            dets.push(Detection::new(label as u16, score_bps, mask, image, grid));
        }
    }
    Ok(dets)
}

/// Semantic logits `[C, H, W]` to detections: per-pixel argmax, then 4-connected components of
/// each non-background class with at least [`SEMANTIC_MIN_AREA`] cells; a component's score is
/// the mean (in row-major order, f64) of the winning class's softmax probability over it.
pub fn semantic_detections(
    logits: &Tensor,
    thresholds: &Thresholds,
    image: (u16, u16),
    grid: (u16, u16),
) -> Result<Vec<Detection>, ModelError> {
    let (gw, gh) = (usize::from(grid.0), usize::from(grid.1));
    let size = logits.size();
    if size.len() != 3 || size[1] != gh as i64 || size[2] != gw as i64 || size[0] < 1 {
        return Err(ModelError::Output(format!(
            "logits {size:?} do not match the {gw}x{gh} input"
        )));
    }
    let probs = logits.f_to_kind(Kind::Float)?.f_softmax(0, Kind::Float)?;
    let (maxp, argmax) = probs.f_max_dim(0, false)?;
    let classes: Vec<i64> = to_vec(&argmax)?;
    let maxp: Vec<f32> = to_vec(&maxp)?;
    let min_bps = score_threshold_bps(thresholds);
    let mut seen = vec![false; gw * gh];
    let mut dets = Vec::new();
    let mut stack = Vec::new();
    let mut pixels: Vec<usize> = Vec::new();
    for start in 0..gw * gh {
        let class = classes[start];
        if seen[start] || class <= 0 {
            continue;
        }
        // Flood fill, then visit the component's pixels in row-major order.
        pixels.clear();
        stack.push(start);
        seen[start] = true;
        while let Some(p) = stack.pop() {
            pixels.push(p);
            let (x, y) = (p % gw, p / gw);
            let mut visit = |q: usize| {
                if !seen[q] && classes[q] == class {
                    seen[q] = true;
                    stack.push(q);
                }
            };
            if x > 0 {
                visit(p - 1);
            }
            if x + 1 < gw {
                visit(p + 1);
            }
            if y > 0 {
                visit(p - gw);
            }
            if y + 1 < gh {
                visit(p + gw);
            }
        }
        if (pixels.len() as u32) < SEMANTIC_MIN_AREA || class > i64::from(u16::MAX) {
            continue;
        }
        pixels.sort_unstable();
        let sum: f64 = pixels.iter().map(|&p| f64::from(maxp[p])).sum();
        let score = (sum / pixels.len() as f64) as f32;
        let score_bps = quantize_score(score);
        if score_bps < min_bps {
            continue;
        }
        let (x0, x1) = pixels.iter().fold((usize::MAX, 0), |(a, b), &p| {
            (a.min(p % gw), b.max(p % gw + 1))
        });
        let (y0, y1) = (pixels[0] / gw, pixels[pixels.len() - 1] / gw + 1);
        let bw = x1 - x0;
        let mut local = vec![0u8; bw * (y1 - y0)];
        for &p in &pixels {
            local[(p / gw - y0) * bw + (p % gw - x0)] = 1;
        }
        if let Some(mut mask) = Mask::from_grid(&local, bw, y1 - y0) {
            mask.x0 += x0 as u16;
            mask.x1 += x0 as u16;
            mask.y0 += y0 as u16;
            mask.y1 += y0 as u16;
            dets.push(Detection::new(class as u16, score_bps, mask, image, grid));
        }
    }
    Ok(dets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_components_split_by_connectivity() {
        // 3 classes on a 8x6 grid: class 1 in two separate blobs, class 2 in one.
        let (w, h) = (8i64, 6i64);
        let mut logits = vec![0f32; (3 * w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let c = if (x < 3 && y < 3) || (x >= 5 && y >= 3) {
                    1
                } else if y >= 4 && x < 3 {
                    2
                } else {
                    0
                };
                logits[(c * w * h + y * w + x) as usize] = 5.0;
            }
        }
        let t = Tensor::from_slice(&logits).view([3, h, w]);
        let th = Thresholds {
            score: 0.5,
            mask: 0.5,
        };
        let mut dets = semantic_detections(&t, &th, (16, 12), (8, 6)).expect("runs");
        dets.sort_by(Detection::canonical_cmp);
        // 9-cell and 9-cell blobs of class 1 and a 6-cell blob of class 2: all under the
        // minimum area, so nothing is reported...
        assert!(dets.is_empty());
        // ...until the grid is big enough.
        let big = t.unsqueeze(0).upsample_nearest2d([24, 32], None, None);
        let dets = semantic_detections(&big.squeeze_dim(0), &th, (32, 24), (32, 24));
        let dets = dets.expect("runs");
        let mut labels: Vec<_> = dets.iter().map(|d| (d.label, d.mask.area)).collect();
        labels.sort();
        assert_eq!(labels, vec![(1, 144), (1, 144), (2, 96)]);
        assert!(dets.iter().all(|d| d.score_bps >= 9800));
    }
}
