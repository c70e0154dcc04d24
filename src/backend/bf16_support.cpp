// What the hardware offers for bf16 arithmetic, as libtorch sees it, for
// src/precision.rs: tch 0.22 binds neither query.
#include <ATen/cpu/Utils.h>

#include <dlfcn.h>

// Whether libtorch's CPU kernels (oneDNN) have native bf16 instructions
// here: AVX512_BF16 or AMX tiles. Without them bf16 is emulated.
extern "C" int caltech_cpu_native_bf16(int *avx512_bf16, int *amx) {
  *avx512_bf16 = at::cpu::is_avx512_bf16_supported() ? 1 : 0;
  *amx = at::cpu::is_amx_tile_supported() ? 1 : 0;
  return *avx512_bf16 || *amx;
}

// The compute capability of CUDA device `index` (major * 10 + minor), or -1
// when no CUDA runtime is loaded. The CUDA runtime comes with a CUDA build
// of libtorch; looking it up at run time keeps CPU builds free of it.
extern "C" int caltech_cuda_capability(int index) {
  using Attribute = int (*)(int *, int, int);
  auto get = reinterpret_cast<Attribute>(dlsym(RTLD_DEFAULT, "cudaDeviceGetAttribute"));
  if (get == nullptr) return -1;
  const int major_attribute = 75, minor_attribute = 76;  // cudaDevAttrComputeCapability*
  int major = 0, minor = 0;
  if (get(&major, major_attribute, index) != 0 || get(&minor, minor_attribute, index) != 0)
    return -1;
  return major * 10 + minor;
}
