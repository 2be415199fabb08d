//! `tune merge OUT IN...`: combine results databases without duplicates, listing every conflict;
//! `tune migrate`: bring a database's schema up to date.

use crate::cli::{MergeArgs, MigrateArgs};
use crate::commands::common;
use std::process::ExitCode;

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    rt.block_on(async {
        // The inputs first, read-only: a missing or foreign input stops the merge before OUT is
        // created or changed, and reading an input never changes it.
        let mut inputs = Vec::with_capacity(args.inputs.len());
        for input in &args.inputs {
            inputs.push(common::open_reader(input).await?);
        }
        let out = common::open_store(&args.out).await?;
        for from in &inputs {
            let r = out.merge_from(from).await?;
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
            "{}: {} jobs, {} done",
            out.target(),
            counts.total(),
            counts.done
        );
        out.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

pub fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let rt = common::runtime()?;
    rt.block_on(async {
        let store = common::open_store(&args.db.db).await?;
        println!("{}: schema up to date", store.target());
        store.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
