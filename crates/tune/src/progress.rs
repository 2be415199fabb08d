//! Progress displays on stderr: one bar for `tune train`, and for `tune run` an overall bar with
//! an ETA plus one line per running job. Hidden with `--quiet`.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use tune_model::train::EpochEnd;
use tune_model::{Flow, Observer};
use tune_spec::EpochMetrics;
use tune_store::Claim;

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
/// one per line; `--quiet` hides everything.
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

    /// A line for a job that just started.
    pub fn job_line(&self, claim: &Claim) -> JobLine {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:<28} epoch {msg} [{bar:20}] {pos}/{len}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        let attempt = if claim.attempt > 1 {
            format!(" (attempt {})", claim.attempt)
        } else {
            String::new()
        };
        bar.set_prefix(format!(
            "{} {}{attempt}",
            &claim.key[..8.min(claim.key.len())],
            tune_report::job_label(&claim.spec, &self.labels)
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
    pub fn epoch_done(&self) {
        self.overall.inc(1);
    }

    /// One more job is finished (done or failed).
    pub fn job_done(&self) {
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
