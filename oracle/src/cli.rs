//! Command-line interface of `maskoracle`.

use clap::{Parser, Subcommand};

/// MaskOracle: a decentralized image-segmentation oracle node.
///
/// Logs go to stderr (filter with RUST_LOG or --log); results go to stdout.
#[derive(Debug, Parser)]
#[command(
    name = "maskoracle",
    version,
    about,
    long_about = None,
    after_help = "Environment read at start-up, before any configuration: \
                  MASKORACLE_MALLOC_TUNING=0 keeps glibc's default allocator settings \
                  (by default large tensors stay in the heap instead of being mapped and \
                  unmapped on every inference; see docs/inference.md)."
)]
pub struct Cli {
    /// Log filter in `tracing` syntax, e.g. `info` or `maskoracle=debug`.
    #[arg(long, global = true, env = "MASKORACLE_LOG", default_value = "info")]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of `maskoracle`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the local toolchain: libtorch, thread count, execution profile.
    Doctor {
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Segment one image: print the detections, the result sha256 and its CID.
    Segment(crate::segment::SegmentArgs),
    /// Content storage: CIDs, add, cat and pin through the embedded node, Kubo RPC or gateways.
    Ipfs(crate::storage::cli::IpfsArgs),
    /// Run the worker daemon (no subcommand), or manage its stake and models.
    Worker(crate::node_cli::WorkerArgs),
    /// Run a keeper: finalize and expire tasks whose deadlines passed, and draw tasks left
    /// undrawn once their seed is available.
    Keeper(crate::node_cli::NodeArgs),
    /// Publish and register models.
    Model(crate::node_cli::ModelArgs),
    /// Request a segmentation, optionally wait for it and write the outcome.
    Request(Box<crate::request::RequestArgs>),
    /// Rebuild settlements from chain events and check them.
    Audit(crate::audit::AuditArgs),
    /// Run a whole local network (anvil, contracts, IPFS, workers, keeper) and one demo request.
    Devnet(crate::devnet::DevnetArgs),
    /// Serve the web app (request, task timeline, explorer, operator page) against a chain.
    Ui(crate::ui::UiArgs),
}

/// Installs the `tracing` subscriber that writes to stderr.
pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Doctor { json } => crate::doctor::run(json),
        // Inference is CPU-bound: keep it off the async runtime's threads.
        Command::Segment(args) => {
            tokio::task::spawn_blocking(move || crate::segment::run(args)).await?
        }
        Command::Ipfs(args) => crate::storage::cli::run(args).await,
        Command::Worker(args) => crate::node_cli::run_worker(args).await,
        Command::Keeper(args) => {
            crate::worker::run(args.resolve()?, crate::worker::Role::Keeper).await
        }
        Command::Model(args) => crate::node_cli::run_model(args).await,
        Command::Request(args) => crate::request::run(*args).await,
        Command::Audit(args) => crate::audit::run(args).await,
        Command::Devnet(args) => crate::devnet::run(args).await,
        Command::Ui(args) => crate::ui::run(args).await,
    }
}
