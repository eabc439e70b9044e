//! `maskoracle request`: publish an input, fund and send a request (directly or through the
//! example consumer contract), follow it to settlement, and write the outcome.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::bindings::{ExampleConsumer, TaskHub};
use crate::chain::Contracts;
use crate::events::{CallbackOutcome, ContributionState, TaskStatus, WaitReason};
use crate::node_cli::{parse_amount, NodeArgs};
use crate::storage::ImportParams;

/// Arguments of `maskoracle request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The image: a local file (published to IPFS first), an `https://` URL, or a CID / `ipfs://CID`.
    #[arg(long)]
    pub image: String,
    /// Registered model id.
    #[arg(long)]
    pub model: u32,
    /// Workers drawn (R).
    #[arg(long, default_value_t = 3)]
    pub replication: u8,
    /// Equal results needed (Q, R/2 < Q <= R).
    #[arg(long, default_value_t = 2)]
    pub quorum: u8,
    /// Reward split among the winners (tokens, or `Nwei`).
    #[arg(long, value_parser = parse_amount, default_value = "10")]
    pub reward: U256,
    /// Highest model fee accepted (tokens, or `Nwei`; default: the fee read now from
    /// `requestTerms`). A fee raised between that read and the request makes the request revert
    /// (`TaskHubFeeAboveMax`) instead of taking more of the balance.
    #[arg(long, value_parser = parse_amount)]
    pub max_fee: Option<U256>,
    /// Seconds from the request to the commit deadline.
    #[arg(long, default_value_t = 300)]
    pub commit_window: u32,
    /// Seconds from the commit deadline to the reveal deadline.
    #[arg(long, default_value_t = 300)]
    pub reveal_window: u32,
    /// Request through the deployment's example consumer contract (the caller must own it);
    /// the consumer is called back with the result.
    #[arg(long)]
    pub via_consumer: bool,
    /// Gas for the consumer callback.
    #[arg(long, default_value_t = 1_500_000)]
    pub callback_gas: u32,
    /// Follow the task to settlement and write the outcome.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_s: u64,
    /// Folder for result.bin, overlay.png and summary.json.
    #[arg(long, default_value = "maskoracle-result")]
    pub out: PathBuf,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `v` as a `uint96`, if it fits.
fn to_u96(v: U256) -> Option<alloy::primitives::Uint<96, 2>> {
    u128::try_from(v)
        .ok()
        .and_then(|r| alloy::primitives::Uint::<96, 2>::try_from(r).ok())
}

/// Turns `--image` into the input reference of the request.
async fn input_reference(
    image: &str,
    storage: Option<&crate::storage::SharedStorage>,
) -> anyhow::Result<(String, Option<Vec<u8>>)> {
    if image.starts_with("https://") || image.starts_with("http://") {
        return Ok((image.to_owned(), None));
    }
    if let Some(c) = image.strip_prefix("ipfs://") {
        crate::storage::cid::parse_cid(c)?;
        return Ok((image.to_owned(), None));
    }
    let path = PathBuf::from(image);
    if path.is_file() {
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let storage = storage.context("no content store to publish the file")?;
        let cid = storage
            .put(Bytes::from(bytes.clone()), ImportParams::default())
            .await
            .context("publishing the image")?;
        return Ok((format!("ipfs://{cid}"), Some(bytes)));
    }
    let cid = crate::storage::cid::parse_cid(image)
        .with_context(|| format!("{image:?} is neither a file, an https:// URL nor a CID"))?;
    Ok((format!("ipfs://{cid}"), None))
}

