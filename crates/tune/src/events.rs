//! What the work loop ([`crate::runner::work`]) tells the world: typed [`Event`]s, sent to every
//! [`Subscriber`] of an [`Events`] hub. The loop never draws or counts anything itself: the
//! terminal display ([`crate::progress::RunProgress`]) is one subscriber, the run's tally
//! ([`Tally`], which gives the [`WorkSummary`]) another, and `--events json` ([`JsonLines`]) a
//! third, writing one JSON object per line.
//!
//! The JSON form of an event: its fields (below, in snake case) plus `"event"`, the variant's
//! name in snake case (`"job_claimed"`), and `"time"`, when it was sent in seconds since the Unix
//! epoch (UTC) with millisecond precision, e.g.
//! `{"event":"job_failed","time":1764567890.123,"key":"…","sweep":"…","error":"…","kind":"training"}`.
//! [`Event::TrainingStarted`] and [`Event::BatchDone`] (a tick per batch, for the bars) are not
//! written.

use crate::cli::EventFormat;
use crate::progress::RunProgress;
use crate::runner::WorkSummary;
use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tune_spec::{EpochMetrics, JobSpec};

/// One thing the work loop did. Job events name the job by its `key`; `sweep` is the sweep the
/// loop trains (the sweep id under `tune run`; the `--sweep` value, or none, under `tune
/// worker`): a job may belong to several sweeps.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The loop starts.
    RunStarted {
        /// This process's worker-id prefix (`host:pid`); its slots are `host:pid:N`.
        worker: String,
        /// The sweep it trains, if only one.
        sweep: Option<String>,
        /// Jobs trained at once.
        slots: usize,
    },
    /// With `--save-weights`: weight files of earlier runs' jobs, kept in the store because they
    /// could not be written then, were written now (`written`) or still could not be
    /// (`missing`; each with a [`Event::Warning`] first).
    KeptWeights {
        /// Files written.
        written: usize,
        /// Files that still could not be written.
        missing: usize,
        /// The `--save-weights` directory.
        dir: String,
    },
    /// A job was claimed from the queue and starts (or resumes) training.
    JobClaimed {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// The worker id (`host:pid:slot`) holding the claim.
        worker: String,
        /// Which attempt this is (1 for the first).
        attempt: u32,
        /// Epochs the job trains in all.
        epochs: usize,
        /// Epochs already done (resumed from a checkpoint; 0 for a fresh start).
        epochs_done: usize,
        /// The job.
        spec: JobSpec,
    },
    /// Training of a claimed job begins: `epochs` epochs of `batches_per_epoch` batches. For the
    /// display; not written as JSON.
    TrainingStarted {
        /// The job's key.
        key: String,
        /// Epochs in all.
        epochs: usize,
        /// Batches per epoch.
        batches_per_epoch: usize,
    },
    /// A batch is done (1-based `batch` of 1-based `epoch`). For the display; not written as
    /// JSON.
    BatchDone {
        /// The job's key.
        key: String,
        /// The epoch, from 1.
        epoch: usize,
        /// The batch of the epoch, from 1.
        batch: usize,
    },
    /// An epoch is done and recorded in the store (with its checkpoint).
    EpochDone {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// The epoch, from 1.
        epoch: usize,
        /// Its figures (losses, accuracies, seconds).
        metrics: EpochMetrics,
    },
    /// A job finished and its result is recorded.
    JobFinished {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// Accuracy on the test split, 0 to 1.
        test_accuracy: f64,
        /// Loss on the test split (L2 term included).
        test_loss: f64,
        /// Wall-clock seconds of the job (resumed attempts included).
        runtime_s: f64,
        /// With `--save-weights`: the weight file could not be written (the weights are kept in
        /// the store; a [`Event::Warning`] said why).
        weights_missing: bool,
    },
    /// A job failed and is marked failed with `error`.
    JobFailed {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// What went wrong (as recorded in the jobs table's `last_error`).
        error: String,
        /// Why.
        kind: FailKind,
    },
    /// A job stopped before its end and is left for another attempt (it resumes from its last
    /// checkpoint).
    JobInterrupted {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// Epochs done before the stop.
        epochs_done: usize,
        /// What stopped it.
        cause: InterruptCause,
        /// The store error, for [`InterruptCause::StoreError`]; why the files cannot be read,
        /// for [`InterruptCause::DataUnreadable`].
        error: Option<String>,
        /// Whether the store marked it interrupted (its attempt given back). When the store
        /// could not be reached, the job's lease runs out instead and it comes back then.
        recorded: bool,
    },
    /// A job of a halving sweep reached its rung's epoch and waits for the rung's decision.
    JobPaused {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// Epochs done: the rung's epoch.
        epochs_done: usize,
    },
    /// This process decided a rung of a halving sweep (see `tune_store::Store::advance_halving`).
    RungDecided {
        /// The halving sweep's id.
        sweep: String,
        /// The rung, from 0.
        rung: usize,
        /// The epoch the rung's jobs were compared at.
        epoch: usize,
        /// Jobs that go on to the next rung.
        kept: usize,
        /// Jobs stopped at this rung.
        pruned: usize,
    },
    /// Another worker took the job over after its lease ran out; this worker drops it.
    LeaseLost {
        /// The job's key.
        key: String,
        /// The sweep the loop trains.
        sweep: Option<String>,
        /// Whether the job had finished training (its result is discarded).
        result_discarded: bool,
    },
    /// A user's data set (one version, by content hash) cannot be read or decoded: its queued
    /// jobs, besides the one a slot claimed (a [`Event::JobFailed`] of kind
    /// [`FailKind::DataUnavailable`]), are failed at once so that the run goes on with the jobs
    /// of other data; it ends with the error.
    DataSetFailed {
        /// The data set's name.
        dataset: String,
        /// The version's content hash (SHA-256, hex).
        sha256: String,
        /// Queued jobs failed with it (the claimed one not counted).
        jobs: usize,
        /// Why (as recorded in each job's `last_error`).
        error: String,
    },
    /// Something went wrong that does not stop the run.
    Warning {
        /// What, and what to do.
        message: String,
    },
    /// Ctrl-C, SIGTERM or SIGHUP: running jobs stop after their current batch and are marked
    /// interrupted.
    Stopping,
    /// The loop ended.
    RunEnded {
        /// Jobs finished.
        done: usize,
        /// Jobs failed while this loop trained them.
        failed: usize,
        /// Jobs of the sweep (of the database, for a worker without `--sweep`) left failed that
        /// this loop did not train: failed in an earlier run, or of a killed earlier run and given
        /// up on before the loop started. Non-zero means the grid is not finished (exit code 1).
        failed_earlier: usize,
        /// Jobs interrupted (they resume next time).
        interrupted: usize,
        /// Jobs taken over by other workers.
        lost: usize,
        /// The error that ended the loop early (the command then fails with it), if any.
        error: Option<String>,
    },
}

