//! The fast kernels against candle's stock ops, finite differences, and Keras's numbers.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tune_model::kernels::Grad;
use tune_model::{Kernels, kernels};

fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> Var {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu).unwrap()).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let scale = 1.0f32.max(x.abs()).max(y.abs());
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
    }
}

/// Forward output and gradients of `sum(out * probe)` w.r.t. each input, for one implementation.
fn run(
    f: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Var],
    probe_seed: u64,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    let ts: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
    let out = f(&ts);
    let mut rng = ChaCha8Rng::seed_from_u64(probe_seed);
    let probe = random(out.dims(), &mut rng);
    let loss = (out.clone() * probe.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let g = inputs
        .iter()
        .map(|v| values(grads.get(v.as_tensor()).expect("gradient present")))
        .collect();
    (values(&out), g)
}

/// The fast convolution with `algo` against candle's stock ops, with and without the pool (where
/// the map is large enough), on each shape `(n, h, w, c, k, f)`: forward, dx, dw and db.
fn assert_conv_matches_stock(
    algo: kernels::ConvAlgo,
    shapes: &[(usize, usize, usize, usize, usize, usize)],
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    kernels::set_conv_algo(algo);
    for &(n, h, w, c, k, f) in shapes {
        let inputs = [
            random(&[n, h, w, c], &mut rng),
            random(&[k, k, c, f], &mut rng),
            random(&[f], &mut rng),
        ];
        for pool in [false, true] {
            if pool && (h - k + 1 < 2 || w - k + 1 < 2) {
                continue;
            }
            let conv = |k: Kernels| {
                run(
                    |t| {
                        k.conv2d_relu(&t[0], &t[1], &t[2], Grad::All, pool, None)
                            .unwrap()
                    },
                    &inputs,
                    1,
                )
            };
            let (fast, stock) = (conv(Kernels::Fast), conv(Kernels::Stock));
            let at = format!("{algo:?} {n}x{h}x{w}x{c} k{k} -> {f}, pool {pool}");
            assert_close(&fast.0, &stock.0, 1e-5, &format!("forward {at}"));
            for (i, what) in ["dx", "dw", "db"].iter().enumerate() {
                assert_close(&fast.1[i], &stock.1[i], 1e-4, &format!("{what} {at}"));
            }
        }
    }
    kernels::set_conv_algo(kernels::ConvAlgo::Auto);
}

#[test]
fn conv2d_relu_matches_stock_on_odd_shapes() {
    // The last shape's maps are large enough that the pooled layer works one image at a time.
    let shapes = [
        (2, 7, 9, 3, 3, 4),
        (1, 11, 11, 1, 3, 5),
        (3, 6, 5, 2, 2, 3),
        (3, 30, 29, 2, 3, 48),
    ];
    assert_conv_matches_stock(kernels::ConvAlgo::Im2col, &shapes, 7);
}

#[test]
fn winograd_conv2d_matches_stock_on_odd_shapes() {
    // Odd and even maps, channel counts that are not multiples of a vector, a map one tile wide,
    // and a batch of more tiles (288) than one block of the kernel's work.
    let shapes = [
        (2, 13, 13, 32, 3, 16),
        (8, 13, 13, 16, 3, 8),
        (1, 8, 11, 3, 3, 5),
        (2, 12, 10, 20, 3, 24),
        (1, 4, 3, 17, 3, 2),
    ];
    assert_conv_matches_stock(kernels::ConvAlgo::Winograd, &shapes, 17);
}

/// A first layer as other data sets give it, against candle's stock ops: several input channels,
/// non-square and odd maps, with and without the pool, computing only the weights' gradients (a
/// network's first layer never computes the image's) as well as all, with each algorithm.
#[test]
fn first_layer_conv2d_matches_stock_on_other_image_shapes() {
    let shapes = [
        (2, 32, 32, 3, 3, 8),
        (3, 21, 15, 3, 3, 5),
        (2, 20, 12, 1, 3, 4),
        (2, 9, 14, 3, 5, 6),
        (1, 17, 33, 4, 3, 32),
    ];
    for algo in [
        kernels::ConvAlgo::Auto,
        kernels::ConvAlgo::Im2col,
        kernels::ConvAlgo::Winograd,
    ] {
        assert_conv_matches_stock(algo, &shapes, 41);
        assert_first_layer_matches_stock(algo, &shapes, 43);
    }
}

