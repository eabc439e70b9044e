//! The signer task against a real anvil: revert decoding before sending, nonce handling across
//! several transactions, fee replacement of a stuck transaction, pipelining, the priority queue,
//! deadlines and cancels.

use std::time::Duration;

use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use maskoracle::chain::{read_provider, TxError, TxJob, TxPriority, TxSender, TxSettings};

fn key(i: u32) -> alloy::signers::local::PrivateKeySigner {
    maskoracle::keys::dev_signer(i, 31337).expect("dev key")
}

#[tokio::test]
async fn a_stuck_transaction_is_resent_with_higher_fees_and_mined_once() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    // No mining until told: the first copy sits in the pool.
    let _: () = provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .expect("automine off");
    let settings = TxSettings {
        receipt_timeout: Duration::from_millis(700),
        max_bumps: 5,
        rpc_retries: 3,
        ..TxSettings::default()
    };
    let tx = TxSender::spawn(&anvil.endpoint(), key(1), settings).expect("signer");
    let to = Address::repeat_byte(0x42);
    let send = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send("transfer", to, Vec::<u8>::new()).await }
    });
    // Let at least one fee raise happen, then mine.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let _: () = provider
        .raw_request("evm_setAutomine".into(), (true,))
        .await
        .expect("automine on");
    let _: String = provider
        .raw_request("evm_mine".into(), ())
        .await
        .expect("mine");
    let mined = send.await.expect("join").expect("mined");
    assert!(
        mined.bumps >= 1,
        "fees were raised at least once: {mined:?}"
    );
    let nonce = provider
        .get_transaction_count(key(1).address())
        .await
        .expect("nonce");
    assert_eq!(nonce, 1, "one transaction used one nonce");
    // The next transaction uses the next nonce.
    let second = tx
        .send("again", to, Vec::<u8>::new())
        .await
        .expect("second");
    assert_eq!(second.bumps, 0);
    assert_eq!(
        provider
            .get_transaction_count(key(1).address())
            .await
            .expect("nonce"),
        2
    );
}

alloy::sol! {
    function stake(uint256 amount) external;
}

#[tokio::test]
async fn a_reverting_call_is_refused_before_sending_with_its_error_decoded() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    // A contract that always reverts with WorkerRegistryZeroAmount(): runtime code
    // `PUSH4 selector, PUSH1 0xe0, SHL, PUSH1 0, MSTORE, PUSH1 4, PUSH1 0, REVERT`.
    let selector = alloy::primitives::keccak256("WorkerRegistryZeroAmount()");
    let mut code = vec![0x63];
    code.extend_from_slice(&selector[..4]);
    code.extend_from_slice(&[
        0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52, 0x60, 0x04, 0x60, 0x00, 0xfd,
    ]);
    let target = Address::repeat_byte(0x77);
    let _: () = provider
        .raw_request(
            "anvil_setCode".into(),
            (target, alloy::primitives::Bytes::from(code)),
        )
        .await
        .expect("setCode");
    let tx = TxSender::spawn(&anvil.endpoint(), key(2), TxSettings::default()).expect("signer");
    let err = tx
        .send(
            "stake",
            target,
            stakeCall { amount: U256::ZERO }.abi_encode(),
        )
        .await
        .expect_err("reverts");
    match &err {
        TxError::Revert { reason, .. } => {
            assert!(reason.contains("WorkerRegistryZeroAmount"), "{reason}")
        }
        other => panic!("expected a decoded revert, got {other}"),
    }
    // Nothing was sent: the nonce is untouched.
    assert_eq!(
        provider
            .get_transaction_count(key(2).address())
            .await
            .expect("nonce"),
        0
    );
}

async fn automine(provider: &alloy::providers::DynProvider, on: bool) {
    let _: () = provider
        .raw_request("evm_setAutomine".into(), (on,))
        .await
        .expect("automine");
}

