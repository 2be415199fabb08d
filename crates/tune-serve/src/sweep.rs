//! A sweep's ranking, computed once per request: one query for all its jobs, one pass to fold
//! them into the report's rows, then sorting, filtering and cutting on the server.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use tune_report::{
    Field, FieldValue, Filter, Group, Report, ReportOptions, ReportRow, ResultRow, SortKey,
};
use tune_store::{
    DashJob, HalvingJob, HalvingPlan, HalvingView, RankPredictions, RungDecision, Store,
    SweepProgress,
};

use crate::pages::PageError;

/// Rows shown in a sweep's table unless `?top=N` says otherwise.
pub const DEFAULT_TOP: usize = 200;

/// Largest `?top=N`.
pub const MAX_TOP: usize = 10_000;

/// Above this many finished jobs a sweep's ranking has no tie marks or single-run intervals
/// (`tune report` gives them): they read every job's per-image predictions. A sweep's ranking is
/// kept until one more of its jobs finishes (see [`Cache`]), so the predictions are read once
/// per finished job, not once per page. A filtered view, ranked afresh for each request, has the
/// same limit (it reads the predictions of the whole sweep: about 70 ms for 10,000 jobs).
pub const TIE_LIMIT: usize = 10_000;

/// What a sweep's table is sorted by: a key of `tune report --sort` (the same names: `accuracy`
/// and `val_accuracy` are the validation ranking, `test_accuracy` the test split's), or one of the
/// dashboard's own columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sort {
    /// A `tune report --sort` key.
    Report(SortKey),
    /// The tie column: the best configuration, then those tied with it, then the others (rows
    /// without a tie test last), each in ranking order.
    Tied,
    /// The job keys, in text order.
    Job,
}

impl Sort {
    /// The sort `name` asks for (`?sort=NAME`): a `tune report --sort` key, `rank` (the ranking,
    /// as `val_accuracy`), `tied`, `job`, or a column key that sorts as one of them (`test_ci`
    /// as `test_accuracy`, `runtime_min` as `runtime`). The error says what `--sort` takes.
    pub fn parse(name: &str) -> Result<Sort, String> {
        Ok(match name {
            "rank" => Sort::Report(SortKey::Accuracy),
            "tied" => Sort::Tied,
            "job" | "keys" => Sort::Job,
            "test_ci" | "test_ci_low" | "test_ci_high" => Sort::Report(SortKey::TestAccuracy),
            "runtime_min" => Sort::Report(SortKey::Runtime),
            other => Sort::Report(
                other
                    .parse::<SortKey>()
                    .map_err(|e| format!("{e}; or rank, tied, job"))?,
            ),
        })
    }

    /// Highest first unless `?dir=` says otherwise: the accuracies, and the tie column (best
    /// first).
    pub fn default_desc(self) -> bool {
        matches!(
            self,
            Sort::Report(SortKey::Accuracy | SortKey::TestAccuracy) | Sort::Tied
        )
    }

    /// How a page names it ("sorted by …").
    pub fn describe(self) -> String {
        match self {
            Sort::Report(SortKey::Accuracy) => "validation accuracy (the ranking)".into(),
            Sort::Report(SortKey::TestAccuracy) => "test accuracy".into(),
            Sort::Report(k) => k.name(),
            Sort::Tied => "tie with the best".into(),
            Sort::Job => "job key".into(),
        }
    }
}

/// The `?sort=` name a column of the ranked table links to (its key as CSV names it; `job` for
/// the keys column), if it can be sorted by: the test accuracy column (`accuracy` in CSV) links
/// `test_accuracy`, since `?sort=accuracy`, as `tune report --sort accuracy`, is the validation
/// ranking.
pub fn column_sort(column: &str) -> Option<&str> {
    let name = match column {
        "accuracy" => "test_accuracy",
        other => other,
    };
    Sort::parse(name).ok().map(|_| name)
}

/// What the query string of a sweep's pages asks for.
#[derive(Debug, Clone)]
pub struct SweepQuery {
    /// `?sort=NAME`, parsed.
    pub sort: Sort,
    /// The name as given (empty: the default ranking).
    pub sort_name: String,
    /// Highest first (`?dir=desc`); by default accuracies and ties are and everything else is
    /// not.
    pub desc: bool,
    /// `?where=FIELD=VALUE[,VALUE]`, repeatable.
    pub filters: Vec<Filter>,
    /// The `where` values as given, to carry into links.
    pub where_text: Vec<String>,
    /// `?top=N`.
    pub top: usize,
}