/// As [`assert_conv_matches_stock`], with [`Grad::Weights`]: the fast op gives no `dx`, and its
/// forward, `dw` and `db` equal the stock ops'.
fn assert_first_layer_matches_stock(
    algo: kernels::ConvAlgo,
    shapes: &[(usize, usize, usize, usize, usize, usize)],
    seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    kernels::set_conv_algo(algo);
    for &(n, h, w, c, k, f) in shapes {
        let x = random(&[n, h, w, c], &mut rng);
        let weights = [random(&[k, k, c, f], &mut rng), random(&[f], &mut rng)];
        for pool in [false, true] {
            if pool && (h - k + 1 < 2 || w - k + 1 < 2) {
                continue;
            }
            let at = format!("{algo:?} first layer {n}x{h}x{w}x{c} k{k} -> {f}, pool {pool}");
            let conv = |kind: Kernels, grad: Grad| {
                let out = kind
                    .conv2d_relu(
                        x.as_tensor(),
                        weights[0].as_tensor(),
                        weights[1].as_tensor(),
                        grad,
                        pool,
                        None,
                    )
                    .unwrap();
                let probe = random(out.dims(), &mut ChaCha8Rng::seed_from_u64(3));
                let grads = (out.clone() * probe.as_tensor())
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                assert_eq!(
                    grads.get(x.as_tensor()).is_some(),
                    grad == Grad::All,
                    "{at}: image gradient"
                );
                let g: Vec<Vec<f32>> = weights
                    .iter()
                    .map(|v| values(grads.get(v.as_tensor()).expect("weight gradient")))
                    .collect();
                (values(&out), g)
            };
            let fast = conv(Kernels::Fast, Grad::Weights);
            let stock = conv(Kernels::Stock, Grad::All);
            assert_close(&fast.0, &stock.0, 1e-5, &format!("forward {at}"));
            assert_close(&fast.1[0], &stock.1[0], 1e-4, &format!("dw {at}"));
            assert_close(&fast.1[1], &stock.1[1], 1e-4, &format!("db {at}"));
        }
    }
    kernels::set_conv_algo(kernels::ConvAlgo::Auto);
}

/// Kernel and bias gradients left in slots equal those candle's gradient store gets, for both
/// convolution algorithms and the dense layer, and the input gradient still flows through candle.
#[test]
fn gradient_slots_receive_what_the_gradient_store_would() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let x = random(&[2, 13, 13, 16], &mut rng);
    let w = random(&[3, 3, 16, 8], &mut rng);
    let b = random(&[8], &mut rng);
    let dw = random(&[5 * 5 * 8, 4], &mut rng);
    let db = random(&[4], &mut rng);
    for algo in [kernels::ConvAlgo::Im2col, kernels::ConvAlgo::Winograd] {
        kernels::set_conv_algo(algo);
        let slots = [kernels::GradSlot::default(), kernels::GradSlot::default()];
        let (ks, bs) = (slots[0].clone(), slots[1].clone());
        let forward = |with_slots: bool| {
            let s = with_slots.then_some((&slots[0], &slots[1]));
            let conv = kernels::conv2d_relu(
                x.as_tensor(),
                w.as_tensor(),
                b.as_tensor(),
                Grad::All,
                true,
                s,
            );
            let out = kernels::dense(
                &conv.unwrap(),
                dw.as_tensor(),
                db.as_tensor(),
                false,
                Grad::All,
                None,
                None,
            );
            out.unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        };
        let reference = forward(false);
        let via_slots = forward(true);
        assert!(
            via_slots.get(w.as_tensor()).is_none(),
            "{algo:?}: kernel gradient went to candle"
        );
        assert!(
            via_slots.get(b.as_tensor()).is_none(),
            "{algo:?}: bias gradient went to candle"
        );
        let expect = |t: &Var| values(reference.get(t.as_tensor()).unwrap());
        assert_close(
            &ks.take().expect("kernel gradient"),
            &expect(&w),
            0.0,
            "kernel slot",
        );
        assert_close(
            &bs.take().expect("bias gradient"),
            &expect(&b),
            0.0,
            "bias slot",
        );
        assert!(ks.take().is_none(), "a slot is empty once taken");
        assert_close(
            &values(via_slots.get(x.as_tensor()).unwrap()),
            &expect(&x),
            0.0,
            "dx",
        );
    }
    kernels::set_conv_algo(kernels::ConvAlgo::Auto);
}

