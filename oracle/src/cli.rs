//! Command-line interface of `maskoracle`.

use std::fmt;

use clap::{Parser, Subcommand};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

pub use crate::config::LogFormat;

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

    /// Log line format on stderr: text, or json (one object per line) [config: log_format;
    /// env: MASKORACLE_LOG_FORMAT]. Default: the configuration's, else text.
    #[arg(long, global = true, value_enum, env = "MASKORACLE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

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

impl Cli {
    /// The log format: `--log-format` / `MASKORACLE_LOG_FORMAT`, else `log_format` of the
    /// configuration file the command reads (text when it has none or does not resolve; the
    /// command itself reports a bad file).
    pub fn resolved_log_format(&self) -> LogFormat {
        if let Some(f) = self.log_format {
            return f;
        }
        let file = match &self.command {
            Command::Worker(w) => w.node.config.clone(),
            Command::Keeper(n) => n.config.clone(),
            Command::Model(m) => m.node.config.clone(),
            Command::Request(r) => r.node.config.clone(),
            Command::Audit(a) => a.node.config.clone(),
            _ => None,
        };
        crate::config::Config::resolve(file.as_deref(), serde_json::Map::new())
            .map(|c| c.log_format)
            .unwrap_or_default()
    }
}

/// Installs the `tracing` subscriber that writes to stderr, in `format`.
pub fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).init(),
    }
}

/// Formats each event as one JSON object: `timestamp` (RFC 3339, UTC), `level`, `target`,
/// `fields` (the event's fields, `message` included; numbers and booleans keep their type) and,
/// inside spans, `spans` (name and formatted fields of each, outermost first).
///
/// Written here rather than with tracing-subscriber's `json` feature: that feature needs the
/// `tracing-serde` crate, which the offline registry cache of this project does not hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        let mut fields = JsonVisitor::default();
        event.record(&mut fields);
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("fields".into(), serde_json::Value::Object(fields.0));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<serde_json::Value> = scope
                .from_root()
                .map(|span| {
                    let ext = span.extensions();
                    let formatted = ext
                        .get::<FormattedFields<N>>()
                        .map(|f| f.fields.clone())
                        .unwrap_or_default();
                    serde_json::json!({ "name": span.name(), "fields": formatted })
                })
                .collect();
            line.insert("spans".into(), spans.into());
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields into a JSON map.
#[derive(Default)]
struct JsonVisitor(serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
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
