//! Flush-to-zero for subnormal floats on the training threads.
//!
//! Late in training some activations, gradients and RMSprop accumulators fall below
//! `f32::MIN_POSITIVE` (1.18e-38). Arithmetic on such subnormal numbers takes a microcode assist on
//! x86 CPUs, tens to hundreds of cycles per operation instead of one: measured on this project's
//! machine (an Intel Xeon with AVX-512), a 64-64/128 CNN's epoch went from 25 s at epoch 1 to 360-750 s from
//! epoch 14 on, 87% of the time in the gemm microkernel. TensorFlow runs its CPU kernels with
//! flush-to-zero and denormals-are-zero set for the same reason (`port::ScopedFlushDenormal`);
//! PyTorch offers it as `torch.set_flush_denormal(True)`. Values that small carry no information
//! for a network trained in f32, and every job sets the mode the same way, so results stay
//! deterministic and resumes stay bit-identical.

/// Sets flush-to-zero (results that would be subnormal become 0) and denormals-are-zero
/// (subnormal inputs are read as 0) on the calling thread. x86-64: the FTZ (bit 15) and DAZ
/// (bit 6) bits of MXCSR, which govern SSE, AVX and AVX-512 arithmetic; AArch64: the FZ bit (24)
/// of FPCR. Elsewhere it does nothing. The mode stays set for the thread's life.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads and writes this thread's MXCSR through a valid stack slot; setting FTZ and
    // DAZ changes only how subnormal floats are treated.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        csr |= (1 << 15) | (1 << 6);
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads and writes this thread's FPCR; FZ changes only how subnormal floats are
    // treated.
    unsafe {
        let mut fpcr: u64;
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        fpcr |= 1 << 24;
        std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs on a fresh thread so the test's mode does not leak into other tests.
    #[test]
    fn subnormal_results_and_inputs_become_zero() {
        std::thread::spawn(|| {
            let tiny = std::hint::black_box(f32::MIN_POSITIVE);
            let sub = std::hint::black_box(f32::from_bits(1)); // the smallest subnormal
            assert!((tiny / 4.0) > 0.0, "subnormals exist before");
            flush_denormals();
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert_eq!(
                    std::hint::black_box(tiny) / 4.0,
                    0.0,
                    "results flush to zero"
                );
                assert_eq!(
                    std::hint::black_box(sub) * 1.0e30,
                    0.0,
                    "inputs read as zero"
                );
            }
            assert_eq!(std::hint::black_box(tiny) * 2.0, 2.0 * f32::MIN_POSITIVE);
        })
        .join()
        .unwrap();
    }
}
