//! RPC endpoints: clients over one or several HTTP endpoints, with failover and back-off on
//! rate limits, and a log reader that adapts its block range to what the endpoint accepts.
//!
//! A client over several URLs asks them one at a time, best first: each endpoint is ranked by its
//! recent success rate and latency (alloy's [`FallbackService`]), and a request that fails at the
//! transport (connection refused, timeout, HTTP 5xx) moves on to the next endpoint within the same
//! call. Requests are never sent to several endpoints at once: a JSON-RPC error answer ("nonce too
//! low", a revert) is an answer and is returned as such, not raced against another endpoint.
//! Above the failover, a rate-limit answer (HTTP 429/503, the providers' rate-limit codes and
//! texts) is retried after a pause ([`RetryBackoffLayer`]); a refusal of a too-large log range is
//! never retried there, it is [`LogReader`]'s to handle.

use std::collections::HashSet;
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::rpc::types::{Filter, Log};
use alloy::transports::http::{reqwest, Http};
use alloy::transports::layers::{
    FallbackService, RateLimitRetryPolicy, RetryBackoffLayer, RetryPolicy,
};
use alloy::transports::{TransportError, TransportErrorKind};
use anyhow::Context as _;

/// Deadline of one JSON-RPC request: an endpoint that stops answering (a dropped connection, a
/// hung proxy) fails the call instead of stalling the node.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries of a rate-limited request before its error is returned.
pub const RATE_LIMIT_RETRIES: u32 = 8;

/// Pause before retrying a rate-limited request, unless the endpoint names one.
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_millis(500);

/// Every method the node calls: with several endpoints each is sent to one endpoint at a time
/// (best ranked first), never to all of them at once. Methods not listed (test-only `anvil_*`,
/// `evm_*`) go to every endpoint in parallel, which only matters with several endpoints.
const SEQUENTIAL_METHODS: [&str; 22] = [
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getCode",
    "eth_getFilterChanges",
    "eth_getLogs",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_maxPriorityFeePerGas",
    "eth_newBlockFilter",
    "eth_newFilter",
    "eth_sendRawTransaction",
    "eth_sendTransaction",
    "net_version",
];

/// The retry policy of every client: alloy's rate-limit rules, except that a refused log range
/// (which Infura answers with the rate-limit code -32005) is returned at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateLimitPolicy;

