//! Hostile and unusual inputs: each gets the right status or a valid result, never a panic,
//! and (checked in a fresh process per input) never more than 2x the peak memory of a normal
//! image.

mod common;

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::process::Command;

use image::{ImageFormat, Rgb, RgbImage};
use maskoracle_inference::{CanonicalResult, Model, Segmenter, Status};

fn rgb(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    })
}

fn encode(img: image::DynamicImage, f: ImageFormat) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    img.write_to(&mut c, f).expect("encode");
    c.into_inner()
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    out.extend_from_slice(&h.finalize().to_be_bytes());
}

/// A greyscale 8-bit PNG of `w x h` zero pixels with a valid zlib stream: `zeros_rows` rows of
/// real data (a decompression bomb when that is large), header only when 0.
fn grey_png(w: u32, h: u32, zero_rows: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    if zero_rows > 0 {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let row = vec![0u8; w as usize + 1];
        for _ in 0..zero_rows {
            z.write_all(&row).expect("deflate");
        }
        png_chunk(&mut out, b"IDAT", &z.finish().expect("deflate"));
    }
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A JPEG with an EXIF APP1 segment whose Orientation tag is `o` (6 = rotate 90 degrees CW).
fn jpeg_with_orientation(img: &RgbImage, o: u16) -> Vec<u8> {
    let jpg = encode(
        image::DynamicImage::ImageRgb8(img.clone()),
        ImageFormat::Jpeg,
    );
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpg[2..]);
    out
}

fn cmyk_jpeg() -> Vec<u8> {
    let (w, h) = (48u16, 32u16);
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(x * 5) as u8, (y * 7) as u8, 40, 10]);
        }
    }
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 90);
    enc.encode(&data, w, h, jpeg_encoder::ColorType::Cmyk)
        .expect("cmyk jpeg");
    out
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    want: Status,
    /// Expected oriented size for valid results.
    size: Option<(u16, u16)>,
}

fn cases() -> Vec<Case> {
    let normal = encode(rgb(64, 48).into(), ImageFormat::Png);
    let jpeg = encode(rgb(96, 64).into(), ImageFormat::Jpeg);
    let mut truncated_png = normal.clone();
    truncated_png.truncate(normal.len() / 2);
    let grey16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(40, 30, |x, y| {
        image::Luma([(x * 1000 + y * 7) as u16])
    });
    let rgb16 = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 1500) as u16, (y * 2000) as u16, 7])
    });
    let grey8 = image::GrayImage::from_fn(50, 20, |x, y| image::Luma([(x + y) as u8]));
    let rgba = image::RgbaImage::from_fn(20, 20, |x, y| {
        image::Rgba([x as u8, y as u8, 9, (x * 12) as u8])
    });
    vec![
        Case {
            name: "zero bytes",
            bytes: vec![],
            want: Status::NotAnImage,
            size: None,
        },
        Case {
            name: "text",
            bytes: b"GET /index.html HTTP/1.1\r\n\r\n".to_vec(),
            want: Status::NotAnImage,
            size: None,
        },
        Case {
            name: "tiff (not supported)",
            bytes: b"II*\x00\x08\x00\x00\x00\x00\x00".to_vec(),
            want: Status::NotAnImage,
            size: None,
        },
        Case {
            name: "truncated jpeg",
            bytes: jpeg[..jpeg.len() / 2].to_vec(),
            want: Status::CorruptImage,
            size: None,
        },
        Case {
            name: "jpeg header only",
            bytes: jpeg[..200.min(jpeg.len())].to_vec(),
            want: Status::CorruptImage,
            size: None,
        },
        Case {
            name: "truncated png",
            bytes: truncated_png,
            want: Status::CorruptImage,
            size: None,
        },
        Case {
            name: "png magic then garbage",
            bytes: b"\x89PNG\r\n\x1a\ngarbage garbage garbage".to_vec(),
            want: Status::CorruptImage,
            size: None,
        },
        Case {
            name: "png claiming 100000x100000",
            bytes: grey_png(100_000, 100_000, 0),
            want: Status::TooLarge,
            size: None,
        },
        Case {
            name: "png bomb 20000x20000 zeros",
            bytes: grey_png(20_000, 20_000, 20_000),
            want: Status::TooLarge,
            size: None,
        },
        Case {
            name: "png 8000x4000 (over total pixels)",
            bytes: grey_png(8000, 4000, 4000),
            want: Status::TooLarge,
            size: None,
        },
        Case {
            name: "png 0x0",
            bytes: grey_png(0, 0, 0),
            want: Status::CorruptImage,
            size: None,
        },
        Case {
            name: "1x1 png",
            bytes: encode(rgb(1, 1).into(), ImageFormat::Png),
            want: Status::Ok,
            size: Some((1, 1)),
        },
        Case {
            name: "16-bit grey png",
            bytes: encode(grey16.into(), ImageFormat::Png),
            want: Status::Ok,
            size: Some((40, 30)),
        },
        Case {
            name: "16-bit rgb png",
            bytes: encode(rgb16.into(), ImageFormat::Png),
            want: Status::Ok,
            size: Some((40, 30)),
        },
        Case {
            name: "8-bit grey png",
            bytes: encode(grey8.into(), ImageFormat::Png),
            want: Status::Ok,
            size: Some((50, 20)),
        },
        Case {
            name: "rgba png",
            bytes: encode(rgba.into(), ImageFormat::Png),
            want: Status::Ok,
            size: Some((20, 20)),
        },
        Case {
            name: "cmyk jpeg",
            bytes: cmyk_jpeg(),
            want: Status::Ok,
            size: Some((48, 32)),
        },
        Case {
            name: "exif rotated jpeg",
            bytes: jpeg_with_orientation(&rgb(96, 64), 6),
            want: Status::Ok,
            size: Some((64, 96)),
        },
        Case {
            name: "normal png",
            bytes: normal,
            want: Status::Ok,
            size: Some((64, 48)),
        },
    ]
}

