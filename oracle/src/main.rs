use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Before any thread starts: the allocator settings libtorch's tensors benefit from.
    let malloc = maskoracle_inference::allocator::tune();
    // Also before any thread (and before libtorch starts): the pinned numerical code path that
    // replicated workers agree on (docs/determinism.md). A worker refuses to start without it.
    let numerics = maskoracle_inference::numerics::pin();
    let cli = maskoracle::cli::Cli::parse();
    maskoracle::cli::init_tracing(&cli.log, cli.resolved_log_format());
    tracing::debug!(?malloc, "allocator tuning");
    match numerics {
        Ok(n) => tracing::debug!(numerics = n.name(), "numerics profile"),
        Err(e) => tracing::warn!(error = %e, "numerics profile not pinned"),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(maskoracle::cli::run(cli))
}
