//! One file per subcommand; each returns the process's exit code.

mod bench;
pub mod common;
mod compare;
mod confusion;
mod data;
mod halving_report;
mod merge;
mod migrate;
mod plot;
mod report;
mod results;
mod run;
mod serve;
mod status;
mod train;
mod worker;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    limit_library_threads();
    // A test hook: the only way to reach tune's "this is a bug" exit from outside.
    if std::env::var_os("TUNE_TEST_PANIC").is_some() {
        panic!("TUNE_TEST_PANIC is set");
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Worker(args) => worker::run(args),
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Confusion(args) => confusion::run(args),
        Command::Plot(cmd) => plot::run(cmd),
        Command::Status(args) => status::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Train(args) => train::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Data(cmd) => data::run(cmd),
        Command::Serve(args) => serve::run(args),
    }
}

/// candle sizes its thread pools from these variables once, at first use; tune gives each job its
/// own thread budget instead, so candle's process-wide pools are kept to one thread unless the user
/// says otherwise.
fn limit_library_threads() {
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: called at start-up, before tune starts any thread.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}