impl RetryPolicy for RateLimitPolicy {
    fn should_retry(&self, error: &TransportError) -> bool {
        RateLimitRetryPolicy::default().should_retry(error) && !is_range_refusal(error)
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

fn http_transport(url: &str) -> anyhow::Result<(Http<reqwest::Client>, bool)> {
    let parsed: reqwest::Url = url
        .parse()
        .with_context(|| format!("invalid RPC URL {url}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "RPC URL {url}: only http:// and https:// endpoints are supported"
    );
    let http_client = reqwest::Client::builder()
        .timeout(RPC_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .context("building the HTTP client")?;
    let local = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "::1"));
    Ok((Http::with_client(http_client, parsed), local))
}

fn retry_layer() -> RetryBackoffLayer<RateLimitPolicy> {
    // No compute-unit budget (u64::MAX): the pause is the endpoint's hint or the fixed back-off.
    RetryBackoffLayer::new_with_policy(
        RATE_LIMIT_RETRIES,
        RATE_LIMIT_BACKOFF.as_millis() as u64,
        u64::MAX,
        RateLimitPolicy,
    )
}

/// An HTTP JSON-RPC client with [`RPC_TIMEOUT`] on every request and rate-limit retries.
pub fn rpc_client(url: &str) -> anyhow::Result<RpcClient> {
    fallback_client(&[url])
}

/// A client over `urls` (the first is the primary; the others are tried when it fails), with
/// [`RPC_TIMEOUT`] on every request and rate-limit retries. See the module documentation.
pub fn fallback_client<S: AsRef<str>>(urls: &[S]) -> anyhow::Result<RpcClient> {
    anyhow::ensure!(!urls.is_empty(), "no RPC URL given");
    let mut transports = Vec::with_capacity(urls.len());
    let mut all_local = true;
    for url in urls {
        let (transport, local) = http_transport(url.as_ref())?;
        all_local &= local;
        transports.push(transport);
    }
    let builder = ClientBuilder::default().layer(retry_layer());
    if transports.len() == 1 {
        let transport = transports.pop().context("one transport")?;
        return Ok(builder.transport(transport, all_local));
    }
    let count = transports.len();
    let methods: HashSet<String> = SEQUENTIAL_METHODS.iter().map(|m| m.to_string()).collect();
    let fallback = FallbackService::new_with_sequential_methods(transports, count, methods);
    Ok(builder.transport(fallback, all_local))
}

/// A read-only provider for `url` (HTTP).
pub fn read_provider(url: &str) -> anyhow::Result<DynProvider> {
    fallback_provider(&[url])
}

/// A read-only provider over `urls` (the first is the primary), see [`fallback_client`].
pub fn fallback_provider<S: AsRef<str>>(urls: &[S]) -> anyhow::Result<DynProvider> {
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(fallback_client(urls)?)
        .erased())
}

/// The configured primary URL followed by the fallbacks, without repeats.
pub fn endpoint_list(primary: &str, fallbacks: &[String]) -> Vec<String> {
    let mut out = vec![primary.to_owned()];
    for url in fallbacks {
        if !out.contains(url) {
            out.push(url.clone());
        }
    }
    out
}

/// Message texts of rate limits: they contain "limit" and "exceed" too, but are no range refusal.
const RATE_LIMIT_TEXTS: [&str; 7] = [
    "rate limit",
    "rate exceeded",
    "too many requests",
    "credits",
    "request limit",
    "daily request count",
    "concurrent requests",
];

/// Texts that name a too-large log query whatever the code.
const RANGE_TEXTS: [&str; 12] = [
    "query returned more than",
    "block range",
    "blocks range",
    "range is too large",
    "range too large",
    "range is too wide",
    "too many blocks",
    "log response size",
    "response size exceeded",
    "max results",
    "exceeds max block range",
    "query timeout exceeded",
];

/// Looser texts, accepted with the codes providers use for a refused log query.
const RANGE_HINTS: [&str; 5] = ["exceed", "limit", "range", "too large", "too many"];

/// Error codes providers answer a refused log query with: -32005 (Infura: "query returned more
/// than 10000 results"), -32602 (Alchemy: "Log response size exceeded"), -32600 (invalid
/// request), -32000 and -32001 (geth-style servers: "exceed maximum block range"), -32614
/// (QuickNode: "eth_getLogs is limited to a 10,000 range"), -32062 / -32011 (others).
const RANGE_CODES: [i64; 8] = [
    -32005, -32602, -32600, -32000, -32001, -32614, -32062, -32011,
];

/// Whether `message` with JSON-RPC `code` is an endpoint refusing a log query as too large
/// (block range or result count), as opposed to a rate limit or any other failure.
pub fn is_range_refusal_message(code: i64, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if RATE_LIMIT_TEXTS.iter().any(|t| m.contains(t)) {
        return false;
    }
    if RANGE_TEXTS.iter().any(|t| m.contains(t)) {
        return true;
    }
    RANGE_CODES.contains(&code) && RANGE_HINTS.iter().any(|t| m.contains(t))
}

/// Whether `error` is an endpoint refusing a log query as too large. A transport failure never
/// is (the endpoint did not answer); an HTTP error status counts when its body says so (some
/// gateways answer 400 or 413 with the provider's text).
pub fn is_range_refusal(error: &TransportError) -> bool {
    if let Some(payload) = error.as_error_resp() {
        return is_range_refusal_message(payload.code, &payload.message);
    }
    match error {
        TransportError::Transport(TransportErrorKind::HttpError(e)) => {
            let body = e.body.to_ascii_lowercase();
            !RATE_LIMIT_TEXTS.iter().any(|t| body.contains(t))
                && (e.status == 413 || RANGE_TEXTS.iter().any(|t| body.contains(t)))
        }
        _ => false,
    }
}

/// Why [`LogReader::logs`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    /// The endpoint failed (not a range refusal), on the range `from..=to`.
    #[error("eth_getLogs {from}..={to}: {source}")]
    Rpc {
        /// First block of the refused call.
        from: u64,
        /// Last block of the refused call.
        to: u64,
        /// The endpoint's error.
        #[source]
        source: TransportError,
    },
    /// The endpoint refuses even a one-block range (more logs in one block than it returns).
    #[error("eth_getLogs refuses even the single block {block}: {source}")]
    SingleBlockRefused {
        /// The block.
        block: u64,
        /// The endpoint's refusal.
        #[source]
        source: TransportError,
    },
}

/// Successes in a row after which [`LogReader`] doubles its range.
pub const LOG_GROW_AFTER: u32 = 3;

/// Reads logs over a block range in chunks whose size follows what the endpoint accepts: halved
/// on each refusal (see [`is_range_refusal`]), doubled after [`LOG_GROW_AFTER`] successes in a
/// row, never above its maximum. Every block of the range is read exactly once, in order.
#[derive(Debug, Clone)]
pub struct LogReader {
    chunk: u64,
    max_chunk: u64,
    successes: u32,
    refusals: u64,
}

impl LogReader {
    /// A reader starting with ranges of `max_chunk` blocks (at least 1).
    pub fn new(max_chunk: u64) -> Self {
        let max_chunk = max_chunk.max(1);
        Self {
            chunk: max_chunk,
            max_chunk,
            successes: 0,
            refusals: 0,
        }
    }

