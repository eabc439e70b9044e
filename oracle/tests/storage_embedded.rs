//! Two embedded IPFS nodes on loopback: one fetches over Bitswap what only the other holds, a
//! corrupted block is refused, and the repository (content and peer id) survives a restart.
#![cfg(feature = "embedded-ipfs")]

use std::time::Duration;

use bytes::Bytes;
use maskoracle::storage::embedded::{EmbeddedConfig, EmbeddedNode};
use maskoracle::storage::{cid, BlockSource, ImportParams, Storage, StorageError};

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
