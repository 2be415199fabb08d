//! The training loop: the one place where networks are trained, by every command.

use crate::checkpoint;
use crate::layers::Kernels;
use crate::network::Network;
use crate::optim::RmsProp;
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tune_data::{Dataset, Split};
use tune_spec::{EpochMetrics, InputShape, JobSpec, Predictions, TrainOutcome, Validation};

/// How a job is run (not part of what the job is).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// CPU threads the job may use; it uses no more.
    pub threads: usize,
    /// Which layer implementation to train with.
    pub kernels: Kernels,
    /// Images per forward pass when evaluating.
    pub eval_batch: usize,
    /// Validate after each epoch and test at the end; off for benchmarks (figures are then NaN).
    pub evaluate: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            threads: 1,
            kernels: Kernels::Fast,
            eval_batch: 1000,
            evaluate: true,
        }
    }
}

/// Whether training goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep training.
    Continue,
    /// Stop now (Ctrl-C, a lost lease): training returns [`crate::Error::Stopped`].
    Stop,
}

/// The training state at the end of an epoch, for checkpoints.
pub struct EpochEnd<'a> {
    /// The network after the epoch.
    pub network: &'a Network,
    optimizer: &'a RmsProp,
    /// Epochs finished so far.
    pub epochs_done: usize,
}

impl EpochEnd<'_> {
    /// Safetensors bytes from which [`train`] can resume after this epoch.
    pub fn checkpoint(&self) -> crate::Result<Vec<u8>> {
        checkpoint::checkpoint_bytes(self.network, self.optimizer, self.epochs_done)
    }
}

