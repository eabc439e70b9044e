//! Registered models: publishing a model directory to IPFS, and loading a model by its on-chain id.
//!
//! A model is registered with the CID of its *published manifest*: the directory's
//! `manifest.json` plus a `weights_cid` field naming `model.pt` (a UnixFS file, as `ipfs add`
//! makes it). The registry also records sha256(`model.pt`); workers check the manifest against it,
//! fetch the weights through the model cache (every block verified, then the sha256), and load the
//! pair with the inference crate, which checks the sha256 once more.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::B256;
use anyhow::Context as _;
use bytes::Bytes;
use maskoracle_inference::{Model, Segmenter};
use tokio::sync::Mutex;

use crate::bindings::ModelRegistry::ModelRegistryInstance;
use crate::storage::cid::parse_cid;
use crate::storage::model_cache::ModelCache;
use crate::storage::{ImportParams, SharedStorage};
use alloy::providers::DynProvider;

/// Largest published manifest read.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024;
/// Largest model accepted.
pub const MAX_MODEL_BYTES: u64 = 512 * 1024 * 1024;

/// What publishing a model directory produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// CID of the published manifest: what to register.
    pub manifest_cid: String,
    /// CID of `model.pt`.
    pub weights_cid: String,
    /// sha256 of `model.pt`.
    pub sha256: B256,
    /// 0 = instance, 1 = semantic.
    pub kind: u8,
    /// Model name from the manifest.
    pub name: String,
}

/// Publishes `dir` (model.pt + manifest.json) to `storage`.
pub async fn publish(storage: &SharedStorage, dir: &Path) -> anyhow::Result<Published> {
    // Validate with the loader first: a model that does not load must not be registered.
    let d = dir.to_path_buf();
    let (name, kind, sha) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let m = Model::load(&d)?;
        let kind = match m.manifest().kind {
            maskoracle_inference::ModelKind::Instance => 0u8,
            maskoracle_inference::ModelKind::Semantic => 1u8,
        };
        Ok((m.manifest().name.clone(), kind, m.sha256()))
    })
    .await??;
    let weights = tokio::fs::read(dir.join("model.pt")).await?;
    let weights_cid = storage
        .put(Bytes::from(weights), ImportParams::default())
        .await
        .context("publishing model.pt")?;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&tokio::fs::read(dir.join("manifest.json")).await?)?;
    manifest["weights_cid"] = serde_json::Value::String(weights_cid.to_string());
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let manifest_cid = storage
        .put(Bytes::from(bytes), ImportParams::default())
        .await
        .context("publishing the manifest")?;
    Ok(Published {
        manifest_cid: manifest_cid.to_string(),
        weights_cid: weights_cid.to_string(),
        sha256: B256::from(sha),
        kind,
        name,
    })
}

/// Fetches the published manifest `cid` and its weights into `cache_dir`; returns the model
/// directory (model.pt + manifest.json), verified against `sha256`.
pub async fn fetch(
    storage: &SharedStorage,
    cache: &ModelCache,
    cid: &str,
    sha256: B256,
) -> anyhow::Result<PathBuf> {
    let manifest_cid = parse_cid(cid).with_context(|| format!("registered CID {cid:?}"))?;
    let bytes = storage
        .get(&manifest_cid, MAX_MANIFEST_BYTES)
        .await
        .with_context(|| format!("fetching the model manifest {manifest_cid}"))?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&bytes).context("the published manifest is not JSON")?;
    let declared = manifest["sha256"].as_str().unwrap_or_default();
    let expected = hex::encode(sha256);
    anyhow::ensure!(
        declared.eq_ignore_ascii_case(&expected),
        "the manifest's sha256 {declared} is not the registered {expected}"
    );
    let weights = manifest["weights_cid"]
        .as_str()
        .context("the published manifest has no weights_cid")?;
    let weights = parse_cid(weights).context("weights_cid")?;
    let pt = cache
        .get_or_fetch(storage.as_ref(), &weights, &expected)
        .await?;
    let dir = pt
        .parent()
        .context("model path has no folder")?
        .to_path_buf();
    tokio::fs::write(dir.join("manifest.json"), &bytes).await?;
    Ok(dir)
}

/// Models loaded once per process and shared by every task, keyed by model id.
pub struct ModelStore {
    registry: ModelRegistryInstance<DynProvider>,
    storage: SharedStorage,
    cache: ModelCache,
    loaded: Mutex<HashMap<u32, Arc<Segmenter>>>,
}

impl ModelStore {
    /// A store reading the registry, fetching through `storage`, caching under `cache_dir`.
    pub fn new(
        registry: ModelRegistryInstance<DynProvider>,
        storage: SharedStorage,
        cache_dir: PathBuf,
    ) -> Self {
        Self {
            registry,
            storage,
            cache: ModelCache::new(cache_dir, MAX_MODEL_BYTES),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The segmenter of model `id`, fetched, loaded and warmed up on first use.
    pub async fn get(&self, id: u32) -> anyhow::Result<Arc<Segmenter>> {
        let mut loaded = self.loaded.lock().await;
        if let Some(s) = loaded.get(&id) {
            return Ok(s.clone());
        }
        let m = self.registry.model(id).call().await?;
        let cid = self.registry.cidOf(id).call().await?;
        let dir = fetch(&self.storage, &self.cache, &cid, m.sha256).await?;
        let seg = tokio::task::spawn_blocking(move || -> anyhow::Result<Segmenter> {
            let seg = Segmenter::new(Model::load(&dir)?);
            // A failed warm-up is not fatal: the task's own run reports the model's error.
            match seg.warm_up() {
                Ok(t) => tracing::info!(
                    target: "maskoracle::worker",
                    model = id,
                    warm_up_ms = t.as_millis() as u64,
                    "model loaded and warmed up"
                ),
                Err(e) => tracing::warn!(target: "maskoracle::worker", model = id, error = %e, "model warm-up failed"),
            }
            Ok(seg)
        })
        .await??;
        let seg = Arc::new(seg);
        loaded.insert(id, seg.clone());
        Ok(seg)
    }

    /// The storage backend.
    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }
}
