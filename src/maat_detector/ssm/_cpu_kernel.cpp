// Selective scan (Mamba S6) forward and backward for the CPU, one fused loop.
//
// Layouts are the time-major ones of scan.py: delta, u, y: (L, B, Di);
// Bm, Cm: (L, B, N); A_T: (N, Di); states (B, N, Di). Each (batch row,
// block of kBlock inner channels) is scanned by one thread with its state in
// a small local array, so a step costs no passes over memory. The backward
// recomputes the block's states and decays (L x N x kBlock values, a few
// tens of KiB) instead of saving them in the forward. Batch rows run in
// parallel; every reduction has a fixed order, so results do not depend on
// the number of threads.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int64_t kBlock = 64;

// exp for the decays exp(delta * A), inlined so that the loops over a block
// vectorise without a call per vector. Range reduction x = n ln2 + r with
// |r| <= ln2 / 2, then Cephes' degree-6 polynomial for e^r (relative error
// about 1e-7, float32 rounding). Arguments are clamped to [-87, 88]: below,
// e^x is under float32's smallest normal number and the state is flushed
// anyway; the decays of a stable scan (A < 0, delta > 0) never exceed 1.
inline float exp_decay(float x) {
  x = std::fmin(std::fmax(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline double exp_decay(double x) { return std::exp(x); }

struct Dims {
  int64_t L, B, Di, N;
};

// kFull: the block holds kBlock channels, a compile-time trip count that
// the compiler turns into straight vector code; the last block of a row may
// be narrower (w).
template <typename T, bool kFull>
void forward_block(const Dims& s, const T* __restrict__ delta,
                   const T* __restrict__ a_t, const T* __restrict__ bm,
                   const T* __restrict__ cm, const T* __restrict__ u,
                   T* __restrict__ y, T* __restrict__ h_last, int64_t b,
                   int64_t d0, int64_t w_tail, T* __restrict__ h) {
  const int64_t w = kFull ? kBlock : w_tail;
  for (int64_t i = 0; i < s.N * kBlock; ++i) h[i] = T(0);
  T x[kBlock], acc[kBlock];
  for (int64_t t = 0; t < s.L; ++t) {
    const int64_t row = (t * s.B + b) * s.Di + d0;
    const T* dt = delta + row;
    for (int64_t j = 0; j < w; ++j) {
      x[j] = dt[j] * u[row + j];
      acc[j] = T(0);
    }
    const T* bt = bm + (t * s.B + b) * s.N;
    const T* ct = cm + (t * s.B + b) * s.N;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* an = a_t + n * s.Di + d0;
      T* hn = h + n * kBlock;
      const T bn = bt[n], cn = ct[n];
      for (int64_t j = 0; j < w; ++j) {
        hn[j] = exp_decay(dt[j] * an[j]) * hn[j] + bn * x[j];
        acc[j] += cn * hn[j];
      }
    }
    for (int64_t j = 0; j < w; ++j) y[row + j] = acc[j];
  }
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < w; ++j)
      h_last[(b * s.N + n) * s.Di + d0 + j] = h[n * kBlock + j];
}

template <typename T, bool kFull>
void backward_block(const Dims& s, const T* __restrict__ dy,
                    const T* __restrict__ dh_last, const T* __restrict__ delta,
                    const T* __restrict__ a_t, const T* __restrict__ bm,
                    const T* __restrict__ cm, const T* __restrict__ u,
                    T* __restrict__ d_delta, T* __restrict__ d_a,
                    T* __restrict__ d_b, T* __restrict__ d_c,
                    T* __restrict__ d_u, int64_t b, int64_t d0, int64_t w_tail,
                    T* __restrict__ states, T* __restrict__ decays,
                    T* __restrict__ dh) {
  const int64_t w = kFull ? kBlock : w_tail;
  const int64_t step = s.N * kBlock;
  // Recompute h_t and exp(delta_t A) for the block, as the forward did.
  T x[kBlock];
  for (int64_t t = 0; t < s.L; ++t) {
    const int64_t row = (t * s.B + b) * s.Di + d0;
    const T* dt = delta + row;
    for (int64_t j = 0; j < w; ++j) x[j] = dt[j] * u[row + j];
    const T* bt = bm + (t * s.B + b) * s.N;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* an = a_t + n * s.Di + d0;
      const T* prev = t ? states + (t - 1) * step + n * kBlock : nullptr;
      T* hn = states + t * step + n * kBlock;
      T* en = decays + t * step + n * kBlock;
      const T bn = bt[n];
      for (int64_t j = 0; j < w; ++j) {
        en[j] = exp_decay(dt[j] * an[j]);
        hn[j] = (prev ? en[j] * prev[j] : T(0)) + bn * x[j];
      }
    }
  }
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < w; ++j)
      dh[n * kBlock + j] =
          dh_last ? dh_last[(b * s.N + n) * s.Di + d0 + j] : T(0);

  T dyt[kBlock], d_dt[kBlock], d_x[kBlock], part_c[kBlock], part_b[kBlock];
  for (int64_t t = s.L - 1; t >= 0; --t) {
    const int64_t row = (t * s.B + b) * s.Di + d0;
    const T* dt = delta + row;
    for (int64_t j = 0; j < w; ++j) {
      dyt[j] = dy ? dy[row + j] : T(0);
      x[j] = dt[j] * u[row + j];
      d_dt[j] = T(0);
      d_x[j] = T(0);
    }
    const int64_t bn_row = (t * s.B + b) * s.N;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* an = a_t + n * s.Di + d0;
      const T* hn = states + t * step + n * kBlock;
      const T* prev = t ? states + (t - 1) * step + n * kBlock : nullptr;
      const T* en = decays + t * step + n * kBlock;
      T* dhn = dh + n * kBlock;
      T* dan = d_a + (b * s.N + n) * s.Di + d0;
      const T bn = bm[bn_row + n], cn = cm[bn_row + n];
      for (int64_t j = 0; j < w; ++j) {
        const T g_h = dhn[j] + cn * dyt[j];  // dL/dh_t
        part_c[j] = dyt[j] * hn[j];          // y_t = <C_t, h_t>
        part_b[j] = g_h * x[j];              // h_t = ... + B_t x_t
        d_x[j] += bn * g_h;
        const T carried = g_h * en[j];       // dL/dh_{t-1}
        const T g = prev ? carried * prev[j] : T(0);  // dL/d(delta_t A)
        dan[j] += g * dt[j];
        d_dt[j] += an[j] * g;
        dhn[j] = carried;
      }
      T sum_c = T(0), sum_b = T(0);
      for (int64_t j = 0; j < w; ++j) {
        sum_c += part_c[j];
        sum_b += part_b[j];
      }
      d_c[bn_row + n] += sum_c;
      d_b[bn_row + n] += sum_b;
    }
    for (int64_t j = 0; j < w; ++j) {
      d_delta[row + j] = d_dt[j] + d_x[j] * u[row + j];
      d_u[row + j] = d_x[j] * dt[j];
    }
  }
}

