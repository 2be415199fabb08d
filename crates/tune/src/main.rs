//! The `tune` command: glue between the command line and tune's library crates.

mod cli;
mod commands;
mod progress;
mod runner;
mod throughput;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    cli.init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
