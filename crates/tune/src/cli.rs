//! Command-line definitions: plain clap structs whose doc comments are the help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use tune_spec::{ModelKind, ModelSpec};

/// Hyperparameter grid searches over small image classifiers, with numbers you can trust.
#[derive(Debug, Parser)]
#[command(name = "tune", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the process's arguments.
pub fn parse() -> Cli {
    Cli::parse()
}

impl Cli {
    /// Logs go to stderr through tracing; `-v` raises the level and `RUST_LOG` overrides it.
    pub fn init_logging(&self) {
        let default = match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// tune's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Expand a grid file and train its jobs concurrently into the results database.
    ///
    /// Ctrl-C, SIGTERM (as Slurm and Kubernetes send before killing) or SIGHUP (a closed
    /// terminal) stops after the current batch and marks the running jobs interrupted, to resume
    /// from their last checkpoint next time; the exit code is then 130. A second one quits at
    /// once. Exit codes: 0 every job done, 1 some jobs failed (also earlier ones this run
    /// skipped), 2 bad input, 69 database, disk or data unavailable (or weight files missing),
    /// 70 a bug in tune.
    Run(RunArgs),
    /// Claim and train jobs from a shared database (PostgreSQL) until its queue is empty.
    ///
    /// Ctrl-C, SIGTERM (as Slurm and Kubernetes send before killing) or SIGHUP (a closed
    /// terminal) stops after the current batch and marks the running jobs interrupted, to resume
    /// from their last checkpoint next time; the exit code is then 130. A second one quits at
    /// once. Exit codes: 0 every job done, 1 some jobs failed (also earlier ones this run
    /// skipped), 2 bad input, 69 database, disk or data unavailable (or weight files missing),
    /// 70 a bug in tune.
    Worker(WorkerArgs),
    /// Rank finished jobs; `--by layers` gives one table per depth and mean/sd per depth.
    Report(ReportArgs),
    /// The study's conclusion table: ANN vs best CNN, per data set, with deltas.
    Compare(CompareArgs),
    /// Per-class accuracy and confusion matrix of a finished job.
    Confusion(ConfusionArgs),
    /// Draw training curves, accuracy per depth, or a confusion heat-map (SVG and PNG).
    #[command(subcommand)]
    Plot(PlotCommand),
    /// List the jobs that are not done (failed, running, pending, interrupted) with their
    /// attempts and last error; `--all` lists every job with the data it trained on.
    Status(StatusArgs),
    /// Combine results databases (e.g. the shards of a job array) without duplicates.
    ///
    /// When two databases hold different results for the same job, the one merged first wins
    /// (OUT's own, then the inputs in the order given) and every such conflict is listed.
    Merge(MergeArgs),
    /// Bring a results database's schema up to date (commands that only read never do).
    Migrate(MigrateArgs),
    /// Train one network from flags and print its figures.
    Train(TrainArgs),
    /// Measure training speed on the first N images.
    Bench(BenchArgs),
    /// Find, verify and download data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Serve a live, read-only web dashboard of the results database: sweeps, rankings, curves,
    /// confusions.
    ///
    /// Opens the database read-only (safe while `tune run` writes to it) and listens on
    /// 127.0.0.1:8080 unless `--bind` says otherwise; the address it listens on is printed on
    /// stderr. Ctrl-C or SIGTERM stops it. Exit codes: 0 stopped, 2 bad input (no such database,
    /// a malformed --bind), 69 the database cannot be reached or the address is in use.
    Serve(ServeArgs),
}

/// `tune serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address and port to listen on (port 0: any free port). The dashboard has no login:
    /// anything but a loopback address shows every result to the network, and tune warns.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT", value_parser = parse_bind)]
    pub bind: std::net::SocketAddr,
    /// The directory `tune run --save-weights DIR` wrote weight files to: a job's page then links
    /// its KEY.safetensors there (found from the job's key in the database).
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,
}

/// The architecture, from flags.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model family.
    #[arg(long, value_enum, default_value_t = ModelChoice::Cnn)]
    pub model: ModelChoice,
    /// Filters of each conv layer, comma-separated (CNN only).
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub filters: Vec<usize>,
    /// Side of the square conv kernels.
    #[arg(long, default_value_t = 3)]
    pub kernel: usize,
    /// Widths of the hidden dense layers, comma-separated [default: 128 for a CNN, 512,256 for an ANN].
    #[arg(long, value_delimiter = ',')]
    pub dense: Option<Vec<usize>>,
    /// Dropout rate.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f64,
    /// L2 factor on kernels [default: 0.001 for a CNN, 0 for an ANN].
    #[arg(long)]
    pub l2: Option<f64>,
}

/// Model families as CLI values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelChoice {
    /// Convolutional network.
    Cnn,
    /// Dense network.
    Ann,
}

