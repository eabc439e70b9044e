//! The canonical result: deterministic bytes that replicated workers agree on, bit for bit.
//!
//! Layout of format version 1 (all integers big-endian; documented in `docs/inference.md`):
//!
//! ```text
//! magic "MOCR" | version u8 = 1 | status u8 | flags u8 (bit 0: truncated)
//! model_sha256 [32] | input_sha256 [32]
//! width u16 | height u16            image size after EXIF orientation (0 when unknown)
//! grid_width u16 | grid_height u16  size of the mask grid (the working image; 0 when none)
//! count u16, then per detection, in canonical order:
//!   label u16 | score_bps u16 | x0 u16 | y0 u16 | x1 u16 | y1 u16 | mask_area u32
//!   gx0 u16 | gy0 u16 | gx1 u16 | gy1 u16 | grid_area u32 | runs u32 | runs x LEB128 varint
//! ```
//!
//! Boxes are half-open `[x0, x1) x [y0, y1)`. The mask is a run-length encoding of the grid box
//! `[gx0, gx1) x [gy0, gy1)`, row-major, alternating runs of 0 and 1 starting with 0.

use std::cmp::{Ordering, Reverse};

use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::Status;

/// Leading bytes of every canonical result.
pub const MAGIC: [u8; 4] = *b"MOCR";
/// Format version written by this crate.
pub const FORMAT_VERSION: u8 = 1;
/// Largest canonical result, in bytes (it is stored on IPFS as one raw block).
pub const MAX_RESULT_BYTES: usize = 1 << 20;
/// Most detections a result holds.
pub const MAX_DETECTIONS: usize = 100;
/// Longest side of the working image (masks are computed on this grid).
pub const WORKING_MAX_SIDE: u32 = 1024;
/// Flag bit: detections were dropped (from the end of the order) to fit [`MAX_RESULT_BYTES`].
pub const FLAG_TRUNCATED: u8 = 1;

const HEADER_LEN: usize = 4 + 3 + 32 + 32 + 8 + 2;

/// Quantizes a model score to basis points on a 1 % grid: `floor(score * 100) * 100`.
///
/// The 1 % grid (rather than 1 bp) keeps scores that differ by ~1e-5 between thread counts or
/// CPU code paths in the same bucket except when they straddle a boundary.
pub fn quantize_score(score: f32) -> u16 {
    if !score.is_finite() {
        return 0;
    }
    let pct = (f64::from(score) * 100.0).floor().clamp(0.0, 100.0);
    (pct as u16) * 100
}

/// A binary mask on the working grid, run-length encoded over its tight bounding box.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mask {
    /// Tight box on the grid, half-open: `[x0, x1) x [y0, y1)`.
    pub x0: u16,
    /// Top row.
    pub y0: u16,
    /// One past the right column.
    pub x1: u16,
    /// One past the bottom row.
    pub y1: u16,
    /// Number of set cells.
    pub area: u32,
    /// Alternating runs of 0 and 1 over the box, row-major, starting with a (possibly empty) 0 run.
    pub runs: Vec<u32>,
}

impl Mask {
    /// Builds a mask from a row-major grid of `width x height` cells (non-zero = set).
    /// Returns `None` when no cell is set.
    pub fn from_grid(cells: &[u8], width: usize, height: usize) -> Option<Mask> {
        debug_assert_eq!(cells.len(), width * height);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        for y in 0..height {
            let row = &cells[y * width..(y + 1) * width];
            if let Some(first) = row.iter().position(|&c| c != 0) {
                let last = row.iter().rposition(|&c| c != 0).unwrap_or(first);
                x0 = x0.min(first);
                x1 = x1.max(last + 1);
                y0 = y0.min(y);
                y1 = y + 1;
            }
        }
        if x0 == usize::MAX {
            return None;
        }
        let mut runs = Vec::new();
        let mut current = 0u8;
        let mut run = 0u32;
        let mut area = 0u32;
        for y in y0..y1 {
            for &c in &cells[y * width + x0..y * width + x1] {
                let bit = u8::from(c != 0);
                area += u32::from(bit);
                if bit == current {
                    run += 1;
                } else {
                    runs.push(run);
                    current = bit;
                    run = 1;
                }
            }
        }
        runs.push(run);
        Some(Mask {
            x0: x0 as u16,
            y0: y0 as u16,
            x1: x1 as u16,
            y1: y1 as u16,
            area,
            runs,
        })
    }

