//! `tune merge OUT IN...`: combine results databases without duplicates.

use crate::cli::MergeArgs;
use crate::commands::common;
use std::process::ExitCode;

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    rt.block_on(async {
        let out = common::open_store(&args.out).await?;
        for input in &args.inputs {
            let from = common::open_store(input).await?;
            let r = out.merge_from(&from).await?;
            println!(
                "{}: {} new jobs, {} jobs completed, {} new sweeps, {} new sweep memberships",
                from.target(),
                r.jobs_added,
                r.jobs_completed,
                r.sweeps_added,
                r.memberships_added
            );
        }
        let counts = out.counts(None).await?;
        println!(
            "{}: {}, {} done",
            out.target(),
            common::count(counts.total() as usize, "job"),
            counts.done
        );
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
