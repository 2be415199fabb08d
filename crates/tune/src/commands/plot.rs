//! `tune plot curves|depth|halving|confusion`: pictures as SVG and PNG.

use super::confusion::classes;
use super::results::{filters, finished, note_unfinished, pick, rows, select};
use crate::cli::PlotCommand;
use crate::commands::common;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tune_report::{Field, Report, ReportOptions, SortKey};

pub fn run(cmd: PlotCommand) -> anyhow::Result<ExitCode> {
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
            let written = both_formats(&out, &[], |p| {
                tune_report::plot_curves(&job.history, &title, p)
            })?;
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
            let written = both_formats(&out, &[], |p| tune_report::plot_depth(&rows, p))?;
            note_unfinished(&sel);
            written
        }
        PlotCommand::Halving { db, sweep, out } => {
            let (sweep, rungs, lines) = rt.block_on(halving_lines(&db.db, sweep.as_deref()))?;
            let title = format!(
                "successive halving: sweep {sweep} ({})",
                common::count(lines.len(), "job")
            );
            let out = out.unwrap_or_else(|| default_plot(&db.db, &format!("halving-{sweep}")));
            both_formats(&out, &[], |p| {
                tune_report::plot_halving(&lines, &rungs, &title, p)
            })?
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
            let classes = classes(&job.spec.train);
            let written = both_formats(&out, &classes, |p| {
                tune_report::plot_confusion(&matrix, &classes, &title, p)
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

/// The halving sweep `sweep` of database `db` (without a name: the database's only sweep): its
/// id, rung epochs, and every job's validation accuracy per epoch.
async fn halving_lines(
    db: &str,
    sweep: Option<&str>,
) -> anyhow::Result<(String, Vec<usize>, Vec<tune_report::HalvingLine>)> {
    let store = common::open_store(db).await?;
    let sweeps = store.sweeps().await?;
    let sweep = match sweep {
        Some(s) => s.to_string(),
        None => match sweeps.as_slice() {
            [only] => only.id.clone(),
            _ => bail!(
                "{db} holds {} sweeps: name the halving sweep with --sweep NAME (`tune status` \
                 lists them)",
                sweeps.len()
            ),
        },
    };
    let Some(plan) = store.halving_plan(&sweep).await? else {
        bail!(
            "sweep {sweep} in {db} is not a halving sweep (its grid has no [search] strategy = \
             \"halving\"); `tune plot curves JOB` draws one job's learning curves"
        );
    };
    let mut lines = Vec::new();
    for job in store.jobs_of_sweep(&sweep).await? {
        let history = store.history(&job.key).await?;
        lines.push(tune_report::HalvingLine {
            val_accuracy: history.iter().map(|m| (m.epoch, m.val_accuracy)).collect(),
            pruned: job.status == tune_store::JobStatus::Pruned,
            key: job.key,
        });
    }
    store.close().await;
    Ok((sweep, plan.rungs, lines))
}

/// `results/plots/NAME.svg` beside an SQLite database, else under `results/plots`.
fn default_plot(db: &str, name: &str) -> PathBuf {
    let dir = match Path::new(db.trim_start_matches("sqlite:")).parent() {
        Some(p) if !db.contains("://") && !p.as_os_str().is_empty() => p.join("plots"),
        _ => PathBuf::from("results/plots"),
    };
    dir.join(format!("{name}.svg"))
}

/// Draws `out` and the same picture in the other of SVG and PNG beside it. Texts of the PNG with
/// characters its built-in font lacks (e.g. Chinese class names) are named in a note on stderr,
/// as `class `NAME`` when they are one of `classes`: drawn with the system font named, or where
/// there is none, shown as boxes, pointing at the SVG, which shows them.
fn both_formats(
    out: &Path,
    classes: &[String],
    draw: impl Fn(&Path) -> Result<tune_report::Drawn, tune_report::ReportError>,
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
    let named = |text: &str| {
        if classes.iter().any(|c| c == text) {
            format!("class `{text}`")
        } else {
            format!("`{text}`")
        }
    };
    for path in [out, &other] {
        let drawn = draw(path)?;
        for (text, font) in &drawn.fallback_fonts {
            eprintln!(
                "note: {}: {} drawn with {} (found through fontconfig): the font built into tune \
                 for PNG pictures (DejaVu Sans) lacks some of its characters",
                path.display(),
                named(text),
                font.display()
            );
        }
        if drawn.missing_glyphs.is_empty() {
            continue;
        }
        let mut chars: Vec<char> = Vec::new();
        let mut texts = Vec::new();
        for (text, lacks) in &drawn.missing_glyphs {
            for c in lacks {
                if !chars.contains(c) {
                    chars.push(*c);
                }
            }
            texts.push(named(text));
        }
        let svg = if path == out { &other } else { out };
        let chars: Vec<String> = chars.iter().map(char::to_string).collect();
        eprintln!(
            "note: {}: the font built into tune for PNG pictures (DejaVu Sans) has no glyphs for \
             {}, and no installed font found through fontconfig has them, so {} {} as boxes \
             there; the SVG, {}, shows them (your viewer's fonts draw its text)",
            path.display(),
            chars.join(" "),
            texts.join(", "),
            if texts.len() == 1 { "shows" } else { "show" },
            svg.display()
        );
    }
    Ok(vec![out.to_path_buf(), other])
}
