//! What the commands that read finished results share (`report`, `compare`, `confusion`,
//! `plot`): selecting finished jobs read-only, `--where` filters, advice when nothing is finished,
//! the line about unfinished jobs, and picking the one best job. The store gives rows; tune-report
//! renders them.

use crate::cli::TableFormat;
use crate::commands::common;
use anyhow::{Context, bail};
use tune_report::{FieldValue, Filter, Format, ResultRow};
use tune_spec::versioned_name;
use tune_store::{JobResult, ResultFilter, StatusCounts, Store};

pub(super) fn format(f: TableFormat) -> Format {
    f.into()
}

pub(super) fn width(f: TableFormat) -> Option<u16> {
    (f == TableFormat::Table)
        .then(tune_report::terminal_width)
        .flatten()
}

/// Parses `--where` conditions.
pub(super) fn filters(given: &[String]) -> anyhow::Result<Vec<Filter>> {
    Ok(given
        .iter()
        .map(|f| f.parse::<Filter>())
        .collect::<Result<_, _>>()?)
}

/// Keeps the results that pass every filter; none passing is an error naming the values present.
pub(super) fn select(
    results: Vec<JobResult>,
    filters: &[Filter],
) -> anyhow::Result<Vec<JobResult>> {
    if filters.is_empty() {
        return Ok(results);
    }
    let (kept, dropped): (Vec<_>, Vec<_>) = results
        .into_iter()
        .partition(|r| Filter::all(filters, &r.spec));
    if kept.is_empty() {
        let present: Vec<String> = filters
            .iter()
            .map(|f| {
                let mut values: Vec<FieldValue> =
                    dropped.iter().map(|r| f.field.value(&r.spec)).collect();
                values.sort();
                values.dedup();
                let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                format!("{}: {}", f.field, values.join(", "))
            })
            .collect();
        let given: Vec<String> = filters.iter().map(|f| format!("--where {f}")).collect();
        bail!(
            "no finished job matches {}; the finished jobs have {}",
            given.join(" "),
            present.join("; ")
        );
    }
    Ok(kept)
}

/// Narrows `sel` to the jobs `--where` keeps: its finished jobs ([`select`]) and also the data
/// line and the counts by status that [`note_unfinished`] prints, so that the summary on stderr
/// speaks of the rows shown, not of the whole database.
pub(super) async fn narrow(
    sel: &mut Selection,
    sweep: Option<&str>,
    filters: &[Filter],
) -> anyhow::Result<()> {
    if filters.is_empty() {
        return Ok(());
    }
    // The names the results carry (`NAME@HASH8` for a data set with several versions).
    let versioned: std::collections::HashSet<String> = sel
        .results
        .iter()
        .filter(|r| r.spec.train.data.is_some())
        .map(|r| r.spec.train.dataset.clone())
        .collect();
    sel.results = select(std::mem::take(&mut sel.results), filters)?;
    let identities = sel.store.data_identities().await?;
    sel.data = data_line(&sel.results, &identities);
    let mut counts = StatusCounts::default();
    for mut job in sel.store.jobs(sweep).await? {
        if let Some(d) = &job.spec.train.data {
            let name = versioned_name(&job.spec.train.dataset, &d.sha256);
            if versioned.contains(&name) {
                job.spec.train.dataset = name;
            }
        }
        if Filter::all(filters, &job.spec) {
            counts.add(job.status, 1);
        }
    }
    sel.counts = counts;
    Ok(())
}

/// The finished jobs of a selection and the count of all its jobs by status.
pub(super) struct Selection {
    /// The database, opened read-only.
    pub store: Store,
    /// Its finished jobs (of the sweep, if one was named).
    pub results: Vec<JobResult>,
    /// All its jobs (of the sweep) by status.
    pub counts: StatusCounts,
    /// The `--db` as given.
    pub db: String,
    /// Which data the finished jobs were trained on, one line.
    pub data: String,
    /// One line per user's data set name that has several versions (content hashes) among the
    /// finished jobs, saying how they are shown and selected.
    pub versions: Vec<String>,
    /// The sweep the rows say they come from: the id of the sweep `--sweep` names when it names
    /// one (by id or grid name), else `--sweep` as given (a name of several sweeps); `None`
    /// without `--sweep`.
    pub sweep: Option<String>,
}

