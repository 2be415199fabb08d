//! The read-only web dashboard of a results database (`tune serve`).
//!
//! An [axum] server renders every page on the server as HTML (built with `format!`, every string
//! from the database or the request escaped by [`html::esc`]); pictures are the SVG of tune's
//! own plot code ([`tune_report::plot_curves_svg`] and friends), inline or as `.svg` routes. The
//! stylesheet and a small script are compiled into the binary: no CDN, no network access, pages
//! work offline. Responses of 1 KiB or more are gzip-compressed for clients that accept it. The script polls `/mark` (a few counts) every 2 s and swaps in the page's fresh
//! content when training has made progress.
//!
//! Routes (all `GET`; anything else is 404 or 405, and no route writes):
//!
//! | route | what |
//! |---|---|
//! | `/` | every sweep: jobs per status, progress, images/s, ETA |
//! | `/sweeps/{id}` | the ranked table (`?sort=NAME&dir=asc\|desc`, NAME as `tune report --sort` takes it, or `tied`, `job`; `?where=FIELD=VALUE`, `?top=N`), unfinished jobs with their reason, the per-depth summary, pictures, downloads |
//! | `/sweeps/{id}/report.csv`, `report.json` | the same ranking as `tune report --format csv\|json` (a halving sweep's JSON with its `halving` object) |
//! | `/sweeps/{id}/depth.svg`, `parallel.svg` | accuracy per depth; parallel coordinates |
//! | `/jobs/{key}` | a job: specification, learning curves, confusion heat-map, per-class accuracy, last error, a link to its weights when saved; a unique prefix of a key redirects (303) to its job |
//! | `/jobs/{key}/weights.safetensors` | the job's saved weights (with [`Dashboard::with_weights`]) |
//! | `/compare` | the ANN against the best CNN per data set (`tune compare`) |
//! | `/mark` | the change mark (text) |
//! | `/assets/dash.css`, `/assets/dash.js` | the embedded stylesheet and script |
//!
//! The store must be opened read-only ([`tune_store::Store::open_read_only`]): SQLite then opens
//! the file read-only (safe while `tune run` writes to it) and PostgreSQL runs read-only
//! transactions. Requests only ever name rows of the database by key or id; no part of a request
//! reaches the file system (a weight file's name is made from the key the database holds).

pub mod html;
mod pages;
mod sweep;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tune_store::Store;

/// Class names of a job's data set (e.g. `fashion-mnist` → `T-shirt/top`, …; a user's data set
/// names its own), for the confusion heat-map; an empty list falls back to the class numbers.
pub type ClassNames = Arc<dyn Fn(&tune_spec::TrainSpec) -> Vec<String> + Send + Sync>;

/// What the pages read from: a read-only store and how to name classes.
pub struct Dashboard {
    store: Store,
    classes: ClassNames,
    cache: sweep::Cache,
    weights: Option<PathBuf>,
    any_host: bool,
}

impl Dashboard {
    /// A dashboard of `store` (open it read-only), naming the classes of a data set with
    /// `classes`.
    pub fn new(store: Store, classes: ClassNames) -> Dashboard {
        Dashboard {
            store,
            classes,
            cache: sweep::Cache::default(),
            weights: None,
            any_host: false,
        }
    }

    /// Answers requests whatever their `Host` header names. By default a request that names a
    /// host other than the loopback's (`127.0.0.1`, `[::1]`, `localhost`, any port) is refused
    /// with 421: a page of another site that a DNS-rebinding attack points at the loopback
    /// cannot read the dashboard. A dashboard bound to another address (reached by the
    /// machine's name) answers every host.
    pub fn any_host(mut self) -> Dashboard {
        self.any_host = true;
        self
    }

    /// Job pages link the weight file `DIR/KEY.safetensors` that `tune run --save-weights DIR`
    /// wrote for their job, and `/jobs/{key}/weights.safetensors` sends it. The file is found
    /// from the key of the job the database holds: a request only names a job, never a file.
    pub fn with_weights(mut self, dir: PathBuf) -> Dashboard {
        self.weights = Some(dir);
        self
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
        .route("/jobs/{key}/weights.safetensors", get(pages::weights))
        .route("/compare", get(pages::compare))
        .route("/mark", get(pages::mark))
        .route("/assets/dash.css", get(pages::css))
        .route("/assets/dash.js", get(pages::js))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(gzip))
        .layer(axum::middleware::from_fn_with_state(
            dashboard.any_host,
            loopback_host,
        ))
        .with_state(Arc::new(dashboard))
}

/// Whether a `Host` header value names the loopback: a loopback address (`127.0.0.0/8`,
/// `[::1]`) or `localhost`, with or without a port. An address is no name a DNS-rebinding
/// attack can point elsewhere.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
        || name.eq_ignore_ascii_case("localhost")
}

/// Refuses (421 Misdirected Request) a request whose `Host` names another host than the
/// loopback, unless the dashboard answers any host ([`Dashboard::any_host`]); a request without
/// `Host` (HTTP/1.0) is answered.
async fn loopback_host(
    axum::extract::State(any_host): axum::extract::State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .map(|h| h.to_str().unwrap_or("?").to_string());
    match host {
        Some(h) if !any_host && !is_loopback_host(&h) => (
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            format!(
                "tune serve answers only requests for a loopback address or localhost, not `{h}` \
                 (it has no login; start it with --bind on another address to reach it by name)\n"
            ),
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Responses of at least this many bytes are compressed for clients that accept gzip.
const GZIP_FROM: usize = 1024;

/// Whether an `Accept-Encoding` value accepts gzip (`gzip`, `gzip;q=0.8`; not `gzip;q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
            && parts.all(|p| {
                p.strip_prefix("q=")
                    .is_none_or(|q| q.parse::<f64>().is_ok_and(|q| q > 0.0))
            })
    })
}

/// Compresses a text response (HTML, CSS, script, SVG, CSV, JSON) with gzip (RFC 1952, fastest
/// level) when the request accepts it and the body is [`GZIP_FROM`] bytes or more: a sweep's pictures of thousands of points are SVG
/// text that shrinks about tenfold.
async fn gzip(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, header};
    use std::io::Write;
    let accepts = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let response = next.run(request).await;
    let text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.starts_with("text/")
                || t.starts_with("image/svg")
                || t.starts_with("application/json")
        });
    if !accepts || !text || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("dashboard response body failed: {e}");
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
        }
    };
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if bytes.len() < GZIP_FROM {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    match encoder.write_all(&bytes).and_then(|()| encoder.finish()) {
        Ok(zipped) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(zipped))
        }
        Err(_) => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
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