impl SweepQuery {
    /// Parses `?sort=`, `?dir=`, `?where=` (repeatable) and `?top=`; a bad value is a 400 page
    /// naming it.
    pub fn parse(q: &[(String, String)]) -> Result<SweepQuery, PageError> {
        let mut out = SweepQuery {
            sort: Sort::Report(SortKey::Accuracy),
            sort_name: String::new(),
            desc: true,
            filters: Vec::new(),
            where_text: Vec::new(),
            top: DEFAULT_TOP,
        };
        let mut dir: Option<bool> = None;
        for (k, v) in q {
            match k.as_str() {
                "sort" if !v.is_empty() => {
                    out.sort = Sort::parse(v).map_err(|e| {
                        PageError::BadRequest(format!("?sort={v}: not a column to sort by ({e})"))
                    })?;
                    out.sort_name = v.clone();
                }
                "dir" => {
                    dir = Some(match v.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => {
                            return Err(PageError::BadRequest(format!(
                                "?dir={v}: write asc or desc"
                            )));
                        }
                    })
                }
                "where" => {
                    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                        let f: Filter = part.parse().map_err(|e: tune_report::ReportError| {
                            // The report's words name the CLI's `--where`; here it is `?where=`.
                            let why = e.to_string().replace("--where ", "?where=");
                            PageError::BadRequest(if why.contains("?where=") {
                                why
                            } else {
                                format!("`?where={part}`: {why}")
                            })
                        })?;
                        out.filters.push(f);
                        out.where_text.push(part.to_string());
                    }
                }
                "top" => {
                    out.top = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_TOP).contains(n))
                        .ok_or_else(|| {
                            PageError::BadRequest(format!(
                                "?top={v}: give a number from 1 to {MAX_TOP}"
                            ))
                        })?;
                }
                _ => {}
            }
        }
        out.desc = dir.unwrap_or_else(|| out.sort.default_desc());
        Ok(out)
    }

    /// The query string (without `?`) of this query with another sort, for header links.
    pub fn with_sort(&self, column: &str, desc: bool) -> String {
        let mut parts = vec![
            format!("sort={}", crate::html::enc(column)),
            format!("dir={}", if desc { "desc" } else { "asc" }),
        ];
        parts.extend(self.filter_parts());
        if self.top != DEFAULT_TOP {
            parts.push(format!("top={}", self.top));
        }
        parts.join("&")
    }

    /// The query string (without `?`) of this query with `?top=top` (at most [`MAX_TOP`]).
    pub fn with_top(&self, top: usize) -> String {
        let mut q = self.clone();
        q.top = top.min(MAX_TOP);
        let name = if self.sort_name.is_empty() {
            "rank"
        } else {
            &self.sort_name
        };
        q.with_sort(name, self.desc)
    }

    /// The query string of the filters alone (for pictures and downloads).
    pub fn filter_query(&self) -> String {
        self.filter_parts().join("&")
    }

    fn filter_parts(&self) -> Vec<String> {
        self.where_text
            .iter()
            .map(|w| format!("where={}", crate::html::enc(w)))
            .collect()
    }
}

/// A sweep as read at one change mark, with its rankings: read and ranked once, then shared by
/// its page, its pictures and its downloads until the database changes.
pub struct Snapshot {
    /// The change mark ([`tune_store::Store::change_mark`]) it was read at.
    pub mark: String,
    /// Its header row: counts and progress.
    pub progress: SweepProgress,
    /// All its jobs, in grid order.
    pub jobs: Vec<DashJob>,
    /// The finished ones as report rows (without predictions), in grid order.
    pub rows: Vec<ResultRow>,
    /// The rankings of `rows`; `None` when no job has finished.
    pub ranked: Option<Arc<Ranked>>,
    /// The rung decisions of a halving sweep, in rung order (empty for a grid): why its pruned
    /// jobs stopped.
    pub decisions: Vec<RungDecision>,
    /// The halving plan of a halving sweep (`None`: a grid).
    pub plan: Option<HalvingPlan>,
    /// The text of the grid file it was enqueued from.
    pub grid_text: String,
}

impl Snapshot {
    /// Where job `key` stood at the rung that stopped it, if this sweep's halving stopped it.
    pub fn stopped_place(&self, key: &str) -> Option<tune_store::StoppedPlace> {
        self.decisions.iter().find_map(|d| d.stopped_place(key))
    }