/// Finished jobs of the database (optionally one sweep), opened read-only, or an error whose
/// advice matches the selection's real state (failed, running, waiting or no jobs at all).
pub(super) async fn finished(
    db: &str,
    sweep: Option<&str>,
    with_history: bool,
) -> anyhow::Result<Selection> {
    let store = common::open_reader(db).await?;
    let counts = store.counts(sweep).await?;
    let filter = ResultFilter {
        sweep: sweep.map(str::to_string),
        with_history,
        ..ResultFilter::default()
    };
    let mut results = store.results(&filter).await?;
    if results.is_empty() {
        bail!("{}", no_results(store.target(), db, sweep, &counts));
    }
    let versions = name_data_versions(&mut results);
    let identities = store.data_identities().await?;
    let data = data_line(&results, &identities);
    let sweep = match sweep {
        Some(text) => match store.sweeps_called(text).await?.as_slice() {
            [one] => Some(one.clone()),
            _ => Some(text.to_string()),
        },
        None => None,
    };
    Ok(Selection {
        store,
        results,
        counts,
        db: db.to_string(),
        data,
        versions,
        sweep,
    })
}

/// Renames each user's data set that appears with more than one content hash among `results`
/// to `NAME@HASH8` (the first 8 hex digits of its content hash, see `tune data list --grid`), so
/// that every table, `--by dataset`, `--where dataset=NAME@HASH8` and `tune compare` keep the
/// versions apart instead of pooling them (`--where dataset=NAME` selects every version). A name
/// with one hash keeps its name. Returns one line per renamed data set, for stderr, naming the
/// version trained last.
pub(super) fn name_data_versions(results: &mut [JobResult]) -> Vec<String> {
    use std::collections::BTreeMap;
    let hashes = tune_spec::data_versions(results.iter().map(|r| &r.spec));
    // The version trained last (its newest finished job), the one to call current.
    let mut newest: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for r in results.iter() {
        if let Some(d) = &r.spec.train.data
            && hashes.contains_key(&r.spec.train.dataset)
        {
            let e = newest
                .entry(r.spec.train.dataset.as_str())
                .or_insert((r.finished_at.as_str(), d.sha256.as_str()));
            if r.finished_at.as_str() > e.0 {
                *e = (r.finished_at.as_str(), d.sha256.as_str());
            }
        }
    }
    let newest: BTreeMap<String, String> = newest
        .into_iter()
        .map(|(name, (_, sha))| (name.to_string(), versioned_name(name, sha)))
        .collect();
    tune_spec::name_data_versions(results.iter_mut().map(|r| &mut r.spec));
    hashes
        .iter()
        .map(|(name, h)| {
            let names: Vec<String> = h.iter().map(|sha| versioned_name(name, sha)).collect();
            format!(
                "note: data set `{name}` has {} versions (other content, same name) among the \
                 finished jobs; they are kept apart as {}, of which {} was trained last: \
                 `--where dataset={}` selects one, `--where dataset={name}` all of them",
                h.len(),
                names.join(", "),
                newest[name],
                newest[name],
            )
        })
        .collect()
}