/// Receives progress from the training loop; every method has a default that does nothing.
pub trait Observer {
    /// Called once before training with the epochs to run and the batches per epoch.
    fn start(&mut self, _epochs: usize, _batches_per_epoch: usize) {}
    /// Called after every batch.
    fn batch(&mut self, _epoch: usize, _batch: usize) -> Flow {
        Flow::Continue
    }
    /// Called after every epoch with its metrics. An error stops training, which returns it;
    /// an observer's own error travels as [`crate::Error::Observer`] (boxed, to be downcast).
    fn epoch(&mut self, _metrics: &EpochMetrics, _state: &EpochEnd<'_>) -> crate::Result<Flow> {
        Ok(Flow::Continue)
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Where to resume from: a checkpoint and the history of the epochs it covers.
pub struct Resume {
    /// Bytes from [`EpochEnd::checkpoint`].
    pub checkpoint: Vec<u8>,
    /// Metrics of the epochs already done.
    pub history: Vec<EpochMetrics>,
    /// Seconds already spent on those epochs.
    pub runtime_s: f64,
}

/// A finished training run: its figures and the trained network.
pub struct Trained {
    /// What the run measured.
    pub outcome: TrainOutcome,
    /// The trained network (to save its weights).
    pub network: Network,
}

/// Trains `job` on `data`, whose images and classes are `input`, on at most `opts.threads`
/// threads, reporting to `observer`.
///
/// Each split's `images` hold `input.values()` = `height * width * channels` values per image,
/// channels-last (NHWC: row after row, each pixel's channels side by side), `rows` and `cols`
/// are `height` and `width`, and each label is below `input.classes` (see [`plan`]). The network
/// is built for `input` ([`Network::new`]). [`input_shape`] gives the shape of a data set as
/// `tune_data` loads it.
///
/// # Errors
/// [`crate::Error::Spec`] when the job cannot be built for `input` (e.g. more conv layers than
/// the image size takes), [`crate::Error::Data`] when the data does not fit `input` or the job,
/// and the errors of training itself.
pub fn train(
    job: &JobSpec,
    data: &Dataset,
    input: &InputShape,
    opts: &TrainOptions,
    observer: &mut (dyn Observer + Send),
    resume: Option<Resume>,
) -> crate::Result<Trained> {
    job.validate(input)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .start_handler(|_| crate::kernels::flush_denormals())
        .build()
        .map_err(|e| crate::Error::Threads(e.to_string()))?;
    pool.install(|| {
        crate::kernels::set_threads(opts.threads);
        train_on_this_thread(job, data, input, opts, observer, resume)
    })
}

/// The [`InputShape`] of a data set as `tune_data` loads it: `rows` x `cols` images with
/// `channels` values per pixel (the training split's) and one class per class name. For the built-in data sets this is [`InputShape::BUILT_IN`], 28x28x1 and 10
/// classes. [`plan`] checks that the data fits it.
pub fn input_shape(data: &Dataset) -> InputShape {
    InputShape {
        height: data.train.rows,
        width: data.train.cols,
        channels: data.train.channels,
        classes: data.classes.len(),
    }
}

/// The images of the training split a job trains on and validates on (indices into the split).
pub struct Plan {
    /// Images trained on, in the split's order: the first `train_images` of those not held out.
    pub train: Vec<usize>,
    /// Held-out images validated on, ascending; `None` when the job validates on the test split.
    pub holdout: Option<Vec<usize>>,
}

/// How many images of a training split of `train_len` images `job` holds out and trains on:
/// `(held_out, trained_on)`. Needs only the split's size (an IDX header), so a grid can be checked
/// before anything is loaded or enqueued.
///
/// With [`Validation::Holdout`]`(n)`, the default size ([`tune_spec::DEFAULT_HOLDOUT`], 5,000) on a
/// split of fewer than 10,000 images holds out a twelfth of the split instead (the 60,000-image data
/// sets hold out exactly 5,000 either way); `train_images` then limits the rest.
///
/// # Errors
/// [`crate::Error::Data`] when the split is empty, the holdout leaves nothing to train on, or
/// `train_images` is 0 or more than the images left after the holdout. The message names the
/// setting as `train_images` and the largest value that fits; callers add where it was set.
pub fn split_sizes(
    job: &JobSpec,
    data_name: &str,
    train_len: usize,
) -> crate::Result<(usize, usize)> {
    if train_len == 0 {
        return Err(crate::Error::Data(format!(
            "data set `{data_name}` has no training images"
        )));
    }
    let held_out = match job.train.validation {
        Validation::Test => 0,
        Validation::Holdout(n) => {
            let size = if n != tune_spec::DEFAULT_HOLDOUT || n.saturating_mul(2) <= train_len {
                n
            } else {
                train_len / 12
            };
            if size == 0 {
                // The default on a split of fewer than 12 images, or an explicit 0.
                let what = if n == tune_spec::DEFAULT_HOLDOUT {
                    format!(
                        "the default holdout (a twelfth of a training split under 10,000 images) \
                         is 0 of data set `{data_name}`'s {train_len} training images"
                    )
                } else {
                    format!("a holdout of {n} images validates on nothing")
                };
                return Err(crate::Error::Data(format!(
                    "{what}: add training images, set a holdout of at least 1 image (`validation \
                     = {{ holdout = N }}`), or validate on the test split (`validation = \"test\"`)"
                )));
            }
            if size >= train_len {
                return Err(crate::Error::Data(format!(
                    "a holdout of {n} images leaves nothing to train on (data set `{data_name}` \
                     has {train_len} training images)"
                )));
            }
            size
        }
    };
    let rest = train_len - held_out;
    let besides = if held_out > 0 {
        format!(" besides the {held_out} held out for validation")
    } else {
        String::new()
    };
    match job.train.train_images {
        Some(0) => Err(crate::Error::Data(
            "train_images = 0 leaves nothing to train on; leave it out to train on all images"
                .to_string(),
        )),
        Some(n) if n > rest => Err(crate::Error::Data(format!(
            "train_images = {n}, but data set `{data_name}` has only {rest} training images\
             {besides}: use at most {rest}, or leave train_images out to train on all of them"
        ))),
        Some(n) => Ok((held_out, n)),
        None => Ok((held_out, rest)),
    }
}

/// Which training images `job` trains and validates on.
///
/// With [`Validation::Holdout`] the holdout is [`tune_data::stratified_holdout`] of the whole
/// training split (the same images for every job on that data), of the size [`split_sizes`] gives
/// (with a warning, once per data set and process, when a small split holds out a twelfth), and
/// `train_images` then limits the rest.
///
/// # Errors
/// [`crate::Error::Data`] when the data does not fit `input` (the images are not
/// `height`x`width`, a split does not hold `height * width * channels` values per image, the
/// data set has another number of classes, or a label is not below `classes`), a split is empty,
/// nothing is left to train on, or `train_images` asks for more images than are left after the
/// holdout (what runs is what is recorded: never a silent cut).
pub fn plan(job: &JobSpec, data: &Dataset, input: &InputShape) -> crate::Result<Plan> {
    check_data(data, input)?;
    let len = data.train.len;
    let (held_out, trained_on) = split_sizes(job, &data.name, len)?;
    if held_out == 0 {
        return Ok(Plan {
            train: (0..trained_on).collect(),
            holdout: None,
        });
    }
    if let Validation::Holdout(n) = job.train.validation
        && n != held_out
        && first_time_for(&data.name, len, n)
    {
        tracing::warn!(
            "data set `{}`: the training split has {len} images, too few to hold out {n}: \
             holding out {held_out} (a twelfth) for every job on it",
            data.name
        );
    }
    let mut h = tune_data::stratified_holdout(&data.train.labels, held_out);
    h.rest.truncate(trained_on);
    Ok(Plan {
        train: h.rest,
        holdout: Some(h.validation),
    })
}

/// Whether this process has not yet warned that data set `name` of `len` training images is too
/// small to hold out `n`: every job of a run on it gets the same answer, so the warning is given
/// once per data set (and holdout size) and run, not once per job.
fn first_time_for(name: &str, len: usize, n: usize) -> bool {
    static WARNED: std::sync::Mutex<std::collections::BTreeSet<(String, usize, usize)>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    WARNED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((name.to_string(), len, n))
}

/// That `data` is what networks built for `input` take: see [`plan`].
fn check_data(data: &Dataset, input: &InputShape) -> crate::Result<()> {
    let name = &data.name;
    let (h, w) = (input.height, input.width);
    if (data.train.rows, data.train.cols) != (h, w)
        || (data.test.rows, data.test.cols) != (data.train.rows, data.train.cols)
    {
        return Err(crate::Error::Data(format!(
            "data set `{name}` has {}x{} training and {}x{} test images; the networks take {h}x{w}",
            data.train.rows, data.train.cols, data.test.rows, data.test.cols,
        )));
    }
    if data.train.len == 0 || data.test.len == 0 {
        return Err(crate::Error::Data(format!(
            "data set `{name}` has {} training and {} test images; each split needs at least one",
            data.train.len, data.test.len
        )));
    }
    for (split, which) in [(&data.train, "training"), (&data.test, "test")] {
        let values = split.len * input.values();
        if split.images.len() != values || split.labels.len() != split.len {
            return Err(crate::Error::Data(format!(
                "data set `{name}`: the {which} split holds {} values and {} labels for {} \
                 images; {h}x{w} images with {c} channel(s) need {values} values ({h}*{w}*{c} \
                 per image, channels-last) and {} labels",
                split.images.len(),
                split.labels.len(),
                split.len,
                split.len,
                c = input.channels,
            )));
        }
    }
    if data.classes.len() != input.classes {
        return Err(crate::Error::Data(format!(
            "data set `{name}` has {}; the networks are built for {}",
            tune_spec::count(data.classes.len(), "class"),
            input.classes
        )));
    }
    for (split, which) in [(&data.train, "training"), (&data.test, "test")] {
        if let Some(i) = split
            .labels
            .iter()
            .position(|&l| usize::from(l) >= input.classes)
        {
            return Err(crate::Error::Data(format!(
                "data set `{name}`: {which} image {} has label {}, but there {} {} (labels 0 \
                 to {})",
                i + 1,
                split.labels[i],
                if input.classes == 1 { "is" } else { "are" },
                tune_spec::count(input.classes, "class"),
                input.classes - 1
            )));
        }
    }
    Ok(())
}

fn train_on_this_thread(
    job: &JobSpec,
    data: &Dataset,
    input: &InputShape,
    opts: &TrainOptions,
    observer: &mut (dyn Observer + Send),
    resume: Option<Resume>,
) -> crate::Result<Trained> {
    let started = Instant::now();
    let t = &job.train;
    let Plan {
        train: train_images,
        holdout,
    } = plan(job, data, input)?;
    let train_len = train_images.len();
    let mut init_rng = ChaCha8Rng::seed_from_u64(t.seed);
    let net = Network::new(&job.model, input, opts.kernels, &mut init_rng)?;
    let mut opt = RmsProp::new(net.params(), t.lr, t.rho, t.eps);
    let (mut history, mut prior_s, first_epoch) = match resume {
        Some(r) => {
            let done = checkpoint::restore(&net, &mut opt, &r.checkpoint)?;
            let mut h = r.history;
            h.retain(|m| m.epoch <= done);
            (h, r.runtime_s, done)
        }
        None => (Vec::new(), 0.0, 0),
    };
    let batches = train_len.div_ceil(t.batch);
    observer.start(t.epochs, batches);
    let mut train_seconds = 0.0;
    let mut trained_images = 0usize;
    let mut batch = Batch::new(t.batch, input);
    let mut last_val = Predictions::default();
    for epoch in first_epoch + 1..=t.epochs {
        let epoch_start = Instant::now();
        let order = tune_data::epoch_order(train_len, t.seed, epoch);
        let mut dropout_rng =
            ChaCha8Rng::seed_from_u64(t.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let order: Vec<usize> = order.into_iter().map(|i| train_images[i]).collect();
        for (b, indices) in order.chunks(t.batch).enumerate() {
            let (x, y) = batch.fill(&data.train, indices)?;
            let logits = net.forward(&x, Some(&mut dropout_rng))?;
            let loss = opts.kernels.cross_entropy(&logits, &y)?;
            let grads = loss.backward()?;
            opt.step(net.params(), &grads)?;
            // The loss is read back every batch anyway: checking it costs nothing, and a NaN
            // would make every later step NaN too.
            let batch_loss = loss.to_scalar::<f32>()?;
            if !batch_loss.is_finite() {
                return Err(crate::Error::Diverged {
                    what: "training loss",
                    value: f64::from(batch_loss),
                    epoch,
                    batch: Some(b + 1),
                    lr: t.lr,
                });
            }
            loss_sum += batch_loss as f64 * indices.len() as f64;
            correct += count_correct(&logits, &batch.labels)?;
            if observer.batch(epoch, b + 1) == Flow::Stop {
                return Err(crate::Error::Stopped {
                    epochs_done: epoch - 1,
                });
            }
        }
        let train_s = epoch_start.elapsed().as_secs_f64();
        train_seconds += train_s;
        trained_images += train_len;
        // Keras reports the regularisation term inside the loss; its batch-average changes
        // little within an epoch, so the end-of-epoch value stands for it.
        let penalty = net.l2_penalty()?;
        let val = match &holdout {
            _ if !opts.evaluate => Evaluation::skipped(input.classes),
            None => evaluate(&net, &data.test, 0..data.test.len, opts.eval_batch)?,
            Some(images) => evaluate(&net, &data.train, images.iter().copied(), opts.eval_batch)?,
        };
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / train_len as f64 + penalty,
            train_accuracy: correct as f64 / train_len as f64,
            val_loss: val.loss + penalty,
            val_accuracy: val.accuracy,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        tracing::debug!(?metrics, "epoch done");
        let mut figures = vec![
            ("training loss", metrics.train_loss),
            ("training accuracy", metrics.train_accuracy),
        ];
        if opts.evaluate {
            figures.extend([
                ("validation loss", metrics.val_loss),
                ("validation accuracy", metrics.val_accuracy),
            ]);
        }
        finite(&figures, epoch, t.lr)?;
        history.push(metrics.clone());
        last_val = val.predictions;
        let state = EpochEnd {
            network: &net,
            optimizer: &opt,
            epochs_done: epoch,
        };
        if observer.epoch(&metrics, &state)? == Flow::Stop {
            return Err(crate::Error::Stopped { epochs_done: epoch });
        }
    }
    let test = if opts.evaluate {
        evaluate(&net, &data.test, 0..data.test.len, opts.eval_batch)?
    } else {
        Evaluation::skipped(input.classes)
    };
    prior_s += started.elapsed().as_secs_f64();
    let test_loss = test.loss + net.l2_penalty()?;
    if opts.evaluate {
        finite(
            &[("test loss", test_loss), ("test accuracy", test.accuracy)],
            t.epochs,
            t.lr,
        )?;
    }
    // A job resumed after its last epoch (or validating on the test split) has the same figures.
    if last_val.is_empty() && holdout.is_none() {
        last_val = test.predictions.clone();
    } else if last_val.is_empty() && opts.evaluate {
        let images = holdout.as_deref().unwrap_or_default();
        last_val =
            evaluate(&net, &data.train, images.iter().copied(), opts.eval_batch)?.predictions;
    }
    let outcome = TrainOutcome {
        params: net.param_count(),
        test_loss,
        test_accuracy: test.accuracy,
        runtime_s: prior_s,
        images_per_s: if train_seconds > 0.0 {
            trained_images as f64 / train_seconds
        } else {
            0.0
        },
        history,
        confusion: test.confusion,
        val_predictions: last_val,
        test_predictions: test.predictions,
    };
    Ok(Trained {
        outcome,
        network: net,
    })
}

/// [`crate::Error::Diverged`] for the first of `figures` (name, value) that is not finite.
fn finite(figures: &[(&'static str, f64)], epoch: usize, lr: f64) -> crate::Result<()> {
    match figures.iter().find(|(_, v)| !v.is_finite()) {
        Some(&(what, value)) => Err(crate::Error::Diverged {
            what,
            value,
            epoch,
            batch: None,
            lr,
        }),
        None => Ok(()),
    }
}

/// A reused batch: image values and one-hot targets for up to `size` images of one shape.
struct Batch {
    input: InputShape,
    images: Vec<f32>,
    targets: Vec<f32>,
    labels: Vec<u8>,
}

impl Batch {
    fn new(size: usize, input: &InputShape) -> Self {
        Batch {
            input: *input,
            images: Vec::with_capacity(size * input.values()),
            targets: Vec::with_capacity(size * input.classes),
            labels: Vec::with_capacity(size),
        }
    }

    /// Tensors `[n, height, width, channels]` and `[n, classes]` for the given images of `split`.
    fn fill(&mut self, split: &Split, indices: &[usize]) -> crate::Result<(Tensor, Tensor)> {
        let (pixels, classes) = (self.input.values(), self.input.classes);
        self.images.clear();
        self.targets.clear();
        self.labels.clear();
        for &i in indices {
            self.images
                .extend_from_slice(&split.images[i * pixels..(i + 1) * pixels]);
            let label = split.labels[i];
            self.labels.push(label);
            self.targets
                .extend((0..classes).map(|c| if c == label as usize { 1.0 } else { 0.0 }));
        }
        let n = indices.len();
        let InputShape {
            height,
            width,
            channels,
            ..
        } = self.input;
        let x = Tensor::from_slice(&self.images, (n, height, width, channels), &Device::Cpu)?;
        let y = Tensor::from_slice(&self.targets, (n, classes), &Device::Cpu)?;
        Ok((x, y))
    }
}

/// Predicted class of each row of `logits`.
fn predictions_of(logits: &Tensor) -> crate::Result<Vec<usize>> {
    let rows = logits.to_vec2::<f32>()?;
    Ok(rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                    if v > best.1 { (i, v) } else { best }
                })
                .0
        })
        .collect())
}

fn count_correct(logits: &Tensor, labels: &[u8]) -> crate::Result<usize> {
    Ok(predictions_of(logits)?
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == **l as usize)
        .count())
}

