//! Networks and their training.
//!
//! [`Network`] builds the study's CNNs and ANNs from a [`tune_spec::ModelSpec`] for a
//! [`tune_spec::InputShape`] (image height, width, channels and class count; images are
//! channels-last, NHWC) with Keras's initialisation; [`layers::Kernels`] chooses between tune's fast CPU kernels ([`kernels`]) and
//! candle's stock ops; [`train()`] is the one training loop (RMSprop, softmax cross-entropy, L2,
//! dropout, per-epoch validation), seeded and reproducible.

pub mod checkpoint;
pub mod kernels;
pub mod layers;
pub mod network;
pub mod optim;
pub mod train;

pub use layers::Kernels;
pub use network::Network;
pub use train::{
    Flow, Observer, Plan, Resume, Silent, TrainOptions, Trained, input_shape, plan, split_sizes,
    train,
};

/// What can go wrong while building or training a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The architecture or training settings are invalid.
    #[error(transparent)]
    Spec(#[from] tune_spec::SpecError),
    /// A tensor operation failed (a bug, or out of memory). Built with `From`, which drops the
    /// backtrace candle attaches under `RUST_BACKTRACE=1` (messages go to the screen and to
    /// `jobs.last_error`) and turns candle's I/O errors into [`Error::Io`].
    #[error("tensor operation failed: {0}")]
    Candle(candle_core::Error),
    /// The data does not fit the job.
    #[error("{0}")]
    Data(String),
    /// A checkpoint could not be read.
    #[error("bad checkpoint: {0}; delete it to start the job over")]
    Checkpoint(String),
    /// The thread pool could not be built.
    #[error("cannot start the job's threads: {0}")]
    Threads(String),
    /// I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The observer failed (e.g. it could not record an epoch): its own error, unchanged, so
    /// that the caller can take it back with `downcast` (`Box<dyn Error>::downcast::<E>()`).
    /// Displays as that error; its source is that error's source.
    #[error(transparent)]
    Observer(Box<dyn std::error::Error + Send + Sync>),
    /// The training diverged: a figure became NaN or infinite. The job cannot go on (every later
    /// step would be NaN too) and no figure of it is stored.
    #[error(
        "diverged: the {what} became {value} at epoch {epoch}{}; lower lr (it is {}), or check \
         the data",
        batch.map(|b| format!(", batch {b}")).unwrap_or_default(),
        tune_spec::number(*lr)
    )]
    Diverged {
        /// Which figure, e.g. `training loss`.
        what: &'static str,
        /// Its value (NaN or an infinity).
        value: f64,
        /// The epoch (from 1).
        epoch: usize,
        /// The batch of the epoch (from 1), when it happened during training.
        batch: Option<usize>,
        /// The job's learning rate.
        lr: f64,
    },
    /// The observer asked to stop.
    #[error("training stopped after {epochs_done} epoch(s)")]
    Stopped {
        /// Epochs fully done (and reported) before the stop.
        epochs_done: usize,
    },
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        match without_backtrace(e) {
            candle_core::Error::Io(io) => Error::Io(io),
            e => Error::Candle(e),
        }
    }
}

/// `e` without the backtraces candle wraps its errors in when `RUST_BACKTRACE` is set.
fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        candle_core::Error::Context { inner, context } => candle_core::Error::Context {
            inner: Box::new(without_backtrace(*inner)),
            context,
        },
        e => e,
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
