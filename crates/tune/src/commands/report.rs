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
use tune_store::{JobResult, ResultFilter, Store};

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

/// Finished jobs of the database (optionally one sweep), or an error saying how to get some.
async fn finished(
    db: &str,
    sweep: Option<&str>,
    with_history: bool,
) -> anyhow::Result<(Store, Vec<JobResult>)> {
    if !db.contains("://") && !Path::new(db.trim_start_matches("sqlite:")).exists() {
        bail!("no results database at {db}: run `tune run grids/quick.toml` first, or pass --db");
    }
    let store = common::open_store(db).await?;
    let filter = ResultFilter {
        sweep: sweep.map(str::to_string),
        with_history,
        ..ResultFilter::default()
    };
    let results = store.results(&filter).await?;
    if results.is_empty() {
        match sweep {
            Some(s) => {
                bail!(
                    "no finished jobs of sweep `{s}` in {}; `tune run GRID` trains them",
                    store.target()
                )
            }
            None => bail!(
                "no finished jobs in {} yet: run `tune run grids/quick.toml` (or wait for the running one)",
                store.target()
            ),
        }
    }
    Ok((store, results))
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
            runtime_s: r.runtime_s,
            sweep: sweep.map(str::to_string),
        })
        .collect()
}

/// The job named by a key or unique key prefix, else the most accurate one.
fn pick<'a>(results: &'a [JobResult], job: Option<&str>) -> anyhow::Result<&'a JobResult> {
    match job {
        None => results
            .iter()
            .max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))
            .context("no finished jobs"),
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
    let (_store, results) = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    let results = select(results, &filters)?;
    let report = Report::build(
        &rows(&results, args.sweep.as_deref()),
        &ReportOptions {
            by,
            top: args.top,
            sort,
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
    let (_store, results) = rt.block_on(finished(&args.db.db, args.sweep.as_deref(), false))?;
    let results = select(results, &filters)?;
    let comparison = Comparison::build(&rows(&results, args.sweep.as_deref()));
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
    Ok(ExitCode::SUCCESS)
}

fn classes(dataset: &str) -> Vec<String> {
    tune_data::info(dataset)
        .map(|i| i.classes.clone())
        .unwrap_or_else(|_| (0..10).map(|c| c.to_string()).collect())
}

pub fn confusion(args: ConfusionArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let (store, results) = rt.block_on(finished(&args.db.db, None, false))?;
    let job = pick(&results, args.job.as_deref())?;
    let matrix = rt
        .block_on(store.confusion(&job.key))?
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
    Ok(ExitCode::SUCCESS)
}

pub fn plot(cmd: PlotCommand) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    let written = match cmd {
        PlotCommand::Curves { db, job, out } => {
            let (_store, results) = rt.block_on(finished(&db.db, None, true))?;
            let job = pick(&results, job.as_deref())?;
            let title = format!(
                "{} on {} ({})",
                job.spec.model.label(),
                job.spec.train.dataset,
                &job.key[..8]
            );
            let out = out.unwrap_or_else(|| default_plot(&db.db, &format!("curves-{}", job.key)));
            both_formats(&out, |p| tune_report::plot_curves(&job.history, &title, p))?
        }
        PlotCommand::Depth {
            db,
            sweep,
            filters: given,
            out,
        } => {
            let filters = filters(&given)?;
            let (_store, results) = rt.block_on(finished(&db.db, sweep.as_deref(), false))?;
            let rows = rows(&select(results, &filters)?, sweep.as_deref());
            // The picture pools each depth and data set as the per-depth summary does: say so when
            // that mixes other settings.
            let pooled = Report::build(
                &rows,
                &ReportOptions {
                    by: vec![Field::Layers, Field::Dataset],
                    top: None,
                    sort: SortKey::Accuracy,
                },
            )?;
            for note in &pooled.notes {
                eprintln!("note: {note}");
            }
            let out = out.unwrap_or_else(|| default_plot(&db.db, "depth"));
            both_formats(&out, |p| tune_report::plot_depth(&rows, p))?
        }
        PlotCommand::Confusion { db, job, out } => {
            let (store, results) = rt.block_on(finished(&db.db, None, false))?;
            let job = pick(&results, job.as_deref())?;
            let matrix = rt
                .block_on(store.confusion(&job.key))?
                .with_context(|| format!("job {} has no confusion matrix recorded", job.key))?;
            let title = format!(
                "{} on {} ({})",
                job.spec.model.label(),
                job.spec.train.dataset,
                &job.key[..8]
            );
            let out =
                out.unwrap_or_else(|| default_plot(&db.db, &format!("confusion-{}", job.key)));
            both_formats(&out, |p| {
                tune_report::plot_confusion(&matrix, &classes(&job.spec.train.dataset), &title, p)
            })?
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
