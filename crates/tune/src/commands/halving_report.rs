//! `tune report` on a halving sweep (the final ranking among the jobs that reached the last rung,
//! then the pruned jobs with the rung they stopped at) and `tune report --replay-halving` (what
//! successive halving would have chosen on a finished full grid's per-epoch metrics).

use super::results::{Selection, rows_with_predictions};
use crate::halving::ReplayJob;
use anyhow::{Context, bail};
use tune_report::{Align, Cell, Column, Format, Report, ReportOptions, Style, TableData};
use tune_store::{Confirmed, HalvingView, Store};

/// The plan and decisions of `sweep` (or, without `--sweep`, of the database's only sweep) when
/// it is a halving sweep; `None` otherwise.
pub(super) async fn view(
    store: &Store,
    sweep: Option<&str>,
) -> anyhow::Result<Option<HalvingView>> {
    let sweeps = store.sweeps().await?;
    let sweep = match sweep {
        Some(s) if sweeps.iter().any(|w| w.id == s) => s.to_string(),
        Some(s) => {
            let named: Vec<&tune_store::SweepRow> = sweeps.iter().filter(|w| w.name == s).collect();
            match named.as_slice() {
                [] | [_] => s.to_string(),
                many => {
                    // Each halving sweep decided its own rungs: one report per sweep.
                    let mut halving = Vec::new();
                    for w in many {
                        if store.halving_plan(&w.id).await?.is_some() {
                            halving.push(format!("{} (started {})", w.id, w.started_at));
                        }
                    }
                    if halving.is_empty() {
                        return Ok(None);
                    }
                    bail!(
                        "--sweep {s} names {} sweeps, halving sweeps among them, and each \
                         decided its rungs on its own: give one sweep's id, --sweep ID, one of {}",
                        many.len(),
                        halving.join(", ")
                    );
                }
            }
        }
        None => match sweeps.as_slice() {
            [only] => only.id.clone(),
            _ => return Ok(None),
        },
    };
    Ok(store.halving_view(&sweep).await?)
}

/// The pruned jobs as a table: job, architecture, the rung and epoch it stopped at, its
/// configuration's mean validation accuracy there and its place in that rung's ranking.
fn pruned_table(v: &HalvingView) -> TableData {
    let left = Align::Left;
    let mut table = TableData::with_columns(vec![
        Column::new("job", "key", left),
        Column::named("architecture", left),
        Column::named("status", left),
        Column::named("rung", Align::Right),
        Column::new("stopped at epoch", "epoch", Align::Right),
        Column::new("val acc there", "val_accuracy", Align::Right),
        Column::new("place at the rung", "place", Align::Right),
    ])
    .styled(Style::Borders);
    for d in &v.decisions {
        for key in d.prune.iter().chain(&d.late_prune) {
            let (label, status) = v
                .jobs
                .get(key)
                .map_or((String::new(), "pruned"), |j| (j.label.clone(), &j.status));
            let Some(at) = d.stopped_place(key) else {
                continue;
            };
            let place = at.place.unwrap_or(0);
            table.rows.push(vec![
                Cell::text(key.clone()),
                Cell::text(label),
                Cell::text(status),
                Cell::int(d.rung as u64 + 1),
                Cell::int(d.epoch as u64),
                Cell::num(at.val_accuracy, 4),
                Cell::new(at.to_string(), place.to_string(), place.into()),
            ]);
        }
    }
    for (d, key) in v.out_of_race() {
        let label = v.jobs.get(key).map_or(String::new(), |j| j.label.clone());
        table.rows.push(vec![
            Cell::text(key.clone()),
            Cell::text(label),
            Cell::text("failed: out of the race"),
            Cell::int(d.rung as u64 + 1),
            Cell::int(d.epoch as u64),
            Cell::num(None, 4),
            Cell::new("-".to_string(), String::new(), serde_json::Value::Null),
        ]);
    }
    table
}