/// `data: fashion-mnist 3f2a…e1 (canonical) for 10 rows; mnist 77ab…01 UNVERIFIED for 2 rows`.
pub(super) fn data_line(
    results: &[JobResult],
    identities: &std::collections::HashMap<String, (String, Option<bool>)>,
) -> String {
    let mut groups: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in results {
        let what = match identities.get(&r.key) {
            // A user's data set: its content hash is part of the job's key.
            Some((sha, _)) if r.spec.train.data.is_some() => {
                format!("{} (your own data, by content)", short_sha(sha))
            }
            Some((sha, Some(true))) => format!("{} (canonical)", short_sha(sha)),
            Some((sha, _)) => format!(
                "{} UNVERIFIED (not the canonical files; trained with --allow-unverified)",
                short_sha(sha)
            ),
            None => "not recorded (trained by an older tune)".to_string(),
        };
        *groups
            .entry((r.spec.train.dataset.clone(), what))
            .or_default() += 1;
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|((dataset, what), n)| format!("{dataset} {what} for {}", common::count(n, "row")))
        .collect();
    format!(
        "data (SHA-256; `tune status --all` shows each job's): {}",
        parts.join("; ")
    )
}

/// The first 12 hex digits of a SHA-256, enough to tell data sets apart in a line.
pub fn short_sha(sha: &str) -> String {
    format!("{}…", &sha[..12.min(sha.len())])
}

/// `tune status` with the `--db` that reaches the same database.
pub fn status_command(db: &str) -> String {
    if db == DEFAULT_DB {
        "tune status".to_string()
    } else {
        format!("tune status --db {db}")
    }
}

pub(super) const DEFAULT_DB: &str = "results/results.db";

/// Why a selection has no finished jobs, and what to do.
pub(super) fn no_results(target: &str, db: &str, sweep: Option<&str>, c: &StatusCounts) -> String {
    let what = match sweep {
        Some(s) => format!("no finished jobs of sweep `{s}` in {target}"),
        None => format!("no finished jobs in {target}"),
    };
    if c.total() == 0 {
        return match sweep {
            Some(_) => format!("{what}: it has no jobs; `tune run GRID` enqueues and trains them"),
            None => format!("{what}: it holds no jobs yet; run `tune run grids/quick.toml`"),
        };
    }
    let mut why = Vec::new();
    if c.failed > 0 {
        why.push(format!(
            "{} failed (`{}` shows why; `tune run GRID --retry-failed` tries them again)",
            c.failed,
            status_command(db)
        ));
    }
    if c.running > 0 {
        why.push(format!(
            "{} marked running (wait for them to finish; if their run was killed, `tune run \
             GRID` or `tune worker` resumes them)",
            c.running
        ));
    }
    let waiting = c.pending + c.interrupted;
    if waiting > 0 {
        why.push(format!(
            "{waiting} waiting to be trained ({} pending, {} interrupted: `tune run GRID` or `tune worker` trains them)",
            c.pending, c.interrupted
        ));
    }
    if c.superseded > 0 {
        why.push(format!(
            "{} superseded (of an earlier version of a data set's files, set aside when they \
             changed: `tune run GRID` queues the data as it is now)",
            c.superseded
        ));
    }
    if c.waiting > 0 {
        why.push(format!(
            "{} waiting at a halving rung (`tune run GRID` or `tune worker` goes on)",
            c.waiting
        ));
    }
    if c.total() == 1 {
        format!("{what}: of its 1 job, {}", why.join("; "))
    } else {
        format!("{what}: of its {} jobs, {}", c.total(), why.join("; "))
    }
}

/// One line on stderr with the jobs of the selection that are not done, and where to read why.
pub(super) fn note_unfinished(sel: &Selection) {
    eprintln!("{}", sel.data);
    for line in &sel.versions {
        eprintln!("{line}");
    }
    let c = &sel.counts;
    let pruned = c.pruned;
    let done = c.done;
    // Pruned jobs are finished: successive halving stopped them.
    let c = &StatusCounts {
        done: c.done + c.pruned,
        pruned: 0,
        ..*c
    };
    if c.total() == c.done {
        match (c.done, pruned) {
            (1, 0) => eprintln!("the selection's only job is done"),
            (n, 0) => eprintln!("all {n} jobs of the selection are done"),
            (n, p) => eprintln!(
                "all {n} jobs of the selection are finished: {done} done, {p} pruned by \
                 successive halving"
            ),
        }
    } else {
        if pruned > 0 {
            eprintln!(
                "{} pruned by successive halving",
                common::count(pruned as usize, "job")
            );
        }
        let mut more = String::new();
        for (n, what) in [
            (c.waiting, "waiting at a halving rung"),
            (
                c.superseded,
                "superseded (of an earlier version of the data)",
            ),
        ] {
            if n > 0 {
                more.push_str(&format!(", {n} {what}"));
            }
        }
        eprintln!(
            "note: {} of {} of the selection {} not done: {} failed, {} running, {} pending, \
             {} interrupted{more}; `{}` lists them with their last error",
            c.total() - c.done,
            common::count(c.total() as usize, "job"),
            if c.total() - c.done == 1 { "is" } else { "are" },
            c.failed,
            c.running,
            c.pending,
            c.interrupted,
            status_command(&sel.db)
        );
    }
}

