//! Two embedded IPFS nodes on loopback: one fetches over Bitswap what only the other holds, a
//! corrupted block is refused, and the repository (content and peer id) survives a restart.
//! Nodes configured as peers through the public configuration (`IpfsConfig` → `open_storage`)
//! share a published result through `fetch_input`; a bootstrap peer that restarts is re-dialled;
//! `ipfs.gateways` serves what no peer has, and a gateway's wrong bytes are an error.
#![cfg(feature = "embedded-ipfs")]

#[path = "support/servers.rs"]
mod servers;

use std::time::{Duration, Instant};

use bytes::Bytes;
use maskoracle::config::{Config, IpfsBackend};
use maskoracle::storage::embedded::{peer_id_of, EmbeddedConfig, EmbeddedNode};
use maskoracle::storage::{
    cid, fetch_input, BlockSource, FetchError, HttpFetcher, ImportParams, Storage, StorageError,
    FETCH_POLICY,
};

async fn node(dir: &std::path::Path, block_timeout: Duration) -> EmbeddedNode {
    let mut config = EmbeddedConfig::loopback(dir);
    config.block_timeout = block_timeout;
    EmbeddedNode::start(config).await.expect("node starts")
}

async fn link(from: &EmbeddedNode, to: &EmbeddedNode) {
    let addrs = to.listen_addrs().await.expect("addresses");
    assert!(!addrs.is_empty(), "node listens somewhere");
    from.connect(to.peer_id(), addrs).await.expect("connects");
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_node_fetches_over_bitswap_and_refuses_corruption() {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let a = node(dir_a.path(), Duration::from_secs(20)).await;
    let b = node(dir_b.path(), Duration::from_secs(8)).await;
    assert_ne!(a.peer_id(), b.peer_id());

    // A holds a 3-chunk file (Kubo v0 parameters) and a raw result block.
    let file = sample(700_000);
    let file_cid = a
        .put(Bytes::from(file.clone()), ImportParams::KUBO_V0)
        .await
        .expect("put");
    assert_eq!(
        file_cid,
        cid::import(&file, &ImportParams::KUBO_V0)
            .expect("import")
            .root
    );
    let result = Bytes::from_static(b"canonical result v1");
    let result_cid = a.put_raw(result.clone()).await.expect("put_raw");
    assert_eq!(result_cid, cid::raw_cid(&result));

    assert!(!b.has_block(&file_cid).await.expect("has"));
    link(&b, &a).await;

    let got = b
        .get(&file_cid, 1 << 20)
        .await
        .expect("B fetches the file from A");
    assert_eq!(got.as_ref(), file.as_slice());
    assert!(b.has_block(&file_cid).await.expect("has"), "B now holds it");
    let got = b
        .get(&result_cid, 1 << 20)
        .await
        .expect("B fetches the result");
    assert_eq!(got, result);
    b.pin(&file_cid).await.expect("pin");

    // A size limit below the file's declared size is refused before the leaves are fetched.
    let small = b.get(&file_cid, 1000).await;
    assert!(
        matches!(small, Err(StorageError::TooLarge { .. })),
        "{small:?}"
    );

    // A serves a block whose bytes do not match its CID: B must not accept it.
    let honest = Bytes::from_static(b"the real block");
    let bad_cid = cid::raw_cid(&honest);
    a.put_block_unchecked(bad_cid, Bytes::from_static(b"a forged block"))
        .await
        .expect("stores forged block");
    // Bitswap drops a block that does not hash to its CID, so B never gets a valid answer.
    let forged = b.get_block(&bad_cid).await;
    assert!(
        matches!(
            forged,
            Err(StorageError::Timeout { .. }) | Err(StorageError::Cid(_))
        ),
        "forged block not refused: {forged:?}"
    );
    assert!(
        !b.has_block(&bad_cid).await.expect("has"),
        "forged block stored"
    );

    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_and_identity_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Bytes::from(sample(300_000));
    let (peer, cid) = {
        let n = node(dir.path(), Duration::from_secs(2)).await;
        let cid = n
            .put(data.clone(), ImportParams::KUBO_V1)
            .await
            .expect("put");
        let peer = n.peer_id();
        n.stop().await;
        (peer, cid)
    };
    let n = node(dir.path(), Duration::from_secs(2)).await;
    assert_eq!(n.peer_id(), peer, "peer id is kept in the repository");
    assert_eq!(n.get(&cid, 1 << 20).await.expect("still there"), data);
    n.stop().await;
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A worker's configuration with its data under `dir` and the embedded node on loopback.
fn config(dir: &std::path::Path, listen: &str, bootstrap: Vec<String>) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.ipfs.backend = IpfsBackend::Embedded;
    cfg.ipfs.listen = vec![listen.to_owned()];
    cfg.ipfs.bootstrap = bootstrap;
    cfg.ipfs.block_timeout_s = 20;
    cfg
}

fn http() -> HttpFetcher {
    HttpFetcher::for_policy(&FETCH_POLICY, false).expect("fetcher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_from_the_config_share_a_published_result_through_fetch_input() {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let port_a = free_port();
    let a = maskoracle::node::open_storage(&config(
        dir_a.path(),
        &format!("/ip4/127.0.0.1/tcp/{port_a}"),
        Vec::new(),
    ))
    .await
    .expect("A starts");
    let peer_a = peer_id_of(&dir_a.path().join("ipfs")).expect("A's peer id");
    let b = maskoracle::node::open_storage(&config(
        dir_b.path(),
        "/ip4/127.0.0.1/tcp/0",
        vec![format!("/ip4/127.0.0.1/tcp/{port_a}/p2p/{peer_a}")],
    ))
    .await
    .expect("B starts and dials A");

    let result = Bytes::from_static(b"canonical result published by worker A");
    let cid = a.put_raw(result.clone()).await.expect("A publishes");
    let started = Instant::now();
    let got = fetch_input(
        &format!("ipfs://{cid}"),
        b.as_ref(),
        &http(),
        Duration::from_secs(20),
    )
    .await
    .expect("B fetches A's result by CID");
    assert_eq!(got, result);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // A 700 kB UnixFS input published by A is fetched the same way (3 chunks over Bitswap).
    let image = Bytes::from(sample(700_000));
    let root = a
        .put(image.clone(), ImportParams::KUBO_V0)
        .await
        .expect("put");
    let got = fetch_input(
        &format!("ipfs://{root}"),
        b.as_ref(),
        &http(),
        Duration::from_secs(20),
    )
    .await
    .expect("B fetches A's input");
    assert_eq!(got, image);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_peer_that_restarts_is_redialled() {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let port_a = free_port();
    let listen_a: rust_ipfs::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port_a}")
        .parse()
        .expect("addr");
    let config_a = EmbeddedConfig {
        listen: vec![listen_a.clone()],
        ..EmbeddedConfig::loopback(dir_a.path())
    };
    let a = EmbeddedNode::start(config_a.clone()).await.expect("A");
    let peer_a = a.peer_id();
    let b = EmbeddedNode::start(EmbeddedConfig {
        bootstrap: vec![format!("{listen_a}/p2p/{peer_a}").parse().expect("addr")],
        redial_interval: Duration::from_millis(500),
        block_timeout: Duration::from_secs(10),
        ..EmbeddedConfig::loopback(dir_b.path())
    })
    .await
    .expect("B");
    assert!(
        b.is_connected(peer_a).await.expect("state"),
        "B dialled A at start"
    );

    a.stop().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.is_connected(peer_a).await.expect("state") {
        assert!(Instant::now() < deadline, "B never saw A go");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A comes back on the same port with the same identity; B finds it again by itself.
    let a = EmbeddedNode::start(config_a).await.expect("A restarts");
    assert_eq!(a.peer_id(), peer_a);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.is_connected(peer_a).await.expect("state") {
        assert!(Instant::now() < deadline, "B did not re-dial A");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let later = Bytes::from_static(b"a result published after the restart");
    let cid = a.put_raw(later.clone()).await.expect("put_raw");
    assert_eq!(b.get(&cid, 1024).await.expect("B fetches"), later);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_serve_what_no_peer_has_and_their_lies_are_errors() {
    let (addr, st) = servers::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A node with no peers, listening on loopback only (an empty list), gateways as fallback.
    let mut cfg = config(dir.path(), "/ip4/127.0.0.1/tcp/0", Vec::new());
    cfg.ipfs.listen = Vec::new();
    cfg.ipfs.block_timeout_s = 3;
    cfg.ipfs.gateways = vec![format!("http://{addr}")];
    let storage = maskoracle::node::open_storage(&cfg).await.expect("opens");

    let image = sample(600_000);
    let root = st.insert_dag(&image, &ImportParams::KUBO_V1);
    let got = fetch_input(
        &format!("ipfs://{root}"),
        storage.as_ref(),
        &http(),
        Duration::from_secs(30),
    )
    .await
    .expect("served by the gateway");
    assert_eq!(got.as_ref(), image.as_slice());

    // The gateway now serves one block of another file with a byte flipped.
    let other = sample(300_000)
        .into_iter()
        .map(|b| b ^ 0x5a)
        .collect::<Vec<_>>();
    let other_root = st.insert_dag(&other, &ImportParams::KUBO_V1);
    st.corrupt.lock().expect("lock").insert(other_root);
    let started = Instant::now();
    let err = fetch_input(
        &format!("ipfs://{other_root}"),
        storage.as_ref(),
        &http(),
        Duration::from_secs(30),
    )
    .await
    .expect_err("a gateway's wrong bytes are not a result");
    assert!(
        matches!(&err, FetchError::Ipfs(m) if m.contains("does not match its CID")),
        "{err:?}"
    );
    assert!(
        err.is_transient(),
        "another source may serve the right bytes"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
