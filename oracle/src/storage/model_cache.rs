//! A cache of fetched models keyed by CID, verified by sha256.
//!
//! Layout: `<dir>/<cid>/model.pt`. A file enters the cache only after its sha256 matched the
//! registered one (written to a temporary name, then renamed), and is re-hashed on every
//! lookup, so a file damaged on disk is evicted and fetched again rather than loaded.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::{Cid, Storage, StorageError};

/// File name of a cached model inside its CID folder.
pub const MODEL_FILE: &str = "model.pt";

/// Errors of the model cache.
#[derive(Debug, thiserror::Error)]
pub enum ModelCacheError {
    /// The registered sha256 is not 64 hex digits.
    #[error("bad sha256 {0:?}: expected 64 hex digits")]
    BadSha256(String),
    /// The fetched bytes do not hash to the registered sha256.
    #[error("model {cid}: sha256 is {actual}, registry says {expected}")]
    Mismatch {
        /// The model CID.
        cid: Cid,
        /// Registered sha256 (hex).
        expected: String,
        /// Computed sha256 (hex).
        actual: String,
    },
    /// Fetching the model failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Cache folder I/O.
    #[error("model cache I/O on {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelCacheError + '_ {
    move |source| ModelCacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn normalize_sha256(text: &str) -> Result<String, ModelCacheError> {
    let t = text.trim().trim_start_matches("0x").to_ascii_lowercase();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(ModelCacheError::BadSha256(text.to_owned()))
    }
}

/// Models on disk, by CID.
#[derive(Clone, Debug)]
pub struct ModelCache {
    dir: PathBuf,
    max_model_bytes: u64,
}

impl ModelCache {
    /// A cache under `dir` (created on first insert), refusing models over `max_model_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_model_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_model_bytes,
        }
    }

    /// Where the model `cid` lives once cached.
    pub fn path_of(&self, cid: &Cid) -> PathBuf {
        self.dir.join(cid.to_string()).join(MODEL_FILE)
    }

    /// The cached model's path if present and its sha256 matches; a damaged file is removed.
    pub async fn lookup(
        &self,
        cid: &Cid,
        sha256: &str,
    ) -> Result<Option<PathBuf>, ModelCacheError> {
        let expected = normalize_sha256(sha256)?;
        let path = self.path_of(cid);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let actual = hex(&Sha256::digest(&bytes));
        if actual == expected {
            Ok(Some(path))
        } else {
            warn!(target: "maskoracle::storage", %cid, "cached model fails its sha256; evicting");
            tokio::fs::remove_file(&path).await.map_err(io_err(&path))?;
            Ok(None)
        }
    }

    /// Verifies `bytes` against `sha256` and stores them as the model `cid`.
    pub async fn insert(
        &self,
        cid: &Cid,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, ModelCacheError> {
        let expected = normalize_sha256(sha256)?;
        let actual = hex(&Sha256::digest(bytes));
        if actual != expected {
            return Err(ModelCacheError::Mismatch {
                cid: *cid,
                expected,
                actual,
            });
        }
        let path = self.path_of(cid);
        let folder = path.parent().unwrap_or(&self.dir).to_path_buf();
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(io_err(&folder))?;
        // Unique per insert: two tasks of this process may insert the same CID at once (two
        // model ids registered with the same weights load concurrently).
        static INSERTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = INSERTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = folder.join(format!(".{MODEL_FILE}.{}.{n}.partial", std::process::id()));
        tokio::fs::write(&tmp, bytes).await.map_err(io_err(&tmp))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io_err(&path))?;
        Ok(path)
    }

    /// The model `cid`: from the cache if it verifies, otherwise fetched from `storage`
    /// (every block checked against the CID), checked against `sha256`, then cached.
    pub async fn get_or_fetch(
        &self,
        storage: &dyn Storage,
        cid: &Cid,
        sha256: &str,
    ) -> Result<PathBuf, ModelCacheError> {
        if let Some(path) = self.lookup(cid, sha256).await? {
            return Ok(path);
        }
        info!(target: "maskoracle::storage", %cid, backend = storage.name(), "fetching model");
        let bytes = storage.get(cid, self.max_model_bytes).await?;
        self.insert(cid, sha256, &bytes).await
    }
}
