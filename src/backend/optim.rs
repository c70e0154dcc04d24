//! Adam in one pass over each parameter on the CPU.
//!
//! burn's `Adam` updates a parameter with about a dozen tensor operations
//! (scale, add, square, sqrt, divide, ...), each a full pass over the
//! parameter, its gradient or a moment. The baseline's two dense layers hold
//! 67 M weights at 256 px, so those passes are memory-bound work of the same
//! order as the convolutions (PyTorch's Adam, with fewer passes, takes a
//! sizeable share of its training step there: `docs/benchmarks.md`).
//! [`FusedAdam`] computes burn's formulas with the
//! same state ([`AdamState`], so checkpoints keep their format) in one loop
//! that reads each of the four arrays once and writes three of them, in
//! place, on all cores. Elsewhere (CUDA, another backend, a non-`f32`
//! parameter) it is burn's `Adam`, unchanged.
//!
//! ```
//! use burn::optim::{AdamConfig, Optimizer};
//! use burn::tensor::{Device, Tensor};
//! use caltech_anomaly::backend::FusedAdam;
//!
//! let device = Device::default();
//! let param = Tensor::<1>::from_floats([1.0, -2.0, 3.0], &device);
//! let grad = Tensor::<1>::from_floats([0.5, 0.5, -1.0], &device);
//! let fused = FusedAdam::new(1e-7);
//! let burn = AdamConfig::new().with_epsilon(1e-7).build();
//! let (a, _) = fused.step(1e-3, param.clone(), grad.clone(), None);
//! let (b, _) = burn.step(1e-3, param, grad, None);
//! let gap: f32 = (a - b).abs().max().into_scalar();
//! assert!(gap < 1e-6);
//! ```

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};

/// burn's Adam without weight decay or AMSGrad, fused on the CPU.
#[derive(Clone)]
pub struct FusedAdam {
    epsilon: f32,
    /// The same settings as burn's optimizer: the path off the CPU.
    generic: Adam,
}

/// The scalars of one update, from the step count: burn's bias corrections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AdamStep {
    beta_1: f32,
    beta_2: f32,
    /// `lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)`.
    step_size: f32,
    /// `ε · √(1 − β₂ᵗ)`.
    epsilon: f32,
}

impl FusedAdam {
    const BETA_1: f32 = 0.9;
    const BETA_2: f32 = 0.999;

    /// Adam with β₁ 0.9 and β₂ 0.999 (burn's and Keras's defaults).
    pub fn new(epsilon: f32) -> Self {
        let generic = AdamConfig::new()
            .with_beta_1(Self::BETA_1)
            .with_beta_2(Self::BETA_2)
            .with_epsilon(epsilon)
            .build();
        Self { epsilon, generic }
    }

    /// A whole module's optimizer.
    pub fn init(self) -> ModuleOptimizer {
        self.into()
    }

    fn constants(&self, lr: LearningRate, time: usize) -> AdamStep {
        let time = time as i32;
        let bias_correction_2 = (1.0 - Self::BETA_2.powi(time)).sqrt();
        let combined = bias_correction_2 / (1.0 - Self::BETA_1.powi(time));
        AdamStep {
            beta_1: Self::BETA_1,
            beta_2: Self::BETA_2,
            step_size: lr as f32 * combined,
            epsilon: self.epsilon * bias_correction_2,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !native::supports(&tensor) {
            return self.generic.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => (momentum.time, momentum.moment_1, momentum.moment_2),
            // burn's first step equals the general one from zero moments.
            None => (0, tensor.zeros_like(), tensor.zeros_like()),
        };
        let constants = self.constants(lr, time + 1);
        let (tensor, moment_1, moment_2) =
            native::step(tensor, grad, moment_1, moment_2, constants);
        let momentum = AdaptiveMomentumState::new(time + 1, moment_1, moment_2);
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState::new(state.momentum.to_device(device))
    }
}

/// burn's update of one element: the moments, then
/// `θ − lr · c · m / (√v + ε')` with the scalars of [`AdamStep`].
#[inline(always)]
fn update(k: AdamStep, param: &mut f32, grad: f32, m: &mut f32, v: &mut f32) {
    *m = *m * k.beta_1 + grad * (1.0 - k.beta_1);
    *v = *v * k.beta_2 + grad * grad * (1.0 - k.beta_2);
    *param -= k.step_size * *m / (v.sqrt() + k.epsilon);
}

/// [`update`] over whole arrays of equal length, split across rayon's
/// threads in blocks that stay in cache.
fn update_all(k: AdamStep, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 14;
    assert!(grads.len() == params.len() && m.len() == params.len() && v.len() == params.len());
    params
        .par_chunks_mut(BLOCK)
        .zip(grads.par_chunks(BLOCK))
        .zip(m.par_chunks_mut(BLOCK))
        .zip(v.par_chunks_mut(BLOCK))
        .for_each(|(((p, g), m), v)| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                update(k, p, g, m, v);
            }
        });
}