    /// Every job halving stopped, by key: (rung from 0, its configuration's place at that rung
    /// from 1, `usize::MAX` when not ranked), as [`Snapshot::stopped_place`] finds them, in one
    /// pass over the decisions.
    pub fn stopped_order(&self) -> HashMap<&str, (usize, usize)> {
        let mut out = HashMap::new();
        for d in &self.decisions {
            let late = places(d.late_ranking.iter().map(|c| (&c.keys, c.place)));
            let ranked = places(d.ranking.iter().enumerate().map(|(i, c)| (&c.keys, i + 1)));
            for k in d.prune.iter().chain(&d.late_prune) {
                let k = k.as_str();
                let place = late.get(k).or(ranked.get(k)).copied();
                out.insert(k, (d.rung, place.unwrap_or(usize::MAX)));
            }
        }
        out
    }
}

/// Each key of `ranking`'s configurations with its configuration's place.
fn places<'a>(ranking: impl Iterator<Item = (&'a Vec<String>, usize)>) -> HashMap<&'a str, usize> {
    ranking
        .flat_map(|(keys, p)| keys.iter().map(move |k| (k.as_str(), p)))
        .collect()
}

/// The rankings of a set of finished jobs.
pub struct Ranked {
    /// The ranking as `tune report` makes it (one group, every row), with tie tests and
    /// single-run intervals when `with_ties`.
    pub report: Report,
    /// The per-depth summary (`tune report --by layers`, and data set when there are several).
    pub depth: Report,
    /// Whether per-image predictions were read (tie marks and single-run intervals).
    pub with_ties: bool,
}

/// What a page of a sweep shows: the snapshot's jobs and rankings, or those of the jobs passing
/// the query's filters.
pub struct SweepData {
    /// The sweep as read.
    pub snapshot: Arc<Snapshot>,
    /// With filters: the jobs passing them, in grid order, and the finished ones as report rows.
    filtered: Option<(Vec<DashJob>, Vec<ResultRow>)>,
    /// The rankings of [`SweepData::rows`]; `None` when none has finished.
    pub ranked: Option<Arc<Ranked>>,
}

impl SweepData {
    /// The jobs passing the filters, in grid order.
    pub fn jobs(&self) -> &[DashJob] {
        self.filtered.as_ref().map_or(&self.snapshot.jobs, |f| &f.0)
    }

    /// The finished ones as report rows (without predictions).
    pub fn rows(&self) -> &[ResultRow] {
        self.filtered.as_ref().map_or(&self.snapshot.rows, |f| &f.1)
    }

    /// The sweep's header row.
    pub fn progress(&self) -> &SweepProgress {
        &self.snapshot.progress
    }

    /// Jobs before filtering.
    pub fn all_jobs(&self) -> usize {
        self.snapshot.jobs.len()
    }

    /// What `tune report --format json` adds under `"halving"` for a halving sweep (`None`: a
    /// grid): its plan and decisions, where every job of the sweep stopped, and the confirmed
    /// configurations with the test accuracies of their jobs that pass the filters.
    pub fn halving_json(&self) -> Option<serde_json::Value> {
        let s = &self.snapshot;
        let view = HalvingView {
            plan: s.plan.clone()?,
            decisions: s.decisions.clone(),
            jobs: s
                .jobs
                .iter()
                .map(|j| {
                    let job = HalvingJob {
                        label: j.spec.model.label(),
                        status: j.status.clone(),
                        epochs_done: j.epochs_done,
                        spec: j.spec.clone(),
                    };
                    (j.key.clone(), job)
                })
                .collect(),
        };
        let passing: HashMap<&str, f64> = self
            .jobs()
            .iter()
            .filter_map(|j| Some((j.key.as_str(), j.result.as_ref()?.test_accuracy)))
            .collect();
        Some(view.to_json(|key| passing.get(key).copied()))
    }
}

/// Snapshots kept (the most recently read sweeps).
const KEPT: usize = 4;