#[test]
fn conv2d_relu_skips_the_input_gradient_when_asked() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = random(&[1, 5, 5, 1], &mut rng);
    let w = random(&[3, 3, 1, 2], &mut rng);
    let b = random(&[2], &mut rng);
    let out = kernels::conv2d_relu(
        x.as_tensor(),
        w.as_tensor(),
        b.as_tensor(),
        Grad::Weights,
        false,
        None,
    )
    .unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(x.as_tensor()).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
}

#[test]
fn conv2d_kernel_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = random(&[2, 6, 5, 2], &mut rng);
    let w = random(&[3, 3, 2, 3], &mut rng);
    let b = Var::from_tensor(&Tensor::new(&[0.5f32, 0.6, 0.7], &Device::Cpu).unwrap()).unwrap();
    let loss = |w: &Tensor| -> f64 {
        let out =
            kernels::conv2d_relu(x.as_tensor(), w, b.as_tensor(), Grad::All, false, None).unwrap();
        out.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    let out = kernels::conv2d_relu(
        x.as_tensor(),
        w.as_tensor(),
        b.as_tensor(),
        Grad::All,
        false,
        None,
    )
    .unwrap();
    let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let analytic = values(grads.get(w.as_tensor()).unwrap());
    let w0 = values(w.as_tensor());
    for i in [0, 5, 17, 30, 53] {
        let eps = 1e-2f32;
        let mut plus = w0.clone();
        plus[i] += eps;
        let mut minus = w0.clone();
        minus[i] -= eps;
        let t = |v: Vec<f32>| Tensor::from_vec(v, w.dims(), &Device::Cpu).unwrap();
        let numeric = (loss(&t(plus)) - loss(&t(minus))) / (2.0 * eps as f64);
        let a = analytic[i] as f64;
        assert!(
            (numeric - a).abs() < 2e-2 * numeric.abs().max(1.0),
            "dw[{i}]: {a} vs {numeric}"
        );
    }
}

#[test]
fn max_pool_routes_each_window_gradient_to_its_one_argmax_on_odd_sizes() {
    // 11x11 -> 5x5, two channels; distinct values so every window has one maximum.
    let (h, w, c) = (11, 11, 2);
    let data: Vec<f32> = (0..h * w * c)
        .map(|i| ((i * 37) % 241) as f32 / 241.0)
        .collect();
    let x = Var::from_tensor(&Tensor::from_vec(data.clone(), (1, h, w, c), &Device::Cpu).unwrap())
        .unwrap();
    let out = kernels::max_pool2x2(x.as_tensor()).unwrap();
    assert_eq!(out.dims(), &[1, 5, 5, 2]);
    let g: Vec<f32> = (0..50).map(|i| 1.0 + i as f32).collect();
    let grad = Tensor::from_vec(g.clone(), (1, 5, 5, 2), &Device::Cpu).unwrap();
    let grads = (out.clone() * grad)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let dx = values(grads.get(x.as_tensor()).unwrap());
    let at = |y: usize, x: usize, ch: usize| (y * w + x) * c + ch;
    let mut expected = vec![0f32; dx.len()];
    let pooled = values(&out);
    for oy in 0..5 {
        for ox in 0..5 {
            for ch in 0..c {
                let cells = [
                    at(2 * oy, 2 * ox, ch),
                    at(2 * oy, 2 * ox + 1, ch),
                    at(2 * oy + 1, 2 * ox, ch),
                    at(2 * oy + 1, 2 * ox + 1, ch),
                ];
                let best = *cells
                    .iter()
                    .max_by(|a, b| data[**a].total_cmp(&data[**b]))
                    .unwrap();
                let o = (oy * 5 + ox) * c + ch;
                assert_eq!(pooled[o], data[best]);
                expected[best] = g[o];
            }
        }
    }
    assert_eq!(dx, expected, "gradient goes to each window's argmax only");
    // Row 10 and column 10 are outside every window.
    for i in 0..w {
        for ch in 0..c {
            assert_eq!(dx[at(10, i, ch)], 0.0);
            assert_eq!(dx[at(i, 10, ch)], 0.0);
        }
    }
}

