//! tune's exit codes, typed once (after cargo-nextest's `exit_codes.rs`), and the one function
//! that maps an error to its code. README.md lists the codes; each has a test in
//! `tests/robust_run.rs`.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: every job of the grid is done |
//! | 1 | some jobs failed (in this run, or in earlier runs and skipped by this one) |
//! | 2 | bad input: a grid, flag, path or data file is wrong; the message says how to fix it |
//! | 69 | unavailable: the database, the disk or the data cannot be reached, read or written (also: every job finished but `--save-weights` files could not be written) |
//! | 70 | a bug in tune: the message asks for a report |
//! | 130 | stopped by Ctrl-C, SIGTERM or SIGHUP |

use std::process::ExitCode;
use tune_data::DataError;
use tune_store::StoreError;

/// The exit codes of the `tune` command.
pub struct TuneExitCode;

impl TuneExitCode {
    /// Everything asked for was done.
    pub const OK: u8 = 0;
    /// Some jobs failed (this run's, or earlier runs' that this run skipped).
    pub const JOBS_FAILED: u8 = 1;
    /// Bad input: a grid file, flag, path or data file is wrong (sysexits' `EX_USAGE` is 64;
    /// tune keeps clap's 2).
    pub const BAD_INPUT: u8 = 2;
    /// The environment is unavailable: the results database cannot be reached, opened or
    /// written, the disk is full (also for `--save-weights` files of finished jobs), a data set
    /// is missing or unreadable (sysexits' `EX_UNAVAILABLE`).
    pub const UNAVAILABLE: u8 = 69;
    /// An internal error, a bug in tune (sysexits' `EX_SOFTWARE`).
    pub const BUG: u8 = 70;
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
}

/// An internal error: a broken invariant, a panic. Exits [`TuneExitCode::BUG`] with a line that
/// asks for a report.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Bug(pub String);

/// An error whose exit code was decided before it was turned into a new message (a message that
/// adds advice to an error loses the error's type).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Classified {
    /// The exit code.
    pub code: u8,
    /// The whole message.
    pub message: String,
}

impl Classified {
    /// `err`'s exit code with a new message.
    pub fn new(err: &anyhow::Error, message: String) -> Classified {
        Classified {
            code: classify(err),
            message,
        }
    }
}

/// The exit code for an error that ended a command: the first cause in its chain (outermost
/// first) whose type tells what happened decides; a plain message is bad input.
pub fn classify(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(code) = code_of(cause) {
            return code;
        }
    }
    TuneExitCode::BAD_INPUT
}

fn code_of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if cause.is::<Bug>() || cause.is::<tokio::task::JoinError>() {
        return Some(TuneExitCode::BUG);
    }
    if let Some(c) = cause.downcast_ref::<Classified>() {
        return Some(c.code);
    }
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return Some(
            if e.is_lease_lost() || matches!(e, StoreError::NonFinite { .. }) {
                // The runner handles a lost lease and fails a diverged job before its figures reach
                // the store; either reaching the top is a bug.
                TuneExitCode::BUG
            } else if e.is_unavailable() {
                TuneExitCode::UNAVAILABLE
            } else {
                TuneExitCode::BAD_INPUT
            },
        );
    }
    if let Some(e) = cause.downcast_ref::<DataError>() {
        return Some(data_code(e));
    }
    if cause.is::<tune_grid::GridError>() || cause.is::<tune_spec::SpecError>() {
        return Some(TuneExitCode::BAD_INPUT);
    }
    if let Some(e) = cause.downcast_ref::<tune_model::Error>() {
        use tune_model::Error as E;
        return match e {
            E::Spec(_) | E::Data(_) => Some(TuneExitCode::BAD_INPUT),
            E::Candle(_) | E::Observer(_) => Some(TuneExitCode::BUG),
            E::Checkpoint(_) | E::Threads(_) | E::Io(_) => Some(TuneExitCode::UNAVAILABLE),
            E::Stopped { .. } => Some(TuneExitCode::INTERRUPTED),
            // A diverged network is a job's failure, not a command's; `tune train` reports it
            // as a failed job.
            E::Diverged { .. } => Some(TuneExitCode::JOBS_FAILED),
        };
    }
    if cause.is::<std::io::Error>() {
        // A file tune writes (weights, plots, a lock) could not be written: full disk,
        // read-only file system, no permission.
        return Some(TuneExitCode::UNAVAILABLE);
    }
    None
}

/// Data that is missing or cannot be read or downloaded is unavailable; data whose content is
/// wrong (damaged, another data set, empty, the wrong image size) is bad input.
fn data_code(e: &DataError) -> u8 {
    use DataError as D;
    match e {
        D::NotFound { .. }
        | D::MissingFile { .. }
        | D::Io { .. }
        | D::NoCacheDir
        | D::Download { .. }
        | D::Interrupted { .. }
        | D::BadDownload { .. }
        | D::DownloadMismatch { .. }
        | D::AllMirrorsFailed { .. } => TuneExitCode::UNAVAILABLE,
        _ => TuneExitCode::BAD_INPUT,
    }
}

/// The error and its causes, `: `-separated like `{err:#}`, but without a cause whose text the
/// message before it already contains (errors that print their source as part of themselves, as
/// `DataError::Io` does): every message tune shows or stores of an error is this, never `{e:#}`,
/// which would print such a source twice (`... (os error 2): ... (os error 2)`).
pub fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

/// Prints the error (and, for a bug, where to report it) and returns its exit code.
pub fn report(err: &anyhow::Error, message: &str) -> ExitCode {
    let code = classify(err);
    eprintln!("error: {message}");
    if code == TuneExitCode::BUG {
        eprintln!("{}", please_report());
    }
    ExitCode::from(code)
}

/// The line printed under an internal error.
pub fn please_report() -> String {
    format!(
        "this is a bug in tune {}: please report it at {}/issues with the command line and this \
         message",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_first_typed_cause_decides() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device");
        let err = Err::<(), _>(io).context("writing a plot").unwrap_err();
        assert_eq!(classify(&err), TuneExitCode::UNAVAILABLE);
        let grid = tune_grid::GridError::Read {
            path: "g.toml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        let err = anyhow::Error::new(grid).context("tune run");
        assert_eq!(
            classify(&err),
            TuneExitCode::BAD_INPUT,
            "a grid file is input"
        );
        let err = anyhow::Error::new(Bug("x".into())).context("tune run");
        assert_eq!(classify(&err), TuneExitCode::BUG);
        assert_eq!(
            classify(&anyhow::anyhow!("--jobs must be positive")),
            TuneExitCode::BAD_INPUT
        );
    }
}
