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
//!   anything but public unicast addresses ([`is_public`]: loopback, private, link-local, shared,
//!   benchmarking, documentation, reserved, multicast, and IPv6 transition prefixes that embed an
//!   IPv4 address) are refused, so a requester cannot point workers at their own machines or
//!   networks (a local Kubo API, cloud metadata services);
//! - proxies: never used (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored), since a proxy
//!   would resolve and connect on the fetcher's behalf and the address filter would not apply.
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

use super::{loggable, FetchPolicy, STATUS_FETCH_FAILED, STATUS_NOT_AN_IMAGE};

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
    /// The IPFS path failed in a way that may pass on retry (not found yet, block timeout,
    /// backend or peer failure, a block that did not match its CID).
    #[error("IPFS fetch failed: {0}")]
    Ipfs(String),
    /// The content the CID names is not a file this node reads (a directory, another codec or
    /// hash, a malformed DAG): the same for every worker, so final.
    #[error("IPFS content refused: {0}")]
    IpfsContent(String),
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

    /// Whether another attempt may succeed: timeouts, transport failures, server-side HTTP
    /// errors (5xx, 408, 429) and IPFS content not found (yet). Policy refusals (scheme, address,
    /// size, content type, redirects), other 4xx answers and content the CID itself makes
    /// unreadable are final: every worker would get them again.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Transport(_) | FetchError::Ipfs(_) => true,
            FetchError::Status(code) => *code >= 500 || *code == 408 || *code == 429,
            FetchError::BadInput(_)
            | FetchError::Scheme(_)
            | FetchError::TooLarge { .. }
            | FetchError::TooManyRedirects(_)
            | FetchError::RedirectLoop(_)
            | FetchError::BadRedirect(_)
            | FetchError::Forbidden(_)
            | FetchError::NotAnImage(_)
            | FetchError::IpfsContent(_) => false,
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

impl FetchLimits {
    /// The limits of `policy` for one attempt (public addresses only).
    pub fn from_policy(policy: &FetchPolicy) -> Self {
        Self {
            max_bytes: policy.max_input_bytes,
            timeout: policy.attempt_timeout(),
            connect_timeout: Duration::from_millis(policy.connect_timeout_ms),
            max_redirects: policy.max_redirects as usize,
            https_only: policy.https_only,
            require_image: policy.require_image,
            accept_untyped: policy.accept_untyped,
            allow_private_addresses: false,
        }
    }
}

impl Default for FetchLimits {
    /// The limits of the pinned [`super::FETCH_POLICY`].
    fn default() -> Self {
        Self::from_policy(&super::FETCH_POLICY)
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

/// IPv4 ranges that are not publicly routable unicast (IANA special-purpose registry, RFC 6890
/// and successors), as (network, prefix length). Everything else is public.
pub const BLOCKED_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network", unspecified
    ([10, 0, 0, 0], 8),      // private (RFC 1918)
    ([100, 64, 0, 0], 10),   // shared address space, carrier-grade NAT (RFC 6598)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, cloud metadata services
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated, RFC 7526)
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking (RFC 2544)
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and 255.255.255.255 broadcast
];

/// IPv6 ranges refused inside global unicast `2000::/3` (everything outside `2000::/3` is refused
/// as well: unspecified, loopback, IPv4-compatible `::/96`, NAT64 `64:ff9b::/96` and
/// `64:ff9b:1::/48`, discard `100::/64`, unique local `fc00::/7`, link-local `fe80::/10`,
/// site-local `fec0::/10`, multicast `ff00::/8`). IPv4-mapped `::ffff:0:0/96` is judged by its
/// embedded IPv4 address.
pub const BLOCKED_V6_IN_GLOBAL: &[([u16; 8], u8)] = &[
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
    ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4: tunnels to any IPv4 address
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
];

fn in_v4(ip: std::net::Ipv4Addr, (net, len): ([u8; 4], u8)) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    (u32::from(ip) & mask) == (u32::from_be_bytes(net) & mask)
}

fn in_v6(ip: std::net::Ipv6Addr, (net, len): ([u16; 8], u8)) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    (u128::from(ip) & mask) == (u128::from(std::net::Ipv6Addr::from(net)) & mask)
}