    /// Blocks asked for in the next call.
    pub fn chunk(&self) -> u64 {
        self.chunk
    }

    /// The largest range it asks for.
    pub fn max_chunk(&self) -> u64 {
        self.max_chunk
    }

    /// Refusals seen so far (each halved the range).
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// The logs matching `filter` (its address and topics; its block range is replaced) in blocks
    /// `from..=to`, in chain order. Empty when `from > to`.
    pub async fn logs<P: Provider + ?Sized>(
        &mut self,
        provider: &P,
        filter: &Filter,
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, LogReadError> {
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(self.chunk - 1));
            let f = filter.clone().from_block(start).to_block(end);
            match provider.get_logs(&f).await {
                Ok(logs) => {
                    out.extend(logs);
                    self.successes += 1;
                    if self.successes >= LOG_GROW_AFTER && self.chunk < self.max_chunk {
                        self.chunk = self.chunk.saturating_mul(2).min(self.max_chunk);
                        self.successes = 0;
                        tracing::debug!(target: "maskoracle::rpc", chunk = self.chunk, "log range grown");
                    }
                    if end == u64::MAX {
                        break;
                    }
                    start = end + 1;
                }
                Err(e) if is_range_refusal(&e) => {
                    let asked = end - start + 1;
                    if asked == 1 {
                        return Err(LogReadError::SingleBlockRefused {
                            block: start,
                            source: e,
                        });
                    }
                    self.refusals += 1;
                    self.successes = 0;
                    self.chunk = (asked / 2).max(1);
                    tracing::debug!(target: "maskoracle::rpc", from = start, to = end, chunk = self.chunk, error = %e, "log range refused; halved");
                }
                Err(e) => {
                    return Err(LogReadError::Rpc {
                        from: start,
                        to: end,
                        source: e,
                    })
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_common_providers_are_recognised() {
        let refusals = [
            (-32005, "query returned more than 10000 results"),
            (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response."),
            (-32614, "eth_getLogs is limited to a 10,000 range"),
            (-32000, "exceed maximum block range: 50000"),
            (-32600, "block range is too wide"),
            (-32000, "range is too large, max is 1k blocks"),
            (-32602, "query exceeds max block range 100000"),
            (-32602, "query exceeds max results 20000, retry with the range 1-5"),
            (-32001, "Block range limit exceeded."),
            (-32062, "Batch size is too large"),
            (-32000, "too many blocks requested: the maximum is 1000"),
            (-1, "eth_getLogs block range too large, range: 5000, max: 1000"),
        ];
        for (code, message) in refusals {
            assert!(is_range_refusal_message(code, message), "{code} {message}");
        }
    }

    #[test]
    fn rate_limits_reverts_and_other_errors_are_not_range_refusals() {
        let others = [
            (-32005, "rate limit exceeded"),
            (-32005, "daily request count exceeded, request rate limited"),
            (429, "Too Many Requests"),
            (
                -32007,
                "100/second request limit reached - reduce calls per second",
            ),
            (-32000, "execution reverted"),
            (-32000, "header not found"),
            (-32602, "invalid argument 0: hex string without 0x prefix"),
            (-32000, "nonce too low"),
            (3, "execution reverted: limit exceeded"),
        ];
        for (code, message) in others {
            assert!(!is_range_refusal_message(code, message), "{code} {message}");
        }
    }

    fn error_answer(code: i64, message: &str) -> TransportError {
        TransportError::ErrorResp(
            serde_json::from_value(serde_json::json!({ "code": code, "message": message }))
                .expect("an error payload"),
        )
    }

    #[test]
    fn an_error_answer_is_classified_and_a_transport_failure_is_not() {
        let refusal = error_answer(-32005, "query returned more than 10000 results");
        assert!(is_range_refusal(&refusal));
        assert!(
            !RateLimitPolicy.should_retry(&refusal),
            "a refused range is not retried as a rate limit"
        );
        let limited = error_answer(-32005, "rate limit exceeded");
        assert!(!is_range_refusal(&limited));
        assert!(RateLimitPolicy.should_retry(&limited));
        let down = TransportErrorKind::custom_str("connection refused");
        assert!(!is_range_refusal(&down));
        let http = TransportError::Transport(TransportErrorKind::HttpError(
            alloy::transports::HttpError {
                status: 400,
                body: r#"{"error":"block range is too wide"}"#.into(),
            },
        ));
        assert!(is_range_refusal(&http));
    }

    #[test]
    fn the_endpoint_list_starts_with_the_primary_and_has_no_repeats() {
        let list = endpoint_list("http://a", &["http://b".into(), "http://a".into()]);
        assert_eq!(list, ["http://a", "http://b"]);
    }
}