/// Loss (without the L2 term), accuracy, confusion matrix and predictions on some images.
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of images classified right.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Predicted and true class of each image, in the order evaluated.
    pub predictions: Predictions,
}

impl Evaluation {
    /// Figures of an evaluation that was not run, for `classes` classes.
    fn skipped(classes: usize) -> Self {
        Evaluation {
            loss: f64::NAN,
            accuracy: f64::NAN,
            confusion: vec![vec![0; classes]; classes],
            predictions: Predictions::default(),
        }
    }
}

/// Evaluates `net` (dropout off) on the images `images` (indices) of `split`, whose images are
/// the network's [`Network::input`] shape (as [`plan`] checks).
pub fn evaluate(
    net: &Network,
    split: &Split,
    images: impl IntoIterator<Item = usize>,
    eval_batch: usize,
) -> crate::Result<Evaluation> {
    let indices: Vec<usize> = images.into_iter().collect();
    let mut batch = Batch::new(eval_batch, net.input());
    let classes = net.input().classes;
    let mut confusion = vec![vec![0u64; classes]; classes];
    let mut predictions = Predictions {
        predicted: Vec::with_capacity(indices.len()),
        labels: Vec::with_capacity(indices.len()),
    };
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for chunk in indices.chunks(eval_batch.max(1)) {
        let (x, y) = batch.fill(split, chunk)?;
        let logits = net.forward(&x, None)?.detach();
        let loss = crate::kernels::softmax_cross_entropy(&logits, &y)?;
        loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
        for (p, &l) in predictions_of(&logits)?.iter().zip(&batch.labels) {
            confusion[l as usize][*p] += 1;
            correct += usize::from(*p == l as usize);
            predictions.predicted.push(*p as u8);
            predictions.labels.push(l);
        }
    }
    let n = indices.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        confusion,
        predictions,
    })
}