    /// Expands the mask back onto a `width x height` grid (1 = set).
    pub fn to_grid(&self, width: usize, height: usize) -> Vec<u8> {
        let mut out = vec![0u8; width * height];
        let bw = usize::from(self.x1 - self.x0);
        let mut pos = 0usize;
        let mut bit = 0u8;
        for &r in &self.runs {
            for i in pos..pos + r as usize {
                let x = usize::from(self.x0) + i % bw.max(1);
                let y = usize::from(self.y0) + i / bw.max(1);
                if bit == 1 && x < width && y < height {
                    out[y * width + x] = 1;
                }
            }
            pos += r as usize;
            bit ^= 1;
        }
        out
    }
}

/// One detection in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Detection {
    /// Class index into the model's labels (0 is background and never reported).
    pub label: u16,
    /// Quantized score in basis points, a multiple of 100 (see [`quantize_score`]).
    pub score_bps: u16,
    /// Box in pixels of the oriented image, half-open `[x0, x1) x [y0, y1)`.
    pub bbox: [u16; 4],
    /// Mask area in pixels of the oriented image (the grid area scaled, rounded half up).
    pub mask_area: u32,
    /// The mask on the working grid.
    pub mask: Mask,
}

impl Detection {
    /// Makes a detection from a grid mask, mapping its box and area to image pixels.
    /// `image` is the oriented image size, `grid` the working grid size.
    pub fn new(
        label: u16,
        score_bps: u16,
        mask: Mask,
        image: (u16, u16),
        grid: (u16, u16),
    ) -> Self {
        let (w, h) = (u64::from(image.0), u64::from(image.1));
        let (gw, gh) = (u64::from(grid.0).max(1), u64::from(grid.1).max(1));
        let floor = |v: u16, full: u64, g: u64| (u64::from(v) * full / g).min(full) as u16;
        let ceil = |v: u16, full: u64, g: u64| (u64::from(v) * full).div_ceil(g).min(full) as u16;
        let bbox = [
            floor(mask.x0, w, gw),
            floor(mask.y0, h, gh),
            ceil(mask.x1, w, gw),
            ceil(mask.y1, h, gh),
        ];
        let cells = gw * gh;
        let mask_area =
            ((u64::from(mask.area) * w * h + cells / 2) / cells).min(u64::from(u32::MAX));
        Detection {
            label,
            score_bps,
            bbox,
            mask_area: mask_area as u32,
            mask,
        }
    }

    fn order_key(&self) -> impl Ord + '_ {
        (
            Reverse(self.score_bps),
            self.label,
            [self.bbox[1], self.bbox[0], self.bbox[3], self.bbox[2]],
            Reverse(self.mask_area),
            &self.mask,
        )
    }

    /// The canonical total order: score descending, then label, box (y0, x0, y1, x1),
    /// mask area descending, and the mask itself (box, area, runs).
    pub fn canonical_cmp(&self, other: &Self) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }

    fn encoded_len(&self) -> usize {
        let runs: usize = self.mask.runs.iter().map(|&r| varint_len(r)).sum();
        16 + 16 + runs
    }
}

/// A canonical result (see the module documentation for the byte layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalResult {
    /// Outcome.
    pub status: Status,
    /// sha256 of the model file (`model.pt`): identifies the model artifact.
    pub model_sha256: [u8; 32],
    /// sha256 of the input bytes (all zero when the input could not be fetched).
    pub input_sha256: [u8; 32],
    /// Oriented image width (0 when unknown).
    pub width: u16,
    /// Oriented image height (0 when unknown).
    pub height: u16,
    /// Mask grid width (the working image; 0 for error results).
    pub grid_width: u16,
    /// Mask grid height.
    pub grid_height: u16,
    /// Whether detections were dropped to fit [`MAX_RESULT_BYTES`].
    pub truncated: bool,
    /// Detections in canonical order.
    pub detections: Vec<Detection>,
}

