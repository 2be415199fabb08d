//! Progress displays on stderr: one bar for `tune train`, and for `tune run` an overall bar with
//! an ETA plus one line per running job (a [`Subscriber`] of the work loop's events). Hidden with
//! `--quiet`.

use crate::events::{Event, FailKind, InterruptCause, Subscriber};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tune_model::train::EpochEnd;
use tune_model::{Flow, Observer};
use tune_spec::{EpochMetrics, JobSpec};

/// Shows one bar per epoch and a line per finished epoch (the lines alone when stderr is not a
/// terminal).
pub struct TrainProgress {
    bar: ProgressBar,
    epochs: usize,
    plain: bool,
}

impl TrainProgress {
    /// A progress display; hidden when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} [{bar:30}] {pos}/{len} batches {per_sec} eta {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let plain = !quiet && bar.is_hidden();
        TrainProgress {
            bar,
            epochs: 0,
            plain,
        }
    }
}

impl Observer for TrainProgress {
    fn start(&mut self, epochs: usize, batches_per_epoch: usize) {
        self.epochs = epochs;
        self.bar.set_length(batches_per_epoch as u64);
    }

    fn batch(&mut self, epoch: usize, batch: usize) -> Flow {
        if batch == 1 {
            self.bar.set_prefix(format!("{epoch}/{}", self.epochs));
        }
        self.bar.set_position(batch as u64);
        Flow::Continue
    }

    fn epoch(&mut self, m: &EpochMetrics, _state: &EpochEnd<'_>) -> tune_model::Result<Flow> {
        if self.plain {
            eprintln!("{}", epoch_line(m, self.epochs));
        } else {
            self.bar.println(epoch_line(m, self.epochs));
        }
        self.bar.reset();
        Ok(Flow::Continue)
    }
}

impl Drop for TrainProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// One line of figures for a finished epoch.
pub fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {:>2}/{}: loss {:.4} accuracy {:.4}  val_loss {:.4} val_accuracy {:.4}  {:.1}s",
        m.epoch, epochs, m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy, m.seconds
    )
}

/// The display of a whole run: an overall bar counting epochs of all jobs (so its ETA follows
/// the work, not the job count) and one line per running job. When stderr is not a terminal
/// (a log file, CI) the bars are not drawn, but the lines about finished jobs are still written,
/// one per line; `--quiet` hides everything. It follows the run through the loop's events.
#[derive(Clone)]
pub struct RunProgress {
    multi: MultiProgress,
    overall: ProgressBar,
    jobs_done: Arc<std::sync::atomic::AtomicUsize>,
    jobs_total: usize,
    /// Write messages with `eprintln!`: indicatif hides them along with the bars.
    plain: bool,
    /// Settings named in each job's line beside its architecture (those that vary in the run).
    labels: Arc<Vec<tune_report::Field>>,
    /// The line of each running job, by key, with its data set's name.
    lines: Arc<Mutex<HashMap<String, (JobLine, String)>>>,
}

impl RunProgress {
    /// A display for `jobs_total` jobs needing `epochs_total` epochs; hidden when `quiet`.
    pub fn new(jobs_total: usize, epochs_total: u64, quiet: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let plain = !quiet && multi.is_hidden();
        let overall = multi.add(ProgressBar::new(epochs_total));
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {msg} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let p = RunProgress {
            multi,
            overall,
            jobs_done: Arc::default(),
            jobs_total,
            plain,
            labels: Arc::default(),
            lines: Arc::default(),
        };
        p.update_message();
        p
    }

    /// Names these settings in each job's line beside its architecture, e.g. `dropout=0.25`: pass
    /// the settings that vary among the run's jobs ([`tune_report::varying_settings`]).
    pub fn with_labels(mut self, fields: Vec<tune_report::Field>) -> Self {
        self.labels = Arc::new(fields);
        self
    }

    fn update_message(&self) {
        let done = self.jobs_done.load(std::sync::atomic::Ordering::Relaxed);
        self.overall
            .set_message(format!("{done}/{} jobs", self.jobs_total));
    }