#[test]
fn max_pool_gives_a_tied_window_its_gradient_once() {
    let x = Var::from_tensor(
        &Tensor::zeros((1, 2, 2, 1), candle_core::DType::F32, &Device::Cpu).unwrap(),
    )
    .unwrap();
    let out = kernels::max_pool2x2(x.as_tensor()).unwrap();
    let grads = (out * 3.0).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(
        values(grads.get(x.as_tensor()).unwrap()),
        vec![3.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn dense_matches_stock() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mask: Vec<f32> = (0..5 * 13)
        .map(|i| if i % 3 == 0 { 0.0 } else { 2.0 })
        .collect();
    let mask = Arc::new(mask);
    for (relu, dropout) in [(true, None), (false, None), (true, Some(mask))] {
        let inputs = [
            random(&[5, 13], &mut rng),
            random(&[13, 7], &mut rng),
            random(&[7], &mut rng),
        ];
        let dense = |k: Kernels| {
            run(
                |t| {
                    k.dense(&t[0], &t[1], &t[2], relu, Grad::All, dropout.clone(), None)
                        .unwrap()
                },
                &inputs,
                2,
            )
        };
        let (fast, stock) = (dense(Kernels::Fast), dense(Kernels::Stock));
        assert_close(&fast.0, &stock.0, 1e-5, "dense forward");
        for (i, what) in ["dx", "dw", "db"].iter().enumerate() {
            assert_close(&fast.1[i], &stock.1[i], 1e-5, what);
        }
    }
}

/// The output layer and the loss with other class counts (2, 5, 37), on a batch of 7.
#[test]
fn dense_and_cross_entropy_match_stock_for_other_class_counts() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for classes in [2usize, 5, 37] {
        let inputs = [
            random(&[7, 3 * 11 * 9], &mut rng),
            random(&[3 * 11 * 9, classes], &mut rng),
            random(&[classes], &mut rng),
        ];
        let dense = |k: Kernels| {
            run(
                |t| {
                    k.dense(&t[0], &t[1], &t[2], false, Grad::All, None, None)
                        .unwrap()
                },
                &inputs,
                4,
            )
        };
        let (fast, stock) = (dense(Kernels::Fast), dense(Kernels::Stock));
        assert_close(
            &fast.0,
            &stock.0,
            1e-5,
            &format!("dense forward, {classes} classes"),
        );
        for (i, what) in ["dx", "dw", "db"].iter().enumerate() {
            assert_close(
                &fast.1[i],
                &stock.1[i],
                1e-5,
                &format!("{what}, {classes} classes"),
            );
        }
        let logits = random(&[7, classes], &mut rng);
        let onehot: Vec<f32> = (0..7 * classes)
            .map(|i| {
                if i % classes == (3 * (i / classes)) % classes {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let targets = Tensor::from_vec(onehot, (7, classes), &Device::Cpu).unwrap();
        let mut results = vec![];
        for k in [Kernels::Fast, Kernels::Stock] {
            let loss = k.cross_entropy(logits.as_tensor(), &targets).unwrap();
            let grads = loss.backward().unwrap();
            results.push((
                loss.to_scalar::<f32>().unwrap(),
                values(grads.get(logits.as_tensor()).unwrap()),
            ));
        }
        assert_close(&[results[0].0], &[results[1].0], 1e-6, "loss");
        assert_close(&results[0].1, &results[1].1, 1e-6, "dlogits");
    }
}

#[test]
fn cross_entropy_matches_stock() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let logits = random(&[6, 10], &mut rng);
    let labels = [3usize, 0, 9, 9, 1, 4];
    let onehot: Vec<f32> = labels
        .iter()
        .flat_map(|&l| (0..10).map(move |c| if c == l { 1.0 } else { 0.0 }))
        .collect();
    let targets = Tensor::from_vec(onehot, (6, 10), &Device::Cpu).unwrap();
    let mut results = vec![];
    for k in [Kernels::Fast, Kernels::Stock] {
        let loss = k.cross_entropy(logits.as_tensor(), &targets).unwrap();
        let grads = loss.backward().unwrap();
        results.push((
            loss.to_scalar::<f32>().unwrap(),
            values(grads.get(logits.as_tensor()).unwrap()),
        ));
    }
    assert_close(&[results[0].0], &[results[1].0], 1e-6, "loss");
    assert_close(&results[0].1, &results[1].1, 1e-6, "dlogits");
}

/// Reference numbers from Keras 3.15 / TensorFlow 2.21 (CPU), computed with this script:
///
/// ```python
/// w = keras.Variable(np.array([0.5, -1.0, 2.0], np.float32))
/// opt = keras.optimizers.RMSprop(learning_rate=1e-3, rho=0.9, epsilon=1e-7)
/// for g in ([0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]):
///     opt.apply_gradients([(tf.constant(g, tf.float32), w)]); print(w.numpy())
/// ```
#[test]
fn rmsprop_matches_keras() {
    let w = Var::from_tensor(&Tensor::new(&[0.5f32, -1.0, 2.0], &Device::Cpu).unwrap()).unwrap();
    let mut v = vec![0f32; 3];
    let keras = [
        [0.496_837_88, -0.996_837_7, 1.996_837_7],
        [0.495_363_53, -0.999_694_9, 1.997_886_1],
        [0.498_358_28, -0.999_694_9, 1.996_074_6],
    ];
    for (g, expected) in [[0.1f32, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.0, 0.2]]
        .iter()
        .zip(keras)
    {
        let g = Tensor::new(g, &Device::Cpu).unwrap();
        kernels::rmsprop_step(w.as_tensor(), &g, &mut v, 1e-3, 0.9, 1e-7, 0.0).unwrap();
        assert_close(
            &values(w.as_tensor()),
            &expected,
            1e-6,
            "weights after step",
        );
    }
}

/// A small CNN with deterministic weights, against Keras's logits, loss and gradients.
///
/// Reference: Keras 3.15 / TensorFlow 2.21 CPU, the model
/// `Conv2D(2,3,relu,l2=1e-3) MaxPooling2D(2) Conv2D(3,3,relu,l2=1e-3) Flatten Dense(4,relu,l2=1e-3)
/// Dense(10)` on two 28x28 images `x[b,i,j] = ((7i + 3j + 5b) % 11) / 10`, labels [3, 7], every
/// weight tensor set to `sin(0.7 * index + 0.3) * s` in row-major order (s = 0.5 for kernels, 0.1
/// for biases), loss = SparseCategoricalCrossentropy(from_logits) + model.losses, gradients from
/// tf.GradientTape. Printed: logits, ce 2.447725772857666, l2 0.19047296047210693, and for each
/// gradient [sum, sum of |g|, first, last].
#[test]
fn small_cnn_matches_keras() {
    let det = |shape: &[usize], scale: f64| -> Var {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i as f64 * 0.7 + 0.3).sin() * scale) as f32)
            .collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    };
    let mut x = vec![0f32; 2 * 28 * 28];
    for b in 0..2 {
        for i in 0..28 {
            for j in 0..28 {
                x[(b * 28 + i) * 28 + j] = ((i * 7 + j * 3 + b * 5) % 11) as f32 / 10.0;
            }
        }
    }
    let x = Tensor::from_vec(x, (2, 28, 28, 1), &Device::Cpu).unwrap();
    let mut targets = vec![0f32; 20];
    targets[3] = 1.0;
    targets[10 + 7] = 1.0;
    let targets = Tensor::from_vec(targets, (2, 10), &Device::Cpu).unwrap();
    let params = [
        det(&[3, 3, 1, 2], 0.5),
        det(&[2], 0.1),
        det(&[3, 3, 2, 3], 0.5),
        det(&[3], 0.1),
        det(&[363, 4], 0.5),
        det(&[4], 0.1),
        det(&[4, 10], 0.5),
        det(&[10], 0.1),
    ];
    let keras_grads: [[f64; 4]; 8] = [
        [
            -1.1396642923355103,
            1.1396642923355103,
            -0.04049282893538475,
            -0.02162088081240654,
        ],
        [
            0.014517121948301792,
            0.028215982019901276,
            -0.0068494295701384544,
            0.021366551518440247,
        ],
        [
            10.826872825622559,
            18.01814079284668,
            0.027300618588924408,
            1.1111233234405518,
        ],
        [
            0.7557898163795471,
            0.9341179728507996,
            0.035004738718271255,
            0.8099491596221924,
        ],
        [
            29.109193801879883,
            30.23816680908203,
            0.02779601700603962,
            0.03163289651274681,
        ],
        [
            0.8765797019004822,
            0.8765797019004822,
            0.25313088297843933,
            0.2780057191848755,
        ],
        [
            0.0,
            0.6589823961257935,
            0.006610045675188303,
            0.011212625540792942,
        ],
        [
            7.450580596923828e-09,
            1.623621940612793,
            0.11577816307544708,
            0.11597484350204468,
        ],
    ];
    let l2 = 0.001f32;
    let regularised = [true, false, true, false, true, false, false, false];
    for k in [Kernels::Fast, Kernels::Stock] {
        let p: Vec<&Tensor> = params.iter().map(|v| v.as_tensor()).collect();
        let h = k
            .conv2d_relu(&x, p[0], p[1], Grad::Weights, true, None)
            .unwrap();
        let h = k
            .conv2d_relu(&h, p[2], p[3], Grad::All, false, None)
            .unwrap();
        let h = k
            .dense(&h, p[4], p[5], true, Grad::All, None, None)
            .unwrap();
        let logits = k
            .dense(&h, p[6], p[7], false, Grad::All, None, None)
            .unwrap();
        let keras_logits = [
            0.208966, 0.178932, 0.064744, -0.079895, -0.186957, -0.206091, -0.128297, 0.009837,
            0.143345, 0.209435, 0.144005, 0.225816, 0.201423, 0.082297, -0.075534, -0.197841,
            -0.227099, -0.14955, -0.001664, 0.147004,
        ];
        assert_close(&values(&logits), &keras_logits, 2e-5, "logits");
        let ce = k.cross_entropy(&logits, &targets).unwrap();
        assert!((ce.to_scalar::<f32>().unwrap() - 2.447_725_8).abs() < 1e-5);
        let penalty: f32 = params
            .iter()
            .zip(regularised)
            .filter(|(_, r)| *r)
            .map(|(w, _)| {
                l2 * w
                    .as_tensor()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            })
            .sum();
        assert!((penalty - 0.190_472_96).abs() < 1e-6, "{penalty}");
        let grads = ce.backward().unwrap();
        for (i, (w, expected)) in params.iter().zip(keras_grads).enumerate() {
            // tune adds the L2 gradient in the optimiser; Keras's tape includes it.
            let mut g = values(grads.get(w.as_tensor()).unwrap());
            if regularised[i] {
                for (g, w) in g.iter_mut().zip(values(w.as_tensor())) {
                    *g += 2.0 * l2 * w;
                }
            }
            let got = [
                g.iter().map(|v| *v as f64).sum::<f64>(),
                g.iter().map(|v| v.abs() as f64).sum::<f64>(),
                g[0] as f64,
                g[g.len() - 1] as f64,
            ];
            for (a, b) in got.iter().zip(expected) {
                assert!(
                    (a - b).abs() < 1e-4 * b.abs().max(1.0),
                    "{k:?} gradient {i}: {got:?} vs {expected:?}"
                );
            }
        }
    }
}

