//! The `tune` command: glue between the command line and tune's library crates.

mod cli;
mod commands;
mod events;
mod exit_codes;
mod halving;
mod progress;
mod runner;
mod throughput;

use std::any::Any;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

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
    quiet_on_closed_stdout();
    // A panic is a bug: the default hook prints it, then tune asks for a report and exits 70.
    match std::panic::catch_unwind(|| commands::run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => exit_codes::report(&err, &exit_codes::message(&err)),
        // The reader of stdout went away (`tune report | head -1`): what it wanted was printed.
        Err(_) if STDOUT_CLOSED.load(Ordering::SeqCst) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!("error: tune panicked");
            eprintln!("{}", exit_codes::please_report());
            ExitCode::from(exit_codes::TuneExitCode::BUG)
        }
    }
}

/// Set when a panic was `println!` failing on a closed stdout.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Makes a print to a closed stdout (the reader of a pipe exited, as `head` does) end the command
/// quietly with exit 0, as ripgrep does, instead of reporting a bug: `println!` panics with
/// "failed printing to stdout: Broken pipe (os error 32)" because Rust ignores SIGPIPE. Every
/// other panic still goes to the default hook.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_closed_stdout(info.payload()) {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
        } else {
            default(info);
        }
    }));
}

/// Whether a panic's payload is std's message for a print to a closed pipe (EPIPE, errno 32).
fn is_closed_stdout(payload: &(dyn Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to stdout") && msg.contains("os error 32")
}

#[cfg(test)]
mod tests {
    use crate::exit_codes::message as chain;
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
