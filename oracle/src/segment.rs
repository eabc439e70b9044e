//! `maskoracle segment IMAGE --model DIR`: segments one image with a model directory and prints
//! the detections, the canonical result's sha256 and CID (and the on-chain digest).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use maskoracle_inference::{ExecutionProfile, Model, Segmenter};
use serde::Serialize;

/// Arguments of `maskoracle segment`.
#[derive(Debug, Clone, Args)]
pub struct SegmentArgs {
    /// The image file to segment (png, jpeg, webp, gif, bmp).
    pub image: PathBuf,
    /// Model directory (model.pt + manifest.json) or the path of its model.pt.
    #[arg(long)]
    pub model: PathBuf,
    /// Write the overlay picture (masks, boxes, labels) to this PNG file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the result as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// libtorch intra-op threads (part of the execution profile).
    #[arg(long, env = "MASKORACLE_THREADS", default_value_t = 2)]
    pub threads: i32,
}

#[derive(Debug, Serialize)]
struct JsonDetection {
    label: u16,
    name: String,
    score_bps: u16,
    #[serde(rename = "box")]
    bbox: [u16; 4],
    mask_area: u32,
}

#[derive(Debug, Serialize)]
struct JsonReport {
    status: &'static str,
    status_code: u8,
    error: Option<String>,
    width: u16,
    height: u16,
    model: String,
    model_sha256: String,
    input_sha256: String,
    detections: Vec<JsonDetection>,
    canonical_len: usize,
    result_sha256: String,
    cid: String,
    summary: String,
    summary_hash: String,
    digest: String,
    profile: ExecutionProfile,
    peak_rss_kib: Option<u64>,
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux only).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the command (blocking: call it off the async runtime's threads).
pub fn run(args: SegmentArgs) -> anyhow::Result<()> {
    maskoracle_inference::set_intra_op_threads(args.threads);
    let model = Model::load(&args.model)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    let bytes =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let segmenter = Segmenter::new(model);
    let seg = segmenter.segment(&bytes);
    let att = seg.attestation();
    let r = &seg.result;
    if let Some(out) = &args.out {
        match segmenter.overlay(&seg) {
            Some(img) => img
                .save_with_format(out, maskoracle_inference::image::ImageFormat::Png)
                .with_context(|| format!("writing {}", out.display()))?,
            None => {
                tracing::warn!(target: "maskoracle::segment", "no image to draw the overlay on")
            }
        }
    }
    let m = segmenter.model();
    let detections: Vec<JsonDetection> = r
        .detections
        .iter()
        .map(|d| JsonDetection {
            label: d.label,
            name: m.label_name(d.label),
            score_bps: d.score_bps,
            bbox: d.bbox,
            mask_area: d.mask_area,
        })
        .collect();
    let report = JsonReport {
        status: r.status.name(),
        status_code: r.status.code(),
        error: seg.error.clone(),
        width: r.width,
        height: r.height,
        model: m.manifest().name.clone(),
        model_sha256: hex::encode(m.sha256()),
        input_sha256: hex::encode(r.input_sha256),
        detections,
        canonical_len: r.encode().len(),
        result_sha256: att.result_sha256.to_string(),
        cid: att.cid.clone(),
        summary: format!("0x{}", hex::encode(&att.summary_bytes)),
        summary_hash: att.summary_hash.to_string(),
        digest: att.digest.to_string(),
        profile: ExecutionProfile::with_model(m),
        peak_rss_kib: peak_rss_kib(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("model          {} ({})", report.model, report.model_sha256);
    println!(
        "input          {} ({})",
        args.image.display(),
        report.input_sha256
    );
    match &report.error {
        Some(e) => println!("status         {} ({e})", report.status),
        None => println!("status         {}", report.status),
    }
    println!("size           {}x{}", report.width, report.height);
    if !report.detections.is_empty() {
        println!();
        println!(
            "{:>3}  {:<16} {:>6}  {:<24} {:>9}",
            "#", "label", "score", "box [x0,y0,x1,y1)", "mask px"
        );
        for (i, d) in report.detections.iter().enumerate() {
            let b = d.bbox;
            println!(
                "{:>3}  {:<16} {:>5}%  {:<24} {:>9}",
                i + 1,
                d.name,
                d.score_bps / 100,
                format!("[{}, {}, {}, {})", b[0], b[1], b[2], b[3]),
                d.mask_area
            );
        }
        println!();
    }
    println!("detections     {}", report.detections.len());
    println!("result sha256  {}", report.result_sha256);
    println!("cid            {}", report.cid);
    println!("digest         {}", report.digest);
    Ok(())
}
