//! The handlers: one function per route, each reading through the store's read API and
//! rendering HTML (or CSV, JSON, SVG, text).

use std::fmt::Write;

use axum::body::Body;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tune_report::{Comparison, Confusion, Field, Format, ReportError, ResultRow};
use tune_store::{DashJob, ResultFilter, RunningLease, StoreError, SweepProgress};

use crate::State;
use crate::html::{self, duration, enc, esc, page, plain_head};
use crate::sweep::{self, SweepQuery, TIE_LIMIT};

/// Rows of unfinished jobs listed on a sweep's page.
const UNFINISHED_SHOWN: usize = 200;

/// Configurations drawn in the parallel-coordinates picture (the best by the ranking).
const PARALLEL_ROWS: usize = 300;

/// Why a page could not be made.
#[derive(Debug)]
pub enum PageError {
    /// No such sweep or job (404).
    NotFound(String),
    /// A query parameter that cannot be used (400).
    BadRequest(String),
    /// The database could not be read, or a figure not drawn (500).
    Internal(String),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl From<ReportError> for PageError {
    fn from(e: ReportError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            PageError::Internal(m) => {
                tracing::warn!("dashboard page failed: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, "Error", m)
            }
        };
        let body = format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/\">All sweeps</a></p>",
            esc(title),
            esc(&message)
        );
        respond(status, HTML, page(title, "", "", &body))
    }
}

const HTML: &str = "text/html; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// A response with `content_type` and the headers every response carries: no caching (the
/// pages are live), no content sniffing, and a content security policy that allows only this
/// server's own stylesheet and script (so markup that slipped into a page could not run).
fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn ok_html(body: String) -> Response {
    respond(StatusCode::OK, HTML, body)
}

type Page = Result<Response, PageError>;
type Params = Query<Vec<(String, String)>>;

/// 404 for every path that is not a route.
pub async fn not_found() -> Response {
    PageError::NotFound("no such page".into()).into_response()
}

/// `/assets/dash.css`.
pub async fn css() -> Response {
    respond(
        StatusCode::OK,
        "text/css; charset=utf-8",
        include_str!("../assets/dash.css"),
    )
}

/// `/assets/dash.js`.
pub async fn js() -> Response {
    respond(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        include_str!("../assets/dash.js"),
    )
}

/// `/mark`: the change mark, as text.
pub async fn mark(Extract(d): Extract<State>) -> Page {
    let m = change_mark(&d).await?;
    Ok(respond(StatusCode::OK, "text/plain; charset=utf-8", m))
}

fn status_badges(statuses: &[(String, u64)]) -> String {
    let mut out = String::new();
    for (s, n) in statuses {
        let _ = write!(
            out,
            "<span class=\"status {}\">{} {}</span>",
            esc(s),
            n,
            esc(s)
        );
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0))
}

/// The `description` of a grid file's text, if it has one (a grid that no longer parses has
/// none: the page shows its text anyway).
fn grid_description(grid_text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(grid_text).ok()?;
    match table.get("description")? {
        toml::Value::String(d) if !d.trim().is_empty() => Some(d.clone()),
        _ => None,
    }
}

/// `1 job`, `3 jobs`.
fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The dashboard's change mark: the database's ([`tune_store::Store::change_mark`]) and, for an
/// SQLite file, whether a process trains into it (holds its lock), so that pages refresh when a
/// run stops.
async fn change_mark(d: &State) -> Result<String, PageError> {
    let mut mark = d.store.change_mark().await?;
    match d.store.training_lock_held() {
        Some(true) => mark.push_str("-L"),
        Some(false) => mark.push_str("-l"),
        None => {}
    }
    Ok(mark)
}

/// Why the worker of running job `lease` has stopped, if it has: no process holds the SQLite
/// file's lock (`trainer` is `Some(false)`), or its lease expired (nothing renewed it). A phrase
/// that fits "N jobs marked running, but …"; the expiry is a time of day (UTC), which stays true
/// while the page is not rendered again.
fn stopped_worker(lease: &RunningLease, trainer: Option<bool>) -> Option<String> {
    if trainer == Some(false) {
        return Some(
            "no tune process holds the database's lock file (the run that trained here stopped: \
             killed?)"
                .into(),
        );
    }
    match lease.seconds_left {
        Some(left) if left < 0.0 => Some(format!(
            "worker {} stopped: its lease expired at {} UTC without being renewed (killed, or cut \
             off from the database)",
            lease.worker_id.as_deref().unwrap_or("?"),
            utc_time_of_day(left)
        )),
        _ => None,
    }
}

