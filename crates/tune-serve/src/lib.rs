//! The read-only web dashboard of a results database (`tune serve`).
//!
//! An [axum] server renders every page on the server as HTML (built with `format!`, every string
//! from the database or the request escaped by [`html::esc`]); pictures are the SVG of tune's
//! own plot code ([`tune_report::plot_curves_svg`] and friends), inline or as `.svg` routes. The
//! stylesheet and a small script are compiled into the binary: no CDN, no network access, pages
//! work offline. The script polls `/mark` (a few counts) every 2 s and swaps in the page's fresh
//! content when training has made progress.
//!
//! Routes (all `GET`; anything else is 404 or 405, and no route writes):
//!
//! | route | what |
//! |---|---|
//! | `/` | every sweep: jobs per status, progress, images/s, ETA |
//! | `/sweeps/{id}` | the ranked table (`?sort=COLUMN&dir=asc\|desc`, `?where=FIELD=VALUE`, `?top=N`), unfinished jobs with their reason, the per-depth summary, pictures, downloads |
//! | `/sweeps/{id}/report.csv`, `report.json` | the same ranking as `tune report --format csv\|json` |
//! | `/sweeps/{id}/depth.svg`, `parallel.svg` | accuracy per depth; parallel coordinates |
//! | `/jobs/{key}` | a job: specification, learning curves, confusion heat-map, per-class accuracy, last error |
//! | `/compare` | the ANN against the best CNN per data set (`tune compare`) |
//! | `/mark` | the change mark (text) |
//! | `/assets/dash.css`, `/assets/dash.js` | the embedded stylesheet and script |
//!
//! The store must be opened read-only ([`tune_store::Store::open_read_only`]): SQLite then opens
//! the file read-only (safe while `tune run` writes to it) and PostgreSQL runs read-only
//! transactions. Requests only ever name rows of the database by key or id; no part of a request
//! reaches the file system.

pub mod html;
mod pages;
mod sweep;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tune_store::Store;

/// Class names of a job's data set (e.g. `fashion-mnist` → `T-shirt/top`, …; a user's data set
/// names its own), for the confusion heat-map; an empty list falls back to the class numbers.
pub type ClassNames = Arc<dyn Fn(&tune_spec::TrainSpec) -> Vec<String> + Send + Sync>;

/// What the pages read from: a read-only store and how to name classes.
pub struct Dashboard {
    store: Store,
    classes: ClassNames,
}

impl Dashboard {
    /// A dashboard of `store` (open it read-only), naming the classes of a data set with
    /// `classes`.
    pub fn new(store: Store, classes: ClassNames) -> Dashboard {
        Dashboard { store, classes }
    }
}

/// Shared state of the handlers.
pub(crate) type State = Arc<Dashboard>;

/// The dashboard's routes (see the crate documentation); a request for anything else is a 404
/// page.
pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/", get(pages::sweeps))
        .route("/sweeps/{id}", get(pages::sweep))
        .route("/sweeps/{id}/report.csv", get(pages::report_csv))
        .route("/sweeps/{id}/report.json", get(pages::report_json))
        .route("/sweeps/{id}/depth.svg", get(pages::depth_svg))
        .route("/sweeps/{id}/parallel.svg", get(pages::parallel_svg))
        .route("/jobs/{key}", get(pages::job))
        .route("/compare", get(pages::compare))
        .route("/mark", get(pages::mark))
        .route("/assets/dash.css", get(pages::css))
        .route("/assets/dash.js", get(pages::js))
        .fallback(pages::not_found)
        .with_state(Arc::new(dashboard))
}

/// Serves `dashboard` on `listener` until `shutdown` completes (then finishes the requests in
/// flight). Fails only when accepting connections fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    dashboard: Dashboard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(dashboard))
        .with_graceful_shutdown(shutdown)
        .await
}