#[cfg(feature = "tch")]
mod native {
    // burn marks burn-tch deprecated (see `crate::backend`); this is its extension.
    #![allow(deprecated)]

    use burn::backend::libtorch::{LibTorchDevice, TchTensor};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, LibTorch, backend_extension};
    use burn::tensor::Tensor;

    use super::{AdamStep, update_all};

    /// One Adam update of a parameter and its moments.
    #[backend_extension(LibTorch)]
    pub trait FusedAdamBackend: Backend {
        /// # Shapes
        /// - every tensor: the parameter's shape
        /// - output: (parameter, first moment, second moment)
        fn fused_adam(
            param: FloatTensor<Self>,
            grad: FloatTensor<Self>,
            moment_1: FloatTensor<Self>,
            moment_2: FloatTensor<Self>,
            constants: AdamStep,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    }

    /// `t` as a contiguous tensor this call alone owns: itself when burn
    /// lets it be written in place, else a copy.
    fn writable(t: TchTensor) -> TchTensor {
        match (t.can_mut(), t.tensor.is_contiguous()) {
            (true, true) => t,
            (false, true) => TchTensor::new(t.tensor.copy()),
            // `contiguous` of a non-contiguous tensor is already a copy.
            (_, false) => TchTensor::new(t.tensor.contiguous()),
        }
    }

    /// The `f32` elements of a contiguous CPU tensor.
    fn elements(t: &tch::Tensor) -> &[f32] {
        assert!(t.is_contiguous() && t.kind() == tch::Kind::Float);
        // SAFETY: a contiguous f32 CPU tensor holds `numel` floats at
        // data_ptr, alive as long as `t`.
        unsafe { std::slice::from_raw_parts(t.data_ptr().cast::<f32>(), t.numel()) }
    }

    /// [`elements`], writable.
    ///
    /// # Safety
    /// No other tensor may read or write the same memory while the slice
    /// lives (`writable` makes sure of that).
    unsafe fn elements_mut(t: &mut tch::Tensor) -> &mut [f32] {
        assert!(t.is_contiguous() && t.kind() == tch::Kind::Float);
        // SAFETY: as in `elements`; exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(t.data_ptr().cast::<f32>(), t.numel()) }
    }

    impl FusedAdamBackend for LibTorch {
        fn fused_adam(
            param: TchTensor,
            grad: TchTensor,
            moment_1: TchTensor,
            moment_2: TchTensor,
            constants: AdamStep,
        ) -> (TchTensor, TchTensor, TchTensor) {
            let [mut param, mut moment_1, mut moment_2] = [param, moment_1, moment_2].map(writable);
            let grad = grad.tensor.contiguous();
            // SAFETY: `writable` made the three outputs tensors whose memory
            // no other handle shares; the gradient is only read.
            unsafe {
                update_all(
                    constants,
                    elements_mut(&mut param.tensor),
                    elements(&grad),
                    elements_mut(&mut moment_1.tensor),
                    elements_mut(&mut moment_2.tensor),
                );
            }
            (param, moment_1, moment_2)
        }
    }

    /// Whether the fused update applies: an `f32` parameter on LibTorch's CPU.
    pub(super) fn supports<const D: usize>(tensor: &Tensor<D>) -> bool {
        crate::backend::libtorch_device(&tensor.device()) == Some(LibTorchDevice::Cpu)
            && tensor.dtype() == burn::tensor::DType::F32
    }

    pub(super) fn step<const D: usize>(
        param: Tensor<D>,
        grad: Tensor<D>,
        moment_1: Tensor<D>,
        moment_2: Tensor<D>,
        constants: AdamStep,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let (param, moment_1, moment_2) = <Dispatch as FusedAdamBackend>::fused_adam(
            param.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            constants,
        );
        (
            Tensor::from_dispatch(param),
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        )
    }
}