/// What the pages read, kept while the change mark stays the same: the snapshots of the sweeps
/// read last, newest first, each under the id or name it was asked by, every sweep's progress,
/// and the content of the comparison page. A lock is held while a sweep is read, so that a page
/// and the pictures it asks for right away read the sweep once.
#[derive(Default)]
pub struct Cache {
    kept: tokio::sync::Mutex<Vec<(String, Arc<Snapshot>)>>,
    sweeps: tokio::sync::Mutex<Option<(String, Arc<Vec<SweepProgress>>)>>,
    /// The `/compare` page's content and the change mark it was made at.
    pub(crate) compare: tokio::sync::Mutex<Option<(String, Arc<String>)>>,
}

/// The id of the sweep `id` names: its id, or a grid name that names exactly one sweep (404
/// otherwise, saying why). One or two small queries.
async fn resolve_sweep(store: &Store, id: &str) -> Result<String, PageError> {
    let mut found = store.sweeps_called(id).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(PageError::NotFound(format!("no sweep has the id `{id}`"))),
        many => Err(PageError::NotFound(format!(
            "{many} sweeps are named `{id}`: open one by its id (/sweeps/ID): {}",
            found.join(", ")
        ))),
    }
}

/// The epochs a halving sweep's plan trains: every configuration to the first rung, the best
/// `ceil(n / eta)` of each rung on to the next (`tune_grid::plan`, as the dry run counts them),
/// times the seeds of a configuration, plus every epoch of the jobs added to confirm the winner
/// (before the last rung's decision adds them, as many as the dry run plans). `jobs` are the sweep's jobs (superseded ones take no part), `decisions` its rung decisions.
pub fn halving_epochs(plan: &HalvingPlan, jobs: &[DashJob], decisions: &[RungDecision]) -> u64 {
    let epochs = plan.rungs.last().copied().unwrap_or(0);
    let confirm: Vec<&String> = decisions.iter().flat_map(|d| &d.confirm).collect();
    // A configuration is every setting but the seed: its canonical JSON with seed 0 (a set,
    // so that a sweep of 10,000 jobs is one pass).
    let mut configurations: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut jobs_in_rungs = 0usize;
    for j in jobs {
        if j.status == "superseded" || confirm.contains(&&j.key) {
            continue;
        }
        jobs_in_rungs += 1;
        let mut spec = j.spec.clone();
        spec.train.seed = 0;
        configurations.insert(spec.canonical_json());
    }
    if configurations.is_empty() {
        return (confirm.len() * epochs) as u64;
    }
    let seeds = jobs_in_rungs.div_ceil(configurations.len());
    let rungs = tune_grid::plan(configurations.len(), epochs, plan.min_epochs, plan.eta);
    // `confirm`: its jobs once the last rung's decision added them; before, as many as the
    // plan's last rung gives (the dry run's count).
    let confirm_jobs = match plan.confirm {
        Some(c) if confirm_pending(plan, decisions) => {
            c.top.min(rungs.last().map_or(0, |r| r.configurations)) * c.repeats
        }
        _ => confirm.len(),
    };
    (tune_grid::plan_epochs(&rungs) * seeds + confirm_jobs * epochs) as u64
}

/// `progress` of a halving sweep, counted by its plan (`planned`, [`halving_epochs`]): summing
/// every job's full budget, as a grid's progress does, would count the epochs the pruned jobs
/// never train as work left (or, once finished, as "planned epochs not trained"). A sweep whose
/// jobs have all stopped is finished (nothing left; planned epochs not trained are failed jobs')
/// unless `confirm` is still to add its jobs ([`confirm_pending`]).
pub fn count_by_plan(progress: &mut SweepProgress, planned: u64, confirm_pending: bool) {
    progress.epochs_planned = planned.max(progress.epochs_done);
    if progress.epochs_remaining == 0 && !confirm_pending {
        return;
    }
    progress.epochs_remaining = progress.epochs_planned - progress.epochs_done;
}

/// Whether the sweep's `confirm` has yet to add its jobs: the plan has `confirm` and no
/// decision made the last rung's choice.
pub fn confirm_pending(plan: &HalvingPlan, decisions: &[RungDecision]) -> bool {
    plan.confirm.is_some() && !decisions.iter().any(|d| !d.confirm_top.is_empty())
}

/// The progress of sweep `id` (an id), 404 when there is no such sweep (any more).
async fn sweep_progress(store: &Store, id: &str) -> Result<SweepProgress, PageError> {
    let mut found = store.sweep_progress(Some(id)).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(PageError::NotFound(format!("no sweep has the id `{id}`"))),
    }
}

