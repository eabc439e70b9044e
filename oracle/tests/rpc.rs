//! RPC endpoints against a real anvil behind a proxy that behaves like a public provider: the
//! adaptive log reader returns exactly the logs of a direct query while the proxy refuses large
//! ranges, and a provider over [proxy, anvil] keeps answering after the proxy dies.

#[path = "support/rpc_proxy.rs"]
mod rpc_proxy;

use std::time::Duration;

use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, Bytes};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use maskoracle::chain::{fallback_provider, read_provider, LogReader, TxSender, TxSettings};
use rpc_proxy::RpcProxy;

fn key(i: u32) -> alloy::signers::local::PrivateKeySigner {
    maskoracle::keys::dev_signer(i, 31337).expect("dev key")
}

/// Runtime code that logs its calldata (LOG0): `CALLDATACOPY(0, 0, size); LOG0(0, size)`.
const LOGGER: [u8; 11] = [
    0x36, 0x60, 0x00, 0x60, 0x00, 0x37, 0x36, 0x60, 0x00, 0xa0, 0x00,
];

#[tokio::test]
async fn the_log_reader_returns_exactly_the_direct_logs_while_the_endpoint_refuses_large_ranges() {
    let anvil = Anvil::new().spawn();
    let direct = read_provider(&anvil.endpoint()).expect("provider");
    let logger = Address::repeat_byte(0x10);
    let _: () = direct
        .raw_request(
            "anvil_setCode".into(),
            (logger, Bytes::from(LOGGER.to_vec())),
        )
        .await
        .expect("setCode");
    // 45 logging transactions (one block each, automine) with runs of empty blocks between.
    let tx = TxSender::spawn(&anvil.endpoint(), key(1), TxSettings::default()).expect("signer");
    for i in 0..45u32 {
        tx.send(format!("log {i}"), logger, i.to_be_bytes().to_vec())
            .await
            .expect("logged");
        if i % 5 == 4 {
            let _: () = direct
                .raw_request("anvil_mine".into(), (7u64,))
                .await
                .expect("mine empty blocks");
        }
    }
    let head = direct.get_block_number().await.expect("head");
    assert!(head > 100, "the range spans {head} blocks");
    let filter = Filter::new().address(logger);
    let expected = direct
        .get_logs(&filter.clone().from_block(0).to_block(head))
        .await
        .expect("direct logs");
    assert_eq!(expected.len(), 45);

    let proxy = RpcProxy::start(&anvil.endpoint(), Some(10)).await;
    let refusing = read_provider(&proxy.url).expect("proxy provider");
    // The proxy does refuse what the reader will first ask for.
    let err = refusing
        .get_logs(&filter.clone().from_block(0).to_block(head))
        .await
        .expect_err("refused");
    assert!(maskoracle::chain::is_range_refusal(&err), "{err}");

    let mut reader = LogReader::new(64);
    let got = reader
        .logs(&refusing, &filter, 0, head)
        .await
        .expect("logs through the refusing proxy");
    let key_of = |l: &alloy::rpc::types::Log| {
        (
            l.block_number,
            l.transaction_hash,
            l.log_index,
            l.data().data.clone(),
        )
    };
    assert_eq!(
        got.iter().map(key_of).collect::<Vec<_>>(),
        expected.iter().map(key_of).collect::<Vec<_>>(),
        "the same logs, in the same order"
    );
    let refused = proxy
        .counts()
        .refused
        .load(std::sync::atomic::Ordering::SeqCst);
    let forwarded = proxy
        .counts()
        .logs_forwarded
        .load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "blocks 0..={head}: {} logs; {refused} refusals, {forwarded} accepted calls; reader chunk now {} (refusals seen {})",
        got.len(),
        reader.chunk(),
        reader.refusals()
    );
    assert!(reader.refusals() >= 3, "64 -> 32 -> 16 -> 8 at least");
    assert!(
        reader.chunk() <= 16,
        "the range stays near what the endpoint accepts"
    );
    assert!(
        forwarded as u64 >= head / 10,
        "every accepted call is at most 10 blocks"
    );

    // Without refusals the range grows back to its maximum.
    let mut reader = LogReader::new(64);
    let again = reader
        .logs(&direct, &filter, 0, head)
        .await
        .expect("direct reader");
    assert_eq!(again.len(), 45);
    assert_eq!(reader.chunk(), 64);
    assert_eq!(reader.refusals(), 0);
}

#[tokio::test]
async fn a_provider_over_proxy_and_anvil_keeps_answering_after_the_proxy_dies() {
    let anvil = Anvil::new().spawn();
    let proxy = RpcProxy::start(&anvil.endpoint(), None).await;
    let urls = [proxy.url.clone(), anvil.endpoint()];
    let provider = fallback_provider(&urls).expect("provider");
    let before = provider
        .get_block_number()
        .await
        .expect("through the proxy");
    assert!(
        proxy
            .counts()
            .forwarded
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1,
        "the primary answered first"
    );
    let tx = TxSender::spawn_on(&urls, key(2), TxSettings::default()).expect("signer");
    let first = tx
        .send("before", Address::repeat_byte(0x33), Vec::<u8>::new())
        .await
        .expect("sent through the proxy");

    proxy.kill();
    let after = tokio::time::timeout(Duration::from_secs(30), provider.get_block_number())
        .await
        .expect("answers in time")
        .expect("answered by the fallback");
    assert!(after >= before);
    assert_eq!(provider.get_chain_id().await.expect("chain id"), 31337);
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        tx.send("after", Address::repeat_byte(0x33), Vec::<u8>::new()),
    )
    .await
    .expect("mined in time")
    .expect("sent through the fallback");
    assert_eq!(second.nonce, first.nonce + 1);
    // Reads keep working, repeatedly, with the primary dead.
    for _ in 0..5 {
        provider.get_block_number().await.expect("fallback");
    }
}
