//! The URL fetcher never goes through a proxy: with `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY`
//! pointing at a local listener, a plain reqwest client goes through it (the control), and the
//! fetcher connects to the target itself. A proxy would resolve and connect on the fetcher's
//! behalf, so the address filter would never see the target.
//!
//! Proxy variables are process-wide: this binary holds this one test only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use maskoracle::storage::{HttpFetcher, FETCH_POLICY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-answer HTTP server on loopback: counts connections, answers every request with `body`.
async fn server(body: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.write_all(body).await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), count)
}

#[tokio::test]
async fn fetcher_ignores_proxy_environment_variables() {
    let (proxy, proxied) = server(b"from the proxy").await;
    let (target, direct) = server(b"from the target").await;
    for var in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(var);
    }
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, format!("http://{proxy}"));
    }
    let url = format!("http://{target}/image.png");

    // Control: a client that honours the variables goes through the listener.
    let plain = reqwest::Client::builder().build().expect("client");
    let body = plain
        .get(&url)
        .send()
        .await
        .expect("through the proxy")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.as_ref(), b"from the proxy");
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        1,
        "the control used the proxy"
    );
    assert_eq!(direct.load(Ordering::SeqCst), 0);

    // The fetcher (loopback allowed here, to reach the local target) connects directly.
    let fetcher = HttpFetcher::for_policy(&FETCH_POLICY, true).expect("fetcher");
    let got = fetcher.fetch(&url).await.expect("direct fetch");
    assert_eq!(got.body.as_ref(), b"from the target");
    assert_eq!(
        direct.load(Ordering::SeqCst),
        1,
        "the fetcher reached the target"
    );
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        1,
        "the fetcher never used the proxy"
    );

    // And the default fetcher (public addresses only) refuses the loopback target itself
    // instead of handing it to the proxy.
    let public_only = HttpFetcher::for_policy(&FETCH_POLICY, false).expect("fetcher");
    let err = public_only.fetch(&url).await.expect_err("loopback refused");
    assert!(
        matches!(err, maskoracle::storage::FetchError::Forbidden(_)),
        "{err:?}"
    );
    let port = target.rsplit(':').next().expect("port");
    let err = public_only
        .fetch(&format!("http://localhost:{port}/image.png"))
        .await
        .expect_err("a name resolving to loopback refused");
    assert!(
        matches!(err, maskoracle::storage::FetchError::Forbidden(_)),
        "{err:?}"
    );
    assert_eq!(proxied.load(Ordering::SeqCst), 1);
    assert_eq!(direct.load(Ordering::SeqCst), 1);
}