impl ModelArgs {
    /// The architecture these flags describe.
    pub fn spec(&self) -> ModelSpec {
        match self.model {
            ModelChoice::Cnn => ModelSpec {
                kind: ModelKind::Cnn,
                filters: self.filters.clone(),
                kernel: self.kernel,
                dense: self.dense.clone().unwrap_or_else(|| vec![128]),
                dropout: self.dropout,
                l2: self.l2.unwrap_or(0.001),
            },
            ModelChoice::Ann => ModelSpec {
                kind: ModelKind::Ann,
                filters: vec![],
                kernel: 0,
                dense: self.dense.clone().unwrap_or_else(|| vec![512, 256]),
                dropout: self.dropout,
                l2: self.l2.unwrap_or(0.0),
            },
        }
    }
}

/// Where the data comes from: a built-in data set, or your own (`--data`).
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data set: fashion-mnist or mnist.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Directory holding the data set's four IDX files (else TUNE_DATA_DIR, tune's cache, /usr/share/datasets).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Your own data set instead: its training file(s) or folder (repeat for several files).
    #[arg(long = "data", value_name = "PATH", conflicts_with = "dataset")]
    pub data: Vec<PathBuf>,
    /// How --data is laid out: csv (Kaggle), folder (one folder per class), idx or cifar.
    #[arg(long, value_name = "FORMAT", requires = "data")]
    pub data_format: Option<String>,
    /// The test file(s) or folder of --data (repeat for several files).
    #[arg(long, value_name = "PATH", requires = "data")]
    pub test: Vec<PathBuf>,
    /// Test on this fraction of the --data images instead (stratified by class, fixed seed).
    #[arg(long, value_name = "F", requires = "data")]
    pub test_split: Option<f64>,
    /// Image size of --data, HEIGHTxWIDTH (csv: the images' size; folder: resize to it).
    #[arg(long, value_name = "HxW", requires = "data", value_parser = tune_spec::parse_size)]
    pub size: Option<(usize, usize)>,
    /// Channels of --data: 1 (grayscale) or 3 (RGB).
    #[arg(long, value_name = "N", requires = "data")]
    pub channels: Option<usize>,
}

/// Output formats of summaries.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SummaryFormat {
    /// Human-readable text.
    Table,
    /// One JSON object.
    Json,
}

