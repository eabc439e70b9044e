//! Registered models: publishing a model directory to IPFS, and loading a model by its on-chain id.
//!
//! A model is registered with the CID of its *published manifest*: the directory's
//! `manifest.json` plus a `weights_cid` field naming `model.pt` (a UnixFS file, as `ipfs add`
//! makes it). The registry also records sha256(`model.pt`); workers check the manifest against it,
//! fetch the weights through the model cache (every block verified, then the sha256), and load the
//! pair with the inference crate, which checks the sha256 once more.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy::primitives::B256;
use anyhow::Context as _;
use bytes::Bytes;
use maskoracle_inference::{Model, Segmenter};
use tokio::sync::OnceCell;

use crate::bindings::ModelRegistry::ModelRegistryInstance;
use crate::storage::cid::parse_cid;
use crate::storage::loggable;
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
    /// The tolerance rule's default constants for this model (its kind and score threshold;
    /// docs/tolerant-consensus.md), registered with it unless registration opts out.
    #[serde(skip)]
    pub tolerance: maskoracle_inference::sketch::Tolerance,
}

/// Publishes `dir` (model.pt + manifest.json) to `storage`.
pub async fn publish(storage: &SharedStorage, dir: &Path) -> anyhow::Result<Published> {
    // Validate with the loader first: a model that does not load must not be registered.
    let d = dir.to_path_buf();
    let (name, kind, sha, tolerance) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let m = Model::load(&d)?;
        let manifest = m.manifest();
        let kind = match manifest.kind {
            maskoracle_inference::ModelKind::Instance => 0u8,
            maskoracle_inference::ModelKind::Semantic => 1u8,
        };
        let tolerance = maskoracle_inference::sketch::Tolerance::for_kind(
            manifest.kind,
            maskoracle_inference::postprocess::score_threshold_bps(&manifest.thresholds),
        );
        Ok((manifest.name.clone(), kind, m.sha256(), tolerance))
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
        tolerance,
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
    let manifest_cid =
        parse_cid(cid).with_context(|| format!("registered CID \"{}\"", loggable(cid)))?;
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
        "the manifest's sha256 \"{}\" is not the registered {expected}",
        loggable(declared)
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

/// Values computed at most once per key, with one lock per key: computing one key's value
/// never waits for another key's, and concurrent requests for the same key share one
/// computation. A failed computation is not kept: the next request tries again.
pub struct OnceMap<K, V> {
    cells: std::sync::Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for OnceMap<K, V> {
    fn default() -> Self {
        Self {
            cells: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy, V: Clone> OnceMap<K, V> {
    /// The value of `key`, computed by `init` unless it is there already or being computed (then
    /// this waits for that computation, and runs `init` only if it failed).
    pub async fn get_or_try_init<E, F, Fut>(&self, key: K, init: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        // The map's lock is held only to find the key's cell, never across a computation.
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        cell.get_or_try_init(init).await.cloned()
    }
}

/// Models loaded once per process and shared by every task, keyed by model id. Each model is
/// fetched, loaded and warmed up under its own lock: a slow model never delays another.
pub struct ModelStore {
    registry: ModelRegistryInstance<DynProvider>,
    storage: SharedStorage,
    cache: ModelCache,
    loaded: OnceMap<u32, Arc<Segmenter>>,
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
            loaded: OnceMap::default(),
        }
    }

    /// The segmenter of model `id`, fetched, loaded and warmed up on first use.
    pub async fn get(&self, id: u32) -> anyhow::Result<Arc<Segmenter>> {
        self.loaded.get_or_try_init(id, || self.load(id)).await
    }

    async fn load(&self, id: u32) -> anyhow::Result<Arc<Segmenter>> {
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
        Ok(Arc::new(seg))
    }

    /// The storage backend.
    pub fn storage(&self) -> &SharedStorage {
        &self.storage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_gets_of_one_key_compute_once() {
        let map: Arc<OnceMap<u32, Arc<String>>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let gets = (0..8).map(|_| {
            let (map, calls) = (map.clone(), calls.clone());
            tokio::spawn(async move {
                map.get_or_try_init(1, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, anyhow::Error>(Arc::new("model 1".to_owned()))
                })
                .await
            })
        });
        let values = futures::future::join_all(gets).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "loaded once");
        let first = values[0]
            .as_ref()
            .expect("join")
            .as_ref()
            .expect("ok")
            .clone();
        for v in &values {
            assert!(Arc::ptr_eq(
                v.as_ref().expect("join").as_ref().expect("ok"),
                &first
            ));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_key_does_not_block_another() {
        let map: Arc<OnceMap<u32, u32>> = Arc::default();
        let release = Arc::new(tokio::sync::Notify::new());
        let slow = {
            let (map, release) = (map.clone(), release.clone());
            tokio::spawn(async move {
                map.get_or_try_init(1, || async move {
                    release.notified().await;
                    Ok::<_, anyhow::Error>(1)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await; // model 1 is loading
        let other = tokio::time::timeout(
            Duration::from_secs(5),
            map.get_or_try_init(2, || async { Ok::<_, anyhow::Error>(2) }),
        )
        .await
        .expect("model 2 does not wait for model 1")
        .expect("ok");
        assert_eq!(other, 2);
        assert!(!slow.is_finished(), "model 1 is still loading");
        release.notify_one();
        assert_eq!(slow.await.expect("join").expect("ok"), 1);
    }

    #[tokio::test]
    async fn a_failed_load_is_retried() {
        let map: OnceMap<u32, u32> = OnceMap::default();
        let err = map
            .get_or_try_init(1, || async {
                Err::<u32, _>(anyhow::anyhow!("fetch failed"))
            })
            .await;
        assert!(err.is_err());
        let v = map
            .get_or_try_init(1, || async { Ok::<_, anyhow::Error>(7) })
            .await
            .expect("second try");
        assert_eq!(v, 7);
        let v = map
            .get_or_try_init(1, || async { Ok::<_, anyhow::Error>(8) })
            .await
            .expect("cached");
        assert_eq!(v, 7, "kept once loaded");
    }
}