#[test]
fn hostile_inputs_get_the_right_status_and_valid_results() {
    let seg = Segmenter::new(Model::load(common::tiny_instance()).expect("model"));
    let mut failures = Vec::new();
    for c in cases() {
        let s = seg.segment(&c.bytes);
        let r = &s.result;
        // Whatever the status, the canonical bytes parse back to the same result.
        assert_eq!(
            &CanonicalResult::parse(&r.encode()).expect("parses"),
            r,
            "{}",
            c.name
        );
        if r.status != c.want {
            failures.push(format!(
                "{}: got {} ({:?}), want {}",
                c.name, r.status, s.error, c.want
            ));
            continue;
        }
        match c.size {
            Some(size) => assert_eq!((r.width, r.height), size, "{}", c.name),
            None => {
                assert_eq!((r.width, r.height), (0, 0), "{}", c.name);
                assert!(r.detections.is_empty());
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn hostile_inputs_stay_within_twice_the_normal_peak_memory() {
    let dir = std::env::temp_dir().join(format!("mo-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for (i, c) in cases().into_iter().enumerate() {
        let p = dir.join(format!("{i:02}.bin"));
        std::fs::write(&p, &c.bytes).expect("write");
        paths.push((c.name.to_string(), p));
    }
    let peak = |p: &PathBuf| -> u64 {
        let out = Command::new(env!("CARGO_BIN_EXE_maskoracle-probe"))
            .arg("--model")
            .arg(common::tiny_instance())
            .arg(p)
            .output()
            .expect("probe runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&last).expect("json");
        v["peak_rss_kib"].as_u64().expect("peak rss")
    };
    let normal = peak(&paths.last().expect("normal case").1);
    let mut report = Vec::new();
    for (name, p) in &paths {
        let kib = peak(p);
        report.push(format!(
            "{name}: {kib} KiB ({:.2}x)",
            kib as f64 / normal as f64
        ));
        assert!(
            kib <= 2 * normal,
            "{name}: peak {kib} KiB > 2 x {normal} KiB"
        );
    }
    eprintln!(
        "peak RSS per input, normal 64x48 png = {normal} KiB:\n  {}",
        report.join("\n  ")
    );
    std::fs::remove_dir_all(&dir).ok();
}
