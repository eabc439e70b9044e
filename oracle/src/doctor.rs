//! `maskoracle doctor`: reports the execution profile a worker would pin.

use serde::Serialize;

/// What `maskoracle doctor` reports.
#[derive(Debug, Serialize)]
pub struct DoctorReport {
    /// Version of this binary.
    pub maskoracle_version: &'static str,
    /// Intra-op thread count libtorch uses.
    pub intra_op_threads: i32,
    /// Whether a CUDA device is visible.
    pub cuda: bool,
    /// The numerical code path in effect (`cpu-avx2` is the one workers agree on).
    pub numerics: &'static str,
    /// ATen's CPU code path in effect (`AVX2` under the pinned profile).
    pub cpu_capability: String,
    /// Result of a small libtorch computation (sum of squares of 0..10, expected 285).
    pub libtorch_check: i64,
    /// The pinned input fetch policy (size, time, attempts, redirects): part of the execution
    /// profile, the same for every worker.
    pub fetch_policy: crate::storage::FetchPolicy,
}

/// Builds the report by querying libtorch.
pub fn report() -> anyhow::Result<DoctorReport> {
    let profile = maskoracle_inference::ExecutionProfile::current();
    Ok(DoctorReport {
        maskoracle_version: env!("CARGO_PKG_VERSION"),
        intra_op_threads: profile.intra_op_threads,
        cuda: profile.cuda,
        numerics: profile.numerics.name(),
        cpu_capability: profile.cpu_capability.clone(),
        libtorch_check: maskoracle_inference::torch_sum_of_squares(10)?,
        fetch_policy: crate::storage::FETCH_POLICY,
    })
}

/// Prints the report, as a table or as JSON.
pub fn run(json: bool) -> anyhow::Result<()> {
    let r = report()?;
    tracing::info!(target: "maskoracle::doctor", "libtorch loaded");
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("maskoracle        {}", r.maskoracle_version);
        println!("intra-op threads  {}", r.intra_op_threads);
        println!("cuda              {}", r.cuda);
        println!("numerics          {}", r.numerics);
        println!("cpu capability    {}", r.cpu_capability);
        println!("libtorch check    {} (expected 285)", r.libtorch_check);
        let f = &r.fetch_policy;
        println!(
            "fetch policy      {} MiB, {} s per attempt, {} attempts, {} redirects",
            f.max_input_bytes / (1024 * 1024),
            f.attempt_timeout_ms / 1000,
            f.attempts,
            f.max_redirects
        );
    }
    anyhow::ensure!(r.libtorch_check == 285, "libtorch returned a wrong result");
    Ok(())
}
