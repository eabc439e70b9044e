//! Kubo RPC backend, trustless gateway read path, URL input refusals and the model cache, each
//! against local HTTP servers (`support/servers.rs`).

#[path = "support/servers.rs"]
mod servers;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use maskoracle::storage::cid::{self, ImportParams};
use maskoracle::storage::gateway::GatewayStorage;
use maskoracle::storage::kubo::KuboStorage;
use maskoracle::storage::model_cache::{hex, ModelCache, ModelCacheError};
use maskoracle::storage::{
    fetch_input, fetch_input_with, BlockSource, CidError, FetchError, FetchLimits, FetchPolicy,
    HttpFetcher, Storage, StorageError, FETCH_POLICY,
};
use sha2::Digest;

fn sample(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| ((i * 7) as u8) ^ salt).collect()
}

// ---- Kubo RPC ------------------------------------------------------------------------------------

#[tokio::test]
async fn kubo_backend_adds_reads_and_pins_through_the_rpc_endpoints() {
    let (addr, st) = servers::start().await;
    let kubo = KuboStorage::new(&format!("http://{addr}")).expect("client");

    let data = Bytes::from(sample(600_000, 3));
    for params in [ImportParams::KUBO_V0, ImportParams::KUBO_V1] {
        let c = kubo.put(data.clone(), params).await.expect("add");
        assert_eq!(c, cid::import(&data, &params).expect("import").root);
        assert!(st.pins.lock().expect("lock").contains(&c), "pinned on add");
        let back = kubo
            .get(&c, 1 << 20)
            .await
            .expect("read back via block/get");
        assert_eq!(back, data);
    }
    let calls = st.calls.lock().expect("lock").clone();
    assert!(
        calls.iter().any(|c| c.starts_with("add ")
            && c.contains("\"chunker\": \"size-262144\"")
            && c.contains("\"cid-version\": \"0\"")
            && c.contains("\"raw-leaves\": \"false\"")),
        "add carries Kubo's import parameters: {calls:?}"
    );

    let result = Bytes::from_static(b"canonical result");
    let rc = kubo.put_raw(result.clone()).await.expect("block/put");
    assert_eq!(rc, cid::raw_cid(&result));
    assert_eq!(kubo.get(&rc, 1024).await.expect("get raw"), result);

    // pin/add of content the server holds; of unknown content it is an error.
    kubo.pin(&rc).await.expect("pin");
    let unknown = cid::raw_cid(b"never stored");
    assert!(matches!(
        kubo.pin(&unknown).await,
        Err(StorageError::Backend { .. })
    ));
}

#[tokio::test]
async fn kubo_backend_refuses_a_wrong_cid_and_a_tampered_block() {
    let (addr, st) = servers::start().await;
    let kubo = KuboStorage::new(&format!("http://{addr}")).expect("client");

    *st.lie_about_cid.lock().expect("lock") = true;
    let err = kubo
        .put(Bytes::from_static(b"x"), ImportParams::KUBO_V0)
        .await;
    assert!(
        matches!(err, Err(StorageError::CidDisagreement { .. })),
        "{err:?}"
    );

    // The server answers block/get with other bytes than the CID names.
    let c = cid::raw_cid(b"genuine");
    st.blocks
        .lock()
        .expect("lock")
        .insert(c, Bytes::from_static(b"forged!"));
    let err = kubo.get(&c, 1024).await;
    assert!(
        matches!(err, Err(StorageError::Cid(CidError::Mismatch { .. }))),
        "{err:?}"
    );
}

// ---- trustless gateway ---------------------------------------------------------------------------

