//! Kubo RPC backend (the `ipfs-api` crate, hyper backend), for operators who run Kubo or a
//! Kubo-compatible pinning service.
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
use std::io::Cursor;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use ipfs_api_backend_hyper::{request, IpfsApi, IpfsClient, TryFromUri};

use super::cid::{self, MAX_BLOCK_SIZE, MAX_RESULT_SIZE};
use super::{BlockSource, Cid, ImportParams, Storage, StorageError};

const NAME: &str = "kubo";

/// Deadline of one Kubo RPC request unless another is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A [`Storage`] over Kubo's RPC API.
pub struct KuboStorage {
    client: IpfsClient,
    timeout: Duration,
}

impl std::fmt::Debug for KuboStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KuboStorage").finish_non_exhaustive()
    }
}

impl KuboStorage {
    /// Connects to the RPC API at `api_url` (e.g. `http://127.0.0.1:5001`), each request
    /// bounded by [`DEFAULT_TIMEOUT`].
    pub fn new(api_url: &str) -> Result<Self, StorageError> {
        Self::with_timeout(api_url, DEFAULT_TIMEOUT)
    }

    /// Connects to the RPC API at `api_url`, each request (answer and body) bounded by `timeout`.
    pub fn with_timeout(api_url: &str, timeout: Duration) -> Result<Self, StorageError> {
        let client = IpfsClient::from_str(api_url)
            .map_err(|e| StorageError::backend(NAME, format!("{api_url}: {e}")))?;
        Ok(Self { client, timeout })
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
}

fn same_cid(expected: &Cid, got: &str) -> bool {
    Cid::try_from(got).is_ok_and(|c| c == *expected)
}

#[async_trait]
impl BlockSource for KuboStorage {
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError> {
        let body = self
            .bounded(*cid, async {
                let mut stream = self.client.block_get(&cid.to_string());
                let mut body = BytesMut::new();
                while let Some(chunk) = stream
                    .try_next()
                    .await
                    .map_err(|e| StorageError::backend(NAME, e))?
                {
                    if body.len() + chunk.len() > MAX_BLOCK_SIZE {
                        return Err(StorageError::backend(
                            NAME,
                            format!("block {cid} over {MAX_BLOCK_SIZE} bytes"),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body.freeze())
            })
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
        let chunker = format!("size-{}", params.chunk_size);
        if params.max_links != cid::DEFAULT_MAX_LINKS {
            return Err(StorageError::Unsupported {
                backend: NAME,
                operation: "put with a non-default max links",
            });
        }
        let options = request::Add {
            chunker: Some(&chunker),
            pin: Some(true),
            raw_leaves: Some(params.raw_leaves),
            cid_version: Some(u32::from(params.cid_version)),
            hash: Some("sha2-256"),
            ..Default::default()
        };
        let resp = self
            .bounded(expected, async {
                self.client
                    .add_with_options(Cursor::new(data.to_vec()), options)
                    .await
                    .map_err(|e| StorageError::backend(NAME, e))
            })
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
        let options = request::BlockPut {
            mhtype: Some("sha2-256"),
            pin: Some(true),
            ..Default::default()
        };
        let resp = self
            .bounded(expected, async {
                self.client
                    .block_put_with_options(Cursor::new(data.to_vec()), options)
                    .await
                    .map_err(|e| StorageError::backend(NAME, e))
            })
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
        let resp = self
            .bounded(*cid, async {
                self.client
                    .pin_add(&cid.to_string(), true)
                    .await
                    .map_err(|e| StorageError::backend(NAME, e))
            })
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