Dims dims_of(const torch::Tensor& u, const torch::Tensor& a_t) {
  return Dims{u.size(0), u.size(1), u.size(2), a_t.size(0)};
}

std::vector<torch::Tensor> scan_forward(torch::Tensor delta, torch::Tensor a_t,
                                        torch::Tensor bm, torch::Tensor cm,
                                        torch::Tensor u) {
  const Dims s = dims_of(u, a_t);
  auto y = torch::empty_like(u);
  auto h_last = torch::empty({s.B, s.N, s.Di}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "maat_scan_forward", [&] {
    const auto* p_delta = delta.data_ptr<scalar_t>();
    const auto* p_a = a_t.data_ptr<scalar_t>();
    const auto* p_b = bm.data_ptr<scalar_t>();
    const auto* p_c = cm.data_ptr<scalar_t>();
    const auto* p_u = u.data_ptr<scalar_t>();
    auto* p_y = y.data_ptr<scalar_t>();
    auto* p_h = h_last.data_ptr<scalar_t>();
    const int64_t blocks = (s.Di + kBlock - 1) / kBlock;
    at::parallel_for(0, s.B * blocks, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> h(s.N * kBlock);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / blocks, d0 = (i % blocks) * kBlock;
        const int64_t w = std::min(kBlock, s.Di - d0);
        if (w == kBlock)
          forward_block<scalar_t, true>(s, p_delta, p_a, p_b, p_c, p_u, p_y,
                                        p_h, b, d0, w, h.data());
        else
          forward_block<scalar_t, false>(s, p_delta, p_a, p_b, p_c, p_u, p_y,
                                         p_h, b, d0, w, h.data());
      }
    });
  });
  return {y, h_last};
}

