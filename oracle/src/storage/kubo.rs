//! Kubo RPC backend, for operators who run Kubo or a Kubo-compatible pinning service: plain HTTP
//! requests with `reqwest` (the client the node uses for every other HTTP call).
//!
//! Endpoints used (all `POST`, as Kubo's RPC reference documents them):
//! - `/api/v0/add?cid-version=&raw-leaves=&chunker=size-N&pin=true` (multipart file) for
//!   [`Storage::put`]; the returned `Hash` must equal the CID computed here;
//! - `/api/v0/block/put?mhtype=sha2-256&pin=true` (multipart data; Kubo's default codec is raw,
//!   CIDv1) for [`Storage::put_raw`]; the returned `Key` must equal the raw CID;
//! - `/api/v0/block/get?arg=CID` for reads: blocks only, verified here, the DAG walked here, so a
//!   Kubo node is not trusted any more than a peer;
//! - `/api/v0/pin/add?arg=CID&recursive=true` for [`Storage::pin`].
//!
//! Every request has a deadline (`ipfs.kubo_timeout_s`): an endpoint that accepts the connection
//! and never answers fails with [`StorageError::Timeout`] instead of holding the caller forever.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use super::cid::{self, MAX_BLOCK_SIZE, MAX_RESULT_SIZE};
use super::{BlockSource, Cid, ImportParams, Storage, StorageError};

const NAME: &str = "kubo";

/// Deadline of one Kubo RPC request unless another is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`Storage`] over Kubo's RPC API.
pub struct KuboStorage {
    client: reqwest::Client,
    /// `http://host:port/api/v0/`
    api: url::Url,
    timeout: Duration,
}

impl std::fmt::Debug for KuboStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KuboStorage")
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

/// Kubo's error body: `{"Message": "...", "Code": 0, "Type": "error"}`.
#[derive(Deserialize)]
struct KuboError {
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Deserialize)]
struct AddResponse {
    #[serde(rename = "Hash")]
    hash: String,
}

#[derive(Deserialize)]
struct BlockPutResponse {
    #[serde(rename = "Key")]
    key: String,
}

#[derive(Deserialize)]
struct PinResponse {
    #[serde(rename = "Pins", default)]
    pins: Vec<String>,
}

impl KuboStorage {
    /// Connects to the RPC API at `api_url` (e.g. `http://127.0.0.1:5001`), each request
    /// bounded by [`DEFAULT_TIMEOUT`].
    pub fn new(api_url: &str) -> Result<Self, StorageError> {
        Self::with_timeout(api_url, DEFAULT_TIMEOUT)
    }

