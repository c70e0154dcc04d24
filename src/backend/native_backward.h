// What the C++ backward functions (conv_backward.cpp,
// batch_norm_backward.cpp) share: how gradients and errors cross to Rust
// (src/backend/native_ops.rs, `cpp_gradients`).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstring>
#include <exception>
#include <tuple>

// The mask the Rust side passes, as libtorch's `output_mask`.
inline std::array<bool, 3> caltech_output_mask(const int *mask) {
  return {mask[0] != 0, mask[1] != 0, mask[2] != 0};
}

// Hands the gradients `mask` asks for to the caller as fresh `at::Tensor*`
// (tch's `C_tensor`, which Rust then owns); the others stay null.
inline void caltech_hand_over(
    const std::tuple<at::Tensor, at::Tensor, at::Tensor> &gradients,
    const std::array<bool, 3> &mask, at::Tensor **grads) {
  grads[0] = mask[0] ? new at::Tensor(std::get<0>(gradients)) : nullptr;
  grads[1] = mask[1] ? new at::Tensor(std::get<1>(gradients)) : nullptr;
  grads[2] = mask[2] ? new at::Tensor(std::get<2>(gradients)) : nullptr;
}

// Writes libtorch's message into `error` (NUL-terminated) and returns 1.
inline int caltech_report(const std::exception &e, char *error,
                          size_t error_len) {
  std::strncpy(error, e.what(), error_len - 1);
  error[error_len - 1] = '\0';
  return 1;
}
