//! The signer task against a real anvil: revert decoding before sending, nonce handling across
//! several transactions, and fee bumping of a stuck transaction.

use std::time::Duration;

use alloy::node_bindings::Anvil;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use maskoracle::chain::{read_provider, TxError, TxSender, TxSettings};

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