/// `tune train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Train on a known data set's files even if they are not its canonical files (checksums
    /// differ).
    #[arg(long, env = "TUNE_ALLOW_UNVERIFIED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unverified: bool,
    /// RMSprop learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Images per gradient step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Seed of weights, dropout and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// CPU threads for this job.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Train on the first N training images only (quick checks).
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Validate on N training images held out from training (stratified by class, the same images
    /// as a grid with `validation = { holdout = N }`) instead of the test split.
    #[arg(long)]
    pub holdout: Option<usize>,
    /// Use candle's stock ops instead of tune's fast kernels (the reference; much slower).
    #[arg(long)]
    pub stock: bool,
    /// Save the trained weights to this safetensors file.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
    pub format: SummaryFormat,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tune bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Training images to time (the first N of the training split).
    #[arg(long, default_value_t = 3200)]
    pub images: usize,
    /// CPU threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Images per gradient step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Time candle's stock ops instead of tune's kernels.
    #[arg(long)]
    pub stock: bool,
    /// Epochs over the N images (more shows whether memory stays flat).
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Measure every distinct architecture of this grid file instead (for `tune run --dry-run`).
    #[arg(long, value_name = "GRID")]
    pub grid: Option<PathBuf>,
    /// Output format (markdown and csv with --grid only).
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `tune data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Show each known data set, where it was found, and whether it verified.
    List {
        /// Directory to look in first (else TUNE_DATA_DIR, tune's cache, /usr/share/datasets).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Show this grid file's own data sets ([datasets.NAME]) instead: size, channels, class
        /// counts per split and content hash.
        #[arg(long, value_name = "GRID")]
        grid: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Download a data set from its canonical mirrors into tune's cache and verify it.
    Fetch {
        /// fashion-mnist or mnist.
        name: String,
        /// Base URL to download from instead of the canonical mirrors (else TUNE_MIRROR).
        #[arg(long)]
        mirror: Option<String>,
        /// Directory to download into [default: tune's cache].
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Download again even if verified files are present.
        #[arg(long)]
        force: bool,
    },
}

/// The results database.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Results database: an SQLite file path, or postgres://user@host/db.
    #[arg(long, env = "TUNE_DB", default_value = "results/results.db")]
    pub db: String,
}

/// How jobs share the machine.
#[derive(Debug, Clone, Args)]
pub struct ConcurrencyArgs {
    /// Jobs trained at once, 1 or more [default: the CPU cores divided by --threads-per-job].
    #[arg(long, value_parser = at_least_one)]
    pub jobs: Option<usize>,
    /// CPU threads per job, 1 or more [default: the CPU cores divided by --jobs, else 1].
    #[arg(long, value_parser = at_least_one)]
    pub threads_per_job: Option<usize>,
    /// Train with candle's stock ops instead of tune's kernels (the slow reference).
    #[arg(long)]
    pub stock: bool,
    /// Save each finished job's weights to DIR/KEY.safetensors.
    #[arg(long, value_name = "DIR")]
    pub save_weights: Option<PathBuf>,
    /// No progress display: only failed jobs, warnings and the final summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--shard I/N`: the I-th (1-based) of N deterministic parts of a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based part number.
    pub index: usize,
    /// Number of parts.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a shard: write I/N with 1 <= I <= N, e.g. 2/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// `tune run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The grid file (TOML), e.g. grids/3layer.toml.
    pub grid: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory holding the data sets' IDX files (else TUNE_DATA_DIR, tune's cache, /usr/share/datasets).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,
    /// Run each configuration with R seeds (seed, seed+1, ...), for mean and sd per configuration
    /// (default: the grid file's `repeats`, else 1).
    #[arg(long, value_name = "R", value_parser = at_least_one)]
    pub repeats: Option<usize>,
    /// Print the expanded jobs with parameters, FLOPs and estimated time; train nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this part of the grid (job arrays): I/N, 1-based.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Only add the jobs to the database's queue, for `tune worker`s to train.
    #[arg(long)]
    pub enqueue: bool,
    /// Put jobs that failed before back in the queue.
    #[arg(long)]
    pub retry_failed: bool,
    /// Also write the run's events to stdout, one JSON object per line (`json`); the summary
    /// then goes to stderr with the progress display.
    #[arg(long, value_name = "FORMAT", conflicts_with_all = ["dry_run", "enqueue"])]
    pub events: Option<EventFormat>,
    /// Train on a known data set's files even if they are not its canonical files (checksums
    /// differ); the jobs are recorded, and reported, as trained on unverified data.
    #[arg(long, env = "TUNE_ALLOW_UNVERIFIED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unverified: bool,
    /// Enqueue a grid of more than 10,000 jobs (check it with --dry-run first).
    #[arg(long)]
    pub large: bool,
    /// With --dry-run: estimate from cached figures only, without calibrating the grid's
    /// architectures on this machine first.
    #[arg(long, requires = "dry_run")]
    pub no_calibrate: bool,
    /// With --dry-run: measure the grid's architectures again even if figures are cached (after
    /// calibrating on a busy machine, or a hardware or tune upgrade).
    #[arg(long, conflicts_with = "no_calibrate", requires = "dry_run")]
    pub recalibrate: bool,
    /// With --dry-run: output format of the jobs (csv and json: one row per job, the estimate in
    /// the json and on stderr).
    #[arg(long, value_enum, default_value_t = TableFormat::Table, requires = "dry_run")]
    pub format: TableFormat,
}

/// A count of 1 or more.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a count of 1 or more")),
    }
}

/// `tune worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Directory holding the data sets' IDX files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub concurrency: ConcurrencyArgs,
    /// Only jobs of this sweep (id or grid name).
    #[arg(long)]
    pub sweep: Option<String>,
    /// Train on a known data set's files even if they are not its canonical files (checksums
    /// differ); the jobs are recorded, and reported, as trained on unverified data.
    #[arg(long, env = "TUNE_ALLOW_UNVERIFIED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unverified: bool,
    /// Keep waiting for new jobs when the queue is empty.
    #[arg(long)]
    pub follow: bool,
    /// Seconds a claimed job stays this worker's without a heartbeat.
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,
    /// Also write the worker's events to stdout, one JSON object per line (`json`); the summary
    /// then goes to stderr with the progress display.
    #[arg(long, value_name = "FORMAT")]
    pub events: Option<EventFormat>,
}

/// Machine-readable formats of the work loop's events (`--events`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EventFormat {
    /// One JSON object per line, with an `event` tag and a `time` (Unix seconds).
    Json,
}

/// Table formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TableFormat {
    /// A table sized to the terminal.
    Table,
    /// GitHub markdown.
    Markdown,
    /// CSV, full precision.
    Csv,
    /// JSON, full precision.
    Json,
}

impl From<TableFormat> for tune_report::Format {
    fn from(f: TableFormat) -> tune_report::Format {
        match f {
            TableFormat::Table => tune_report::Format::Table,
            TableFormat::Markdown => tune_report::Format::Markdown,
            TableFormat::Csv => tune_report::Format::Csv,
            TableFormat::Json => tune_report::Format::Json,
        }
    }
}

