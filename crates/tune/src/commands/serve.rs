//! `tune serve`: the read-only web dashboard (the pages are in the tune-serve crate).

use super::confusion::classes;
use crate::cli::ServeArgs;
use crate::commands::common;
use crate::exit_codes::{Classified, TuneExitCode};
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.weights
        && !dir.is_dir()
    {
        return Err(Classified {
            code: TuneExitCode::BAD_INPUT,
            message: format!(
                "--weights {}: not a directory; give the directory `tune run --save-weights DIR` \
                 wrote weight files to",
                dir.display()
            ),
        }
        .into());
    }
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_reader(&args.db.db).await?;
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|e| Classified {
                code: TuneExitCode::UNAVAILABLE,
                message: format!(
                    "cannot listen on {}: {e}; pass another --bind address or port (port 0 \
                     picks a free one)",
                    args.bind
                ),
            })?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: the dashboard has no login: anyone who can reach {addr} (and a web page \
                 open in a browser that can, through DNS rebinding) can read every result in {}; \
                 bind 127.0.0.1 and reach it through an SSH tunnel instead",
                store.target()
            );
        }
        eprintln!(
            "tune serve: the dashboard of {} is at http://{addr}/ (read-only; Ctrl-C stops)",
            store.target()
        );
        let mut dashboard = tune_serve::Dashboard::new(store.clone(), Arc::new(classes));
        if let Some(dir) = args.weights {
            dashboard = dashboard.with_weights(dir);
        }
        if !addr.ip().is_loopback() {
            dashboard = dashboard.any_host();
        }
        tune_serve::serve(listener, dashboard, stop()).await?;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