#[tokio::test]
async fn gateway_reads_verified_blocks_and_rejects_a_corrupted_one() {
    let (addr, st) = servers::start().await;
    let gw =
        GatewayStorage::new(&[&format!("http://{addr}")], Duration::from_secs(5)).expect("gateway");
    let data = sample(900_000, 9);
    let root = st.insert_dag(&data, &ImportParams::KUBO_V1);
    assert_eq!(
        gw.get(&root, 1 << 20).await.expect("reads").as_ref(),
        data.as_slice()
    );

    // Corrupt one leaf (the second chunk): the whole read fails with an integrity error.
    let dag = cid::import(&data, &ImportParams::KUBO_V1).expect("import");
    let leaf = dag.blocks[1].cid;
    st.corrupt.lock().expect("lock").insert(leaf);
    let err = gw.get(&root, 1 << 20).await;
    assert!(
        matches!(err, Err(StorageError::Cid(CidError::Mismatch { cid })) if cid == leaf),
        "{err:?}"
    );

    // Unknown content is NotFound; writing through a gateway is unsupported.
    let missing = cid::raw_cid(b"nobody has this");
    assert!(matches!(
        gw.get(&missing, 10).await,
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        gw.put_raw(Bytes::from_static(b"r")).await,
        Err(StorageError::Unsupported { .. })
    ));
}

#[tokio::test]
async fn gateway_falls_back_to_the_next_gateway() {
    let (bad, bad_st) = servers::start().await;
    let (good, good_st) = servers::start().await;
    let data = sample(10_000, 1);
    let root = good_st.insert_dag(&data, &ImportParams::KUBO_V0);
    bad_st.insert_dag(&data, &ImportParams::KUBO_V0);
    bad_st.corrupt.lock().expect("lock").insert(root);
    let gw = GatewayStorage::new(
        &[&format!("http://{bad}"), &format!("http://{good}")],
        Duration::from_secs(5),
    )
    .expect("gateway");
    assert_eq!(
        gw.get(&root, 1 << 20)
            .await
            .expect("second gateway")
            .as_ref(),
        data.as_slice()
    );
}

// ---- URL inputs ------------------------------------------------------------------------------------

fn fetcher(max_bytes: u64, timeout: Duration) -> HttpFetcher {
    HttpFetcher::new(FetchLimits {
        max_bytes,
        timeout,
        max_redirects: 3,
        allow_private_addresses: true,
        ..FetchLimits::default()
    })
    .expect("fetcher")
}

#[tokio::test]
async fn fetch_accepts_an_image_and_follows_a_few_redirects() {
    let (addr, _st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_secs(5));
    let got = f
        .fetch(&format!("http://{addr}/image.png"))
        .await
        .expect("image");
    assert_eq!(got.body.as_ref(), servers::PNG_1X1);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    let got = f
        .fetch(&format!("http://{addr}/chain/3"))
        .await
        .expect("3 redirects");
    assert!(got.url.ends_with("/chain/0"));
    // application/octet-stream is passed on for the decoder to judge.
    assert!(f.fetch(&format!("http://{addr}/octet")).await.is_ok());
}

