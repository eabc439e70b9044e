use clap::Parser;

fn main() -> anyhow::Result<()> {
    // Before any thread starts: the allocator settings libtorch's tensors benefit from.
    let malloc = maskoracle_inference::allocator::tune();
    let cli = maskoracle::cli::Cli::parse();
    maskoracle::cli::init_tracing(&cli.log);
    tracing::debug!(?malloc, "allocator tuning");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(maskoracle::cli::run(cli))
}