/// The confirmed configurations as a table: place at the last rung, architecture, seeds finished
/// of planned, mean test accuracy, 95% interval, standard deviation.
fn confirmed_table(rows: &[Confirmed]) -> TableData {
    let left = Align::Left;
    let right = Align::Right;
    let mut table = TableData::with_columns(vec![
        Column::new("place at the last rung", "place", right),
        Column::named("architecture", left),
        Column::new("seeds done", "seeds", right),
        Column::new("val acc (halving)", "val_accuracy", right),
        Column::new("mean test acc", "mean", right),
        Column::new("95% interval", "interval", right),
        Column::new("sd", "sd", right),
    ])
    .styled(Style::Borders);
    for c in rows {
        let interval = c.interval.map_or_else(
            || "-".to_string(),
            |i| format!("[{:.4}, {:.4}]", i.low, i.high),
        );
        table.rows.push(vec![
            Cell::int(c.place as u64),
            Cell::text(c.label.clone()),
            Cell::text(format!("{} of {}", c.test_accuracies.len(), c.keys.len())),
            Cell::num(Some(c.val_accuracy), 4),
            Cell::num(c.summary.map(|s| s.mean), 4),
            Cell::text(interval),
            Cell::num(c.summary.and_then(|s| s.sd), 4),
        ]);
    }
    table
}

/// For `--format json`: what a halving sweep's report adds to its object under `"halving"`
/// ([`HalvingView::to_json`]; confirmed configurations' test accuracies from `results`).
pub(super) fn after_report_json(
    v: &HalvingView,
    results: &[tune_store::JobResult],
    format: Format,
) -> Option<serde_json::Value> {
    (format == Format::Json).then(|| v.to_json(test_accuracy_in(results)))
}

/// The test accuracy of job `key` among `results`.
fn test_accuracy_in(results: &[tune_store::JobResult]) -> impl Fn(&str) -> Option<f64> + '_ {
    |key| {
        results
            .iter()
            .find(|r| r.key == key)
            .map(|r| r.test_accuracy)
    }
}

/// Prints, after a halving sweep's report, the plan line, the pruned jobs and the confirmed
/// configurations (table and Markdown; CSV: a note on stderr; JSON: nothing, see
/// [`after_report_json`]).
pub(super) fn after_report(v: &HalvingView, results: &[tune_store::JobResult], format: Format) {
    let pruned = v.pruned().count();
    let failed = v.out_of_race().count();
    let out = if failed > 0 {
        format!(
            "; {} failed before a rung's decision: out of the race (`tune run GRID \
             --retry-failed` trains {} to the rung and judges {} against its ranking)",
            crate::commands::common::count(failed, "job"),
            if failed == 1 { "it" } else { "them" },
            if failed == 1 { "it" } else { "them" },
        )
    } else {
        String::new()
    };
    let summary = format!(
        "successive halving (eta {}, min_epochs {}, rungs at epochs {}): the table ranks the jobs \
         that reached the last rung; {} pruned at earlier rungs{out}",
        v.plan.eta,
        v.plan.min_epochs,
        v.plan
            .rungs
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        crate::commands::common::count(pruned, "job"),
    );
    match format {
        Format::Json => {}
        Format::Csv => eprintln!("{summary} (`--format json` lists them with their rung)"),
        Format::Table | Format::Markdown => {
            println!();
            println!("{summary}");
            if pruned + failed > 0 {
                if format == Format::Markdown {
                    println!();
                }
                print!("{}", pruned_table(v).render(format, None));
            }
            let confirmed = v.confirmed(test_accuracy_in(results));
            if !confirmed.is_empty() {
                println!();
                println!(
                    "confirm: the last rung's best {} trained again with more seeds, for every \
                     epoch; test accuracy over all their seeds (95% Student-t interval of the \
                     mean):",
                    crate::commands::common::count(confirmed.len(), "configuration"),
                );
                if format == Format::Markdown {
                    println!();
                }
                print!("{}", confirmed_table(&confirmed).render(format, None));
            }
        }
    }
}

/// `--replay-halving eta=E,min_epochs=M`: the two settings.
pub(super) fn parse_replay(text: &str) -> anyhow::Result<(usize, usize)> {
    let mut eta = tune_grid::DEFAULT_ETA;
    let mut min_epochs = tune_grid::DEFAULT_MIN_EPOCHS;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').with_context(|| {
            format!("--replay-halving: `{part}` is not KEY=VALUE; write eta=3,min_epochs=2")
        })?;
        let n: usize = v.trim().parse().with_context(|| {
            format!("--replay-halving: {k} must be a whole number, found `{v}`")
        })?;
        match k.trim() {
            "eta" if n >= 2 => eta = n,
            "eta" => bail!("--replay-halving: eta must be at least 2, found {n}"),
            "min_epochs" if n >= 1 => min_epochs = n,
            "min_epochs" => bail!("--replay-halving: min_epochs must be at least 1, found {n}"),
            other => bail!("--replay-halving: unknown setting `{other}`; write eta=3,min_epochs=2"),
        }
    }
    Ok((eta, min_epochs))
}