/// Report rows of the results; `sweep` is the `--sweep` they were selected by, if any.
pub(super) fn rows(results: &[JobResult], sweep: Option<&str>) -> Vec<ResultRow> {
    results.iter().map(|r| r.report_row(sweep)).collect()
}

/// [`rows`] with each job's per-image predictions, for the tie tests.
pub(super) async fn rows_with_predictions(
    store: &Store,
    results: &[JobResult],
    sweep: Option<&str>,
) -> anyhow::Result<Vec<ResultRow>> {
    let mut out = rows(results, sweep);
    for row in &mut out {
        let p = store.predictions(&row.key).await?;
        row.val_predictions = p.val;
        row.test_predictions = p.test;
    }
    Ok(out)
}

/// The job named by a key or unique key prefix, else the best one by the ranking every command
/// shares ([`tune_report::best_job`]).
pub(super) fn pick<'a>(
    results: &'a [JobResult],
    job: Option<&str>,
) -> anyhow::Result<&'a JobResult> {
    match job {
        None => {
            // Accuracies on different data sets (or versions, `NAME@HASH8`) do not rank against
            // each other: there is no one best to pick.
            let mut sets: Vec<&str> = results
                .iter()
                .map(|r| r.spec.train.dataset.as_str())
                .collect();
            sets.sort();
            sets.dedup();
            if sets.len() > 1 {
                let bests: Vec<String> = sets
                    .iter()
                    .filter_map(|set| {
                        let of_set: Vec<JobResult> = results
                            .iter()
                            .filter(|r| r.spec.train.dataset == *set)
                            .cloned()
                            .collect();
                        let rows = rows(&of_set, None);
                        tune_report::best_job(&rows).map(|b| format!("{set}: {}", b.key))
                    })
                    .collect();
                bail!(
                    "the finished jobs are on {} data sets ({}), whose accuracies do not rank \
                     against each other, so there is no one best job: give a job's key (or a \
                     unique prefix); the best of each: {}",
                    sets.len(),
                    sets.join(", "),
                    bests.join("; ")
                );
            }
            let rows = rows(results, None);
            let best = tune_report::best_job(&rows).context("no finished jobs")?;
            results
                .iter()
                .find(|r| r.key == best.key)
                .context("no finished jobs")
        }
        Some(prefix) => {
            let hits: Vec<_> = results
                .iter()
                .filter(|r| r.key.starts_with(prefix))
                .collect();
            match hits.as_slice() {
                [one] => Ok(one),
                [] => bail!(
                    "no finished job has a key starting with `{prefix}`; `tune report --format csv` \
                     lists the keys (column `keys`)"
                ),
                many => {
                    let shown: Vec<&str> = many.iter().take(3).map(|r| r.key.as_str()).collect();
                    let more = if many.len() > shown.len() {
                        format!(" and {} more", many.len() - shown.len())
                    } else {
                        String::new()
                    };
                    bail!(
                        "`{prefix}` matches {} jobs ({}{more}): give more of the key",
                        many.len(),
                        shown.join(", ")
                    )
                }
            }
        }
    }
}

pub(super) fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}
