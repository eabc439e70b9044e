//! Image decoding under explicit limits.
//!
//! Input bytes become an RGB8 image in its EXIF orientation, or a typed [`DecodeError`] that
//! maps to a result [`Status`]. Limits are checked before pixel data is decoded (declared
//! dimensions) and while it is (allocation), so a decompression bomb is refused from its header.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};
use thiserror::Error;

use crate::Status;

/// Limits applied to every input. All of them are part of the execution profile: workers that
/// use different limits can disagree on which inputs are `TooLarge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted input, in bytes.
    pub max_bytes: u64,
    /// Largest accepted width, in pixels (at most 65535: the summary stores `uint16`).
    pub max_width: u32,
    /// Largest accepted height, in pixels (at most 65535).
    pub max_height: u32,
    /// Largest accepted width x height.
    pub max_pixels: u64,
    /// Largest allocation the decoder may make, in bytes.
    pub max_alloc: u64,
}

impl DecodeLimits {
    /// The limits of canonical format version 1.
    pub const V1: DecodeLimits = DecodeLimits {
        max_bytes: 32 * 1024 * 1024,
        max_width: 8192,
        max_height: 8192,
        max_pixels: 24_000_000,
        max_alloc: 256 * 1024 * 1024,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::V1
    }
}

/// Why an input could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty input")]
    Empty,
    /// The bytes do not start like an image in a supported format.
    #[error("not an image in a supported format (png, jpeg, webp, gif, bmp)")]
    UnknownFormat,
    /// A recognised container whose format this build does not decode.
    #[error("unsupported image format: {0}")]
    Unsupported(String),
    /// More input bytes than [`DecodeLimits::max_bytes`].
    #[error("input is {len} bytes, over the limit of {max}")]
    TooManyBytes {
        /// Input length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Declared dimensions over the limits.
    #[error("image is {width}x{height}, over the limits ({reason})")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Which limit.
        reason: &'static str,
    },
    /// The decoder would allocate more than allowed.
    #[error("decoding needs more memory than allowed: {0}")]
    Allocation(String),
    /// Truncated or invalid data.
    #[error("corrupt image: {0}")]
    Corrupt(String),
}

impl DecodeError {
    /// The result status this error maps to.
    pub fn status(&self) -> Status {
        match self {
            DecodeError::Empty | DecodeError::UnknownFormat | DecodeError::Unsupported(_) => {
                Status::NotAnImage
            }
            DecodeError::TooManyBytes { .. }
            | DecodeError::TooLarge { .. }
            | DecodeError::Allocation(_) => Status::TooLarge,
            DecodeError::Corrupt(_) => Status::CorruptImage,
        }
    }
}

/// A decoded input: RGB8 pixels in display orientation.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// Pixels after EXIF orientation, any colour type converted to RGB8 (alpha discarded).
    pub rgb: RgbImage,
    /// The container format that was decoded.
    pub format: ImageFormat,
}

fn map_image_error(e: ImageError) -> DecodeError {
    match e {
        ImageError::Limits(l) => DecodeError::Allocation(l.to_string()),
        ImageError::Unsupported(u) => DecodeError::Unsupported(u.to_string()),
        ImageError::Decoding(d) => DecodeError::Corrupt(d.to_string()),
        ImageError::IoError(io) => DecodeError::Corrupt(io.to_string()),
        ImageError::Parameter(p) => DecodeError::Corrupt(p.to_string()),
        ImageError::Encoding(en) => DecodeError::Corrupt(en.to_string()),
    }
}

fn check_dimensions(w: u32, h: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let too_large = |reason| DecodeError::TooLarge {
        width: w,
        height: h,
        reason,
    };
    if w > limits.max_width.min(u32::from(u16::MAX)) {
        return Err(too_large("width"));
    }
    if h > limits.max_height.min(u32::from(u16::MAX)) {
        return Err(too_large("height"));
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(too_large("total pixels"));
    }
    if w == 0 || h == 0 {
        return Err(DecodeError::Corrupt(format!("image is {w}x{h}")));
    }
    Ok(())
}

/// Whether a JPEG has an end-of-image marker (`FF D9`) after its first start-of-scan (`FF DA`).
/// Inside entropy-coded data `FF` is always followed by `00` or a restart marker, so `FF D9`
/// there is the real end of the image.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xff, 0xda]) else {
        return false;
    };
    bytes[sos..].windows(2).any(|w| w == [0xff, 0xd9])
}

/// Decodes `bytes` under `limits`. Never panics on hostile input.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<DecodedImage, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let len = bytes.len() as u64;
    if len > limits.max_bytes {
        return Err(DecodeError::TooManyBytes {
            len,
            max: limits.max_bytes,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    let format = reader.format().ok_or(DecodeError::UnknownFormat)?;
    if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
        // The JPEG decoder fills missing scan data with grey; a truncated file is corrupt.
        return Err(DecodeError::Corrupt(
            "JPEG without end-of-image marker (truncated)".into(),
        ));
    }
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    l.max_alloc = Some(limits.max_alloc);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        // Dimension limits are checked against the header when the decoder is made.
        ImageError::Limits(_) => DecodeError::TooLarge {
            width: 0,
            height: 0,
            reason: "declared dimensions",
        },
        other => map_image_error(other),
    })?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, limits)?;
    // A malformed EXIF block is not fatal: the picture is used as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    let rgb = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.into_rgb8(),
    };
    Ok(DecodedImage { rgb, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png)
            .expect("encode png");
        out.into_inner()
    }

    #[test]
    fn decodes_png_pixels() {
        let d = decode(&png(5, 3), &DecodeLimits::V1).expect("decodes");
        assert_eq!(d.rgb.dimensions(), (5, 3));
        assert_eq!(d.rgb.get_pixel(4, 2).0, [4, 2, 7]);
        assert_eq!(d.format, ImageFormat::Png);
    }

    #[test]
    fn statuses_of_simple_failures() {
        assert_eq!(
            decode(b"", &DecodeLimits::V1)
                .expect_err("must fail")
                .status(),
            Status::NotAnImage
        );
        assert_eq!(
            decode(b"hello, world", &DecodeLimits::V1)
                .expect_err("must fail")
                .status(),
            Status::NotAnImage
        );
        let small = DecodeLimits {
            max_width: 4,
            ..DecodeLimits::V1
        };
        assert_eq!(
            decode(&png(5, 3), &small).expect_err("must fail").status(),
            Status::TooLarge
        );
        let few_bytes = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::V1
        };
        assert_eq!(
            decode(&png(5, 3), &few_bytes)
                .expect_err("must fail")
                .status(),
            Status::TooLarge
        );
    }
}
