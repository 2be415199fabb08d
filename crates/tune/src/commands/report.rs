//! The commands that read finished results: `report`, `compare`, `confusion` and `plot`.
//! The store gives rows; tune-report renders them.

use crate::cli::{CompareArgs, ConfusionArgs, PlotCommand, ReportArgs, TableFormat};
use crate::commands::common;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tune_report::{
    Comparison, Field, FieldValue, Filter, Format, Report, ReportOptions, ResultRow, SortKey,
};
use tune_store::{JobResult, JobStatus, ResultFilter, StatusCounts, Store};

fn format(f: TableFormat) -> Format {
    match f {
        TableFormat::Table => Format::Table,
        TableFormat::Markdown => Format::Markdown,
        TableFormat::Csv => Format::Csv,
        TableFormat::Json => Format::Json,
    }
}

fn width(f: TableFormat) -> Option<u16> {
    (f == TableFormat::Table)
        .then(tune_report::terminal_width)
        .flatten()
}

/// Parses `--where` conditions.
fn filters(given: &[String]) -> anyhow::Result<Vec<Filter>> {
    Ok(given
        .iter()
        .map(|f| f.parse::<Filter>())
        .collect::<Result<_, _>>()?)
}

/// Keeps the results that pass every filter; none passing is an error naming the values present.
fn select(results: Vec<JobResult>, filters: &[Filter]) -> anyhow::Result<Vec<JobResult>> {
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

/// The finished jobs of a selection and the count of all its jobs by status.
struct Selection {
    store: Store,
    results: Vec<JobResult>,
    counts: StatusCounts,
    db: String,
    /// Which data the finished jobs were trained on, one line.
    data: String,
}

/// Finished jobs of the database (optionally one sweep), opened read-only, or an error whose
/// advice matches the selection's real state (failed, running, waiting or no jobs at all).
async fn finished(db: &str, sweep: Option<&str>, with_history: bool) -> anyhow::Result<Selection> {
    let store = common::open_reader(db).await?;
    let counts = store.counts(sweep).await?;
    let filter = ResultFilter {
        sweep: sweep.map(str::to_string),
        with_history,
        ..ResultFilter::default()
    };
    let results = store.results(&filter).await?;
    if results.is_empty() {
        bail!("{}", no_results(store.target(), db, sweep, &counts));
    }
    let identities = store.data_identities().await?;
    let data = data_line(&results, &identities);
    Ok(Selection {
        store,
        results,
        counts,
        db: db.to_string(),
        data,
    })
}

/// `data: fashion-mnist 3f2a…e1 (canonical) for 10 rows; mnist 77ab…01 UNVERIFIED for 2 rows`.
fn data_line(
    results: &[JobResult],
    identities: &std::collections::HashMap<String, (String, Option<bool>)>,
) -> String {
    let mut groups: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in results {
        let what = match identities.get(&r.key) {
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
        .map(|((dataset, what), n)| format!("{dataset} {what} for {n} rows"))
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

const DEFAULT_DB: &str = "results/results.db";

/// Why a selection has no finished jobs, and what to do.
fn no_results(target: &str, db: &str, sweep: Option<&str>, c: &StatusCounts) -> String {
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
            "{} still running (wait for them to finish)",
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
    if c.total() == 1 {
        format!("{what}: of its 1 job, {}", why.join("; "))
    } else {
        format!("{what}: of its {} jobs, {}", c.total(), why.join("; "))
    }
}

/// One line on stderr with the jobs of the selection that are not done, and where to read why.
fn note_unfinished(sel: &Selection) {
    eprintln!("{}", sel.data);
    let c = &sel.counts;
    if c.total() == c.done {
        match c.done {
            1 => eprintln!("the selection's only job is done"),
            n => eprintln!("all {n} jobs of the selection are done"),
        }
    } else {
        eprintln!(
            "note: {} of {} jobs of the selection are not done: {} failed, {} running, {} pending, \
             {} interrupted; `{}` lists them with their last error",
            c.total() - c.done,
            c.total(),
            c.failed,
            c.running,
            c.pending,
            c.interrupted,
            status_command(&sel.db)
        );
    }
}

/// Report rows of the results; `sweep` is the `--sweep` they were selected by, if any.
fn rows(results: &[JobResult], sweep: Option<&str>) -> Vec<ResultRow> {
    results
        .iter()
        .map(|r| ResultRow {
            key: r.key.clone(),
            spec: r.spec.clone(),
            params: r.params as usize,
            loss: r.test_loss,
            accuracy: r.test_accuracy,
            val_accuracy: r.val_accuracy,
            val_predictions: None,
            test_predictions: None,
            runtime_s: r.runtime_s,
            sweep: sweep.map(str::to_string),
        })
        .collect()
}

/// [`rows`] with each job's per-image predictions, for the tie tests.
async fn rows_with_predictions(
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
fn pick<'a>(results: &'a [JobResult], job: Option<&str>) -> anyhow::Result<&'a JobResult> {
    match job {
        None => {
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

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let by = match &args.by {
        Some(b) => Field::parse_list(b)?,
        None => Vec::new(),
    };
    let sort: SortKey = args.sort.parse()?;
    let filters = filters(&args.filters)?;
    let rt = common::runtime()?;
    let sel = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    let results = select(sel.results.clone(), &filters)?;
    let rows = rt.block_on(rows_with_predictions(
        &sel.store,
        &results,
        args.sweep.as_deref(),
    ))?;
    let report = Report::build(
        &rows,
        &ReportOptions {
            by,
            top: args.top,
            sort,
            alpha: args.alpha,
        },
    )?;
    print!(
        "{}",
        ensure_newline(tune_report::render_report(
            &report,
            format(args.format),
            width(args.format)
        ))
    );
    note_unfinished(&sel);
    if matches!(args.format, TableFormat::Csv | TableFormat::Json) {
        for note in &report.notes {
            eprintln!("note: {note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let filters = filters(&args.filters)?;
    let rt = common::runtime()?;
    let sel = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    let results = select(sel.results.clone(), &filters)?;
    let mut comparison = Comparison::build(&rows(&results, args.sweep.as_deref()));
    // A missing cell whose job exists but is not done gets advice about that job, not "run the
    // compare grid".
    let jobs = rt.block_on(sel.store.jobs(args.sweep.as_deref()))?;
    comparison.explain_missing(|model, dataset| {
        let job = jobs.iter().find(|j| {
            j.status != JobStatus::Done
                && j.spec.model.kind == model
                && j.spec.train.dataset == dataset
        })?;
        Some(match job.status {
            JobStatus::Failed => format!(
                "its job {} failed (`{}` shows why; `tune run {} --retry-failed` tries it again)",
                &job.key[..12.min(job.key.len())],
                status_command(&args.db.db),
                tune_report::COMPARE_GRID
            ),
            JobStatus::Running => format!(
                "its job {} is still running",
                &job.key[..12.min(job.key.len())]
            ),
            _ => format!(
                "its job {} is waiting to be trained: `tune run {}` trains it",
                &job.key[..12.min(job.key.len())],
                tune_report::COMPARE_GRID
            ),
        })
    });
    print!(
        "{}",
        ensure_newline(tune_report::render_compare(
            &comparison,
            format(args.format),
            width(args.format)
        ))
    );
    if args.format == TableFormat::Csv {
        for note in &comparison.notes {
            eprintln!("note: {note}");
        }
    }
    note_unfinished(&sel);
    Ok(ExitCode::SUCCESS)
}

fn classes(dataset: &str) -> Vec<String> {
    tune_data::info(dataset)
        .map(|i| i.classes.clone())
        .unwrap_or_else(|_| (0..10).map(|c| c.to_string()).collect())
}

pub fn confusion(args: ConfusionArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let sel = rt.block_on(finished(&args.db.db, None, false))?;
    let job = pick(&sel.results, args.job.as_deref())?;
    let matrix = rt
        .block_on(sel.store.confusion(&job.key))?
        .with_context(|| format!("job {} has no confusion matrix recorded", job.key))?;
    eprintln!(
        "job {} ({} on {}), test accuracy {:.4}",
        job.key,
        job.spec.model.label(),
        job.spec.train.dataset,
        job.test_accuracy
    );
    let table = tune_report::confusion_table(
        &matrix,
        &classes(&job.spec.train.dataset),
        format(args.format),
        width(args.format),
    )?;
    print!("{}", ensure_newline(table));
    note_unfinished(&sel);
    Ok(ExitCode::SUCCESS)
}

pub fn plot(cmd: PlotCommand) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let written = match cmd {
        PlotCommand::Curves { db, job, out } => {
            let sel = rt.block_on(finished(&db.db, None, true))?;
            let job = pick(&sel.results, job.as_deref())?;
            let title = format!(
                "{} on {} ({})",
                job.spec.model.label(),
                job.spec.train.dataset,
                &job.key[..8]
            );
            let out = out.unwrap_or_else(|| default_plot(&db.db, &format!("curves-{}", job.key)));
            let written =
                both_formats(&out, |p| tune_report::plot_curves(&job.history, &title, p))?;
            note_unfinished(&sel);
            written
        }
        PlotCommand::Depth {
            db,
            sweep,
            filters: given,
            out,
        } => {
            let filters = filters(&given)?;
            let sel = rt.block_on(finished(&db.db, sweep.as_deref(), false))?;
            let rows = rows(&select(sel.results.clone(), &filters)?, sweep.as_deref());
            // The picture pools each depth and data set as the per-depth summary does: say so when
            // that mixes other settings.
            let pooled = Report::build(
                &rows,
                &ReportOptions {
                    by: vec![Field::Layers, Field::Dataset],
                    top: None,
                    sort: SortKey::Accuracy,
                    alpha: tune_report::DEFAULT_ALPHA,
                },
            )?;
            for note in &pooled.notes {
                eprintln!("note: {note}");
            }
            let out = out.unwrap_or_else(|| default_plot(&db.db, "depth"));
            let written = both_formats(&out, |p| tune_report::plot_depth(&rows, p))?;
            note_unfinished(&sel);
            written
        }
        PlotCommand::Confusion { db, job, out } => {
            let sel = rt.block_on(finished(&db.db, None, false))?;
            let job = pick(&sel.results, job.as_deref())?;
            let matrix = rt
                .block_on(sel.store.confusion(&job.key))?
                .with_context(|| format!("job {} has no confusion matrix recorded", job.key))?;
            let title = format!(
                "{} on {} ({})",
                job.spec.model.label(),
                job.spec.train.dataset,
                &job.key[..8]
            );
            let out =
                out.unwrap_or_else(|| default_plot(&db.db, &format!("confusion-{}", job.key)));
            let written = both_formats(&out, |p| {
                tune_report::plot_confusion(&matrix, &classes(&job.spec.train.dataset), &title, p)
            })?;
            note_unfinished(&sel);
            written
        }
    };
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `results/plots/NAME.svg` beside an SQLite database, else under `results/plots`.
fn default_plot(db: &str, name: &str) -> PathBuf {
    let dir = match Path::new(db.trim_start_matches("sqlite:")).parent() {
        Some(p) if !db.contains("://") && !p.as_os_str().is_empty() => p.join("plots"),
        _ => PathBuf::from("results/plots"),
    };
    dir.join(format!("{name}.svg"))
}

/// Draws `out` and the same picture in the other of SVG and PNG beside it.
fn both_formats(
    out: &Path,
    draw: impl Fn(&Path) -> Result<(), tune_report::ReportError>,
) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let other = match out.extension().and_then(|e| e.to_str()) {
        Some("svg") => out.with_extension("png"),
        Some("png") => out.with_extension("svg"),
        _ => bail!(
            "{}: the picture's file name must end in .svg or .png",
            out.display()
        ),
    };
    draw(out)?;
    draw(&other)?;
    Ok(vec![out.to_path_buf(), other])
}

fn ensure_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}