/// The finished ones of `jobs` as report rows, in their order (room for all of them made at
/// once: a 10,000-job sweep's rows are megabytes, and growing them copies them).
fn result_rows<'a>(
    jobs: impl ExactSizeIterator<Item = &'a DashJob>,
    sweep: &str,
) -> Vec<ResultRow> {
    let mut rows = Vec::with_capacity(jobs.len());
    rows.extend(jobs.filter_map(|j| j.report_row(sweep)));
    rows
}

/// Ranks `rows` of sweep `sweep_id` as `tune report` does, and summarises them per depth. With
/// `ties` the ranking has tie tests (two rows or more) and single-run intervals (one or more),
/// as `tune report`'s: they need
/// the validation split's per-image predictions (McNemar's test compares them; their number
/// gives the validation interval) and the test split's number of images (its interval), which
/// [`Store::sweep_rank_predictions`] reads (not the test split's predictions: the page ranks on
/// validation accuracy): `read` when they were read ahead, else read here. They are lent to
/// `rows` for the ranking and taken back after it (`rows` come back as they were), and dropped
/// off the request's path. The per-depth summary is the ranking's rows regrouped
/// ([`Report::regroup`]), not a second build.
async fn rank(
    store: &Store,
    sweep_id: &str,
    rows: &mut [ResultRow],
    ties: bool,
    read: Option<HashMap<String, RankPredictions>>,
) -> Result<Ranked, PageError> {
    let with_ties = ties;
    let report = if with_ties {
        let mut p = match read {
            Some(p) => p,
            None => store.sweep_rank_predictions(sweep_id).await?,
        };
        for r in rows.iter_mut() {
            if let Some(p) = p.remove(&r.key) {
                r.val_predictions = p.val;
                r.test_images = p.test_images;
            }
        }
        let report = ranking(rows);
        let lent: Vec<_> = rows
            .iter_mut()
            .map(|r| {
                r.test_images = None;
                r.val_predictions.take()
            })
            .collect();
        drop_later((p, lent));
        report?
    } else {
        ranking(rows)?
    };
    let depth = depth_report(&report, rows)?;
    Ok(Ranked {
        report,
        depth,
        with_ties,
    })
}

/// Drops `value` (large: a sweep's predictions, a replaced snapshot) on a blocking thread, so
/// that freeing it does not delay the page being served.
fn drop_later<T: Send + 'static>(value: T) {
    tokio::task::spawn_blocking(move || drop(value));
}

/// The per-depth summary of `rows` (at least one), ranked in `ranking`: `tune report --by
/// layers`, and data set when there are several, made from the ranking's rows.
fn depth_report(ranking: &Report, rows: &[ResultRow]) -> Result<Report, PageError> {
    let mut by = vec![Field::Layers];
    if several_data_sets(rows) {
        by.push(Field::Dataset);
    }
    match ranking.regroup(&by) {
        Some(depth) => Ok(depth),
        None => Ok(Report::build(
            rows,
            &ReportOptions {
                by,
                ..ReportOptions::default()
            },
        )?),
    }
}

impl Cache {
    /// Every sweep's progress ([`Store::sweep_progress`]) at change mark `mark`: kept until the
    /// database changes, so that the sweeps page reads every sweep's jobs once per change.
    pub async fn sweeps(
        &self,
        store: &Store,
        mark: &str,
    ) -> Result<Arc<Vec<SweepProgress>>, PageError> {
        let mut kept = self.sweeps.lock().await;
        if let Some((m, s)) = kept.as_ref()
            && m == mark
        {
            return Ok(s.clone());
        }
        let mut sweeps = store.sweep_progress(None).await?;
        // Halving sweeps still training are counted by their plan.
        for (id, plan) in store.unfinished_halving_plans().await? {
            if let Some(s) = sweeps.iter_mut().find(|s| s.id == id) {
                let mut jobs = store.sweep_jobs(&id).await?;
                tune_spec::name_data_versions(jobs.iter_mut().map(|j| &mut j.spec));
                let decisions = store.rung_decisions(&id).await?;
                let pending = confirm_pending(&plan, &decisions);
                count_by_plan(s, halving_epochs(&plan, &jobs, &decisions), pending);
            }
        }
        let sweeps = Arc::new(sweeps);
        *kept = Some((mark.to_string(), sweeps.clone()));
        Ok(sweeps)
    }

