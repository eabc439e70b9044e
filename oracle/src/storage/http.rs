//! HTTP(S) input fetching with limits: nothing is trusted that was not limited.
//!
//! - scheme: `https` (and `http` unless [`FetchLimits::https_only`]) on every hop;
//! - size: a declared `Content-Length` over the limit is refused before the body is read; the
//!   body is streamed and the transfer aborted as soon as it passes the limit, whatever the
//!   header said;
//! - time: one deadline for the whole fetch (connect, every redirect, the body);
//! - redirects: followed here, one hop at a time, at most [`FetchLimits::max_redirects`], and a
//!   URL seen twice is a loop;
//! - content type: where an image is required, an explicit non-image type (`text/html`,
//!   `application/json`, ...) is refused; `image/*`, and (if allowed) a missing type or
//!   `application/octet-stream`, are passed on for the decoder to judge.
//!
//! - addresses: unless [`FetchLimits::allow_private_addresses`], hosts that are (or resolve to)
//!   loopback, private, link-local, shared, documentation or unspecified addresses are refused,
//!   so a requester cannot point workers at their own machines or networks (a local Kubo API,
//!   cloud metadata services).
//!
//! Every refusal is a [`FetchError`]; [`FetchError::status`] gives the result status code.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use tracing::debug;
use url::Url;

use super::{STATUS_FETCH_FAILED, STATUS_NOT_AN_IMAGE};

/// Why an input could not be fetched.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The input is not a URL or CID this node fetches.
    #[error("bad input reference: {0}")]
    BadInput(String),
    /// A URL (first or redirected) with a scheme other than http(s).
    #[error("scheme {0:?} is not allowed")]
    Scheme(String),
    /// The body is over the size limit (`seen` is the declared length, if any).
    #[error("body over the limit of {limit} bytes (declared: {seen:?})")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The Content-Length the server declared, if that is how it was caught.
        seen: Option<u64>,
    },
    /// The whole fetch did not finish within the deadline.
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    /// More redirects than allowed.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect back to a URL already visited.
    #[error("redirect loop at {0}")]
    RedirectLoop(String),
    /// A redirect without a usable Location.
    #[error("bad redirect: {0}")]
    BadRedirect(String),
    /// The host is, or resolves to, a non-public address.
    #[error("address of {0} is not public")]
    Forbidden(String),
    /// The server answered with an error status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The server declared a content type that is not an image.
    #[error("content type {0:?} is not an image")]
    NotAnImage(String),
    /// Connection, TLS or protocol failure.
    #[error("transport error: {0}")]
    Transport(String),
    /// The IPFS path failed (not found, integrity, backend).
    #[error("IPFS fetch failed: {0}")]
    Ipfs(String),
}

impl FetchError {
    /// The result status code the worker reports for this failure (interfaces point 1):
    /// `2 NotAnImage` for a declared non-image content type, `1 FetchFailed` for everything
    /// else, over-size bodies included.
    pub fn status(&self) -> u8 {
        match self {
            FetchError::NotAnImage(_) => STATUS_NOT_AN_IMAGE,
            _ => STATUS_FETCH_FAILED,
        }
    }
}

/// Limits of one fetch.
#[derive(Clone, Debug)]
pub struct FetchLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    /// Deadline for the whole fetch.
    pub timeout: Duration,
    /// Deadline for each TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Most redirects followed.
    pub max_redirects: usize,
    /// Refuse plain `http://` (on the first URL and every redirect).
    pub https_only: bool,
    /// Require an image: refuse explicit non-image content types.
    pub require_image: bool,
    /// With `require_image`, also pass a missing type or `application/octet-stream`.
    pub accept_untyped: bool,
    /// Allow loopback and private addresses (tests, private deployments).
    pub allow_private_addresses: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
            https_only: false,
            require_image: true,
            accept_untyped: true,
            allow_private_addresses: false,
        }
    }
}

