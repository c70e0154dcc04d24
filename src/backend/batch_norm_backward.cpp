// libtorch's batch-norm backward for src/backend/batch_norm.rs: tch 0.22
// binds `native_batch_norm` but not its backward. Tensors cross as
// `at::Tensor*`, tch's `C_tensor`.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/ops/native_batch_norm_backward.h>

#include <cstring>
#include <exception>
#include <optional>

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
    std::array<bool, 3> output_mask{mask[0] != 0, mask[1] != 0, mask[2] != 0};
    auto gradients = at::native_batch_norm_backward(
        *grad_output, *input, *weight, std::nullopt, std::nullopt,
        *save_mean, *save_invstd, /*train=*/true, epsilon, output_mask);
    at::Tensor *out[3] = {nullptr, nullptr, nullptr};
    if (output_mask[0]) out[0] = new at::Tensor(std::get<0>(gradients));
    if (output_mask[1]) out[1] = new at::Tensor(std::get<1>(gradients));
    if (output_mask[2]) out[2] = new at::Tensor(std::get<2>(gradients));
    for (int i = 0; i < 3; ++i) grads[i] = out[i];
    return 0;
  } catch (const std::exception &e) {
    std::strncpy(error, e.what(), error_len - 1);
    error[error_len - 1] = '\0';
    return 1;
  }
}
