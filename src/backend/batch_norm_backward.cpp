// libtorch's batch-norm backward for src/backend/batch_norm.rs: tch 0.22
// binds `native_batch_norm` but not its backward. Tensors cross as
// `at::Tensor*`, tch's `C_tensor`.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/ops/native_batch_norm_backward.h>

#include <optional>

#include "native_backward.h"

// The input, weight and bias gradients of a training-mode batch norm, from
// the batch mean and inverse standard deviation its forward saved, for the
// entries of `mask` that are set (the others are left null). Returns 0, or
// 1 with libtorch's message in `error`.
extern "C" int caltech_batch_norm_backward(
    const at::Tensor *grad_output, const at::Tensor *input,
    const at::Tensor *weight, const at::Tensor *save_mean,
    const at::Tensor *save_invstd, double epsilon, const int *mask,
    at::Tensor **grads, char *error, size_t error_len) {
  try {
    auto output_mask = caltech_output_mask(mask);
    auto gradients = at::native_batch_norm_backward(
        *grad_output, *input, *weight, std::nullopt, std::nullopt,
        *save_mean, *save_invstd, /*train=*/true, epsilon, output_mask);
    caltech_hand_over(gradients, output_mask, grads);
    return 0;
  } catch (const std::exception &e) {
    return caltech_report(e, error, error_len);
  }
}
