//! Revert decoding: revert data into the MaskOracle contracts' error names.

use alloy::sol_types::SolInterface;

use crate::bindings::{
    ExampleConsumer, ModelRegistry, TaskHub, TestToken, VrfRandomness, WorkerRegistry,
};

/// Decodes revert data into `ErrorName(args)` using every MaskOracle contract's errors.
pub fn decode_revert(data: &[u8]) -> String {
    if let Ok(e) = TaskHub::TaskHubErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = WorkerRegistry::WorkerRegistryErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = ModelRegistry::ModelRegistryErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = ExampleConsumer::ExampleConsumerErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = TestToken::TestTokenErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = VrfRandomness::VrfRandomnessErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Some(reason) = alloy::sol_types::decode_revert_reason(data) {
        return reason;
    }
    format!("unknown revert 0x{}", hex::encode(data))
}

/// The short name of a decoded revert (`TaskHubNotDrawn(...)` → `TaskHubNotDrawn`).
pub fn revert_name(decoded: &str) -> &str {
    decoded.split(['(', ' ', '{']).next().unwrap_or(decoded)
}