std::vector<torch::Tensor> scan_backward(std::optional<torch::Tensor> dy,
                                         std::optional<torch::Tensor> dh_last,
                                         torch::Tensor delta, torch::Tensor a_t,
                                         torch::Tensor bm, torch::Tensor cm,
                                         torch::Tensor u) {
  const Dims s = dims_of(u, a_t);
  auto d_delta = torch::empty_like(delta);
  auto d_u = torch::empty_like(u);
  auto d_b = torch::zeros_like(bm);
  auto d_c = torch::zeros_like(cm);
  // One dA per batch row, summed in order afterwards: no race, and the sum
  // does not depend on how rows were split among threads.
  auto d_a_rows = torch::zeros({s.B, s.N, s.Di}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "maat_scan_backward", [&] {
    const scalar_t* p_dy = dy ? dy->data_ptr<scalar_t>() : nullptr;
    const scalar_t* p_dh = dh_last ? dh_last->data_ptr<scalar_t>() : nullptr;
    const auto* p_delta = delta.data_ptr<scalar_t>();
    const auto* p_a = a_t.data_ptr<scalar_t>();
    const auto* p_b = bm.data_ptr<scalar_t>();
    const auto* p_c = cm.data_ptr<scalar_t>();
    const auto* p_u = u.data_ptr<scalar_t>();
    auto* p_d_delta = d_delta.data_ptr<scalar_t>();
    auto* p_d_u = d_u.data_ptr<scalar_t>();
    auto* p_d_b = d_b.data_ptr<scalar_t>();
    auto* p_d_c = d_c.data_ptr<scalar_t>();
    auto* p_d_a = d_a_rows.data_ptr<scalar_t>();
    const int64_t blocks = (s.Di + kBlock - 1) / kBlock;
    // Parallel over batch rows only: the blocks of one row add into that
    // row's dB and dC, one after another.
    at::parallel_for(0, s.B, 1, [&](int64_t begin, int64_t end) {
      const int64_t step = s.N * kBlock;
      std::vector<scalar_t> states(s.L * step), decays(s.L * step), dh(step);
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t blk = 0; blk < blocks; ++blk) {
          const int64_t d0 = blk * kBlock;
          const int64_t w = std::min(kBlock, s.Di - d0);
          if (w == kBlock)
            backward_block<scalar_t, true>(
                s, p_dy, p_dh, p_delta, p_a, p_b, p_c, p_u, p_d_delta, p_d_a,
                p_d_b, p_d_c, p_d_u, b, d0, w, states.data(), decays.data(),
                dh.data());
          else
            backward_block<scalar_t, false>(
                s, p_dy, p_dh, p_delta, p_a, p_b, p_c, p_u, p_d_delta, p_d_a,
                p_d_b, p_d_c, p_d_u, b, d0, w, states.data(), decays.data(),
                dh.data());
        }
      }
    });
  });
  return {d_delta, d_a_rows.sum(0), d_b, d_c, d_u};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_forward", &scan_forward, "selective scan forward (time-major)");
  m.def("scan_backward", &scan_backward, "selective scan backward (time-major)");
}