/// Why a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailKind {
    /// Training failed: it diverged, or the data does not fit the job.
    Training,
    /// Its data set could not be loaded (missing, damaged, not canonical). A built-in data set:
    /// the loop claims no more jobs and ends with the error, which says how to get the data. A
    /// user's data set: the queued jobs of that version fail with it
    /// ([`Event::DataSetFailed`]), the loop goes on with other jobs and ends with the error.
    DataUnavailable,
    /// Its data set is not the data the job was trained on before.
    DataMismatch,
    /// Its user's data set's files changed since it was queued: it and the unfinished jobs of
    /// that version are set aside as superseded (they can never train).
    DataChanged,
}

/// What interrupted a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InterruptCause {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Signal,
    /// The results database could not be written (down, restarted): the loop ends with the error.
    StoreError,
    /// This process cannot read the files of the job's user's data set (gone, moved, not
    /// mounted here): the job goes back to the queue for a worker that can, this loop claims no
    /// more of that data and ends with the error.
    DataUnreadable,
}

/// The subscribers of `tune run` and `tune worker`: the progress display, and with
/// `--events json` the JSON lines on stdout.
pub fn subscribers(progress: &RunProgress, format: Option<EventFormat>) -> Events {
    let events = Events::new().subscribe(Arc::new(progress.clone()));
    match format {
        None => events,
        Some(EventFormat::Json) => events.subscribe(Arc::new(JsonLines::stdout())),
    }
}

/// Where the closing summary of `tune run` and `tune worker` goes: stdout, or stderr when stdout
/// carries `--events`.
pub fn summary_out(format: Option<EventFormat>) -> Box<dyn Write> {
    match format {
        None => Box::new(std::io::stdout()),
        Some(_) => Box::new(std::io::stderr()),
    }
}

/// Receives every event of a run, from any of its job slots' threads at once.
pub trait Subscriber: Send + Sync {
    /// Handles one event. Must not block for long: the training threads wait for it.
    fn event(&self, event: &Event);
}