    /// Sweep `id` (its id, or a name that names one sweep) as read at change mark `mark`: the
    /// kept snapshot when the database has not changed since, else read afresh (404 for an
    /// unknown sweep). A fresh read ranks again only when the sweep's finished jobs changed;
    /// the ranking has tie tests when at most [`TIE_LIMIT`] jobs have finished.
    pub async fn snapshot(
        &self,
        store: &Store,
        id: &str,
        mark: &str,
    ) -> Result<Arc<Snapshot>, PageError> {
        let mut kept = self.kept.lock().await;
        if let Some((_, s)) = kept.iter().find(|(asked, s)| asked == id && s.mark == mark) {
            return Ok(s.clone());
        }
        let sweep_id = resolve_sweep(store, id).await?;
        // Its progress, and its jobs, are read at once (two connections). A sweep read for the
        // first time, or whose finished jobs changed, is ranked with tie tests: the predictions
        // they need are read as soon as the progress says so, while its jobs are still read.
        let kept_finished = kept
            .iter()
            .find(|(_, s)| s.progress.id == sweep_id)
            .map(|(_, s)| s.rows.len());
        let head = async {
            let progress = sweep_progress(store, &sweep_id).await?;
            let finished = progress.count("done") as usize;
            let ahead = (1..=TIE_LIMIT).contains(&finished) && kept_finished != Some(finished);
            let read = if ahead {
                Some(store.sweep_rank_predictions(&sweep_id).await?)
            } else {
                None
            };
            Ok::<_, PageError>((progress, read))
        };
        let (head, jobs) = tokio::join!(head, store.sweep_jobs(&sweep_id));
        let ((progress, read), jobs) = (head?, jobs);
        let mut jobs = jobs?;
        // A halving sweep's decisions say why its pruned jobs stopped (a few rows); its
        // progress counts the epochs its plan trains.
        let plan = store.halving_plan(&progress.id).await?;
        let decisions = if plan.is_some() {
            store.rung_decisions(&progress.id).await?
        } else {
            Vec::new()
        };
        let mut progress = progress;
        if let Some(plan) = &plan {
            let pending = confirm_pending(plan, &decisions);
            count_by_plan(
                &mut progress,
                halving_epochs(plan, &jobs, &decisions),
                pending,
            );
        }
        let grid_text = store
            .sweep_grid_text(&progress.id)
            .await?
            .unwrap_or_default();
        // Versions of a user's data set (other content, same name) never rank together: every
        // table, filter and picture keeps them apart as `NAME@HASH8`, as `tune report` does.
        tune_spec::name_data_versions(jobs.iter_mut().map(|j| &mut j.spec));
        let mut rows = result_rows(jobs.iter(), &progress.id);
        // Training that records epochs changes the mark but not the finished jobs: keep their
        // ranking (and its tie tests) until one more finishes.
        let earlier = kept
            .iter()
            .find(|(_, s)| s.progress.id == progress.id && s.rows == rows)
            .and_then(|(_, s)| s.ranked.clone());
        let ranked = match earlier {
            Some(r) => Some(r),
            None if rows.is_empty() => None,
            None => {
                let ties = rows.len() <= TIE_LIMIT;
                Some(Arc::new(
                    rank(store, &progress.id, &mut rows, ties, read).await?,
                ))
            }
        };
        let snapshot = Arc::new(Snapshot {
            mark: mark.to_string(),
            progress,
            jobs,
            rows,
            ranked,
            decisions,
            plan,
            grid_text,
        });
        let mut replaced: Vec<(String, Arc<Snapshot>)> =
            kept.extract_if(.., |(asked, _)| asked == id).collect();
        kept.insert(0, (id.to_string(), snapshot.clone()));
        if kept.len() > KEPT {
            replaced.extend(kept.drain(KEPT..));
        }
        drop_later(replaced);
        Ok(snapshot)
    }
}

/// Reads sweep `id` (its id, or a name that names one sweep) at change mark `mark` with the jobs
/// passing `q`'s filters (see [`Cache::snapshot`]); a filtered view is ranked afresh, with tie
/// tests when at most [`TIE_LIMIT`] of its jobs have finished. 404 for an unknown sweep.
pub async fn load(
    store: &Store,
    cache: &Cache,
    id: &str,
    mark: &str,
    q: &SweepQuery,
) -> Result<SweepData, PageError> {
    let snapshot = cache.snapshot(store, id, mark).await?;
    if q.filters.is_empty() {
        return Ok(SweepData {
            filtered: None,
            ranked: snapshot.ranked.clone(),
            snapshot,
        });
    }
    let jobs: Vec<DashJob> = snapshot
        .jobs
        .iter()
        .filter(|j| Filter::all(&q.filters, &j.spec))
        .cloned()
        .collect();
    let mut rows = result_rows(jobs.iter(), &snapshot.progress.id);
    let ranked = if rows.is_empty() {
        None
    } else {
        let ties = rows.len() <= TIE_LIMIT;
        Some(Arc::new(
            rank(store, &snapshot.progress.id, &mut rows, ties, None).await?,
        ))
    };
    Ok(SweepData {
        snapshot,
        filtered: Some((jobs, rows)),
        ranked,
    })
}

