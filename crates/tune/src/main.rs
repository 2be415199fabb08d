//! The `tune` command: glue between the command line and tune's library crates.

mod cli;
mod commands;
mod progress;
mod runner;
mod throughput;

use std::process::ExitCode;

/// mimalloc keeps freed pages for reuse: training allocates the same large buffers every step,
/// and glibc's allocator returned them to the kernel and page-faulted them back each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never hand freed pages back to the kernel: every training step frees and allocates the same
    // sizes again, and re-faulting zeroed pages cost up to a fifth of a step. Memory stays at the
    // peak of one step, flat over epochs.
    // SAFETY: setting an option is allowed at any time; this runs before any thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = cli::parse();
    cli.init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", chain(&err));
            exit_code(&err)
        }
    }
}

/// 69 (`EX_UNAVAILABLE`, as in sysexits.h) when the environment is unavailable (no network for a
/// download), else 2 (bad input).
// TODO(lead): robust-run types every exit code at the top (issue 10 item 9); fold this in there.
fn exit_code(err: &anyhow::Error) -> ExitCode {
    let unavailable = err
        .chain()
        .filter_map(|c| c.downcast_ref::<tune_data::DataError>())
        .any(tune_data::DataError::is_unavailable);
    ExitCode::from(if unavailable { 69 } else { 2 })
}

/// The error and its causes, `: `-separated like `{err:#}`, but without a cause whose text the
/// message before it already contains (errors that print their source as part of themselves).
fn chain(err: &anyhow::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::chain;
    use anyhow::Context;

    /// An error that prints its source as part of its own message, as thiserror's
    /// `#[error("...: {source}")]` does, then maybe some advice.
    #[derive(Debug)]
    struct ReadError(std::io::Error, &'static str);

    impl std::fmt::Display for ReadError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read grid.toml: {}{}", self.0, self.1)
        }
    }

    impl std::error::Error for ReadError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_printed_by_its_error_is_not_repeated() {
        for (advice, expected) in [
            ("", "tune run: cannot read grid.toml: no such file"),
            (
                "; check the path",
                "tune run: cannot read grid.toml: no such file; check the path",
            ),
        ] {
            let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            let err = Err::<(), _>(ReadError(io, advice)).context("tune run");
            assert_eq!(chain(&err.unwrap_err()), expected);
        }
    }
}