#[tokio::test]
async fn fetch_refuses_a_declared_oversize_body_without_reading_it() {
    let (addr, st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_secs(10));
    let err = f.fetch(&format!("http://{addr}/huge-declared")).await;
    assert_eq!(
        err.as_ref().err(),
        Some(&FetchError::TooLarge {
            limit: 1 << 20,
            seen: Some(1 << 30)
        })
    );
    assert_eq!(err.err().map(|e| e.status()), Some(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = st.sent.load(Ordering::SeqCst);
    assert!(
        sent < 64 << 20,
        "server pushed {sent} bytes of a 1 GiB body"
    );
}

#[tokio::test]
async fn fetch_aborts_an_undeclared_oversize_body_at_the_limit() {
    let (addr, st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_secs(10));
    let err = f.fetch(&format!("http://{addr}/huge-chunked")).await;
    assert_eq!(
        err.err(),
        Some(FetchError::TooLarge {
            limit: 1 << 20,
            seen: None
        })
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = st.sent.load(Ordering::SeqCst);
    // Of 256 MiB offered, only the limit plus socket buffers left the server.
    assert!(sent < 64 << 20, "server pushed {sent} bytes");
}

#[tokio::test]
async fn fetch_gives_up_on_slow_servers_at_the_deadline() {
    let (addr, _st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_millis(800));
    for path in ["slow-headers", "slow-body"] {
        let t0 = Instant::now();
        let err = f.fetch(&format!("http://{addr}/{path}")).await;
        let took = t0.elapsed();
        assert_eq!(
            err.err(),
            Some(FetchError::Timeout(Duration::from_millis(800))),
            "{path}"
        );
        assert!(took < Duration::from_secs(3), "{path} took {took:?}");
    }
}

#[tokio::test]
async fn fetch_refuses_redirect_loops_long_chains_and_other_schemes() {
    let (addr, _st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_secs(5));
    let err = f.fetch(&format!("http://{addr}/loop-a")).await.err();
    assert!(matches!(err, Some(FetchError::RedirectLoop(_))), "{err:?}");
    let err = f.fetch(&format!("http://{addr}/chain/4")).await.err();
    assert_eq!(err, Some(FetchError::TooManyRedirects(3)));
    let err = f.fetch(&format!("http://{addr}/to-ftp")).await.err();
    assert_eq!(err, Some(FetchError::Scheme("ftp".into())));
    let err = f.fetch("file:///etc/passwd").await.err();
    assert_eq!(err, Some(FetchError::Scheme("file".into())));
    let err = f.fetch(&format!("http://{addr}/missing")).await.err();
    assert_eq!(err, Some(FetchError::Status(404)));
    let https_only = HttpFetcher::new(FetchLimits {
        https_only: true,
        allow_private_addresses: true,
        ..FetchLimits::default()
    })
    .expect("fetcher");
    let err = https_only
        .fetch(&format!("http://{addr}/image.png"))
        .await
        .err();
    assert_eq!(err, Some(FetchError::Scheme("http".into())));
    for e in [
        FetchError::RedirectLoop(String::new()),
        FetchError::TooManyRedirects(3),
        FetchError::Scheme("ftp".into()),
        FetchError::Status(404),
        FetchError::Timeout(Duration::from_secs(1)),
    ] {
        assert_eq!(e.status(), 1, "{e}");
    }
}

#[tokio::test]
async fn fetch_refuses_non_image_content_where_an_image_is_required() {
    let (addr, _st) = servers::start().await;
    let f = fetcher(1 << 20, Duration::from_secs(5));
    let err = f.fetch(&format!("http://{addr}/page.html")).await.err();
    assert_eq!(err, Some(FetchError::NotAnImage("text/html".into())));
    assert_eq!(err.map(|e| e.status()), Some(2));
    // Without the image requirement the same page is fetched.
    let any = HttpFetcher::new(FetchLimits {
        require_image: false,
        allow_private_addresses: true,
        ..FetchLimits::default()
    })
    .expect("fetcher");
    assert!(any.fetch(&format!("http://{addr}/page.html")).await.is_ok());
}

#[tokio::test]
async fn fetch_input_dispatches_ipfs_and_http_inputs() {
    let (addr, st) = servers::start().await;
    let gw =
        GatewayStorage::new(&[&format!("http://{addr}")], Duration::from_secs(5)).expect("gateway");
    let f = fetcher(1 << 20, Duration::from_secs(5));
    let img = servers::PNG_1X1;
    let root = st.insert_dag(img, &ImportParams::KUBO_V0);
    let got = fetch_input(&format!("ipfs://{root}"), &gw, &f, Duration::from_secs(5))
        .await
        .expect("ipfs input");
    assert_eq!(got.as_ref(), img);
    let got = fetch_input(
        &format!("http://{addr}/image.png"),
        &gw,
        &f,
        Duration::from_secs(5),
    )
    .await
    .expect("http input");
    assert_eq!(got.as_ref(), img);
    let err = fetch_input("ipfs://garbage", &gw, &f, Duration::from_secs(5))
        .await
        .err();
    assert!(matches!(err, Some(FetchError::BadInput(_))), "{err:?}");
    let big = st.insert_dag(&sample(3 << 20, 0), &ImportParams::KUBO_V0);
    let err = fetch_input(&format!("ipfs://{big}"), &gw, &f, Duration::from_secs(5))
        .await
        .err();
    assert!(matches!(err, Some(FetchError::TooLarge { .. })), "{err:?}");
}

// ---- model cache ---------------------------------------------------------------------------------

#[tokio::test]
async fn model_cache_verifies_sha256_and_evicts_damaged_files() {
    let (addr, st) = servers::start().await;
    let gw =
        GatewayStorage::new(&[&format!("http://{addr}")], Duration::from_secs(5)).expect("gateway");
    let model = sample(400_000, 42);
    let sha = hex(&sha2::Sha256::digest(&model));
    let model_cid = st.insert_dag(&model, &ImportParams::KUBO_V0);
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = ModelCache::new(dir.path(), 1 << 20);

    let path = cache
        .get_or_fetch(&gw, &model_cid, &sha)
        .await
        .expect("fetch");
    assert_eq!(std::fs::read(&path).expect("read"), model);
    let fetches = st.calls.lock().expect("lock").len();
    // A second lookup is served from disk.
    cache
        .get_or_fetch(&gw, &model_cid, &sha)
        .await
        .expect("hit");
    assert_eq!(
        st.calls.lock().expect("lock").len(),
        fetches,
        "no network on a hit"
    );

    // A damaged cached file is evicted and fetched again.
    std::fs::write(&path, b"bit rot").expect("damage");
    let again = cache
        .get_or_fetch(&gw, &model_cid, &sha)
        .await
        .expect("refetch");
    assert_eq!(std::fs::read(&again).expect("read"), model);
    assert!(st.calls.lock().expect("lock").len() > fetches);

    // A registry sha256 that the content does not have is refused, and nothing is cached.
    let other = cid::raw_cid(b"x");
    st.blocks
        .lock()
        .expect("lock")
        .insert(other, Bytes::from_static(b"x"));
    let err = cache.get_or_fetch(&gw, &other, &sha).await;
    assert!(
        matches!(err, Err(ModelCacheError::Mismatch { .. })),
        "{err:?}"
    );
    assert!(!cache.path_of(&other).exists());
    assert!(matches!(
        cache.get_or_fetch(&gw, &other, "abc").await,
        Err(ModelCacheError::BadSha256(_))
    ));
}

#[tokio::test]
async fn reading_stops_at_a_block_count_bound_for_pathological_dags() {
    let (addr, st) = servers::start().await;
    let gw =
        GatewayStorage::new(&[&format!("http://{addr}")], Duration::from_secs(5)).expect("gateway");
    // 3000 one-byte chunks: a legal DAG, but 3000+ blocks for 3000 bytes.
    let data = sample(3000, 5);
    let params = ImportParams {
        chunk_size: 1,
        ..ImportParams::KUBO_V1
    };
    let root = st.insert_dag(&data, &params);
    let err = gw.get(&root, 4096).await;
    assert!(
        matches!(err, Err(StorageError::Cid(CidError::Malformed { .. }))),
        "{err:?}"
    );
    // The same DAG is readable when the caller allows enough bytes for that many blocks.
    assert_eq!(
        gw.get(&root, 1 << 20).await.expect("reads").as_ref(),
        data.as_slice()
    );
}

// ---- CLI ----------------------------------------------------------------------------------------

#[derive(clap::Parser)]
struct TestCli {
    #[command(flatten)]
    ipfs: maskoracle::storage::cli::IpfsArgs,
}

async fn cli(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    use clap::Parser;
    let parsed = TestCli::try_parse_from(std::iter::once("ipfs").chain(args.iter().copied()))?;
    let mut out = Vec::new();
    maskoracle::storage::cli::run_to(parsed.ipfs, &mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn cli_computes_adds_and_cats_through_a_backend() {
    let (addr, st) = servers::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hello.txt");
    std::fs::write(&file, b"Hello Worlds!\n").expect("write");
    let path = file.to_str().expect("utf-8 path");

    // Kubo's published CID for this content (t0040-add-and-cat.sh).
    let out = cli(&["cid", path]).await.expect("cid");
    assert_eq!(out, b"QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH\n");
    let out = cli(&["cid", "--raw-block", path]).await.expect("cid raw");
    assert_eq!(
        String::from_utf8_lossy(&out).trim(),
        cid::raw_cid(b"Hello Worlds!\n").to_string()
    );

    let api = format!("http://{addr}");
    let out = cli(&[
        "--ipfs-backend",
        "kubo",
        "--kubo-url",
        &api,
        "add",
        "--cid-version",
        "1",
        path,
    ])
    .await
    .expect("add");
    let added = String::from_utf8_lossy(&out).trim().to_owned();
    assert!(st
        .pins
        .lock()
        .expect("lock")
        .iter()
        .any(|c| c.to_string() == added));
    let out = cli(&[
        "--ipfs-backend",
        "gateway",
        "--gateway",
        &api,
        "cat",
        &format!("ipfs://{added}"),
    ])
    .await
    .expect("cat");
    assert_eq!(out, b"Hello Worlds!\n");
    assert!(
        cli(&["--ipfs-backend", "gateway", "--gateway", &api, "add", path])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn fetch_refuses_loopback_and_private_targets_by_default() {
    let (addr, _st) = servers::start().await;
    let f = HttpFetcher::new(FetchLimits::default()).expect("fetcher");
    let port = addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/image.png"),
        format!("http://localhost:{port}/image.png"),
        "http://[::1]/x.png".to_owned(),
        "http://10.1.2.3/x.png".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let err = f.fetch(&url).await.err();
        assert!(
            matches!(err, Some(FetchError::Forbidden(_))),
            "{url}: {err:?}"
        );
        assert_eq!(err.map(|e| e.status()), Some(1));
    }
    // Every redirect hop goes through the same checks as the first URL.
    assert!(maskoracle::storage::http::is_public(
        "93.184.216.34".parse().expect("ip")
    ));
    assert!(!maskoracle::storage::http::is_public(
        "100.64.0.1".parse().expect("ip")
    ));
    assert!(!maskoracle::storage::http::is_public(
        "fd00::1".parse().expect("ip")
    ));
}

// ---- deadlines and attempts --------------------------------------------------------------------

/// A listener that accepts connections and never answers; counts them.
async fn silent_listener() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(sock); // keep it open, say nothing
        }
    });
    (addr, count)
}

#[tokio::test]
async fn kubo_requests_time_out_on_an_endpoint_that_never_answers() {
    let (addr, accepted) = silent_listener().await;
    let kubo = KuboStorage::with_timeout(&format!("http://{addr}"), Duration::from_millis(800))
        .expect("client");
    let data = Bytes::from_static(b"result");
    let c = cid::raw_cid(&data);
    let started = Instant::now();
    let get = kubo.get_block(&c).await;
    assert!(matches!(get, Err(StorageError::Timeout { .. })), "{get:?}");
    let put = kubo.put_raw(data.clone()).await;
    assert!(matches!(put, Err(StorageError::Timeout { .. })), "{put:?}");
    let add = kubo.put(data, ImportParams::KUBO_V0).await;
    assert!(matches!(add, Err(StorageError::Timeout { .. })), "{add:?}");
    let pin = kubo.pin(&c).await;
    assert!(matches!(pin, Err(StorageError::Timeout { .. })), "{pin:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(3200),
        "four deadlines: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the requests reached the listener"
    );
}

/// A server answering every request with `status`; counts requests.
async fn status_server(status: u16) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/image.png"), count)
}

fn quick_policy() -> FetchPolicy {
    FetchPolicy {
        attempt_timeout_ms: 2_000,
        backoff_ms: 50,
        ..FETCH_POLICY
    }
}

#[tokio::test]
async fn policy_retries_transient_failures_and_stops_at_final_ones() {
    let gw = GatewayStorage::new(&["http://127.0.0.1:9"], Duration::from_secs(1)).expect("gateway");
    let f = HttpFetcher::for_policy(&quick_policy(), true).expect("fetcher");

    let (url, calls) = status_server(503).await;
    let err = fetch_input_with(&quick_policy(), &url, &gw, &f)
        .await
        .expect_err("503");
    assert_eq!(err, FetchError::Status(503));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "503 is transient: all 3 attempts"
    );

    let (url, calls) = status_server(404).await;
    let err = fetch_input_with(&quick_policy(), &url, &gw, &f)
        .await
        .expect_err("404");
    assert_eq!(err, FetchError::Status(404));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "404 is final: one attempt");

    // A silent server: each attempt ends at the policy's deadline, three of them.
    let (addr, accepted) = silent_listener().await;
    let started = Instant::now();
    let err = fetch_input_with(&quick_policy(), &format!("http://{addr}/x.png"), &gw, &f)
        .await
        .expect_err("silent");
    assert_eq!(err, FetchError::Timeout(Duration::from_secs(2)));
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    let elapsed = started.elapsed();
    // 3 x 2 s plus 50 + 100 ms of back-off.
    assert!(elapsed >= Duration::from_millis(6150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");

    // A private address is a policy refusal: final, nothing is sent.
    let public_only = HttpFetcher::for_policy(&quick_policy(), false).expect("fetcher");
    let (url, calls) = status_server(200).await;
    let err = fetch_input_with(&quick_policy(), &url, &gw, &public_only)
        .await
        .expect_err("loopback");
    assert!(matches!(err, FetchError::Forbidden(_)), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn ipfs_inputs_over_the_policy_limit_and_unreadable_dags_are_final() {
    let (addr, st) = servers::start().await;
    let gw =
        GatewayStorage::new(&[&format!("http://{addr}")], Duration::from_secs(5)).expect("gateway");
    // Long enough for a 32 MiB DAG in a debug build.
    let policy = FetchPolicy {
        attempt_timeout_ms: 120_000,
        ..quick_policy()
    };
    let f = HttpFetcher::for_policy(&policy, true).expect("fetcher");
    // One byte over the decoder's 32 MiB limit: refused from the root's declared size.
    let big = st.insert_dag(
        &vec![7u8; FETCH_POLICY.max_input_bytes as usize + 1],
        &ImportParams::KUBO_V1,
    );
    let err = fetch_input_with(&policy, &format!("ipfs://{big}"), &gw, &f)
        .await
        .expect_err("too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit, .. } if limit == 33_554_432),
        "{err:?}"
    );
    assert!(!err.is_transient());
    // Exactly at the limit is accepted.
    let edge = vec![9u8; FETCH_POLICY.max_input_bytes as usize];
    let at = st.insert_dag(&edge, &ImportParams::KUBO_V1);
    let got = fetch_input_with(&policy, &format!("ipfs://{at}"), &gw, &f)
        .await
        .expect("at the limit");
    assert_eq!(got.len(), edge.len());
    // A CID with a codec this node does not read (dag-cbor) is final, whoever asks.
    let cbor = maskoracle::storage::Cid::new_v1(0x71, *cid::raw_cid(b"x").hash());
    let err = fetch_input_with(&policy, &format!("ipfs://{cbor}"), &gw, &f)
        .await
        .expect_err("codec");
    assert!(matches!(err, FetchError::IpfsContent(_)), "{err:?}");
    assert!(!err.is_transient());
}