/// Three training steps of a small CNN (Winograd in its second layer, dropout, L2) with the fast
/// layers, whose gradients reach the optimiser through slots, and with candle's stock ops, whose
/// gradients go through candle's store, end with the same weights.
#[test]
fn fast_and_stock_training_steps_agree() {
    let spec = tune_spec::ModelSpec::cnn(&[32, 16], 16);
    assert_training_steps_agree(&spec, &tune_spec::InputShape::BUILT_IN, 31);
}

/// The same on the shapes of other data sets: the first convolution takes 3 channels (im2col
/// with the image's gradient skipped), maps are non-square and odd (pools drop a row or a
/// column), the second layer runs Winograd, the output has 5 or 10 classes; and the ANN.
#[test]
fn fast_and_stock_training_steps_agree_on_other_shapes() {
    use tune_spec::{InputShape, ModelSpec};
    let shape = |height, width, channels, classes| InputShape {
        height,
        width,
        channels,
        classes,
    };
    for (spec, input) in [
        (ModelSpec::cnn(&[32, 16], 16), shape(32, 32, 3, 10)),
        (ModelSpec::cnn(&[32, 16], 16), shape(21, 15, 3, 5)),
        (ModelSpec::cnn(&[8, 32, 8], 16), shape(31, 27, 3, 5)),
        (ModelSpec::cnn(&[16, 8], 8), shape(20, 12, 1, 10)),
        (ModelSpec::cnn(&[6], 8), shape(9, 13, 2, 3)),
        (ModelSpec::ann(), shape(16, 12, 3, 5)),
    ] {
        assert_training_steps_agree(&spec, &input, 37);
    }
}