/// The subscribers of a run; cheap to clone. [`Events::send`] hands an event to each, in the
/// order they were added.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Vec<Arc<dyn Subscriber>>,
}

impl Events {
    /// A hub with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `s`.
    pub fn subscribe(mut self, s: Arc<dyn Subscriber>) -> Self {
        self.subscribers.push(s);
        self
    }

    /// Sends `event` to every subscriber.
    pub fn send(&self, event: Event) {
        for s in &self.subscribers {
            s.event(&event);
        }
    }
}

/// Counts a run's outcome from its events: the [`WorkSummary`] of [`crate::runner::work`].
#[derive(Default)]
pub struct Tally(Mutex<WorkSummary>);

impl Tally {
    /// The counts so far.
    pub fn summary(&self) -> WorkSummary {
        *self.0.lock().expect("tally lock")
    }
}

impl Subscriber for Tally {
    fn event(&self, event: &Event) {
        let mut s = self.0.lock().expect("tally lock");
        match event {
            Event::Stopping => s.stopped = true,
            Event::KeptWeights {
                written, missing, ..
            } => {
                s.weights_recovered += written;
                s.weights_missing += missing;
            }
            Event::JobFinished {
                weights_missing, ..
            } => {
                s.done += 1;
                s.weights_missing += usize::from(*weights_missing);
            }
            Event::JobFailed { .. } => s.failed += 1,
            Event::DataSetFailed { jobs, .. } => s.failed += jobs,
            Event::JobInterrupted { recorded: true, .. } => s.interrupted += 1,
            Event::LeaseLost { .. } => s.lost += 1,
            _ => {}
        }
    }
}

/// `--events json`: writes each event (but the display's ticks, [`Event::TrainingStarted`] and
/// [`Event::BatchDone`]) as one line of JSON, flushed at once. A write that fails (a closed
/// pipe) is logged once and the stream is dropped; the run goes on.
pub struct JsonLines {
    out: Mutex<Option<Box<dyn Write + Send>>>,
}

impl JsonLines {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::to(Box::new(std::io::stdout()))
    }

    /// Writes to `out`.
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        JsonLines {
            out: Mutex::new(Some(out)),
        }
    }
}

/// An event with the time it was sent, as written.
#[derive(Serialize)]
struct Stamped<'a> {
    #[serde(flatten)]
    event: &'a Event,
    /// Seconds since the Unix epoch.
    time: f64,
}

/// Now, in seconds since the Unix epoch (UTC), rounded to milliseconds.
fn unix_time() -> f64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    ms as f64 / 1000.0
}

impl Subscriber for JsonLines {
    fn event(&self, event: &Event) {
        if matches!(
            event,
            Event::TrainingStarted { .. } | Event::BatchDone { .. }
        ) {
            return;
        }
        let mut line = match serde_json::to_vec(&Stamped {
            event,
            time: unix_time(),
        }) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("an event could not be written as JSON: {e}");
                return;
            }
        };
        line.push(b'\n');
        let mut out = self.out.lock().expect("event stream lock");
        if let Some(w) = out.as_mut()
            && let Err(e) = w.write_all(&line).and_then(|()| w.flush())
        {
            tracing::warn!("the event stream could not be written ({e}); no more events follow");
            *out = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_tagged_stamped_and_skip_the_ticks() {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let tally = Arc::new(Tally::default());
        let events = Events::new()
            .subscribe(Arc::new(JsonLines::to(Box::new(buf.clone()))))
            .subscribe(tally.clone());
        events.send(Event::BatchDone {
            key: "k".into(),
            epoch: 1,
            batch: 1,
        });
        events.send(Event::JobFailed {
            key: "k".into(),
            sweep: Some("s".into()),
            error: "diverged".into(),
            kind: FailKind::Training,
        });
        events.send(Event::JobInterrupted {
            key: "j".into(),
            sweep: None,
            epochs_done: 2,
            cause: InterruptCause::StoreError,
            error: Some("down".into()),
            recorded: false,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "job_failed");
        assert_eq!(lines[0]["kind"], "training");
        assert_eq!(lines[0]["error"], "diverged");
        assert!(lines[0]["time"].as_f64().unwrap() > 1.7e9);
        assert_eq!(lines[1]["cause"], "store_error");
        let s = tally.summary();
        assert_eq!(
            (s.failed, s.interrupted),
            (1, 0),
            "not recorded: not counted"
        );
    }
}