/// Runs `maskoracle request`.
pub async fn run(args: RequestArgs) -> anyhow::Result<()> {
    let cfg = args.node.resolve()?;
    let c = crate::node::contracts(&cfg).await?;
    let tx = crate::node::signer(&cfg, c.deployment.chain_id)?;
    let storage = crate::node::open_storage(&cfg).await?;
    let (input, local) = input_reference(&args.image, Some(&storage)).await?;
    let terms = c.models.requestTerms(args.model).call().await?;
    anyhow::ensure!(terms.active, "model {} is not active", args.model);
    let max_fee = args.max_fee.unwrap_or(U256::from(terms.fee));
    anyhow::ensure!(
        max_fee >= U256::from(terms.fee),
        "model {} charges a fee of {} base units, above --max-fee {max_fee}",
        args.model,
        terms.fee
    );
    // Deposit what the request may take: the reward and at most the accepted fee.
    let amount = args.reward + max_fee;
    let reward = to_u96(args.reward).context("reward too large")?;
    let max_fee96 = to_u96(max_fee).context("--max-fee too large")?;
    let p = crate::bindings::hub::ITaskHub::RequestParams {
        modelId: args.model,
        replication: args.replication,
        quorum: args.quorum,
        reward,
        maxFee: max_fee96,
        commitWindow: args.commit_window,
        revealWindow: args.reveal_window,
        callbackGasLimit: alloy::primitives::Uint::<24, 1>::from(if args.via_consumer {
            args.callback_gas.min(5_000_000)
        } else {
            0
        }),
        input: input.clone(),
        params: Default::default(),
    };
    let hub = c.deployment.task_hub;
    let payer: Address = if args.via_consumer {
        c.deployment.example_consumer
    } else {
        tx.address()
    };
    tx.deposit(&c.deployment, payer, amount).await?;
    let started = Instant::now();
    let sent = if args.via_consumer {
        let call = crate::bindings::consumer::ITaskHub::RequestParams {
            modelId: p.modelId,
            replication: p.replication,
            quorum: p.quorum,
            reward: p.reward,
            maxFee: p.maxFee,
            commitWindow: p.commitWindow,
            revealWindow: p.revealWindow,
            callbackGasLimit: p.callbackGasLimit,
            input: p.input.clone(),
            params: p.params.clone(),
        };
        tx.send(
            "requestSegmentation",
            c.deployment.example_consumer,
            ExampleConsumer::requestSegmentationCall { p: call }.abi_encode(),
        )
        .await
    } else {
        tx.send("request", hub, TaskHub::requestCall { p }.abi_encode())
            .await
    };
    let mined = sent.map_err(|e| match e.hub_error() {
        Some(TaskHub::TaskHubErrors::TaskHubFeeAboveMax(f)) => anyhow::anyhow!(
            "request refused: the fee of model {} is now {} base units, above the accepted \
             maximum of {} (--max-fee); it was raised after it was read. Nothing was charged; \
             the deposit stays in your hub balance",
            f.modelId,
            f.fee,
            f.maxFee
        ),
        _ => anyhow::Error::new(e),
    })?;
    let task_id = mined.event::<TaskHub::TaskRequested>()?.taskId;
    tracing::info!(target: "maskoracle::request", task = %task_id, %input, block = mined.block, "requested");
    if !args.wait {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"task_id": task_id.to_string(), "input": input, "block": mined.block, "tx": mined.hash.to_string()})
            );
        } else {
            println!(
                "task {task_id} requested in block {} (input {input})",
                mined.block
            );
        }
        return Ok(());
    }
    follow(
        &c,
        task_id,
        args.replication,
        Duration::from_secs(args.timeout_s),
    )
    .await?;
    let elapsed = started.elapsed();
    let audits = crate::audit::rebuild(&c, mined.block, Some(task_id)).await?;
    let t = audits
        .into_iter()
        .next()
        .context("the task's events are missing")?;
    std::fs::create_dir_all(&args.out)?;
    let mut files = serde_json::Map::new();
    if let (Some(sha), Some(cid)) = (t.result_sha256, &t.result_cid) {
        if t.outcome == TaskStatus::Finalized {
            match fetch_result(&storage, cid, sha.0).await {
                Ok(bytes) => {
                    let path = args.out.join("result.bin");
                    std::fs::write(&path, &bytes)?;
                    files.insert("result".into(), path.display().to_string().into());
                    match draw_overlay(&cfg, &c, t.model_id, &t.input, local, &storage, &bytes)
                        .await
                    {
                        Ok(png) => {
                            let path = args.out.join("overlay.png");
                            png.save(&path)?;
                            files.insert("overlay".into(), path.display().to_string().into());
                        }
                        Err(e) => {
                            tracing::warn!(target: "maskoracle::request", error = %format!("{e:#}"), "cannot draw the overlay")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "maskoracle::request", error = %format!("{e:#}"), "cannot fetch the result")
                }
            }
        }
    }
    let summary = t.summary.as_deref().and_then(|s| {
        <maskoracle_inference::Summary as alloy::sol_types::SolValue>::abi_decode(s).ok()
    });
    let consumer_delivery = if args.via_consumer {
        let d = c.consumer.delivery(task_id).call().await?;
        Some(
            serde_json::json!({"delivered": d.delivered, "finalized": d.finalized, "result_sha256": d.resultSha256.to_string()}),
        )
    } else {
        None
    };
    let report = serde_json::json!({
        "task_id": task_id.to_string(),
        "outcome": t.outcome,
        "input": t.input,
        "seconds": elapsed.as_secs_f64(),
        "result_sha256": t.result_sha256.map(|s| s.to_string()),
        "result_cid": t.result_cid,
        "status": t.result_status,
        "summary": summary.as_ref().map(|s| serde_json::json!({
            "status": s.status, "width": s.width, "height": s.height,
            "detections": s.detections.iter().map(|d| serde_json::json!({
                "label": d.label, "score_bps": d.scoreBps, "box": [d.x0, d.y0, d.x1, d.y1], "mask_area": d.maskArea
            })).collect::<Vec<_>>(),
        })),
        "callback": t.callback,
        "consumer": consumer_delivery,
        "drawn": t.drawn,
        "revealed": t.revealed,
        "slashed": t.slashed_workers,
        "credits": t.credits.iter().map(|(a, v)| (a.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
        "audit_problems": t.problems,
        "files": files,
    });
    std::fs::write(
        args.out.join("summary.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "task {task_id}: {} in {:.1} s",
            t.outcome,
            elapsed.as_secs_f64()
        );
        if let Some(s) = &summary {
            println!(
                "status {}  size {}x{}  detections {}",
                s.status,
                s.width,
                s.height,
                s.detections.len()
            );
            for d in &s.detections {
                println!(
                    "  label {:>3}  score {:>5.1}%  box [{}, {}, {}, {})  mask {} px",
                    d.label,
                    f64::from(d.scoreBps) / 100.0,
                    d.x0,
                    d.y0,
                    d.x1,
                    d.y1,
                    d.maskArea
                );
            }
        }
        if let Some(cid) = &t.result_cid {
            println!("result CID {cid}");
        }
        println!(
            "callback   {}",
            t.callback.map_or("-", CallbackOutcome::name)
        );
        println!("written    {}", args.out.join("summary.json").display());
    }
    Ok(())
}

/// Shows a progress bar through draw, commits, reveals and settlement; returns when terminal.
pub async fn follow(
    c: &Contracts,
    id: U256,
    replication: u8,
    timeout: Duration,
) -> anyhow::Result<()> {
    let bar = ProgressBar::new(u64::from(replication) * 2);
    bar.set_style(
        ProgressStyle::with_template("{spinner} task {prefix} [{elapsed_precise}] {bar:20} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(id.to_string());
    let deadline = Instant::now() + timeout;
    loop {
        let st = c.hub.taskState(id).call().await?;
        let contributions = c.hub.contributions(id).call().await.unwrap_or_default();
        let states = || {
            contributions
                .iter()
                .map(|x| ContributionState::from(x.state))
        };
        let revealed = states()
            .filter(|s| *s == ContributionState::Revealed)
            .count() as u64;
        let committed = revealed
            + states()
                .filter(|s| *s == ContributionState::Committed)
                .count() as u64;
        bar.set_position(committed + revealed);
        let status = TaskStatus::from(st.status);
        bar.set_message(format!(
            "{status} ({}), {committed} committed, {revealed} revealed",
            WaitReason::from(st.reason)
        ));
        if status.is_terminal() {
            bar.finish_with_message(status.name());
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "task {id} not settled within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn fetch_result(
    storage: &crate::storage::SharedStorage,
    cid: &str,
    sha: [u8; 32],
) -> anyhow::Result<Vec<u8>> {
    let cid = crate::storage::cid::parse_cid(cid)?;
    let bytes = storage
        .get(&cid, crate::storage::cid::MAX_RESULT_SIZE as u64)
        .await?;
    let got: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &bytes)).into();
    anyhow::ensure!(
        got == sha,
        "the fetched result does not hash to the on-chain sha256"
    );
    Ok(bytes.to_vec())
}

async fn draw_overlay(
    cfg: &crate::config::Config,
    c: &Contracts,
    model_id: u32,
    input: &str,
    local: Option<Vec<u8>>,
    storage: &crate::storage::SharedStorage,
    canonical: &[u8],
) -> anyhow::Result<maskoracle_inference::image::RgbImage> {
    let result = maskoracle_inference::CanonicalResult::parse(canonical)?;
    let bytes = match local {
        Some(b) => b,
        None => {
            let http = crate::node::http_fetcher(cfg)?;
            crate::storage::fetch_input(
                input,
                storage.as_ref(),
                &http,
                crate::storage::FETCH_POLICY.attempt_timeout(),
            )
            .await?
            .to_vec()
        }
    };
    let models = crate::models::ModelStore::new(
        c.models.clone(),
        storage.clone(),
        cfg.data_dir.join("models"),
    );
    let seg = models.get(model_id).await?;
    tokio::task::spawn_blocking(move || {
        let decoded =
            maskoracle_inference::decode::decode(&bytes, &maskoracle_inference::DecodeLimits::V1)?;
        let working = maskoracle_inference::working_image(&decoded.rgb);
        anyhow::Ok(maskoracle_inference::overlay::render(
            &working,
            &result,
            |l| seg.model().label_name(l),
        ))
    })
    .await?
}
