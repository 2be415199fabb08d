//! The `tune` command: glue between the command line and tune's library crates.

mod cli;
mod commands;
mod events;
mod exit_codes;
mod halving;
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
    // A panic is a bug: the default hook prints it, then tune asks for a report and exits 70.
    match std::panic::catch_unwind(|| commands::run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => exit_codes::report(&err, &chain(&err)),
        Err(_) => {
            eprintln!("error: tune panicked");
            eprintln!("{}", exit_codes::please_report());
            ExitCode::from(exit_codes::TuneExitCode::BUG)
        }
    }
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