/// `tune report --replay-halving`: replays successive halving on the selection's finished jobs
/// and prints which configuration it would have chosen, whether the full grid's report counts it
/// tied with the best, and the share of epochs it would have trained.
pub(super) async fn replay(
    sel: &Selection,
    sweep: Option<&str>,
    eta: usize,
    min_epochs: usize,
    alpha: f64,
    format: Format,
) -> anyhow::Result<()> {
    let mut jobs = Vec::with_capacity(sel.results.len());
    for r in &sel.results {
        jobs.push(ReplayJob {
            key: r.key.clone(),
            spec: r.spec.clone(),
            params: r.params,
            val_by_epoch: r.history.iter().map(|m| m.val_accuracy).collect(),
        });
    }
    let replayed = crate::halving::replay(&jobs, eta, min_epochs)?;
    let rows = rows_with_predictions(&sel.store, &sel.results, sweep).await?;
    let report = Report::build(
        &rows,
        &ReportOptions {
            alpha,
            ..ReportOptions::default()
        },
    )?;
    let all_rows: Vec<_> = report.groups.iter().flat_map(|g| g.rows.iter()).collect();
    let chosen = all_rows
        .iter()
        .find(|r| r.keys == replayed.chosen.keys)
        .context("the chosen configuration is not in the report")?;
    let best = all_rows
        .iter()
        .min_by(tune_report::rank::compare_rows)
        .context("no finished configuration")?;
    let verdict = if chosen.keys == best.keys {
        "best"
    } else {
        match chosen.tied {
            Some(true) => "tied",
            Some(false) => "not tied",
            None => "untested",
        }
    };
    let json = serde_json::json!({
        "eta": eta,
        "min_epochs": min_epochs,
        "rungs": replayed.rungs.iter().map(|(e, n)| serde_json::json!({"epoch": e, "configurations": n})).collect::<Vec<_>>(),
        "chosen": {"label": chosen.label, "keys": chosen.keys, "val_accuracy": chosen.val_accuracy, "test_accuracy": chosen.test_accuracy},
        "best": {"label": best.label, "keys": best.keys, "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy},
        "tied_with_best": verdict,
        "epochs_used": replayed.epochs_used,
        "epochs_full": replayed.epochs_full,
        "share": replayed.share(),
    });
    if format == Format::Json {
        println!("{}", tune_report::table::to_json(&json));
        return Ok(());
    }
    let rungs: Vec<String> = replayed
        .rungs
        .iter()
        .map(|(e, n)| format!("epoch {e}: {n}"))
        .collect();
    println!(
        "replaying successive halving (eta {eta}, min_epochs {min_epochs}) on {} of the \
         selection; configurations per rung: {}",
        crate::commands::common::count(replayed.rungs.first().map_or(0, |r| r.1), "configuration"),
        rungs.join(", ")
    );
    println!(
        "halving would have chosen: {} (val acc {:.4}, test acc {:.4})",
        chosen.label, chosen.val_accuracy, chosen.test_accuracy
    );
    println!(
        "the full grid's best: {} (val acc {:.4}, test acc {:.4}); halving's choice {}",
        best.label,
        best.val_accuracy,
        best.test_accuracy,
        match verdict {
            "best" => "is the same configuration".to_string(),
            "tied" => format!("is tied with it (not significantly worse, alpha {alpha})"),
            "not tied" => format!("is significantly worse than it (alpha {alpha})"),
            _ => "was not tested against it (no predictions recorded)".to_string(),
        }
    );
    println!(
        "training epochs: {} of the full grid's {} ({:.1}%)",
        crate::commands::common::thousands(replayed.epochs_used as u64),
        crate::commands::common::thousands(replayed.epochs_full as u64),
        replayed.share() * 100.0
    );
    Ok(())
}