/// A fetched body and what the server said about it.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The final URL after redirects.
    pub url: String,
    /// The declared content type, if any.
    pub content_type: Option<String>,
    /// The body (at most `max_bytes`).
    pub body: Bytes,
}

/// Fetches URL inputs within [`FetchLimits`].
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// DNS resolution that drops non-public addresses (and fails when none is left).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(FetchError::Forbidden(host)) as Box<_>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpFetcher {
    /// A fetcher with its own connection pool; redirects are handled here, not by the client.
    pub fn new(limits: FetchLimits) -> Result<Self, FetchError> {
        let mut builder = reqwest::Client::builder();
        if !limits.allow_private_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("maskoracle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// The limits in force.
    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// Fetches `url` within the limits.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        let deadline = self.limits.timeout;
        match tokio::time::timeout(deadline, self.fetch_inner(url)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(deadline)),
        }
    }

    fn check_scheme(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if !self.limits.https_only => {}
            other => return Err(FetchError::Scheme(other.to_owned())),
        }
        if !self.limits.allow_private_addresses {
            // IP literals never reach the resolver: check them here.
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public(ip)) {
                return Err(FetchError::Forbidden(
                    url.host_str().unwrap_or("").to_owned(),
                ));
            }
        }
        Ok(())
    }

    async fn fetch_inner(&self, url: &str) -> Result<Fetched, FetchError> {
        let mut current = Url::parse(url).map_err(|e| FetchError::BadInput(e.to_string()))?;
        let mut visited: HashSet<String> = HashSet::new();
        let mut hops = 0usize;
        let response = loop {
            self.check_scheme(&current)?;
            if !visited.insert(current.to_string()) {
                return Err(FetchError::RedirectLoop(current.to_string()));
            }
            debug!(target: "maskoracle::storage", url = %current, "fetching input");
            let resp =
                self.client.get(current.clone()).send().await.map_err(|e| {
                    match forbidden_in(&e) {
                        Some(host) => FetchError::Forbidden(host),
                        None => FetchError::Transport(e.to_string()),
                    }
                })?;
            let status = resp.status();
            if status.is_redirection() {
                hops += 1;
                if hops > self.limits.max_redirects {
                    return Err(FetchError::TooManyRedirects(self.limits.max_redirects));
                }
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::BadRedirect("no Location header".into()))?;
                current = current
                    .join(location)
                    .map_err(|e| FetchError::BadRedirect(e.to_string()))?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            break resp;
        };

        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_ascii_lowercase());
        if self.limits.require_image {
            self.check_content_type(content_type.as_deref())?;
        }

        let limit = self.limits.max_bytes;
        // Honour a declared length over the limit without reading the body; a smaller one is
        // not trusted (the stream is still counted).
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(len) = declared {
            if len > limit {
                return Err(FetchError::TooLarge {
                    limit,
                    seen: Some(len),
                });
            }
        }
        let final_url = response.url().to_string();
        let capacity = declared.unwrap_or(0).min(limit).min(16 * 1024 * 1024) as usize;
        let mut body = BytesMut::with_capacity(capacity);
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Transport(e.to_string()))?;
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(FetchError::TooLarge { limit, seen: None });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: final_url,
            content_type,
            body: body.freeze(),
        })
    }

    fn check_content_type(&self, content_type: Option<&str>) -> Result<(), FetchError> {
        let essence = content_type
            .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_owned())
            .filter(|s| !s.is_empty());
        match essence.as_deref() {
            Some(t) if t.starts_with("image/") => Ok(()),
            None | Some("application/octet-stream") if self.limits.accept_untyped => Ok(()),
            other => Err(FetchError::NotAnImage(other.unwrap_or("").to_owned())),
        }
    }
}

/// The host refused by [`PublicOnly`], if that is what made `err`.
fn forbidden_in(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(FetchError::Forbidden(host)) = e.downcast_ref::<FetchError>() {
            return Some(host.clone());
        }
        cur = e.source();
    }
    None
}
