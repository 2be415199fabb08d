//! Networks and their training.
//!
//! [`Network`] builds the study's CNNs and ANNs from a [`tune_spec::ModelSpec`] with Keras's
//! initialisation; [`layers::Kernels`] chooses between tune's fast CPU kernels ([`kernels`]) and
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
pub use train::{Flow, Observer, Plan, Resume, Silent, TrainOptions, Trained, plan, train};

/// What can go wrong while building or training a network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The architecture or training settings are invalid.
    #[error(transparent)]
    Spec(#[from] tune_spec::SpecError),
    /// A tensor operation failed (a bug, or out of memory).
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
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
    /// The observer failed (e.g. it could not record an epoch).
    #[error("{0}")]
    Observer(String),
    /// The observer asked to stop.
    #[error("training stopped after {epochs_done} epochs")]
    Stopped {
        /// Epochs fully done (and reported) before the stop.
        epochs_done: usize,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
