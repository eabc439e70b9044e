use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = maskoracle::cli::Cli::parse();
    maskoracle::cli::init_tracing(&cli.log);
    maskoracle::cli::run(cli).await
}
