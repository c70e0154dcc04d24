// libtorch's fused convolution backward for src/conv.rs: tch 0.22 binds
// neither `at::convolution_backward` nor an autograd backward with given
// output gradients. Tensors cross as `at::Tensor*`, tch's `C_tensor`.
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>

#include <cstring>
#include <exception>

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
    std::array<bool, 3> output_mask{mask[0] != 0, mask[1] != 0, mask[2] != 0};
    std::array<int64_t, 1> bias_sizes{bias_size};
    auto gradients = at::convolution_backward(
        *grad_output, *input, *weight, at::IntArrayRef(bias_sizes),
        at::IntArrayRef(stride, 2), at::IntArrayRef(padding, 2),
        at::IntArrayRef(dilation, 2), transposed != 0,
        at::IntArrayRef(output_padding, 2), groups, output_mask);
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