    /// Connects to the RPC API at `api_url`, each request (answer and body) bounded by `timeout`.
    pub fn with_timeout(api_url: &str, timeout: Duration) -> Result<Self, StorageError> {
        let bad = |why: &str| StorageError::backend(NAME, format!("{api_url}: {why}"));
        let mut base = url::Url::parse(api_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad("not an http:// or https:// URL"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let api = base.join("api/v0/").map_err(|e| bad(&e.to_string()))?;
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| StorageError::backend(NAME, e))?;
        Ok(Self {
            client,
            api,
            timeout,
        })
    }

    /// Runs one request within the deadline; `cid` names what it is about.
    async fn bounded<T>(
        &self,
        cid: Cid,
        request: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or(Err(StorageError::Timeout {
                cid,
                after: self.timeout,
            }))
    }

    /// `POST /api/v0/<endpoint>?<query>` with an optional multipart file; returns the body of a
    /// success (at most `max_body` bytes) or Kubo's error message.
    async fn call(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        file: Option<Bytes>,
        max_body: usize,
    ) -> Result<Bytes, StorageError> {
        let url = self
            .api
            .join(endpoint)
            .map_err(|e| StorageError::backend(NAME, e))?;
        let mut req = self.client.post(url).query(query);
        if let Some(data) = file {
            let part = reqwest::multipart::Part::stream(data).file_name("data");
            req = req.multipart(reqwest::multipart::Form::new().part("file", part));
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| StorageError::backend(NAME, format!("{endpoint}: {e}")))?;
        let status = resp.status();
        let mut body = BytesMut::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| StorageError::backend(NAME, format!("{endpoint}: {e}")))?
        {
            if body.len() + chunk.len() > max_body {
                return Err(StorageError::backend(
                    NAME,
                    format!("{endpoint}: answer over {max_body} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<KuboError>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            return Err(StorageError::backend(
                NAME,
                format!("{endpoint}: {status}: {message}"),
            ));
        }
        Ok(body.freeze())
    }

    /// [`Self::call`] for a JSON answer; a streamed answer (one object per line) gives its last
    /// object.
    async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
        file: Option<Bytes>,
    ) -> Result<T, StorageError> {
        let body = self.call(endpoint, query, file, 1 << 20).await?;
        let last = body
            .split(|&b| b == b'\n')
            .rfind(|l| !l.iter().all(u8::is_ascii_whitespace))
            .unwrap_or_default();
        serde_json::from_slice(last)
            .map_err(|e| StorageError::backend(NAME, format!("{endpoint}: unexpected answer: {e}")))
    }
}

fn same_cid(expected: &Cid, got: &str) -> bool {
    Cid::try_from(got).is_ok_and(|c| c == *expected)
}

#[async_trait]
impl BlockSource for KuboStorage {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError> {
        let body = self
            .bounded(
                *cid,
                self.call(
                    "block/get",
                    &[("arg", cid.to_string())],
                    None,
                    MAX_BLOCK_SIZE,
                ),
            )
            .await?;
        cid::verify_block(cid, &body)?;
        Ok(body)
    }
}

#[async_trait]
impl Storage for KuboStorage {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn put(&self, data: Bytes, params: ImportParams) -> Result<Cid, StorageError> {
        let expected = cid::import(&data, &params)?.root;
        if params.max_links != cid::DEFAULT_MAX_LINKS {
            return Err(StorageError::Unsupported {
                backend: NAME,
                operation: "put with a non-default max links",
            });
        }
        let query = [
            ("chunker", format!("size-{}", params.chunk_size)),
            ("pin", "true".into()),
            ("raw-leaves", params.raw_leaves.to_string()),
            ("cid-version", params.cid_version.to_string()),
            ("hash", "sha2-256".into()),
        ];
        let resp: AddResponse = self
            .bounded(expected, self.call_json("add", &query, Some(data)))
            .await?;
        if !same_cid(&expected, &resp.hash) {
            return Err(StorageError::CidDisagreement {
                backend: NAME,
                expected,
                got: resp.hash,
            });
        }
        Ok(expected)
    }

    async fn put_raw(&self, data: Bytes) -> Result<Cid, StorageError> {
        if data.len() > MAX_RESULT_SIZE {
            return Err(StorageError::TooLarge {
                cid: cid::raw_cid(&data),
                limit: MAX_RESULT_SIZE as u64,
            });
        }
        let expected = cid::raw_cid(&data);
        let query = [("mhtype", "sha2-256".to_owned()), ("pin", "true".into())];
        let resp: BlockPutResponse = self
            .bounded(expected, self.call_json("block/put", &query, Some(data)))
            .await?;
        if !same_cid(&expected, &resp.key) {
            return Err(StorageError::CidDisagreement {
                backend: NAME,
                expected,
                got: resp.key,
            });
        }
        Ok(expected)
    }

    async fn pin(&self, cid: &Cid) -> Result<(), StorageError> {
        let query = [("arg", cid.to_string()), ("recursive", "true".into())];
        let resp: PinResponse = self
            .bounded(*cid, self.call_json("pin/add", &query, None))
            .await?;
        if resp.pins.iter().any(|p| same_cid(cid, p)) {
            Ok(())
        } else {
            Err(StorageError::backend(
                NAME,
                format!("pin/add answered {:?}, not {cid}", resp.pins),
            ))
        }
    }
}