/// Why canonical bytes could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than the layout needs.
    #[error("canonical result truncated")]
    Truncated,
    /// Wrong magic or version.
    #[error("not a version-1 canonical result")]
    BadHeader,
    /// Unknown status code.
    #[error("invalid status code {0}")]
    BadStatus(u8),
    /// A field is inconsistent (runs not covering the box, order, trailing bytes...).
    #[error("invalid canonical result: {0}")]
    Invalid(&'static str),
}

impl CanonicalResult {
    /// A successful result: sorts the detections into canonical order, keeps at most
    /// [`MAX_DETECTIONS`], and drops trailing ones until the encoding fits [`MAX_RESULT_BYTES`].
    pub fn ok(
        model_sha256: [u8; 32],
        input_sha256: [u8; 32],
        image: (u16, u16),
        grid: (u16, u16),
        mut detections: Vec<Detection>,
    ) -> Self {
        detections.sort_by(Detection::canonical_cmp);
        let mut truncated = detections.len() > MAX_DETECTIONS;
        detections.truncate(MAX_DETECTIONS);
        let mut len = HEADER_LEN;
        let mut keep = 0;
        for d in &detections {
            if len + d.encoded_len() > MAX_RESULT_BYTES {
                truncated = true;
                break;
            }
            len += d.encoded_len();
            keep += 1;
        }
        detections.truncate(keep);
        CanonicalResult {
            status: Status::Ok,
            model_sha256,
            input_sha256,
            width: image.0,
            height: image.1,
            grid_width: grid.0,
            grid_height: grid.1,
            truncated,
            detections,
        }
    }

    /// An error result: no detections, no grid; `image` is the size when known, else (0, 0).
    pub fn error(
        status: Status,
        model_sha256: [u8; 32],
        input_sha256: [u8; 32],
        image: (u16, u16),
    ) -> Self {
        CanonicalResult {
            status,
            model_sha256,
            input_sha256,
            width: image.0,
            height: image.1,
            grid_width: 0,
            grid_height: 0,
            truncated: false,
            detections: Vec::new(),
        }
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            HEADER_LEN
                + self
                    .detections
                    .iter()
                    .map(Detection::encoded_len)
                    .sum::<usize>(),
        );
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.status.code());
        out.push(if self.truncated { FLAG_TRUNCATED } else { 0 });
        out.extend_from_slice(&self.model_sha256);
        out.extend_from_slice(&self.input_sha256);
        for v in [self.width, self.height, self.grid_width, self.grid_height] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&(self.detections.len() as u16).to_be_bytes());
        for d in &self.detections {
            for v in [
                d.label,
                d.score_bps,
                d.bbox[0],
                d.bbox[1],
                d.bbox[2],
                d.bbox[3],
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&d.mask_area.to_be_bytes());
            for v in [d.mask.x0, d.mask.y0, d.mask.x1, d.mask.y1] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            out.extend_from_slice(&d.mask.area.to_be_bytes());
            out.extend_from_slice(&(d.mask.runs.len() as u32).to_be_bytes());
            for &r in &d.mask.runs {
                write_varint(&mut out, r);
            }
        }
        out
    }

    /// Parses canonical bytes, checking every invariant [`CanonicalResult::encode`] guarantees
    /// (a parsed result re-encodes to the same bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() > MAX_RESULT_BYTES {
            return Err(ParseError::Invalid("over 1 MiB"));
        }
        let mut r = Reader { b: bytes, pos: 0 };
        if r.take(4)? != MAGIC || r.u8()? != FORMAT_VERSION {
            return Err(ParseError::BadHeader);
        }
        let code = r.u8()?;
        let status = Status::from_code(code).ok_or(ParseError::BadStatus(code))?;
        let flags = r.u8()?;
        if flags & !FLAG_TRUNCATED != 0 {
            return Err(ParseError::Invalid("unknown flags"));
        }
        let model_sha256 = r.array32()?;
        let input_sha256 = r.array32()?;
        let (width, height, grid_width, grid_height) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
        let count = usize::from(r.u16()?);
        if count > MAX_DETECTIONS || (status != Status::Ok && count > 0) {
            return Err(ParseError::Invalid("detection count"));
        }
        let mut detections = Vec::with_capacity(count);
        for _ in 0..count {
            let (label, score_bps) = (r.u16()?, r.u16()?);
            let bbox = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
            let mask_area = r.u32()?;
            let (x0, y0, x1, y1) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
            let area = r.u32()?;
            let n = r.u32()? as usize;
            if n > bytes.len() {
                return Err(ParseError::Truncated);
            }
            let mut runs = Vec::with_capacity(n);
            for _ in 0..n {
                runs.push(r.varint()?);
            }
            let mask = Mask {
                x0,
                y0,
                x1,
                y1,
                area,
                runs,
            };
            check_mask(&mask, grid_width, grid_height)?;
            let d = Detection::new(
                label,
                score_bps,
                mask,
                (width, height),
                (grid_width, grid_height),
            );
            if d.bbox != bbox
                || d.mask_area != mask_area
                || score_bps > 10_000
                || score_bps % 100 != 0
            {
                return Err(ParseError::Invalid("detection fields"));
            }
            if let Some(prev) = detections.last() {
                if Detection::canonical_cmp(prev, &d) == Ordering::Greater {
                    return Err(ParseError::Invalid("detections out of order"));
                }
            }
            detections.push(d);
        }
        if r.pos != bytes.len() {
            return Err(ParseError::Invalid("trailing bytes"));
        }
        Ok(CanonicalResult {
            status,
            model_sha256,
            input_sha256,
            width,
            height,
            grid_width,
            grid_height,
            truncated: flags & FLAG_TRUNCATED != 0,
            detections,
        })
    }

    /// sha256 of the canonical bytes (`resultSha256` on chain).
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }

    /// CIDv1 (raw codec, sha2-256) of the canonical bytes, base32 lower-case (`bafkrei...`).
    pub fn cid(&self) -> String {
        cid_of_sha256(&self.sha256())
    }
}