    /// A line for a job that just started: attempt `attempt` of job `key`.
    fn job_line(&self, key: &str, attempt: u32, spec: &JobSpec) -> JobLine {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:<28} epoch {msg} [{bar:20}] {pos}/{len}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let attempt = if attempt > 1 {
            format!(" (attempt {attempt})")
        } else {
            String::new()
        };
        bar.set_prefix(format!(
            "{} {}{attempt}",
            &key[..8.min(key.len())],
            tune_report::job_label(spec, &self.labels)
        ));
        JobLine {
            bar,
            multi: self.multi.clone(),
            plain: self.plain,
            epochs: 0,
            last: String::new(),
        }
    }

    /// One more epoch of some job is done.
    fn epoch_done(&self) {
        self.overall.inc(1);
    }

    /// One more job is finished (done or failed).
    fn job_done(&self) {
        self.jobs_done
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.update_message();
    }

    /// Prints a line above the bars.
    pub fn println(&self, msg: &str) {
        if self.plain {
            eprintln!("{msg}");
        } else {
            let _ = self.multi.println(msg);
        }
    }

    /// Prints a warning above the bars, or on its own line when they are not drawn (even with
    /// `--quiet`, which hides progress, not problems).
    pub fn warn(&self, msg: &str) {
        let line = format!("warning: {msg}");
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

impl RunProgress {
    /// Takes the line of job `key` out of the running ones (none if it was never claimed here).
    fn take_line(&self, key: &str) -> Option<(JobLine, String)> {
        self.lines.lock().expect("job lines lock").remove(key)
    }

    /// Runs `f` on the line of running job `key`, if there is one.
    fn with_line(&self, key: &str, f: impl FnOnce(&mut JobLine)) {
        if let Some((line, _)) = self.lines.lock().expect("job lines lock").get_mut(key) {
            f(line);
        }
    }
}

impl Subscriber for RunProgress {
    fn event(&self, event: &Event) {
        match event {
            Event::JobClaimed {
                key, attempt, spec, ..
            } => {
                let line = self.job_line(key, *attempt, spec);
                self.lines
                    .lock()
                    .expect("job lines lock")
                    .insert(key.clone(), (line, spec.train.dataset.clone()));
            }
            Event::TrainingStarted {
                key,
                epochs,
                batches_per_epoch,
            } => self.with_line(key, |l| l.start(*epochs, *batches_per_epoch)),
            Event::BatchDone { key, epoch, batch } => {
                self.with_line(key, |l| l.batch(*epoch, *batch));
            }
            Event::EpochDone { key, metrics, .. } => {
                self.with_line(key, |l| l.epoch(metrics));
                self.epoch_done();
            }
            Event::JobFinished {
                key, test_accuracy, ..
            } => {
                self.job_done();
                if let Some((line, _)) = self.take_line(key) {
                    line.finish(&format!("done: test accuracy {test_accuracy:.4}"));
                }
            }
            Event::JobFailed {
                key, error, kind, ..
            } => {
                self.job_done();
                if let Some((line, dataset)) = self.take_line(key) {
                    match kind {
                        FailKind::DataUnavailable => {
                            line.fail(&format!("data set `{dataset}` could not be loaded"));
                        }
                        FailKind::Training | FailKind::DataMismatch | FailKind::DataChanged => {
                            line.fail(error)
                        }
                    }
                }
            }
            Event::JobInterrupted {
                key,
                epochs_done,
                cause,
                ..
            } => {
                if let Some((line, _)) = self.take_line(key) {
                    line.finish(&match cause {
                        InterruptCause::Signal => format!(
                            "interrupted after {}",
                            crate::commands::common::count(*epochs_done, "epoch")
                        ),
                        InterruptCause::StoreError => {
                            "stopped: results database error; left for another attempt".into()
                        }
                        InterruptCause::DataUnreadable => {
                            "its data set's files cannot be read here; left in the queue".into()
                        }
                    });
                }
            }
            Event::LeaseLost {
                key,
                result_discarded,
                ..
            } => {
                if let Some((line, _)) = self.take_line(key) {
                    line.finish(if *result_discarded {
                        "lease lost to another worker; result discarded"
                    } else {
                        "lease lost to another worker"
                    });
                }
            }
            Event::JobPaused {
                key, epochs_done, ..
            } => {
                if let Some((line, _)) = self.take_line(key) {
                    line.finish(&format!(
                        "waiting at epoch {epochs_done} for the rung's decision"
                    ));
                }
            }
            Event::RungDecided {
                rung,
                epoch,
                kept,
                pruned,
                ..
            } => self.println(&format!(
                "halving rung {} (epoch {epoch}) decided: {kept} kept, {pruned} pruned",
                rung + 1,
            )),
            Event::Warning { message } => self.warn(message),
            Event::DataSetFailed {
                dataset,
                sha256,
                jobs,
                ..
            } if *jobs > 0 => {
                for _ in 0..*jobs {
                    self.job_done();
                }
                self.warn(&format!(
                    "{jobs} more job{} of data set `{dataset}` ({}) failed with it: its files \
                     cannot be read; the run goes on with the jobs of other data",
                    if *jobs == 1 { "" } else { "s" },
                    &sha256[..8.min(sha256.len())]
                ));
            }
            Event::DataSetFailed { .. } => {}
            Event::Stopping => self.println(
                "stopping: running jobs will be marked interrupted (Ctrl-C again to quit at once)",
            ),
            Event::KeptWeights { written, dir, .. } if *written > 0 => {
                self.println(&format!(
                    "wrote {written} weight files of earlier runs' jobs (kept in the results \
                     database because they could not be written then) to {dir}"
                ));
            }
            Event::RunStarted { .. } | Event::KeptWeights { .. } | Event::RunEnded { .. } => {}
        }
    }
}

/// The line of one running job.
#[derive(Clone)]
pub struct JobLine {
    bar: ProgressBar,
    multi: MultiProgress,
    plain: bool,
    epochs: usize,
    last: String,
}

impl JobLine {
    /// Training starts: `epochs` epochs of `batches` batches.
    pub fn start(&mut self, epochs: usize, batches: usize) {
        self.epochs = epochs;
        self.bar.set_length(batches as u64);
    }

    /// A batch of `epoch` is done.
    pub fn batch(&self, epoch: usize, batch: usize) {
        if batch == 1 {
            self.bar
                .set_message(format!("{epoch}/{}{}", self.epochs, self.last));
        }
        self.bar.set_position(batch as u64);
    }

    /// An epoch is done.
    pub fn epoch(&mut self, m: &EpochMetrics) {
        self.last = format!(" val_acc {:.4}", m.val_accuracy);
        self.bar
            .set_message(format!("{}/{}{}", m.epoch, self.epochs, self.last));
    }

    /// The job ended: replace its line by a message above the bars.
    pub fn finish(&self, msg: &str) {
        self.end(msg, self.plain);
    }

    /// The job failed: like [`JobLine::finish`], but the message is written even with `--quiet`
    /// (which hides progress, not problems).
    pub fn fail(&self, msg: &str) {
        self.end(&format!("failed: {msg}"), self.multi.is_hidden());
    }

    fn end(&self, msg: &str, plain: bool) {
        let line = format!("{}: {msg}", self.bar.prefix().trim_end());
        if plain {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
    }
}