/// The ranking of `rows` as `tune report` makes it (every row kept): one group, or one per data
/// set when they span several (or several versions of one, `NAME@HASH8`), whose accuracies do not
/// rank against each other and whose images no tie test pairs.
pub fn ranking(rows: &[ResultRow]) -> Result<Report, PageError> {
    let by = if several_data_sets(rows) {
        vec![Field::Dataset]
    } else {
        Vec::new()
    };
    Ok(Report::build(
        rows,
        &ReportOptions {
            by,
            ..ReportOptions::default()
        },
    )?)
}

/// Whether `rows` were trained on more than one data set (or version of one).
fn several_data_sets(rows: &[ResultRow]) -> bool {
    rows.first().is_some_and(|a| {
        rows.iter()
            .any(|r| r.spec.train.dataset != a.spec.train.dataset)
    })
}

/// A group's rows sorted by `q`'s column and direction; equal values keep the ranking's order.
pub fn sorted_rows<'a>(group: &'a Group, q: &SweepQuery) -> Vec<&'a ReportRow> {
    let rows: Vec<&ReportRow> = group.rows.iter().collect();
    if q.sort == Sort::Report(SortKey::Accuracy) && q.desc {
        return rows; // the ranking's own order
    }
    enum V<'r> {
        Num(f64),
        Val(FieldValue),
        Text(&'r str),
    }
    let value = |r: &'a ReportRow| match q.sort {
        Sort::Report(SortKey::Accuracy) => V::Num(r.val_accuracy),
        Sort::Report(SortKey::TestAccuracy) => V::Num(r.accuracy),
        Sort::Report(SortKey::Loss) => V::Num(r.loss),
        Sort::Report(SortKey::Runtime) => V::Num(r.runtime_s),
        Sort::Report(SortKey::Params) => V::Num(r.params as f64),
        Sort::Report(SortKey::Field(f)) => V::Val(f.value(&r.spec)),
        Sort::Tied => V::Num(match (r.tied, &r.tie) {
            (Some(true), None) => 3.0, // the best
            (Some(true), Some(_)) => 2.0,
            (Some(false), _) => 1.0,
            (None, _) => 0.0, // no tie test
        }),
        Sort::Job => V::Text(r.keys.first().map_or("", String::as_str)),
    };
    let values: Vec<V> = rows.iter().map(|r| value(r)).collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&i, &j| {
        let o = match (&values[i], &values[j]) {
            (V::Num(a), V::Num(b)) => a.total_cmp(b),
            (V::Val(a), V::Val(b)) => a.cmp(b),
            (V::Text(a), V::Text(b)) => a.cmp(b),
            _ => Ordering::Equal,
        };
        (if q.desc { o.reverse() } else { o }).then(rows[i].rank.cmp(&rows[j].rank))
    });
    order.into_iter().map(|i| rows[i]).collect()
}

/// The settings that take more than one value among `rows`, architecture first (for the
/// parallel-coordinates picture).
pub fn varying_fields(rows: &[ResultRow]) -> Vec<Field> {
    let depth = rows
        .iter()
        .map(|r| r.spec.model.filters.len())
        .max()
        .unwrap_or(0);
    let mut candidates = vec![Field::Model, Field::Layers];
    candidates.extend((1..=depth).map(Field::Layer));
    candidates.extend([Field::Kernel, Field::Dense]);
    candidates.extend(Field::training().into_iter().filter(|f| *f != Field::Seed));
    candidates
        .into_iter()
        .filter(|f| {
            let mut seen: HashMap<String, ()> = HashMap::new();
            for r in rows {
                seen.insert(f.value(&r.spec).to_string(), ());
                if seen.len() > 1 {
                    return true;
                }
            }
            false
        })
        .collect()
}