async fn mine(provider: &alloy::providers::DynProvider) {
    let _: String = provider
        .raw_request("evm_mine".into(), ())
        .await
        .expect("mine");
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Sends `n` transfers at once from `tx`; returns (blocks spanned, seconds).
async fn burst(tx: &TxSender, n: usize) -> (u64, f64) {
    let start = std::time::Instant::now();
    let jobs = (0..n).map(|i| {
        let tx = tx.clone();
        async move {
            tx.send(
                format!("burst {i}"),
                Address::repeat_byte(0x55),
                Vec::<u8>::new(),
            )
            .await
        }
    });
    let mined: Vec<_> = futures::future::join_all(jobs).await;
    let blocks: Vec<u64> = mined.into_iter().map(|m| m.expect("mined").block).collect();
    let span = blocks.iter().max().expect("some") - blocks.iter().min().expect("some") + 1;
    (span, start.elapsed().as_secs_f64())
}

#[tokio::test]
async fn forty_transactions_are_pipelined_into_a_few_blocks_and_one_at_a_time_takes_a_block_each() {
    let anvil = Anvil::new().block_time(2).spawn();
    let piped = TxSender::spawn(
        &anvil.endpoint(),
        key(3),
        TxSettings {
            max_in_flight: 16,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    let serial = TxSender::spawn(
        &anvil.endpoint(),
        key(4),
        TxSettings {
            max_in_flight: 1,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    // Both accounts at once on the same chain.
    let ((piped_blocks, piped_s), (serial_blocks, serial_s)) =
        tokio::join!(burst(&piped, 40), burst(&serial, 40));
    println!(
        "40 transactions on 2 s blocks: max_in_flight 16: {piped_blocks} blocks, {piped_s:.1} s; max_in_flight 1: {serial_blocks} blocks, {serial_s:.1} s"
    );
    assert!(piped_blocks <= 8, "pipelined: {piped_blocks} blocks");
    assert!(
        serial_blocks >= 30,
        "one at a time is about one block each: {serial_blocks} blocks"
    );
    assert!(
        serial_s > 3.0 * piped_s,
        "pipelining is several times faster: {serial_s:.1} s vs {piped_s:.1} s"
    );
    let stats = piped.stats().snapshot();
    assert_eq!((stats.sent, stats.mined), (40, 40), "{stats:?}");
    assert!(
        stats.gas_used >= 40 * 21_000 && stats.fees_paid_wei > 0,
        "{stats:?}"
    );
    assert_eq!((stats.queue_len, stats.in_flight), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn a_reveal_queued_after_normal_jobs_is_sent_first() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    automine(&provider, false).await;
    let tx = TxSender::spawn(
        &anvil.endpoint(),
        key(5),
        TxSettings {
            max_in_flight: 1,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    let to = Address::repeat_byte(0x42);
    // A occupies the one slot (unmined).
    let (sent, sent_rx) = tokio::sync::oneshot::channel();
    let a = tokio::spawn({
        let tx = tx.clone();
        async move {
            tx.submit(TxJob::new("A", to, Vec::<u8>::new()).notify(sent))
                .await
        }
    });
    sent_rx.await.expect("A sent");
    let mut normals = Vec::new();
    for name in ["B", "C", "D"] {
        let tx = tx.clone();
        normals.push(tokio::spawn(async move {
            tx.submit(TxJob::new(name, to, Vec::<u8>::new())).await
        }));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reveal = tokio::spawn({
        let tx = tx.clone();
        async move {
            tx.submit(TxJob::new("R", to, Vec::<u8>::new()).priority(TxPriority::Reveal))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tx.stats().snapshot().queue_len, 4, "B, C, D and R wait");
    assert!(tx.oldest_queued_age().expect("queued") >= Duration::from_millis(500));
    automine(&provider, true).await;
    mine(&provider).await;
    let a = a.await.expect("join").expect("A mined");
    let r = reveal.await.expect("join").expect("R mined");
    let mut normal_nonces = Vec::new();
    for n in normals {
        normal_nonces.push(n.await.expect("join").expect("mined").nonce);
    }
    println!(
        "nonces: A {}, R {}, B/C/D {normal_nonces:?}",
        a.nonce, r.nonce
    );
    assert_eq!(a.nonce, 0);
    assert_eq!(
        r.nonce, 1,
        "the reveal goes before the normal jobs queued earlier"
    );
    assert_eq!(
        normal_nonces,
        [2, 3, 4],
        "then the normal jobs in arrival order"
    );
}

#[tokio::test]
async fn stuck_transactions_are_replaced_with_higher_fees_and_later_nonces_follow() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    automine(&provider, false).await;
    let tx = TxSender::spawn(
        &anvil.endpoint(),
        key(6),
        TxSettings {
            receipt_timeout: Duration::from_millis(600),
            max_in_flight: 4,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    let to = Address::repeat_byte(0x43);
    let jobs: Vec<_> = (0..3)
        .map(|i| {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(format!("stuck {i}"), to, Vec::<u8>::new()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stats = tx.stats().snapshot();
    assert!(
        stats.replaced >= 3,
        "each stuck copy was replaced: {stats:?}"
    );
    assert_eq!(stats.in_flight, 3, "{stats:?}");
    mine(&provider).await;
    automine(&provider, true).await;
    let mut mined = Vec::new();
    for j in jobs {
        mined.push(j.await.expect("join").expect("mined"));
    }
    mined.sort_by_key(|m| m.nonce);
    assert_eq!(mined.iter().map(|m| m.nonce).collect::<Vec<_>>(), [0, 1, 2]);
    for m in &mined {
        assert!(m.bumps >= 1, "{m:?}");
        let sent = provider
            .get_transaction_by_hash(m.hash)
            .await
            .expect("lookup")
            .expect("the mined copy");
        use alloy::consensus::Transaction as _;
        assert!(
            sent.inner.max_fee_per_gas() > 2_000_000_000,
            "the mined copy carries raised fees: {}",
            sent.inner.max_fee_per_gas()
        );
    }
    assert_eq!(
        provider
            .get_transaction_count(key(6).address())
            .await
            .expect("nonce"),
        3
    );
}

#[tokio::test]
async fn a_job_whose_deadline_passes_in_the_queue_expires_unsent() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    automine(&provider, false).await;
    let tx = TxSender::spawn(
        &anvil.endpoint(),
        key(7),
        TxSettings {
            max_in_flight: 1,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    let to = Address::repeat_byte(0x44);
    let (sent, sent_rx) = tokio::sync::oneshot::channel();
    let a = tokio::spawn({
        let tx = tx.clone();
        async move {
            tx.submit(TxJob::new("A", to, Vec::<u8>::new()).notify(sent))
                .await
        }
    });
    sent_rx.await.expect("A sent");
    let late = tokio::time::timeout(
        Duration::from_secs(20),
        tx.submit(TxJob::new("late", to, Vec::<u8>::new()).deadline(unix_now() + 1)),
    )
    .await
    .expect("answered in time");
    assert!(matches!(late, Err(TxError::Expired { .. })), "{late:?}");
    assert_eq!(tx.stats().snapshot().expired, 1);
    assert_eq!(
        provider
            .get_transaction_count(key(7).address())
            .pending()
            .await
            .expect("pending"),
        1,
        "only A was sent"
    );
    automine(&provider, true).await;
    mine(&provider).await;
    assert_eq!(a.await.expect("join").expect("A mined").nonce, 0);
}

#[tokio::test]
async fn a_job_stuck_past_its_deadline_is_cancelled_and_the_nonce_is_freed() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    automine(&provider, false).await;
    let me = key(8).address();
    let tx = TxSender::spawn(
        &anvil.endpoint(),
        key(8),
        TxSettings {
            receipt_timeout: Duration::from_millis(400),
            max_bumps: 1,
            max_in_flight: 2,
            ..TxSettings::default()
        },
    )
    .expect("signer");
    let to = Address::repeat_byte(0x45);
    let (sent, sent_rx) = tokio::sync::oneshot::channel();
    let a = tokio::spawn({
        let tx = tx.clone();
        async move {
            tx.submit(
                TxJob::new("A", to, Vec::<u8>::new())
                    .priority(TxPriority::Commit)
                    .deadline(unix_now() + 2)
                    .notify(sent),
            )
            .await
        }
    });
    sent_rx.await.expect("A sent");
    // B takes the next nonce and waits behind A.
    let b = tokio::spawn({
        let tx = tx.clone();
        async move { tx.send("B", to, Vec::<u8>::new()).await }
    });
    // Wait until the cancel is in the pool: first copies of A and B, plus the cancel.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while tx.stats().snapshot().sent < 3 {
        assert!(
            std::time::Instant::now() < until,
            "no cancel: {:?}",
            tx.stats().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    automine(&provider, true).await;
    mine(&provider).await;
    let a = a.await.expect("join");
    let Err(TxError::Cancelled { nonce, hash, .. }) = a else {
        panic!("expected a cancel, got {a:?}")
    };
    assert_eq!(nonce, 0);
    let cancel = provider
        .get_transaction_by_hash(hash)
        .await
        .expect("lookup")
        .expect("the cancel");
    use alloy::consensus::Transaction as _;
    assert_eq!(
        cancel.inner.to(),
        Some(me),
        "a transfer to the account itself"
    );
    assert!(cancel.inner.value().is_zero());
    let b = b.await.expect("join").expect("B mined after the cancel");
    assert_eq!(b.nonce, 1);
    let stats = tx.stats().snapshot();
    assert_eq!(stats.cancelled, 1, "{stats:?}");
    println!("cancel test stats: {stats:?}");
}

#[tokio::test]
async fn a_nonce_whose_mined_transaction_is_reorged_out_is_taken_again() {
    let anvil = Anvil::new().spawn();
    let provider = read_provider(&anvil.endpoint()).expect("provider");
    let tx = TxSender::spawn(&anvil.endpoint(), key(9), TxSettings::default()).expect("signer");
    let to = Address::repeat_byte(0x46);
    let first = tx.send("first", to, Vec::<u8>::new()).await.expect("mined");
    assert_eq!(first.nonce, 0);
    let snapshot: U256 = provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("snapshot");
    let second = tx
        .send("second", to, Vec::<u8>::new())
        .await
        .expect("mined");
    assert_eq!(second.nonce, 1);
    // The block holding `second` goes away, and its transaction with it.
    let reverted: bool = provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("revert");
    assert!(reverted);
    assert_eq!(
        provider
            .get_transaction_count(key(9).address())
            .pending()
            .await
            .expect("pending"),
        1
    );
    let third = tx.send("third", to, Vec::<u8>::new()).await.expect("mined");
    assert_eq!(
        third.nonce, 1,
        "the nonce of the dropped transaction is used again"
    );
    let fourth = tx
        .send("fourth", to, Vec::<u8>::new())
        .await
        .expect("mined");
    assert_eq!(fourth.nonce, 2);
}