/// The time of day (UTC, `HH:MM:SS`) `seconds` from now (negative: ago), by this machine's clock.
fn utc_time_of_day(seconds: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let t = (now + seconds).max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// A running job's claim: `training on worker W (its lease expires in 9 min 40 s unless the
/// worker renews it)`, or why its worker stopped ([`stopped_worker`]).
fn claim_text(lease: &RunningLease, trainer: Option<bool>) -> String {
    match stopped_worker(lease, trainer) {
        Some(why) => format!("not training: {why}; the next claim takes the job back"),
        None => format!(
            "training on worker {}{}",
            lease.worker_id.as_deref().unwrap_or("?"),
            lease.seconds_left.map_or(String::new(), |left| format!(
                " (its lease expires in {} unless the worker renews it)",
                duration(left)
            ))
        ),
    }
}

/// A page of the dashboard of `d`'s database ([`html::page`]); when a newer tune wrote the
/// database, every page says so first.
fn store_page(d: &State, title: &str, mark: &str, body: &str) -> String {
    let newer = d.store.newer_schema();
    if newer.is_empty() {
        return page(title, d.store.target(), mark, body);
    }
    let warning = format!(
        "<p class=\"note warning\">A newer tune wrote this database: it has {} this tune does not \
         know ({}), so what these pages show may leave out what that tune records. Serve it with \
         the newer tune.</p>",
        if newer.len() == 1 {
            "a schema migration"
        } else {
            "schema migrations"
        },
        newer
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    page(title, d.store.target(), mark, &(warning + body))
}

/// `/`: every sweep with its progress.
pub async fn sweeps(Extract(d): Extract<State>) -> Page {
    let mark = change_mark(&d).await?;
    let sweeps = d.cache.sweeps(&d.store, &mark).await?;
    let leases = d.store.running_leases(None).await?;
    let trainer = d.store.training_lock_held();
    let mut body = String::from("<h1>Sweeps</h1>");
    if sweeps.is_empty() {
        body.push_str(
            "<p>No sweeps in this database yet: <code>tune run grids/quick.toml</code> starts one; \
             this page updates by itself.</p>",
        );
    } else {
        let _ = write!(
            body,
            "<p class=\"meta\">{} sweep{}, newest first. Progress counts epochs; the ETA divides \
             the epochs left by the jobs running now, at the mean seconds per recorded epoch; \
             images/s is the mean training throughput of a finished job. A sweep is stalled \
             when the worker of every running job stopped (hover for why).</p>",
            sweeps.len(),
            if sweeps.len() == 1 { "" } else { "s" }
        );
        body.push_str(
            "<div class=\"wide\"><table class=\"sweeps\"><thead><tr><th class=\"l\">sweep</th>\
             <th class=\"l\">jobs by status</th><th class=\"r\">jobs</th><th class=\"l\">progress</th>\
             <th class=\"r\">epochs</th><th class=\"r\">images/s</th><th class=\"r\">ETA</th>\
             <th class=\"l\">started (UTC)</th><th class=\"l\">finished (UTC)</th>\
             <th class=\"l\">host</th></tr></thead><tbody>",
        );
        for s in sweeps.iter().rev() {
            let running: Vec<&RunningLease> =
                leases.iter().filter(|l| l.sweep_id == s.id).collect();
            sweep_row(&mut body, s, &running, trainer);
        }
        body.push_str("</tbody></table></div>");
    }
    Ok(ok_html(store_page(&d, "Sweeps", &mark, &body)))
}

/// How long a sweep has left, given its running jobs' leases.
enum Eta {
    /// Seconds left: the epochs left at the mean seconds per recorded epoch, divided by the jobs
    /// whose worker still trains.
    Left(f64),
    /// Every running job's worker stopped ([`stopped_worker`]: why, for the first), so nothing
    /// trains; how many jobs are left running.
    Stalled(String, usize),
    /// Nothing left, or no epoch recorded yet.
    Unknown,
}

fn eta(s: &SweepProgress, running: &[&RunningLease], trainer: Option<bool>) -> Eta {
    let stopped: Vec<String> = running
        .iter()
        .filter_map(|l| stopped_worker(l, trainer))
        .collect();
    let live = running.len() - stopped.len();
    if !running.is_empty() && live == 0 {
        return Eta::Stalled(stopped[0].clone(), running.len());
    }
    match s.eta_seconds() {
        // `eta_seconds` divides by every running job; only the live ones train.
        Some(e) if live > 0 => Eta::Left(e * s.count("running").max(1) as f64 / live as f64),
        Some(e) => Eta::Left(e),
        None => Eta::Unknown,
    }
}

fn sweep_row(
    body: &mut String,
    s: &SweepProgress,
    running: &[&RunningLease],
    trainer: Option<bool>,
) {
    let progress = s.progress();
    let _ = write!(
        body,
        "<tr><td class=\"l\"><a href=\"/sweeps/{href}\">{name}</a><br><small>{id}</small></td>\
         <td class=\"l\">{badges}</td><td class=\"r\">{jobs}</td>\
         <td class=\"l\"><progress max=\"1000\" value=\"{pv}\"></progress> {pct}</td>\
         <td class=\"r\">{done} / {planned}</td><td class=\"r\">{ips}</td><td class=\"r\">{eta}</td>\
         <td class=\"l\">{started}</td><td class=\"l\">{finished}</td><td class=\"l\">{host}</td></tr>",
        href = esc(&enc(&s.id)),
        name = esc(&s.name),
        id = esc(&s.id),
        badges = status_badges(&s.statuses),
        jobs = s.jobs(),
        pv = (progress * 1000.0).round() as u64,
        pct = pct(progress),
        done = s.epochs_done,
        planned = s.epochs_to_train(),
        ips = s.images_per_s.map_or("—".into(), |v| format!("{v:.0}")),
        eta = match eta(s, running, trainer) {
            Eta::Left(e) => duration(e),
            Eta::Stalled(why, _) => format!(
                "<span class=\"status interrupted\" title=\"{}\">stalled</span>",
                esc(&why)
            ),
            Eta::Unknown => "—".into(),
        },
        started = esc(&s.started_at),
        finished = esc(s.finished_at.as_deref().unwrap_or("—")),
        host = esc(&s.host),
    );
}

/// `/sweeps/{id}`: the ranked table, unfinished jobs, per-depth summary, pictures, downloads.
pub async fn sweep(Extract(d): Extract<State>, Path(id): Path<String>, Query(q): Params) -> Page {
    let q = SweepQuery::parse(&q)?;
    let mark = change_mark(&d).await?;
    let data = sweep::load(&d.store, &d.cache, &id, &mark, &q).await?;
    let s = data.progress();
    let leases = d.store.running_leases(Some(&s.id)).await?;
    let running: Vec<&RunningLease> = leases.iter().collect();
    let trainer = d.store.training_lock_held();
    let mut body = format!(
        "<h1>Sweep {}</h1><p class=\"meta\">id <code>{}</code> · host {} · started {} UTC{} · \
         {}: {}</p><p><progress max=\"1000\" value=\"{}\"></progress> {} of the epochs \
         ({} / {}){}{}</p>",
        esc(&s.name),
        esc(&s.id),
        esc(&s.host),
        esc(&s.started_at),
        s.finished_at
            .as_deref()
            .map_or(String::new(), |f| format!(" · finished {} UTC", esc(f))),
        plural(s.jobs(), "job"),
        status_badges(&s.statuses),
        (s.progress() * 1000.0).round() as u64,
        pct(s.progress()),
        s.epochs_done,
        s.epochs_to_train(),
        match s.epochs_planned.saturating_sub(s.epochs_to_train()) {
            0 => String::new(),
            n => format!(" · {n} planned epochs not trained: pruned or failed jobs stopped early"),
        },
        match eta(s, &running, trainer) {
            Eta::Left(e) => format!(" · ETA {}", duration(e)),
            Eta::Stalled(why, n) => format!(
                " · <strong>stalled</strong>: {} marked running, but {}; <code>tune run</code> \
                 on this grid, or a <code>tune worker</code>, takes {} back",
                plural(n as u64, "job"),
                esc(&why),
                if n == 1 { "it" } else { "them" },
            ),
            Eta::Unknown => String::new(),
        },
    );
    // The grid's own words about itself (`description = "..."`).
    if let Some(description) = grid_description(&data.snapshot.grid_text) {
        let _ = write!(body, "<p class=\"description\">{}</p>", esc(&description));
    }
    let self_url = format!("/sweeps/{}", esc(&enc(&s.id)));
    // The filter form: a plain GET form, no script needed.
    let _ = write!(
        body,
        "<form class=\"filter\" method=\"get\" action=\"{self_url}\">\
         <label>filter <input type=\"text\" name=\"where\" value=\"{}\" \
         placeholder=\"dropout=0.25; lr=0.001,0.01\"></label>\
         <input type=\"hidden\" name=\"sort\" value=\"{}\">\
         <input type=\"hidden\" name=\"dir\" value=\"{}\">\
         <button type=\"submit\">apply</button> <a href=\"{self_url}\">clear</a></form>",
        esc(&q.where_text.join("; ")),
        esc(&q.sort_name),
        if q.desc { "desc" } else { "asc" },
    );
    if !q.filters.is_empty() {
        let _ = write!(
            body,
            "<p class=\"meta\">{} of {} pass the filter.</p>",
            data.jobs().len(),
            plural(data.all_jobs() as u64, "job")
        );
    }
    body.push_str("<h2>Ranking</h2>");
    if let Some(ranked) = &data.ranked {
        let report = &ranked.report;
        ranking_section(&mut body, ranked, &q, &data, &self_url);
        depth_section(&mut body, &ranked.depth, &q, &self_url);
        let _ = write!(
            body,
            "<h2>Parallel coordinates</h2><p class=\"meta\">{} by validation accuracy; one \
             line each through its settings, validation and test accuracy.</p><img \
             class=\"figure\" alt=\"parallel coordinates of the settings against validation \
             and test accuracy\" src=\"{self_url}/parallel.svg?{}\">",
            match PARALLEL_ROWS.min(report.configurations) {
                1 => "The one configuration".to_string(),
                n => format!("The best {n} configurations"),
            },
            esc(&q.filter_query())
        );
        let fq = esc(&q.filter_query());
        let _ = write!(
            body,
            "<h2>Downloads</h2><p>The whole ranking (every row, as <code>tune report</code> \
             writes it): <a href=\"{self_url}/report.csv?{fq}\">report.csv</a> · \
             <a href=\"{self_url}/report.json?{fq}\">report.json</a></p>"
        );
    } else {
        if data.jobs().is_empty() && !q.filters.is_empty() {
            // Say which values the sweep has, so that the filter can be fixed.
            let present: Vec<String> = q
                .filters
                .iter()
                .map(|f| {
                    let mut values: Vec<tune_report::FieldValue> = data
                        .snapshot
                        .jobs
                        .iter()
                        .map(|j| f.field.value(&j.spec))
                        .collect();
                    values.sort();
                    values.dedup();
                    format!(
                        "{} is {} in this sweep",
                        f.field.name(),
                        values
                            .iter()
                            .map(|v| v.display())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect();
            let _ = write!(
                body,
                "<p>No job passes the filter: {}. Change it, or clear it.</p>",
                esc(&present.join("; "))
            );
        } else if !q.filters.is_empty() {
            let _ = write!(
                body,
                "<p>{} passing the filter {} finished (pruned, failed or still to train: see \
                 below).</p>",
                match data.jobs().len() {
                    1 => "The one job".to_string(),
                    n => format!("None of the {n} jobs"),
                },
                if data.jobs().len() == 1 {
                    "has not"
                } else {
                    "has"
                }
            );
        } else {
            body.push_str("<p>No finished jobs yet: the ranking appears as jobs finish.</p>");
        }
    }
    unfinished_section(&mut body, data.jobs(), &data.snapshot, &leases, trainer);
    if !data.snapshot.grid_text.trim().is_empty() {
        let _ = write!(
            body,
            "<h2>Grid file</h2><details><summary>the grid file this sweep was enqueued from\
             </summary><pre>{}</pre></details>",
            esc(&data.snapshot.grid_text)
        );
    }
    Ok(ok_html(store_page(
        &d,
        &format!("Sweep {}", s.name),
        &mark,
        &body,
    )))
}

/// Whether a data set's name as the rows carry it names one version of a user's data set
/// (`NAME@HASH8`, [`tune_spec::versioned_name`]), as it does when a sweep holds several.
fn names_a_version(dataset: &str) -> bool {
    dataset.contains('@')
}

fn ranking_section(
    body: &mut String,
    ranked: &sweep::Ranked,
    q: &SweepQuery,
    data: &sweep::SweepData,
    self_url: &str,
) {
    let report = &ranked.report;
    let total: usize = report.groups.iter().map(|g| g.rows.len()).sum();
    // One table cut by `?top=N` says so here, once (several data sets' tables say it each).
    let count = if report.groups.len() == 1 && total > q.top {
        cut_line(q.top, total, q, self_url)
    } else {
        format!("{total} row{}", if total == 1 { "" } else { "s" })
    };
    let _ = write!(
        body,
        "<p class=\"meta\">{}. {count}{}; click a column to sort.</p>",
        esc(&tune_report::report_heading(report)),
        if q.sort_name.is_empty() {
            String::new()
        } else {
            format!(
                ", sorted by {} {}{}",
                esc(&q.sort.describe()),
                if q.desc { "descending" } else { "ascending" },
                if q.sort == sweep::Sort::Report(tune_report::SortKey::Accuracy) {
                    ""
                } else {
                    // Sorting reorders rows; `tune report --sort test_accuracy` ranks (and tests
                    // ties) on the test split instead.
                    " (the rows reordered: # and the tie marks stay those of the validation \
                     ranking)"
                }
            )
        },
    );
    if report.groups.len() > 1 {
        // Accuracies on different data sets (or versions of one, `NAME@HASH8`) do not rank
        // against each other: a ranking, a best and ties per data set, as `tune report` shows.
        let versions = report
            .groups
            .iter()
            .any(|g| g.values.iter().any(|v| names_a_version(&v.to_string())));
        let _ = write!(
            body,
            "<p class=\"note\">The results are on {} data sets{}: ranked within each.</p>",
            report.groups.len(),
            if versions {
                " (versions of one name, NAME@HASH8, count apart)"
            } else {
                ""
            }
        );
    }
    if let [group] = report.groups.as_slice()
        && let Some(version) = group
            .rows
            .first()
            .map(|r| r.spec.train.dataset.as_str())
            .filter(|d| names_a_version(d))
    {
        // One version of a data set whose files changed during the sweep (a filtered view, or
        // the other versions have no finished job): say which.
        let _ = write!(
            body,
            "<p class=\"note\">The results are on data set {}: one version (NAME@HASH8) of a \
             data set whose files changed during the sweep.</p>",
            esc(version)
        );
    }
    for group in &report.groups {
        ranking_group(body, report, group, q, self_url);
    }
    let limit = TIE_LIMIT;
    if !ranked.with_ties && data.rows().len() > limit {
        let _ = write!(
            body,
            "<p class=\"note\">Tie tests and single-run intervals are left out above {limit} \
             finished jobs{} (they read every job's per-image predictions): \
             <code>tune report --sweep {}</code> has them.</p>",
            if q.filters.is_empty() {
                ""
            } else {
                " in a filtered view"
            },
            esc(&data.progress().id)
        );
    }
    if report.ranked_on_test {
        let _ = write!(
            body,
            "<p class=\"note\">{}</p>",
            esc(tune_report::SAME_SPLIT_NOTE)
        );
    }
}

/// "Showing the first `shown` of `rows` rows (show all)", the link lifting the cut (to
/// [`sweep::MAX_TOP`] rows at most).
fn cut_line(shown: usize, rows: usize, q: &SweepQuery, self_url: &str) -> String {
    let all = rows.min(sweep::MAX_TOP);
    format!(
        "Showing the first {shown} of {rows} rows (<a href=\"{self_url}?{}\">show {}</a>)",
        esc(&q.with_top(all)),
        if all == rows {
            "all".to_string()
        } else {
            format!("the first {all}")
        },
    )
}

/// One data set's ranked table (the whole ranking when there is one), its rows sorted and cut
/// as `q` asks, and its tie tests.
fn ranking_group(
    body: &mut String,
    report: &tune_report::Report,
    group: &tune_report::Group,
    q: &SweepQuery,
    self_url: &str,
) {
    let rows = sweep::sorted_rows(group, q);
    let shown: Vec<tune_report::ReportRow> =
        rows.iter().take(q.top).map(|r| (*r).clone()).collect();
    let table = tune_report::ranked_table(report, &shown);
    if report.groups.len() > 1 {
        let _ = write!(body, "<h3>{}</h3>", esc(&group.label));
    }
    if shown.len() < rows.len() && report.groups.len() > 1 {
        // Cut by `?top=N` (one table's cut is said in the line above).
        let _ = write!(
            body,
            "<p class=\"meta\">{}.</p>",
            cut_line(shown.len(), rows.len(), q, self_url)
        );
    }
    // A header links the sort it names; the current sort's headers are marked, and link the
    // other direction.
    let link = |name: &str, h: &str| {
        let Ok(sort) = sweep::Sort::parse(name) else {
            return esc(h);
        };
        let current = q.sort == sort;
        let desc = if current {
            !q.desc
        } else {
            sort.default_desc()
        };
        format!(
            "<a href=\"{self_url}?{}\"{}>{}{}</a>",
            esc(&q.with_sort(name, desc)),
            if current { " class=\"sorted\"" } else { "" },
            esc(h),
            if current {
                if q.desc { " ▼" } else { " ▲" }
            } else {
                ""
            }
        )
    };
    let head_link = |i: usize, h: &str| match sweep::column_sort(&table.columns[i].key) {
        Some(name) => link(name, h),
        None => esc(h),
    };
    let head = |i: usize, h: &str| {
        // `tune report` heads the dense column `layerdense`, as the study's tables do; here it
        // is `dense`, as on the job pages.
        let h = if table.columns[i].key == "dense" {
            "dense"
        } else {
            h
        };
        head_link(i, h)
    };
    let jobs = |r: usize| {
        shown[r]
            .keys
            .iter()
            .map(|k| {
                format!(
                    "<a href=\"/jobs/{}\">{}</a>",
                    esc(&enc(k)),
                    esc(&k[..k.len().min(10)])
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    body.push_str("<div class=\"wide\">");
    let jobs: &dyn Fn(usize) -> String = &jobs;
    let job_head = link("job", "job");
    body.push_str(&html::table(
        &table,
        "ranking",
        &head,
        Some((&job_head, jobs)),
    ));
    body.push_str("</div>");
    if let Some(t) = group.ties.as_ref() {
        let _ = write!(
            body,
            "<p class=\"note\">{}</p>",
            esc(&tune_report::ties_line(t))
        );
    }
}

fn depth_section(body: &mut String, report: &tune_report::Report, q: &SweepQuery, self_url: &str) {
    body.push_str("<h2>Per depth</h2>");
    body.push_str(&html::table(
        &tune_report::summary_table_data(report),
        "summary",
        &plain_head,
        None,
    ));
    if let Some(v) = &report.verdict {
        let _ = write!(
            body,
            "<p class=\"note\">Between depths (Welch's t-test on configuration means, \
             Holm-corrected, alpha = {}): {}</p>",
            report.alpha,
            esc(v)
        );
    }
    for n in &report.notes {
        let _ = write!(body, "<p class=\"note\">note: {}</p>", esc(n));
    }
    let _ = write!(
        body,
        "<img class=\"figure\" alt=\"test accuracy per depth\" src=\"{self_url}/depth.svg?{}\">",
        esc(&q.filter_query())
    );
}

fn status_order(s: &str) -> usize {
    [
        "failed",
        "pruned",
        "running",
        "interrupted",
        "pending",
        "superseded",
    ]
    .iter()
    .position(|o| *o == s)
    .unwrap_or(1)
}

/// Why a job is not done, for its row in the unfinished table and its page: where halving
/// stopped it (rung, epoch, place, validation accuracy there), what it waits for, or its last
/// error.
fn reason(
    j: &DashJob,
    snapshot: &sweep::Snapshot,
    lease: Option<&RunningLease>,
    trainer: Option<bool>,
) -> String {
    match j.status.as_str() {
        "running" => match lease {
            Some(l) => claim_text(l, trainer),
            None => j.last_error.clone().unwrap_or_default(),
        },
        "pruned" => match snapshot.stopped_place(&j.key) {
            Some(at) => stopped_text(&at),
            None => "pruned by successive halving".into(),
        },
        "waiting" => format!(
            "waiting at epoch {} for the other jobs of its halving rung",
            j.epochs_done
        ),
        // A halving rung decided without it: out of the race, as `tune report` lists it.
        "failed" => match snapshot
            .decisions
            .iter()
            .find(|d| d.failed.contains(&j.key) && !d.judged(&j.key))
        {
            Some(d) => format!(
                "failed before rung {} (epoch {}) was decided: out of the race (`tune run GRID \
                 --retry-failed` trains it to the rung and judges it); {}",
                d.rung + 1,
                d.epoch,
                j.last_error.as_deref().unwrap_or("no error recorded")
            ),
            None => j.last_error.clone().unwrap_or_default(),
        },
        _ => j.last_error.clone().unwrap_or_default(),
    }
}

/// `pruned at rung 2 (epoch 6): place 5 of 7, val acc 0.8123`, as `tune report` lists it.
fn stopped_text(at: &tune_store::StoppedPlace) -> String {
    format!(
        "pruned at rung {} (epoch {}): place {}{}",
        at.rung + 1,
        at.epoch,
        at,
        at.val_accuracy
            .map_or(String::new(), |v| format!(", val acc {v:.4}"))
    )
}

fn unfinished_section(
    body: &mut String,
    jobs: &[DashJob],
    snapshot: &sweep::Snapshot,
    leases: &[RunningLease],
    trainer: Option<bool>,
) {
    let mut open: Vec<&DashJob> = jobs.iter().filter(|j| j.status != "done").collect();
    if open.is_empty() {
        return;
    }
    // Failed first, then the pruned ones by rung and place (as `tune report` lists them), then
    // the rest; grid order within each.
    let stopped = snapshot.stopped_order();
    open.sort_by_key(|j| {
        let at = stopped.get(j.key.as_str()).copied();
        (status_order(&j.status), at.unwrap_or((usize::MAX, 0)))
    });
    // The label names the settings that vary among the sweep's jobs, as `tune run` does.
    let settings = tune_report::varying_settings(snapshot.jobs.iter().map(|j| &j.spec));
    let _ = write!(
        body,
        "<h2>Not finished</h2><p class=\"meta\">{} job{} not done{}: failed first, then pruned \
         (by rung and place), with their reason.</p>",
        open.len(),
        if open.len() == 1 { "" } else { "s" },
        if open.len() > UNFINISHED_SHOWN {
            format!(", the first {UNFINISHED_SHOWN} shown")
        } else {
            String::new()
        }
    );
    body.push_str(
        "<div class=\"wide\"><table class=\"unfinished\"><thead><tr><th class=\"l\">status</th>\
         <th class=\"l\">job</th><th class=\"l\">configuration</th><th class=\"r\">epochs</th>\
         <th class=\"r\">attempts</th><th class=\"r\">last val acc</th>\
         <th class=\"l\">reason / last error</th></tr></thead><tbody>",
    );
    for j in open.iter().take(UNFINISHED_SHOWN) {
        let _ = write!(
            body,
            "<tr><td class=\"l\"><span class=\"status {s}\">{s}</span></td>\
             <td class=\"l\"><a href=\"/jobs/{href}\">{short}</a></td><td class=\"l\">{label}</td>\
             <td class=\"r\">{done} / {planned}</td><td class=\"r\">{att}</td><td class=\"r\">{val}</td>\
             <td class=\"l\">{err}</td></tr>",
            s = esc(&j.status),
            href = esc(&enc(&j.key)),
            short = esc(&j.key[..j.key.len().min(10)]),
            label = esc(&tune_report::job_label(&j.spec, &settings)),
            done = j.epochs_done,
            planned = j.spec.train.epochs,
            att = j.attempts,
            val = j.val_accuracy.map_or("—".into(), |v| format!("{v:.4}")),
            err = esc(&reason(
                j,
                snapshot,
                leases.iter().find(|l| l.key == j.key),
                trainer
            )),
        );
    }
    body.push_str("</tbody></table></div>");
}

/// `/sweeps/{id}/report.csv`: the ranking as `tune report --format csv` writes it.
pub async fn report_csv(
    Extract(d): Extract<State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Page {
    download(d, id, q, Format::Csv).await
}

/// `/sweeps/{id}/report.json`: the ranking as `tune report --format json` writes it.
pub async fn report_json(
    Extract(d): Extract<State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Page {
    download(d, id, q, Format::Json).await
}

async fn download(d: State, id: String, q: Vec<(String, String)>, format: Format) -> Page {
    let q = SweepQuery::parse(&q)?;
    let mark = change_mark(&d).await?;
    let data = sweep::load(&d.store, &d.cache, &id, &mark, &q).await?;
    let Some(ranked) = &data.ranked else {
        return Err(PageError::NotFound(if q.filters.is_empty() {
            format!("sweep `{}` has no finished jobs yet", data.progress().id)
        } else {
            format!(
                "no finished job of sweep `{}` passes the filter ({} of {} pass it, none \
                 finished)",
                data.progress().id,
                data.jobs().len(),
                plural(data.all_jobs() as u64, "job")
            )
        }));
    };
    let mut text = tune_report::render_report(&ranked.report, format, None);
    if format == Format::Json
        && let Some(halving) = data.halving_json()
    {
        // As `tune report --format json`: the halving sweep's plan, decisions and jobs.
        text = tune_store::HalvingView::add_to_report_json(&text, &halving);
    }
    let (ctype, ext) = match format {
        Format::Json => ("application/json", "json"),
        _ => ("text/csv; charset=utf-8", "csv"),
    };
    let mut r = respond(StatusCode::OK, ctype, text);
    // The file name is the sweep id with anything but plain characters replaced.
    let name: String = data
        .progress()
        .id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}-report.{ext}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// `/sweeps/{id}/depth.svg`: test accuracy per depth (the picture of `tune plot depth`).
pub async fn depth_svg(
    Extract(d): Extract<State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Page {
    let q = SweepQuery::parse(&q)?;
    let mark = change_mark(&d).await?;
    let data = sweep::load(&d.store, &d.cache, &id, &mark, &q).await?;
    if data.rows().is_empty() {
        return Err(PageError::NotFound("no finished jobs to draw".into()));
    }
    let svg = tune_report::plot_depth_svg(data.rows())?;
    Ok(respond(StatusCode::OK, SVG, svg))
}

/// `/sweeps/{id}/parallel.svg`: the best configurations' settings against validation and test
/// accuracy.
pub async fn parallel_svg(
    Extract(d): Extract<State>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Page {
    let q = SweepQuery::parse(&q)?;
    let mark = change_mark(&d).await?;
    let data = sweep::load(&d.store, &d.cache, &id, &mark, &q).await?;
    let Some(ranked) = &data.ranked else {
        return Err(PageError::NotFound("no finished jobs to draw".into()));
    };
    let report = &ranked.report;
    let by_key: std::collections::HashMap<&str, &ResultRow> =
        data.rows().iter().map(|r| (r.key.as_str(), r)).collect();
    // One line per configuration: its lowest-seed job, with the configuration's mean accuracies.
    let best: Vec<ResultRow> = report
        .groups
        .iter()
        .flat_map(|g| g.rows.iter())
        .take(PARALLEL_ROWS)
        .filter_map(|r| {
            let mut row = (*by_key.get(r.keys[0].as_str())?).clone();
            row.accuracy = r.accuracy;
            row.val_accuracy = Some(r.val_accuracy);
            Some(row)
        })
        .collect();
    let fields = sweep::varying_fields(data.rows());
    let svg = tune_report::plot_parallel_svg(&best, &fields)?;
    Ok(respond(StatusCode::OK, SVG, svg))
}

/// Keys listed when a prefix names several jobs.
const PREFIX_SHOWN: usize = 5;

/// For a request naming job `key` that no job has: a redirect to `/jobs/FULL_KEY{rest}` when
/// `key` begins exactly one job's key (the tables show keys' first 10 characters, and the CLI
/// takes a unique prefix), else a 404 saying whether none or several keys begin so.
async fn by_prefix(d: &State, key: &str, rest: &str) -> Page {
    let found = d.store.job_keys_starting(key, PREFIX_SHOWN + 1).await?;
    match found.as_slice() {
        [] => Err(PageError::NotFound(format!(
            "no job has a key that is or begins with `{key}`"
        ))),
        [one] => {
            Ok(axum::response::Redirect::to(&format!("/jobs/{}{rest}", enc(one))).into_response())
        }
        many => Err(PageError::NotFound(format!(
            "`{key}` begins the keys of {}{} jobs ({}): give more of the key",
            if many.len() > PREFIX_SHOWN {
                "more than "
            } else {
                ""
            },
            many.len().min(PREFIX_SHOWN),
            many[..many.len().min(PREFIX_SHOWN)].join(", ")
        ))),
    }
}

/// `/jobs/{key}`: a job's specification, curves, confusion heat-map and last error (a unique
/// prefix of the key redirects to the job's page).
pub async fn job(Extract(d): Extract<State>, Path(key): Path<String>) -> Page {
    let mark = change_mark(&d).await?;
    let Some(job) = d.store.dash_job(&key).await? else {
        return by_prefix(&d, &key, "").await;
    };
    let history = d.store.history(&job.key).await?;
    let sweeps = d.store.sweeps_of_job(&job.key).await?;
    let label = job.spec.model.label();
    // A user's data set by name and version (`NAME@HASH8`): a name may have held other content.
    let data_name = match &job.spec.train.data {
        Some(d) => tune_spec::versioned_name(&job.spec.train.dataset, &d.sha256),
        None => job.spec.train.dataset.clone(),
    };
    let mut body = format!(
        "<h1>Job {}</h1><p class=\"meta\"><code>{}</code> · {} on {} · \
         <span class=\"status {}\">{}</span></p>",
        esc(&label),
        esc(&job.key),
        esc(&label),
        esc(&data_name),
        esc(&job.status),
        esc(&job.status),
    );
    let sweep_links: Vec<String> = sweeps
        .iter()
        .map(|s| format!("<a href=\"/sweeps/{}\">{}</a>", esc(&enc(s)), esc(s)))
        .collect();
    let mut kv = vec![
        ("status", esc(&job.status)),
        (
            "epochs",
            format!("{} of {}", job.epochs_done, job.spec.train.epochs),
        ),
        ("attempts", job.attempts.to_string()),
        ("worker", esc(job.worker_id.as_deref().unwrap_or("—"))),
        (
            "started (UTC)",
            esc(job.started_at.as_deref().unwrap_or("—")),
        ),
        (
            "finished (UTC)",
            esc(job.finished_at.as_deref().unwrap_or("—")),
        ),
        ("parameters", tune_report::thousands(job.params)),
        ("sweeps", sweep_links.join(", ")),
    ];
    if let Some(v) = job.val_accuracy {
        kv.push(("last val accuracy", format!("{v:.4}")));
    }
    if job.status == "running" {
        // Whether its worker still trains it.
        let leases = d.store.running_leases(None).await?;
        if let Some(l) = leases.iter().find(|l| l.key == job.key) {
            let trainer = d.store.training_lock_held();
            kv.push(("claim", esc(&claim_text(l, trainer))));
        }
    }
    if job.status == "pruned" {
        // Why: the rung of its sweep (each sweep decides its own rungs) that stopped it.
        for s in &sweeps {
            let decisions = d.store.rung_decisions(s).await?;
            if let Some(at) = decisions.iter().find_map(|r| r.stopped_place(&job.key)) {
                let text = stopped_text(&at);
                kv.push((
                    "stopped",
                    if sweeps.len() > 1 {
                        format!("{} (sweep {})", esc(&text), esc(s))
                    } else {
                        esc(&text)
                    },
                ));
            }
        }
    }
    if let Some(file) = weights_file(&d, &job.key) {
        let size = std::fs::metadata(&file).map_or(0, |m| m.len());
        kv.push((
            "weights",
            format!(
                "<a href=\"/jobs/{}/weights.safetensors\" download>{}.safetensors</a> ({} kB)",
                esc(&enc(&job.key)),
                esc(&job.key[..job.key.len().min(10)]),
                size.div_ceil(1000)
            ),
        ));
    }
    if let Some(r) = job.result {
        kv.push(("test accuracy", format!("{:.4}", r.test_accuracy)));
        kv.push(("test loss", format!("{:.4}", r.test_loss)));
        kv.push(("runtime", duration(r.runtime_s)));
        kv.push(("images/s", format!("{:.0}", r.images_per_s)));
    }
    body.push_str("<div class=\"cols\"><div><h2>State</h2><dl class=\"kv\">");
    for (k, v) in kv {
        let _ = write!(body, "<dt>{k}</dt><dd>{v}</dd>");
    }
    body.push_str("</dl></div><div><h2>Specification</h2><dl class=\"kv\">");
    for f in Field::REPORT {
        if f == Field::Seed || !matches!(f.value(&job.spec), tune_report::FieldValue::None) {
            let value = if f == Field::Dataset {
                data_name.clone()
            } else {
                f.value(&job.spec).display()
            };
            let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", esc(&f.name()), esc(&value));
        }
    }
    let _ = write!(
        body,
        "</dl><details><summary>canonical JSON</summary><pre>{}</pre></details></div></div>",
        esc(&job.spec.canonical_json())
    );
    if let Some(e) = &job.last_error {
        let _ = write!(
            body,
            "<h2>Last error</h2><pre class=\"error\">{}</pre>",
            esc(e)
        );
    }
    body.push_str("<h2>Learning curves</h2>");
    if history.is_empty() {
        body.push_str(match job.status.as_str() {
            "pending" | "running" | "interrupted" | "waiting" => {
                "<p>No epoch recorded yet: the curves grow here as the job trains.</p>"
            }
            _ => "<p>No epoch was recorded: the job stopped before its first epoch ended.</p>",
        });
    } else {
        let title = format!("{label} on {data_name}");
        let svg = tune_report::plot_curves_svg(&history, &title)?;
        let _ = write!(body, "<div class=\"plot curves\">{svg}</div>");
        body.push_str(
            "<table class=\"epochs\"><thead><tr><th class=\"r\">epoch</th>\
             <th class=\"r\">train loss</th><th class=\"r\">train acc</th>\
             <th class=\"r\">val loss</th><th class=\"r\">val acc</th>\
             <th class=\"r\">seconds</th></tr></thead><tbody>",
        );
        for e in &history {
            let _ = write!(
                body,
                "<tr><td class=\"r\">{}</td><td class=\"r\">{:.4}</td><td class=\"r\">{:.4}</td>\
                 <td class=\"r\">{:.4}</td><td class=\"r\">{:.4}</td><td class=\"r\">{:.1}</td></tr>",
                e.epoch, e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy, e.seconds
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(matrix) = d.store.confusion(&job.key).await? {
        let mut classes = (d.classes)(&job.spec.train);
        if classes.len() != matrix.len() {
            classes = (0..matrix.len()).map(|c| c.to_string()).collect();
        }
        let confusion = Confusion::new(&matrix, &classes)?;
        let title = format!("{label} on {data_name}");
        let svg = tune_report::plot_confusion_svg(&matrix, &classes, &title)?;
        let _ = write!(
            body,
            "<h2>Confusion on the test split</h2><div class=\"cols\"><div class=\"plot confusion\">{svg}</div><div>\
             <table class=\"classes\"><thead><tr><th class=\"l\">class</th><th class=\"r\">images</th>\
             <th class=\"r\">correct</th><th class=\"r\">accuracy</th>\
             <th class=\"l\">most confused with</th></tr></thead><tbody>"
        );
        for c in &confusion.per_class {
            let _ = write!(
                body,
                "<tr><td class=\"l\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td>\
                 <td class=\"r\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&c.class),
                c.images,
                c.correct,
                c.accuracy.map_or("—".into(), |a| format!("{a:.4}")),
                c.confused_with
                    .as_deref()
                    .map_or(String::new(), |w| format!(
                        "{} ({})",
                        esc(w),
                        c.confused_count
                    )),
            );
        }
        body.push_str("</tbody></table></div></div>");
    }
    Ok(ok_html(store_page(
        &d,
        &format!("Job {}", &job.key[..job.key.len().min(10)]),
        &mark,
        &body,
    )))
}

/// `/compare`: the ANN against the best CNN per data set, as `tune compare` shows it.
/// Its content is kept until the database changes (it reads every finished job).
pub async fn compare(Extract(d): Extract<State>) -> Page {
    let mark = change_mark(&d).await?;
    let body = {
        let mut kept = d.cache.compare.lock().await;
        match kept.as_ref() {
            Some((m, body)) if *m == mark => body.clone(),
            _ => {
                let body = std::sync::Arc::new(compare_body(&d).await?);
                *kept = Some((mark.clone(), body.clone()));
                body
            }
        }
    };
    Ok(ok_html(store_page(&d, "ANN vs CNN", &mark, &body)))
}

/// The content of `/compare`, from every finished job of the database.
async fn compare_body(d: &State) -> Result<String, PageError> {
    let mut results = d.store.results(&ResultFilter::default()).await?;
    // Versions of a user's data set are compared apart, as `NAME@HASH8` (as `tune compare` does).
    tune_spec::name_data_versions(results.iter_mut().map(|r| &mut r.spec));
    let mut body = String::from("<h1>ANN vs CNN</h1>");
    if results.is_empty() {
        body.push_str(
            "<p>No finished jobs yet: <code>tune run grids/compare.toml</code> trains the \
             comparison.</p>",
        );
    } else {
        let rows: Vec<ResultRow> = results.iter().map(|r| r.report_row(None)).collect();
        let mut c = Comparison::build(&rows);
        // A missing cell whose job exists but is not done says why, as `tune compare` does.
        let jobs = d.store.jobs(None).await?;
        c.explain_missing(|model, dataset| {
            let job = jobs.iter().find(|j| {
                j.status != tune_store::JobStatus::Done
                    && j.spec.model.kind == model
                    && j.spec.train.dataset == dataset
            })?;
            let key = &job.key[..12.min(job.key.len())];
            Some(match job.status {
                tune_store::JobStatus::Failed => {
                    format!("its job {key} failed (its page, /jobs/{key}, shows why)")
                }
                tune_store::JobStatus::Superseded => {
                    format!("its job {key} was set aside: its data changed before it trained")
                }
                tune_store::JobStatus::Running => format!("its job {key} is still running"),
                _ => format!("its job {key} is waiting to be trained"),
            })
        });
        let delta = if c.has_study_columns() {
            "delta_dataset = mnist − fashion-mnist, "
        } else {
            ""
        };
        let _ = write!(
            body,
            "<p class=\"meta\">Test accuracy: the ANN against the best CNN on each data set \
             (mean over seeds; {delta}delta_model = best cnn − ann), over every finished job of \
             the database.</p>",
        );
        body.push_str(&html::table(&c.table(), "compare", &plain_head, None));
        let lines = c.config_lines();
        if !lines.is_empty() {
            body.push_str("<ul>");
            for l in lines {
                let _ = write!(body, "<li>{}</li>", esc(&l));
            }
            body.push_str("</ul>");
        }
        for n in &c.notes {
            let _ = write!(body, "<p class=\"note\">note: {}</p>", esc(n));
        }
    }
    Ok(body)
}

/// The weight file `tune run --save-weights DIR` wrote for job `key` (a key read from the
/// database, never one from a request), when the dashboard knows DIR and the file is there.
/// Keys are hexadecimal digests; anything else is refused, so the name can never leave DIR.
fn weights_file(d: &State, key: &str) -> Option<std::path::PathBuf> {
    let dir = d.weights.as_ref()?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let file = dir.join(format!("{key}.safetensors"));
    file.is_file().then_some(file)
}

/// `/jobs/{key}/weights.safetensors`: job `key`'s saved weights, found by the key the database
/// holds (404 for an unknown job, when no weight file was saved for it, or when the dashboard was
/// started without `--weights`; a unique prefix of a key redirects only with `--weights`).
pub async fn weights(Extract(d): Extract<State>, Path(key): Path<String>) -> Page {
    if d.weights.is_none() {
        return Err(PageError::NotFound(
            "this dashboard serves no weights: start it with tune serve --weights DIR, naming \
             the directory `tune run --save-weights DIR` wrote"
                .to_string(),
        ));
    }
    let Some(job) = d.store.dash_job(&key).await? else {
        return by_prefix(&d, &key, "/weights.safetensors").await;
    };
    let Some(file) = weights_file(&d, &job.key) else {
        return Err(PageError::NotFound(format!(
            "no weights were saved for job `{}` (tune serve --weights DIR names the directory \
             `tune run --save-weights DIR` wrote)",
            job.key
        )));
    };
    let (chunks, len) = FileChunks::open(file)
        .await
        .map_err(|e| PageError::Internal(format!("reading the weights of {}: {e}", job.key)))?;
    let mut r = respond(
        StatusCode::OK,
        "application/octet-stream",
        Body::from_stream(chunks),
    );
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}.safetensors\"", job.key))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Bytes of a file read in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// A file's bytes as a stream of [`CHUNK`]-byte pieces, read on a blocking thread a few pieces
/// ahead of the connection: a download holds a few chunks in memory, never the whole file.
struct FileChunks(tokio::sync::mpsc::Receiver<std::io::Result<axum::body::Bytes>>);

impl FileChunks {
    /// Opens `file` and starts reading it; returns the stream and the file's length in bytes.
    /// Fails when the file cannot be opened.
    async fn open(file: std::path::PathBuf) -> std::io::Result<(FileChunks, u64)> {
        use std::io::Read;
        let (mut f, len) = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&file)?;
            let len = f.metadata()?.len();
            Ok::<_, std::io::Error>((f, len))
        })
        .await
        .map_err(std::io::Error::other)??;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let piece = match f.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => Ok(axum::body::Bytes::copy_from_slice(&buf[..n])),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = piece.is_err();
                // The client went away: stop reading.
                if tx.blocking_send(piece).is_err() || failed {
                    return;
                }
            }
        });
        Ok((FileChunks(rx), len))
    }
}

impl futures_core::Stream for FileChunks {
    type Item = std::io::Result<axum::body::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
