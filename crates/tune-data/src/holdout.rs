//! The validation holdout: a fixed, class-stratified subset of a training split that no job trains on.

use crate::shuffle::below;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// The seed that chooses every holdout. Fixed, so a data set's holdout of a given size is the same
/// images for every job of every grid, on every machine.
pub const HOLDOUT_SEED: u64 = 0x7475_6e65_686f_6c64; // "tuneho ld"

/// The images of a training split that validate, and those left to train on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdout {
    /// Indices (into the training split) of the held-out images, ascending.
    pub validation: Vec<usize>,
    /// Indices of the other images, ascending: the images a job may train on.
    pub rest: Vec<usize>,
}

/// Holds out `n` of the images labelled `labels` (one class index per image), stratified by class:
/// class `c`, with `count_c` of the `len` images, gets `n * count_c / len` places, rounded by the
/// largest-remainder method (ties to the lower class) so the places add up to exactly `n`; within
/// each class the images are drawn by a Fisher-Yates shuffle driven by ChaCha8 seeded with
/// [`HOLDOUT_SEED`] on stream `c`. The choice depends only on the labels and `n`.
///
/// `n` larger than `labels.len()` holds out everything.
pub fn stratified_holdout(labels: &[u8], n: usize) -> Holdout {
    let len = labels.len();
    let n = n.min(len);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    // Places per class: floor of the exact share, then the largest remainders get one more.
    let mut places: Vec<usize> = Vec::with_capacity(256);
    let mut remainders: Vec<(usize, usize)> = Vec::new(); // (remainder numerator, class)
    for (c, members) in by_class.iter().enumerate() {
        let exact = n * members.len();
        places.push(exact / len.max(1));
        if !members.is_empty() {
            remainders.push((exact % len.max(1), c));
        }
    }
    let missing = n - places.iter().sum::<usize>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, c) in remainders.iter().take(missing) {
        places[c] += 1;
    }
    let mut held = vec![false; len];
    for (c, members) in by_class.iter_mut().enumerate() {
        let k = places[c];
        if k == 0 {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(HOLDOUT_SEED);
        rng.set_stream(c as u64);
        // Partial Fisher-Yates: the first k entries become a uniform sample of the class.
        for i in 0..k {
            let j = i + below(&mut rng, (members.len() - i) as u64) as usize;
            members.swap(i, j);
        }
        for &i in &members[..k] {
            held[i] = true;
        }
    }
    let (validation, rest): (Vec<usize>, Vec<usize>) = (0..len).partition(|&i| held[i]);
    Holdout { validation, rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(len: usize) -> Vec<u8> {
        // Unequal classes: class c has about (c + 1) shares.
        (0..len)
            .map(|i| {
                let r = (i * 7919) % 55;
                (0..10u8)
                    .find(|&c| r < ((c as usize + 1) * (c as usize + 2)) / 2)
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn disjoint_complete_and_of_the_asked_size() {
        let l = labels(6000);
        let h = stratified_holdout(&l, 500);
        assert_eq!(h.validation.len(), 500);
        assert_eq!(h.rest.len(), 5500);
        let mut all: Vec<usize> = h.validation.iter().chain(&h.rest).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..6000).collect::<Vec<_>>());
        assert!(h.validation.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn stratified_by_class() {
        let l = labels(6000);
        let h = stratified_holdout(&l, 500);
        for c in 0..10u8 {
            let total = l.iter().filter(|&&x| x == c).count() as f64;
            let held = h.validation.iter().filter(|&&i| l[i] == c).count() as f64;
            let expected = 500.0 * total / 6000.0;
            assert!(
                (held - expected).abs() < 1.0,
                "class {c}: {held} vs {expected}"
            );
        }
    }

    #[test]
    fn fixed_by_labels_and_size_not_by_anything_else() {
        let l = labels(3000);
        assert_eq!(stratified_holdout(&l, 250), stratified_holdout(&l, 250));
        // Not simply the first or last images.
        let h = stratified_holdout(&l, 250);
        assert_ne!(h.validation, (0..250).collect::<Vec<_>>());
        assert_ne!(h.validation, (2750..3000).collect::<Vec<_>>());
    }
}