/// Three RMSprop steps (dropout, L2) from the same start on random `input` images with the fast
/// layers and the stock ops end with the same weights, and every weight moved.
fn assert_training_steps_agree(
    spec: &tune_spec::ModelSpec,
    input: &tune_spec::InputShape,
    seed: u64,
) {
    use tune_model::Network;
    use tune_model::optim::RmsProp;
    let n = 6;
    let mut data_rng = ChaCha8Rng::seed_from_u64(seed);
    let images = random(
        &[n, input.height, input.width, input.channels],
        &mut data_rng,
    )
    .as_tensor()
    .abs()
    .unwrap()
    .detach();
    let classes = input.classes;
    let labels: Vec<f32> = (0..n * classes)
        .map(|i| {
            if i % classes == (i / classes) % classes {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let targets = Tensor::from_vec(labels, (n, classes), &Device::Cpu).unwrap();
    let train = |kernels: Kernels| {
        let net = Network::new(spec, input, kernels, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let mut opt = RmsProp::new(net.params(), 1e-3, 0.9, 1e-7);
        let mut dropout = ChaCha8Rng::seed_from_u64(2);
        for _ in 0..3 {
            let logits = net.forward(&images, Some(&mut dropout)).unwrap();
            assert_eq!(logits.dims(), &[n, classes]);
            let loss = kernels.cross_entropy(&logits, &targets).unwrap();
            opt.step(net.params(), &loss.backward().unwrap()).unwrap();
        }
        net.params()
            .iter()
            .map(|p| values(p.var.as_tensor()))
            .collect::<Vec<_>>()
    };
    let (fast, stock) = (train(Kernels::Fast), train(Kernels::Stock));
    let start = Network::new(
        spec,
        input,
        Kernels::Fast,
        &mut ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    let at = format!("{} on {input}", spec.label());
    for (i, (f, s)) in fast.iter().zip(&stock).enumerate() {
        assert_close(f, s, 1e-4, &format!("{at}: parameter {i} after 3 steps"));
        let moved = f
            .iter()
            .zip(values(start.params()[i].var.as_tensor()))
            .any(|(a, b)| *a != b);
        assert!(moved, "{at}: parameter {i} was not updated");
    }
}
