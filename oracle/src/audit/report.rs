//! The audit as one static HTML file for people who would rather look than read: a summary, then
//! per task its timeline, its verdicts with their evidence, and the delivered result drawn over
//! its input (the inference crate's overlay renderer, embedded as a `data:` PNG). No script, no
//! style sheet or font from the network: the file opens offline.

use std::fmt::Write as _;

use alloy::primitives::Address;
use base64::Engine as _;

use super::{TaskAudit, Verdict};
use crate::events::{OracleEvent, TaskStatus};

/// Longest side of an overlay in the report, pixels.
const OVERLAY_MAX_PX: u32 = 320;

/// What the report says about the run.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Chain id.
    pub chain_id: u64,
    /// The hub audited.
    pub hub: Address,
    /// First block of the hub's events.
    pub from_block: u64,
    /// Last block read.
    pub head: u64,
    /// Whether every check passed.
    pub ok: bool,
    /// The reserve check's problem, if any.
    pub reserve_problem: Option<String>,
}

/// `result` drawn over `working` (the inference crate's overlay), scaled to at most
/// [`OVERLAY_MAX_PX`] and encoded as PNG.
pub fn overlay_png(
    working: &maskoracle_inference::image::RgbImage,
    result: &maskoracle_inference::CanonicalResult,
    label_name: impl Fn(u16) -> String,
) -> Option<Vec<u8>> {
    use maskoracle_inference::image;
    let img = maskoracle_inference::overlay::render(working, result, label_name);
    let (w, h) = (img.width(), img.height());
    let img = if w.max(h) > OVERLAY_MAX_PX {
        let s = f64::from(OVERLAY_MAX_PX) / f64::from(w.max(h));
        image::imageops::resize(
            &img,
            ((f64::from(w) * s).round() as u32).max(1),
            ((f64::from(h) * s).round() as u32).max(1),
            image::imageops::FilterType::Triangle,
        )
    } else {
        img
    };
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn short(s: &str) -> String {
    if s.len() > 20 && s.starts_with("0x") {
        format!("{}…{}", &s[..10], &s[s.len() - 6..])
    } else {
        s.to_owned()
    }
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Warn => "warn",
        Verdict::Skip => "skip",
    }
}

