// libtorch's fused convolution backward for src/backend/conv.rs: tch 0.22 binds
// neither `at::convolution_backward` nor an autograd backward with given
// output gradients. Tensors cross as `at::Tensor*`, tch's `C_tensor`.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>

#include "native_backward.h"

// The input, weight and bias gradients of a 2-d convolution, for the
// entries of `mask` that are set (the others are left null). Returns 0, or
// 1 with libtorch's message in `error`.
extern "C" int caltech_convolution_backward(
    const at::Tensor *grad_output, const at::Tensor *input,
    const at::Tensor *weight, int64_t bias_size, const int64_t *stride,
    const int64_t *padding, const int64_t *dilation, int transposed,
    const int64_t *output_padding, int64_t groups, const int *mask,
    at::Tensor **grads, char *error, size_t error_len) {
  try {
    auto output_mask = caltech_output_mask(mask);
    std::array<int64_t, 1> bias_sizes{bias_size};
    auto gradients = at::convolution_backward(
        *grad_output, *input, *weight, at::IntArrayRef(bias_sizes),
        at::IntArrayRef(stride, 2), at::IntArrayRef(padding, 2),
        at::IntArrayRef(dilation, 2), transposed != 0,
        at::IntArrayRef(output_padding, 2), groups, output_mask);
    caltech_hand_over(gradients, output_mask, grads);
    return 0;
  } catch (const std::exception &e) {
    return caltech_report(e, error, error_len);
  }
}