/// CIDv1 string (raw codec 0x55, multihash sha2-256 0x12) for content with this sha256.
pub fn cid_of_sha256(sha256: &[u8; 32]) -> String {
    const RAW: u64 = 0x55;
    const SHA2_256: u64 = 0x12;
    match multihash::Multihash::<64>::wrap(SHA2_256, sha256) {
        Ok(mh) => cid::Cid::new_v1(RAW, mh).to_string(),
        // A 32-byte digest always fits a 64-byte multihash.
        Err(_) => unreachable!("32-byte digest fits"),
    }
}

fn check_mask(m: &Mask, gw: u16, gh: u16) -> Result<(), ParseError> {
    if m.x0 >= m.x1 || m.y0 >= m.y1 || m.x1 > gw || m.y1 > gh {
        return Err(ParseError::Invalid("mask box"));
    }
    let cells = u64::from(m.x1 - m.x0) * u64::from(m.y1 - m.y0);
    let total: u64 = m.runs.iter().map(|&r| u64::from(r)).sum();
    let set: u64 = m
        .runs
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&r| u64::from(r))
        .sum();
    let zero_inner = m.runs.iter().skip(1).any(|&r| r == 0);
    if total != cells || set != u64::from(m.area) || m.area == 0 || zero_inner {
        return Err(ParseError::Invalid("mask runs"));
    }
    Ok(())
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(ParseError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ParseError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, ParseError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn array32(&mut self) -> Result<[u8; 32], ParseError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn varint(&mut self) -> Result<u32, ParseError> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                // Reject non-minimal encodings so that every value has one encoding.
                if shift > 0 && byte == 0 {
                    return Err(ParseError::Invalid("non-minimal varint"));
                }
                return u32::try_from(v).map_err(|_| ParseError::Invalid("varint overflow"));
            }
        }
        Err(ParseError::Invalid("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_mask(w: usize, h: usize, f: impl Fn(usize, usize) -> bool) -> Vec<u8> {
        (0..w * h).map(|i| u8::from(f(i % w, i / w))).collect()
    }

    #[test]
    fn quantization_uses_a_one_percent_floor() {
        assert_eq!(quantize_score(0.0), 0);
        assert_eq!(quantize_score(0.5), 5000);
        assert_eq!(quantize_score(0.99999), 9900);
        assert_eq!(quantize_score(1.0), 10_000);
        assert_eq!(quantize_score(1.5), 10_000);
        assert_eq!(quantize_score(-0.2), 0);
        assert_eq!(quantize_score(f32::NAN), 0);
    }

    #[test]
    fn mask_round_trips_through_runs() {
        let (w, h) = (9, 7);
        let cells = grid_mask(w, h, |x, y| {
            (2..6).contains(&x) && (1..5).contains(&y) && (x + y) % 3 != 0
        });
        let m = Mask::from_grid(&cells, w, h).expect("non-empty");
        assert_eq!((m.x0, m.y0, m.x1, m.y1), (2, 1, 6, 5));
        assert_eq!(m.area as usize, cells.iter().filter(|&&c| c == 1).count());
        assert_eq!(m.to_grid(w, h), cells);
        assert!(Mask::from_grid(&vec![0; w * h], w, h).is_none());
    }

    #[test]
    fn order_is_total_and_encoding_round_trips() {
        let (w, h) = (16usize, 12usize);
        let a = Mask::from_grid(&grid_mask(w, h, |x, y| x < 4 && y < 4), w, h).expect("a");
        let b = Mask::from_grid(&grid_mask(w, h, |x, y| x > 8 && y > 6), w, h).expect("b");
        let dets = vec![
            Detection::new(2, 6100, b.clone(), (32, 24), (16, 12)),
            Detection::new(1, 9100, a.clone(), (32, 24), (16, 12)),
            Detection::new(1, 6100, a, (32, 24), (16, 12)),
        ];
        let r = CanonicalResult::ok([1; 32], [2; 32], (32, 24), (16, 12), dets.clone());
        let scores: Vec<_> = r
            .detections
            .iter()
            .map(|d| (d.score_bps, d.label))
            .collect();
        assert_eq!(scores, vec![(9100, 1), (6100, 1), (6100, 2)]);
        // Scaled to image pixels: grid box [9, 16) x [7, 12) doubles.
        assert_eq!(r.detections[2].bbox, [18, 14, 32, 24]);
        assert_eq!(r.detections[2].mask_area, 7 * 5 * 4);
        // Input order does not matter.
        let mut rev = dets;
        rev.reverse();
        let r2 = CanonicalResult::ok([1; 32], [2; 32], (32, 24), (16, 12), rev);
        assert_eq!(r.encode(), r2.encode());
        let parsed = CanonicalResult::parse(&r.encode()).expect("parses");
        assert_eq!(parsed, r);
        // Any single-byte change is either rejected or changes the result.
        let bytes = r.encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(p) = CanonicalResult::parse(&b) {
                assert_ne!(p, r, "byte {i}");
            }
        }
        assert_eq!(
            CanonicalResult::parse(&bytes[..bytes.len() - 1]).expect_err("must fail"),
            ParseError::Truncated
        );
    }

    #[test]
    fn cid_is_cidv1_raw_sha256_base32() {
        // sha256 of the empty string, whose raw CIDv1 is well known.
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            cid_of_sha256(&empty),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        let r = CanonicalResult::error(Status::NotAnImage, [0; 32], [0; 32], (0, 0));
        assert!(r.cid().starts_with("bafkrei"));
        assert_eq!(r.encode().len(), HEADER_LEN);
    }

    #[test]
    fn oversized_results_are_truncated_to_one_mebibyte() {
        // Checkerboard masks on a 1024x1024 grid encode to ~1 byte per cell.
        let (w, h) = (1024usize, 1024usize);
        let cells = grid_mask(w, h, |x, y| (x + y) % 2 == 0);
        let m = Mask::from_grid(&cells, w, h).expect("mask");
        let dets: Vec<_> = (0..3)
            .map(|i| Detection::new(1 + i, 9000, m.clone(), (1024, 1024), (1024, 1024)))
            .collect();
        let r = CanonicalResult::ok([0; 32], [0; 32], (1024, 1024), (1024, 1024), dets);
        assert!(r.truncated);
        assert!(r.encode().len() <= MAX_RESULT_BYTES);
        assert_eq!(r.detections.len(), 1, "one ~1 MB mask fits, two do not");
        assert_eq!(CanonicalResult::parse(&r.encode()).expect("parses"), r);
    }
}