#[cfg(not(feature = "tch"))]
mod native {
    use burn::tensor::Tensor;

    use super::AdamStep;

    pub(super) fn supports<const D: usize>(_: &Tensor<D>) -> bool {
        false
    }

    pub(super) fn step<const D: usize>(
        _: Tensor<D>,
        _: Tensor<D>,
        _: Tensor<D>,
        _: Tensor<D>,
        _: AdamStep,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        unreachable!("supports() is false without LibTorch")
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    /// Five steps of both optimizers on the same gradients: parameters and
    /// moments agree to float rounding, and the step count advances alike.
    #[test]
    fn fused_steps_track_burns_adam() {
        let device = Device::default();
        let shape = [7, 300];
        let start = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let fused = FusedAdam::new(1e-7);
        let generic = AdamConfig::new().with_epsilon(1e-7).build();
        let (mut a, mut b) = (start.clone(), start);
        let (mut state_a, mut state_b) = (None, None);
        for step in 0..5 {
            let grad = Tensor::<2>::random(shape, Distribution::Normal(0.0, 0.1), &device);
            let lr = 1e-2 / (step + 1) as f64;
            (a, state_a) = fused.step(lr, a, grad.clone(), state_a);
            (b, state_b) = generic.step(lr, b, grad, state_b);
        }
        let max_gap = |x: Tensor<2>, y: Tensor<2>| -> f32 { (x - y).abs().max().into_scalar() };
        assert!(max_gap(a, b) < 1e-6);
        let (AdamState { momentum: m_a }, AdamState { momentum: m_b }) =
            (state_a.unwrap(), state_b.unwrap());
        assert_eq!((m_a.time, m_b.time), (5, 5));
        assert!(max_gap(m_a.moment_1, m_b.moment_1) < 1e-7);
        assert!(max_gap(m_a.moment_2, m_b.moment_2) < 1e-8);
    }

    /// A parameter whose memory another handle still reads is copied, not
    /// written: the other handle keeps its values.
    #[test]
    fn a_shared_parameter_is_not_overwritten() {
        let device = Device::default();
        let param = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        let kept = param.clone();
        let grad = Tensor::<1>::from_floats([1.0, 1.0, 1.0], &device);
        let (updated, _) = FusedAdam::new(1e-7).step(0.1, param, grad, None);
        assert_eq!(kept.to_data().try_to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0]);
        let moved: f32 = (updated - kept).abs().min().into_scalar();
        assert!((moved - 0.1).abs() < 1e-5);
    }

    #[test]
    fn bias_corrections_follow_the_step_count() {
        let (lr, epsilon) = (1e-3, 1e-8);
        for t in [1, 2, 10] {
            let k = FusedAdam::new(epsilon as f32).constants(lr, t);
            let correction = (1.0 - 0.999f64.powi(t as i32)).sqrt();
            let step_size = lr * correction / (1.0 - 0.9f64.powi(t as i32));
            assert!(
                (f64::from(k.step_size) / step_size - 1.0).abs() < 1e-4,
                "t = {t}"
            );
            assert!((f64::from(k.epsilon) / (epsilon * correction) - 1.0).abs() < 1e-4);
        }
    }
}
