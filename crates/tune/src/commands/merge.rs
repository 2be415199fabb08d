//! `tune merge OUT IN...`: combine results databases without duplicates, listing every conflict.

use crate::cli::MergeArgs;
use crate::commands::common;
use std::process::ExitCode;

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    rt.block_on(async {
        // The inputs first, read-only: a missing or foreign input stops the merge before OUT is
        // created or changed, and reading an input never changes it.
        let mut inputs = Vec::with_capacity(args.inputs.len());
        for input in &args.inputs {
            let store = common::open_reader(input).await.map_err(|e| match e
                .downcast_ref::<tune_store::StoreError>()
            {
                Some(tune_store::StoreError::Missing { .. }) => {
                    let message = format!(
                        "tune merge: input {input} does not exist (or holds no results): \
                             name the results databases to merge, `tune merge OUT IN...`; {} \
                             was not changed",
                        args.out
                    );
                    crate::exit_codes::Classified::new(&e, message).into()
                }
                _ => e,
            })?;
            inputs.push(store);
        }
        let out = common::open_store(&args.out).await?;
        let mut conflicts = 0;
        for from in &inputs {
            let r = out.merge_from(from).await?;
            for c in &r.conflicts {
                conflicts += 1;
                eprintln!(
                    "conflict: job {} ({} on {}): {} has test accuracy {}, loss {}; {} has \
                     accuracy {}, loss {}; kept {}'s",
                    c.key,
                    c.spec.model.label(),
                    c.spec.train.dataset,
                    out.target(),
                    figure(c.kept.0),
                    figure(c.kept.1),
                    from.target(),
                    figure(c.dropped.0),
                    figure(c.dropped.1),
                    out.target(),
                );
                if c.kept_data != c.dropped_data {
                    eprintln!(
                        "  (trained on different data: kept SHA-256 {}, dropped SHA-256 {})",
                        c.kept_data.as_deref().unwrap_or("not recorded"),
                        c.dropped_data.as_deref().unwrap_or("not recorded")
                    );
                }
            }
            println!(
                "{}: {}, {} completed, {}, {}",
                from.target(),
                common::count(r.jobs_added as usize, "new job"),
                common::count(r.jobs_completed as usize, "job"),
                common::count(r.sweeps_added as usize, "new sweep"),
                common::count(r.memberships_added as usize, "new sweep membership"),
            );
        }
        let counts = out.counts(None).await?;
        println!(
            "{}: {}, {} done",
            out.target(),
            common::count(counts.total() as usize, "job"),
            counts.done
        );
        if conflicts > 0 {
            eprintln!(
                "{conflicts} jobs were finished with different results in different databases; \
                 the first result merged was kept for each (the output's own, then the inputs in \
                 the order given): check how they were trained (data, tune version) before \
                 trusting them"
            );
        }
        out.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// A figure for a conflict line, full precision.
fn figure(x: Option<f64>) -> String {
    x.map_or_else(|| "none".to_string(), |x| x.to_string())
}