/// Whether `ip` is a public unicast address: an input URL may only reach these.
///
/// IPv4: anything outside [`BLOCKED_V4`]. IPv6: global unicast `2000::/3` outside
/// [`BLOCKED_V6_IN_GLOBAL`]; an IPv4-mapped address is judged by its IPv4 address. Transition
/// prefixes that embed an IPv4 address and route to it (NAT64, 6to4, Teredo) are refused outright,
/// since they could reach a private IPv4 network through a translator.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !BLOCKED_V4.iter().any(|&r| in_v4(v4, r)),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let global_unicast = (v6.segments()[0] & 0xe000) == 0x2000;
            global_unicast && !BLOCKED_V6_IN_GLOBAL.iter().any(|&r| in_v6(v6, r))
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
        // Never through a proxy: `HTTP(S)_PROXY`/`ALL_PROXY` would make the proxy resolve and
        // connect, bypassing the address filter above.
        let client = builder
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("maskoracle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// A fetcher with the limits of `policy`; `allow_private_addresses` only for tests and
    /// private deployments.
    pub fn for_policy(
        policy: &FetchPolicy,
        allow_private_addresses: bool,
    ) -> Result<Self, FetchError> {
        Self::new(FetchLimits {
            allow_private_addresses,
            ..FetchLimits::from_policy(policy)
        })
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
            debug!(target: "maskoracle::storage", url = %loggable(current.as_str()), "fetching input");
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
            other => Err(FetchError::NotAnImage(
                loggable(other.unwrap_or("")).to_string(),
            )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> bool {
        is_public(IpAddr::V4(s.parse::<Ipv4Addr>().expect("v4")))
    }

    fn v6(s: &str) -> bool {
        is_public(IpAddr::V6(s.parse::<Ipv6Addr>().expect("v6")))
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "192.0.1.0",
            "192.88.98.255",
            "223.255.255.255",
            "172.32.0.1",
            "11.0.0.1",
        ] {
            assert!(v4(a), "{a} is public");
        }
        for a in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2003::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(v6(a), "{a} is public");
        }
    }

    #[test]
    fn each_blocked_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.1", "127.255.255.254"),
            ("169.254.0.0", "169.254.169.254"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.1", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ];
        for (lo, hi) in cases {
            assert!(!v4(lo), "{lo} must be refused");
            assert!(!v4(hi), "{hi} must be refused");
        }
    }

    #[test]
    fn each_blocked_ipv6_range_is_refused() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::10.0.0.1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "mapped loopback"),
            ("::ffff:10.1.2.3", "mapped private"),
            ("::ffff:169.254.169.254", "mapped link-local"),
            ("::ffff:198.18.0.1", "mapped benchmarking"),
            ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
            ("64:ff9b::808:808", "NAT64 of a public address"),
            ("64:ff9b:1::1", "local-use NAT64"),
            (
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
                "local-use NAT64, last",
            ),
            ("100::1", "discard prefix"),
            ("100::ffff:ffff:ffff:ffff", "discard prefix, last"),
            ("2001::1", "Teredo"),
            ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo, last"),
            ("2001:2::1", "benchmarking"),
            ("2001:db8::1", "documentation"),
            ("2002::1", "6to4"),
            ("2002:a00:1::1", "6to4 of 10.0.0.1"),
            ("2002:ffff:ffff::1", "6to4, last"),
            ("3fff::1", "documentation (RFC 9637)"),
            ("fc00::1", "unique local"),
            ("fdff:ffff::1", "unique local, last"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local, last"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local, last"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "global multicast"),
        ];
        for (a, what) in cases {
            assert!(!v6(a), "{a} ({what}) must be refused");
        }
    }

    #[test]
    fn literal_hosts_are_checked_before_any_connection() {
        let f = HttpFetcher::new(FetchLimits::default()).expect("fetcher");
        for url in [
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://198.18.0.1/",
            "http://[2002:7f00:1::]/",
            "http://240.1.2.3/",
            "http://[::ffff:7f00:1]/",
        ] {
            let u = Url::parse(url).expect("url");
            assert!(
                matches!(f.check_scheme(&u), Err(FetchError::Forbidden(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn transient_and_final_errors() {
        assert!(FetchError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(FetchError::Transport("reset".into()).is_transient());
        assert!(FetchError::Ipfs("not found".into()).is_transient());
        assert!(FetchError::Status(503).is_transient());
        assert!(FetchError::Status(429).is_transient());
        assert!(!FetchError::Status(404).is_transient());
        assert!(!FetchError::Status(403).is_transient());
        assert!(!FetchError::Forbidden("10.0.0.1".into()).is_transient());
        assert!(!FetchError::TooLarge {
            limit: 1,
            seen: None
        }
        .is_transient());
        assert!(!FetchError::Scheme("ftp".into()).is_transient());
        assert!(!FetchError::NotAnImage("text/html".into()).is_transient());
        assert!(!FetchError::IpfsContent("directory".into()).is_transient());
    }
}