/// `tune report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only jobs of this sweep (id or grid name).
    #[arg(long)]
    pub sweep: Option<String>,
    /// Group by these settings, comma-separated: layers, model, dataset, train_images, validation,
    /// kernel, dense, layer1, dropout, l2, lr, rho, eps, batch, epochs, seed, filters.
    #[arg(long)]
    pub by: Option<String>,
    /// Only jobs whose setting has one of these values, e.g. `dropout=0.25` or `layers=1,2`;
    /// repeatable (every condition must hold).
    #[arg(long = "where", value_name = "SETTING=VALUE")]
    pub filters: Vec<String>,
    /// Show the N best rows of each table.
    #[arg(long)]
    pub top: Option<usize>,
    /// Sort by val_accuracy (the ranking metric, default; also `accuracy`), test_accuracy, loss,
    /// runtime, params or any setting (as `--by` names them).
    #[arg(long, default_value = "val_accuracy")]
    pub sort: String,
    /// Significance level of the tests that mark rows tied with the best (Holm-corrected).
    #[arg(long, default_value_t = tune_report::DEFAULT_ALPHA, value_parser = alpha)]
    pub alpha: f64,
    /// Replay successive halving on the finished jobs' per-epoch metrics, e.g.
    /// `eta=3,min_epochs=2`: which configuration it would have chosen, whether that one is tied
    /// with the full grid's best, and the share of epochs it would have trained.
    #[arg(long, value_name = "eta=E,min_epochs=M")]
    pub replay_halving: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `tune status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only jobs of this sweep (id or grid name).
    #[arg(long)]
    pub sweep: Option<String>,
    /// List every job, done ones too.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

/// Formats of `tune status`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StatusFormat {
    /// A table, errors cut to one line.
    Table,
    /// JSON, errors in full.
    Json,
}

/// `tune migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

/// `--alpha`: a probability strictly between 0 and 1.
fn alpha(s: &str) -> Result<f64, String> {
    let a: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number; give a significance level such as 0.05"))?;
    if a > 0.0 && a < 1.0 {
        Ok(a)
    } else {
        Err(format!(
            "{s} is not between 0 and 1; give a significance level such as 0.05"
        ))
    }
}

/// `tune compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only jobs of this sweep (id or grid name).
    #[arg(long)]
    pub sweep: Option<String>,
    /// Only jobs whose setting has one of these values, e.g. `train_images=all`; repeatable.
    #[arg(long = "where", value_name = "SETTING=VALUE")]
    pub filters: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `tune confusion`.
#[derive(Debug, Args)]
pub struct ConfusionArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Job key (or a unique prefix) [default: the best job, ranked as `tune report` ranks].
    pub job: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// `tune plot ...`.
#[derive(Debug, Subcommand)]
pub enum PlotCommand {
    /// Training and validation accuracy and loss per epoch of a job.
    Curves {
        #[command(flatten)]
        db: DbArgs,
        /// Job key (or a unique prefix) [default: the best job, ranked as `tune report` ranks].
        job: Option<String>,
        /// Output file (.svg or .png; the other format is written beside it) [default: results/plots/curves-KEY.svg].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Accuracy per depth: each job a point, mean and sd marked.
    Depth {
        #[command(flatten)]
        db: DbArgs,
        /// Only jobs of this sweep (id or grid name).
        #[arg(long)]
        sweep: Option<String>,
        /// Only jobs whose setting has one of these values, e.g. `train_images=6000`; repeatable.
        #[arg(long = "where", value_name = "SETTING=VALUE")]
        filters: Vec<String>,
        /// Output file [default: results/plots/depth.svg].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Successive halving: every job's validation accuracy per epoch, pruned lines ending where
    /// they stopped, rungs marked.
    Halving {
        #[command(flatten)]
        db: DbArgs,
        /// The halving sweep (id or grid name) [default: the database's only sweep].
        #[arg(long)]
        sweep: Option<String>,
        /// Output file [default: results/plots/halving-SWEEP.svg].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Confusion matrix heat-map of a job.
    Confusion {
        #[command(flatten)]
        db: DbArgs,
        /// Job key (or a unique prefix) [default: the best job, ranked as `tune report` ranks].
        job: Option<String>,
        /// Output file [default: results/plots/confusion-KEY.svg].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// `tune merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The database to merge into (created if missing).
    pub out: String,
    /// The databases to merge from.
    #[arg(required = true)]
    pub inputs: Vec<String>,
}

/// A `--bind` address: `IP:PORT`, or `HOST:PORT` with a host name this machine resolves
/// (`localhost:8080`; its IPv4 address when it has one).
fn parse_bind(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((_, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "give an address and a port, e.g. 127.0.0.1:8080 or localhost:8080 (no port in `{text}`)"
        ));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("`{port}` is not a port (0 to 65535)"));
    }
    let found: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{text}`: {e}; give an IP address and a port"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("`{text}` resolves to no address; give an IP address and a port"))
}
