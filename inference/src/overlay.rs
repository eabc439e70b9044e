//! The overlay picture: translucent coloured masks, boxes, label and score text.
//!
//! For people only; it is not part of the consensus. Text uses the public-domain 8x8 bitmap
//! font of the `font8x8` crate, so no font file is needed.

use font8x8::legacy::BASIC_LEGACY;
use image::{Rgb, RgbImage};

use crate::canonical::CanonicalResult;

const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [0, 128, 128],
];
const MASK_ALPHA: u32 = 115; // out of 255

/// Colour used for a label.
pub fn label_colour(label: u16) -> [u8; 3] {
    PALETTE[usize::from(label) % PALETTE.len()]
}

fn blend(px: &mut Rgb<u8>, c: [u8; 3], alpha: u32) {
    for (p, &c) in px.0.iter_mut().zip(&c) {
        *p = ((u32::from(*p) * (255 - alpha) + u32::from(c) * alpha) / 255) as u8;
    }
}

fn fill_rect(img: &mut RgbImage, x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]) {
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, c: [u8; 3]) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = BASIC_LEGACY[(ch as usize).min(127)];
        let gx = x + i as u32 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits >> col & 1 == 1 {
                    let px = gx + col * scale;
                    let py = y + row as u32 * scale;
                    fill_rect(img, px, py, px + scale, py + scale, c);
                }
            }
        }
    }
}

/// Draws `result` over the working image (the picture its masks were computed on).
/// `label_name` names a label index. Returns the input unchanged for error results.
pub fn render(
    working: &RgbImage,
    result: &CanonicalResult,
    label_name: impl Fn(u16) -> String,
) -> RgbImage {
    let mut img = working.clone();
    let (w, h) = (img.width() as usize, img.height() as usize);
    if usize::from(result.grid_width) != w || usize::from(result.grid_height) != h {
        return img;
    }
    // Masks first (lowest score last, so the best detection stays on top), then boxes and text.
    for d in result.detections.iter().rev() {
        let cells = d.mask.to_grid(w, h);
        let c = label_colour(d.label);
        for (i, &on) in cells.iter().enumerate() {
            if on == 1 {
                blend(
                    img.get_pixel_mut((i % w) as u32, (i / w) as u32),
                    c,
                    MASK_ALPHA,
                );
            }
        }
    }
    let scale = if w.max(h) >= 640 { 2 } else { 1 };
    let t = scale; // outline thickness
    for d in result.detections.iter().rev() {
        let c = label_colour(d.label);
        let (x0, y0) = (u32::from(d.mask.x0), u32::from(d.mask.y0));
        let (x1, y1) = (u32::from(d.mask.x1), u32::from(d.mask.y1));
        fill_rect(&mut img, x0, y0, x1, (y0 + t).min(y1), c);
        fill_rect(&mut img, x0, y1.saturating_sub(t).max(y0), x1, y1, c);
        fill_rect(&mut img, x0, y0, (x0 + t).min(x1), y1, c);
        fill_rect(&mut img, x1.saturating_sub(t).max(x0), y0, x1, y1, c);
        let text = format!("{} {}%", label_name(d.label), d.score_bps / 100);
        let tw = text.chars().count() as u32 * 8 * scale + 2;
        let th = 8 * scale + 2;
        let ty = if y0 >= th { y0 - th } else { y0 };
        fill_rect(&mut img, x0, ty, x0 + tw, ty + th, c);
        let luma = u32::from(c[0]) * 3 + u32::from(c[1]) * 6 + u32::from(c[2]);
        let ink = if luma > 1300 {
            [0, 0, 0]
        } else {
            [255, 255, 255]
        };
        draw_text(&mut img, x0 + 1, ty + 1, &text, scale, ink);
    }
    img
}