/// One line of a task's timeline for an event.
fn describe(e: &OracleEvent) -> String {
    use crate::bindings::hub::TaskHub::TaskHubEvents as H;
    use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
    match e {
        OracleEvent::Hub(H::TaskRequested(e)) => format!(
            "requested by {} (model {}, R/Q {}/{}, reward {})",
            short(&e.requester.to_string()),
            e.modelId,
            e.task.replication,
            e.task.quorum,
            e.task.reward
        ),
        OracleEvent::Hub(H::WorkersDrawn(e)) => format!(
            "drawn: {}",
            e.workers
                .iter()
                .map(|w| short(&w.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        OracleEvent::Hub(H::Committed(e)) => format!(
            "commit by {} ({})",
            short(&e.worker.to_string()),
            short(&e.resultHash.to_string())
        ),
        OracleEvent::Registry(R::StakesLocked(e)) => {
            format!("stake locked ({} each)", e.amountEach)
        }
        OracleEvent::Hub(H::ConsensusReached(e)) => {
            format!("consensus on {}", short(&e.resultHash.to_string()))
        }
        OracleEvent::Hub(H::ResultRecorded(e)) => format!(
            "result recorded (status {}, sha256 {})",
            e.status,
            short(&e.resultSha256.to_string())
        ),
        OracleEvent::Hub(H::Revealed(e)) => format!("reveal by {}", short(&e.worker.to_string())),
        OracleEvent::Hub(H::TaskFinalized(e)) => format!(
            "finalized: {} winners, {} each, fee {}",
            e.winners.len(),
            e.rewardEach,
            e.fee
        ),
        OracleEvent::Hub(H::TaskExpired(e)) => format!(
            "expired ({}), refund {}",
            crate::events::WaitReason::from(e.reason),
            e.refund
        ),
        OracleEvent::Registry(R::StakesReleased(e)) => format!(
            "stakes released ({} workers, slash mask {})",
            e.workers.len(),
            e.slashMask
        ),
        OracleEvent::Hub(H::CallbackAttempted(e)) => format!(
            "callback {}",
            crate::events::CallbackOutcome::from(e.outcome)
        ),
        _ => "event".into(),
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0}
.meta{color:#555;margin-bottom:16px}.banner{padding:10px 14px;border-radius:6px;font-weight:600;margin-bottom:16px}
.banner.ok{background:#dff3e4;color:#14532d}.banner.bad{background:#fde2e1;color:#7f1d1d}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #e4e6ea;padding:4px 8px;text-align:left;vertical-align:top}
th,.nw{white-space:nowrap}.why,.ev{overflow-wrap:anywhere}
th{background:#eef0f3;font-weight:600}.pass{color:#15803d}.fail{color:#b91c1c;font-weight:700}.warn{color:#b45309;font-weight:600}.skip{color:#8a8f98}
.task{background:#fff;border:1px solid #dde0e5;border-radius:8px;padding:14px;margin:14px 0}
.task.bad{border-color:#ef4444;box-shadow:0 0 0 2px #fecaca}.cols{display:flex;gap:16px;flex-wrap:wrap}
.cols>div{flex:1 1 420px;min-width:0}.mono{font-family:ui-monospace,monospace;font-size:12px}
.ev{color:#555;font-size:12px;margin:2px 0 0 0;padding-left:14px}.overlay img{border:1px solid #ccc;border-radius:4px;max-width:100%}
.chips span{display:inline-block;padding:1px 7px;border-radius:10px;margin-right:4px;font-size:12px;background:#eef0f3}
.chips .f{background:#fde2e1;color:#991b1b}.chips .w{background:#fef3c7;color:#92400e}.chips .p{background:#dcfce7;color:#166534}
summary{cursor:pointer}";

/// Renders the report.
pub fn render(meta: &Meta, tasks: &[TaskAudit]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>MaskOracle audit</title><style>{STYLE}</style></head><body>"
    );
    let failed = tasks.iter().filter(|t| !t.problems.is_empty()).count();
    let finalized = tasks
        .iter()
        .filter(|t| t.outcome == TaskStatus::Finalized)
        .count();
    let _ = write!(
        h,
        "<h1>MaskOracle audit</h1><div class=\"meta\">chain {} · hub <span class=\"mono\">{}</span> · blocks {}–{} · {} tasks ({} finalized)</div>",
        meta.chain_id,
        meta.hub,
        meta.from_block,
        meta.head,
        tasks.len(),
        finalized
    );
    let _ = write!(
        h,
        "<div class=\"banner {}\">{}</div>",
        if meta.ok { "ok" } else { "bad" },
        if meta.ok {
            "Every check passes.".to_owned()
        } else {
            format!(
                "Problems found: {failed} task(s) fail a check{}.",
                meta.reserve_problem
                    .as_ref()
                    .map(|p| format!("; {}", esc(p)))
                    .unwrap_or_default()
            )
        }
    );
    // Summary table: one row per task.
    h.push_str("<table><tr><th>task</th><th>outcome</th><th>input</th><th>verdicts</th></tr>");
    for t in tasks {
        let count = |v: Verdict| t.checks.iter().filter(|c| c.verdict == v).count();
        let fails: Vec<&str> = t
            .checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.name)
            .collect();
        let _ = write!(
            h,
            "<tr><td><a href=\"#t{id}\">{id}</a></td><td>{}</td><td class=\"mono\">{}</td><td class=\"chips\"><span class=\"p\">{} pass</span>{}{}<span>{} skip</span> {}</td></tr>",
            t.outcome,
            esc(&short_input(&t.input)),
            count(Verdict::Pass),
            if count(Verdict::Fail) > 0 { format!("<span class=\"f\">{} fail</span>", count(Verdict::Fail)) } else { String::new() },
            if count(Verdict::Warn) > 0 { format!("<span class=\"w\">{} warn</span>", count(Verdict::Warn)) } else { String::new() },
            count(Verdict::Skip),
            esc(&fails.join(", ")),
            id = t.task_id,
        );
    }
    h.push_str("</table>");
    for t in tasks {
        let bad = !t.problems.is_empty();
        let _ = write!(
            h,
            "<div class=\"task{}\" id=\"t{}\"><h2>Task {} — {}</h2><div class=\"meta\">{}<br><span class=\"mono\">{}</span></div><div class=\"cols\">",
            if bad { " bad" } else { "" },
            t.task_id,
            t.task_id,
            t.outcome,
            esc(&t.summary_line),
            esc(&t.input)
        );
        // Verdicts.
        h.push_str("<div><table><tr><th>check</th><th>verdict</th><th>why</th></tr>");
        for c in &t.checks {
            let _ = write!(
                h,
                "<tr><td class=\"mono nw\">{}</td><td class=\"nw {}\">{}</td><td class=\"why\">{}",
                c.name,
                verdict_class(c.verdict),
                verdict_class(c.verdict),
                esc(&c.detail)
            );
            if !c.evidence.is_empty() {
                let open = if c.verdict == Verdict::Fail || c.verdict == Verdict::Warn {
                    " open"
                } else {
                    ""
                };
                let _ = write!(h, "<details{open}><summary class=\"ev\">evidence</summary>");
                for e in &c.evidence {
                    let at = match (e.block, e.tx) {
                        (Some(b), Some(tx)) => {
                            format!(" — block {b}, tx {}", short(&tx.to_string()))
                        }
                        (Some(b), None) => format!(" — block {b}"),
                        _ => String::new(),
                    };
                    let _ = write!(
                        h,
                        "<div class=\"ev\">{}: <span class=\"mono\">{}</span>{}</div>",
                        esc(&e.what),
                        esc(&e.value),
                        esc(&at)
                    );
                }
                h.push_str("</details>");
            }
            h.push_str("</td></tr>");
        }
        h.push_str("</table></div>");
        // Timeline and overlay.
        h.push_str("<div><table><tr><th>block</th><th>tx</th><th>event</th></tr>");
        for e in &t.events {
            let _ = write!(
                h,
                "<tr><td class=\"nw\">{}</td><td class=\"mono nw\">{}</td><td class=\"why\">{}</td></tr>",
                e.block,
                esc(&short(&e.tx_hash.to_string())),
                esc(&describe(&e.event))
            );
        }
        h.push_str("</table>");
        match &t.overlay_png {
            Some(png) => {
                let _ = write!(
                    h,
                    "<div class=\"overlay\"><p>Delivered result over its input{}:</p><img alt=\"overlay of task {}\" src=\"data:image/png;base64,{}\"></div>",
                    t.result_cid
                        .as_ref()
                        .map(|c| format!(" (<span class=\"mono\">{}</span>)", esc(&short_input(c))))
                        .unwrap_or_default(),
                    t.task_id,
                    base64::engine::general_purpose::STANDARD.encode(png)
                );
            }
            None => {
                if t.outcome == TaskStatus::Finalized {
                    let why = match t.result_status {
                        Some(0) => "no overlay (result or input not fetched)".to_owned(),
                        Some(s) => format!("error result (status {s}): nothing to draw"),
                        None => "no result".to_owned(),
                    };
                    let _ = write!(h, "<p class=\"skip\">{}</p>", esc(&why));
                }
            }
        }
        h.push_str("</div></div></div>");
    }
    h.push_str("</body></html>\n");
    h
}

fn short_input(s: &str) -> String {
    if s.chars().count() > 64 {
        let head: String = s.chars().take(40).collect();
        let tail: String = s
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}…{tail}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_escaped() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn a_report_has_no_network_reference() {
        let t = TaskAudit {
            input: "https://example.org/<img>.png".into(),
            ..TaskAudit::default()
        };
        let html = render(
            &Meta {
                chain_id: 1,
                hub: Address::ZERO,
                from_block: 0,
                head: 1,
                ok: true,
                reserve_problem: None,
            },
            &[t],
        );
        assert!(!html.contains("<img>"));
        assert!(!html.contains("src=\"http"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
    }
}
