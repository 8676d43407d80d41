// Selective scan (Mamba S6) forward and backward for the CPU, fused.
//
// The whole selective_scan -- delta bias and softplus, the recurrence, the
// D skip and the silu(z) gate -- in one pass. u, delta, z and the outputs
// are (B, Di, L) with any strides, so the Mamba block's transposed views need
// no copies; the caller passes (B, Di, L) views of (B, L, Di) storage for the
// outputs, the layout the next Linear reads. A: (Di, N); Bm, Cm: (B, N, L)
// contiguous; D, bias: (Di). Each (batch row, block of kBlock inner channels)
// is gathered into small time-major buffers (so a time step reads kBlock
// contiguous values and the loops vectorise), its state kept in cache and
// its outputs scattered back. The backward recomputes the block's states and
// decays (L x N x kBlock values) instead of saving them.
//
// A plain shared library with a C interface (maat_scan_forward,
// maat_scan_backward), loaded with ctypes by _cpu.py: it needs neither torch
// headers nor Python's, so it is compiled when the package is installed,
// once per instruction set (setup.py), and the caller picks the variant the
// CPU supports (maat_cpu_level). Each call covers a range of work items; the
// caller spreads ranges over threads. Items write disjoint outputs and every
// reduction has a fixed order, so results do not depend on the split.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define MAAT_X86 1
#endif

#if defined(_WIN32)
#define MAAT_API extern "C" __declspec(dllexport)
#else
#define MAAT_API extern "C" __attribute__((visibility("default")))
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#define __restrict__ __restrict
#endif

namespace {

// Flushes subnormal floats to zero on this thread while in scope. Decays and
// states that sink below float's smallest normal number (1e-38) otherwise
// take the slow microcode path: measured 5x slower scans on x86. The values
// flushed are far below anything that can change a score.
class FlushSubnormals {
 public:
  FlushSubnormals() {
#if defined(MAAT_X86)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040);  // FTZ and DAZ
#endif
  }
  ~FlushSubnormals() {
#if defined(MAAT_X86)
    _mm_setcsr(saved_);
#endif
  }
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned int saved_ = 0;
};

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

template <typename T>
inline T softplus(T x) {
  // torch's softplus (beta 1, threshold 20).
  return x > T(20) ? x : std::log1p(std::exp(x));
}

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

struct Dims {
  int64_t B, Di, L, N;
};

// A (B, Di, L) tensor with its strides; p == nullptr for an absent one.
template <typename T>
struct View {
  T* p = nullptr;
  int64_t sb = 0, sd = 0, st = 0;
  T* at(int64_t b, int64_t d) const { return p + b * sb + d * sd; }
};

template <typename T>
struct Inputs {
  View<const T> u, delta, z;  // z.p == nullptr: no gate
  const T* a;                 // (Di, N)
  const T* bm;                // (B, N, L)
  const T* cm;
  const T* d;     // or nullptr
  const T* bias;  // or nullptr
  bool softplus;
};

// Gathers channels d0..d0+w of batch row b into the time-major block dst
// (L x kBlock); an absent view fills zeros.
template <typename T>
void load_block(const View<const T>& v, int64_t b, int64_t d0, T* dst,
                const Dims& s, int64_t w) {
  if (v.p == nullptr) {
    std::fill(dst, dst + s.L * kBlock, T(0));
    return;
  }
  const T* src = v.at(b, d0);
  if (v.sd == 1) {  // channels contiguous: one row per time step
    for (int64_t t = 0; t < s.L; ++t)
      for (int64_t j = 0; j < w; ++j) dst[t * kBlock + j] = src[t * v.st + j];
  } else {
    for (int64_t j = 0; j < w; ++j)
      for (int64_t t = 0; t < s.L; ++t)
        dst[t * kBlock + j] = src[j * v.sd + t * v.st];
  }
}

template <typename T>
void store_block(const T* src, const View<T>& v, int64_t b, int64_t d0,
                 const Dims& s, int64_t w) {
  T* dst = v.at(b, d0);
  if (v.sd == 1) {
    for (int64_t t = 0; t < s.L; ++t)
      for (int64_t j = 0; j < w; ++j) dst[t * v.st + j] = src[t * kBlock + j];
  } else {
    for (int64_t j = 0; j < w; ++j)
      for (int64_t t = 0; t < s.L; ++t)
        dst[j * v.sd + t * v.st] = src[t * kBlock + j];
  }
}

// The block's step sizes: raw = delta + bias, dt = softplus(raw) or raw.
template <typename T>
void step_sizes(const Inputs<T>& in, const Dims& s, int64_t b, int64_t d0,
                int64_t w, T* raw, T* dt) {
  load_block(in.delta, b, d0, raw, s, w);
  for (int64_t t = 0; t < s.L; ++t)
    for (int64_t j = 0; j < w; ++j) {
      T v = raw[t * kBlock + j] + (in.bias ? in.bias[d0 + j] : T(0));
      raw[t * kBlock + j] = v;
      dt[t * kBlock + j] = in.softplus ? softplus(v) : v;
    }
}

// Per-thread scratch, allocated once per parallel chunk.
template <typename T>
struct Scratch {
  std::vector<T> raw, dt, u, z, y, g, states, decays, dh, a;
  explicit Scratch(const Dims& s, bool backward)
      : raw(s.L * kBlock), dt(s.L * kBlock), u(s.L * kBlock),
        z(s.L * kBlock), y(s.L * kBlock), g(s.L * kBlock),
        states(backward ? s.L * s.N * kBlock : s.N * kBlock),
        decays(backward ? s.L * s.N * kBlock : 0), dh(s.N * kBlock),
        a(s.N * kBlock) {}
};

// The recurrence over a block. With kKeep, states[t] and decays[t] hold h_t
// and exp(dt_t A) for every t (the backward's recomputation); else states
// is one h. Writes y (before D and the gate) into sc.y.
template <typename T, bool kFull, bool kKeep>
void recur(const Inputs<T>& in, const Dims& s, int64_t b, int64_t w_tail,
           Scratch<T>& sc) {
  const int64_t w = kFull ? kBlock : w_tail;
  const int64_t step = s.N * kBlock;
  T* __restrict__ h = sc.states.data();
  T* __restrict__ e = sc.decays.data();
  const T* __restrict__ a = sc.a.data();
  const T* __restrict__ dt = sc.dt.data();
  const T* __restrict__ u = sc.u.data();
  T* __restrict__ y = sc.y.data();
  const T* __restrict__ bm = in.bm + b * s.N * s.L;
  const T* __restrict__ cm = in.cm + b * s.N * s.L;
  if (!kKeep) std::fill(h, h + step, T(0));
  T x[kBlock], acc[kBlock];
  for (int64_t t = 0; t < s.L; ++t) {
    const T* dtt = dt + t * kBlock;
    for (int64_t j = 0; j < w; ++j) {
      x[j] = dtt[j] * u[t * kBlock + j];
      acc[j] = T(0);
    }
    for (int64_t n = 0; n < s.N; ++n) {
      const T bn = bm[n * s.L + t];
      const T cn = cm[n * s.L + t];
      const T* an = a + n * kBlock;
      T* hn = kKeep ? h + t * step + n * kBlock : h + n * kBlock;
      const T* prev = kKeep ? (t ? hn - step : nullptr) : hn;
      T* en = kKeep ? e + t * step + n * kBlock : nullptr;
#pragma GCC ivdep
      for (int64_t j = 0; j < w; ++j) {
        const T decay = exp_decay(dtt[j] * an[j]);
        if (kKeep) en[j] = decay;
        hn[j] = (prev ? decay * prev[j] : T(0)) + bn * x[j];
        acc[j] += cn * hn[j];
      }
    }
    for (int64_t j = 0; j < w; ++j) y[t * kBlock + j] = acc[j];
  }
}

template <typename T>
void load_a(const Inputs<T>& in, const Dims& s, int64_t d0, int64_t w,
            Scratch<T>& sc) {
  // A (Di, N) -> block (N, kBlock)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < w; ++j)
      sc.a[n * kBlock + j] = in.a[(d0 + j) * s.N + n];
}

// Gathers a block's inputs and runs its recurrence (see recur): the part
// the forward and the backward (which recomputes, keeping every state) share.
template <typename T, bool kKeep>
void scan_block(const Inputs<T>& in, const Dims& s, int64_t b, int64_t d0,
                int64_t w, Scratch<T>& sc) {
  step_sizes(in, s, b, d0, w, sc.raw.data(), sc.dt.data());
  load_block(in.u, b, d0, sc.u.data(), s, w);
  load_a(in, s, d0, w, sc);
  if (w == kBlock)
    recur<T, true, kKeep>(in, s, b, w, sc);
  else
    recur<T, false, kKeep>(in, s, b, w, sc);
}

template <typename T>
void forward_block(const Inputs<T>& in, const Dims& s, int64_t b, int64_t d0,
                   int64_t w, Scratch<T>& sc, const View<T>& out, T* h_last) {
  scan_block<T, false>(in, s, b, d0, w, sc);
  if (in.z.p) load_block(in.z, b, d0, sc.z.data(), s, w);
  for (int64_t t = 0; t < s.L; ++t)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t i = t * kBlock + j;
      T v = sc.y[i] + (in.d ? in.d[d0 + j] * sc.u[i] : T(0));
      if (in.z.p) v *= sc.z[i] * sigmoid(sc.z[i]);
      sc.g[i] = v;
    }
  store_block(sc.g.data(), out, b, d0, s, w);
  for (int64_t j = 0; j < w; ++j)
    for (int64_t n = 0; n < s.N; ++n)
      h_last[(b * s.Di + d0 + j) * s.N + n] = sc.states[n * kBlock + j];
}

template <typename T, bool kFull>
void reverse(const Inputs<T>& in, const Dims& s, int64_t b, int64_t d0,
             int64_t w_tail, Scratch<T>& sc, T* d_a, T* d_bm, T* d_cm) {
  // sc.g holds dL/dy (after the gate's and D's share are taken out); on
  // return, sc.y holds dL/d(dt) and sc.z holds dL/dx for x = dt * u.
  const int64_t w = kFull ? kBlock : w_tail;
  const int64_t step = s.N * kBlock;
  const T* __restrict__ h = sc.states.data();
  const T* __restrict__ e = sc.decays.data();
  const T* __restrict__ a = sc.a.data();
  const T* __restrict__ dt = sc.dt.data();
  const T* __restrict__ u = sc.u.data();
  const T* __restrict__ dy = sc.g.data();
  T* __restrict__ dh = sc.dh.data();
  T* __restrict__ d_dt_out = sc.y.data();
  T* __restrict__ d_x_out = sc.z.data();
  const T* __restrict__ bm = in.bm + b * s.N * s.L;
  const T* __restrict__ cm = in.cm + b * s.N * s.L;
  T* __restrict__ d_bm_row = d_bm + b * s.N * s.L;
  T* __restrict__ d_cm_row = d_cm + b * s.N * s.L;
  T* __restrict__ d_a_row = d_a + b * s.N * s.Di + d0;
  T d_dt[kBlock], d_x[kBlock], x[kBlock], part_c[kBlock], part_b[kBlock];
  for (int64_t t = s.L - 1; t >= 0; --t) {
    const T* dtt = dt + t * kBlock;
    const T* dyt = dy + t * kBlock;
    for (int64_t j = 0; j < w; ++j) {
      x[j] = dtt[j] * u[t * kBlock + j];
      d_dt[j] = T(0);
      d_x[j] = T(0);
    }
    for (int64_t n = 0; n < s.N; ++n) {
      const int64_t bn_i = n * s.L + t;
      const T bn = bm[bn_i], cn = cm[bn_i];
      const T* an = a + n * kBlock;
      const T* hn = h + t * step + n * kBlock;
      const T* prev = t ? hn - step : nullptr;
      const T* en = e + t * step + n * kBlock;
      T* dhn = dh + n * kBlock;
      T* dan = d_a_row + n * s.Di;
      // The block's buffers never overlap: no runtime alias checks.
#pragma GCC ivdep
      for (int64_t j = 0; j < w; ++j) {
        const T g_h = dhn[j] + cn * dyt[j];  // dL/dh_t
        part_c[j] = dyt[j] * hn[j];          // y_t = <C_t, h_t>
        part_b[j] = g_h * x[j];              // h_t = ... + B_t x_t
        d_x[j] += bn * g_h;
        const T carried = g_h * en[j];  // dL/dh_{t-1}
        const T g = prev ? carried * prev[j] : T(0);  // dL/d(dt_t A)
        dan[j] += g * dtt[j];
        d_dt[j] += an[j] * g;
        dhn[j] = carried;
      }
      T sum_c = T(0), sum_b = T(0);
      for (int64_t j = 0; j < w; ++j) {
        sum_c += part_c[j];
        sum_b += part_b[j];
      }
      d_cm_row[bn_i] += sum_c;
      d_bm_row[bn_i] += sum_b;
    }
    for (int64_t j = 0; j < w; ++j) {
      d_dt_out[t * kBlock + j] = d_dt[j];
      d_x_out[t * kBlock + j] = d_x[j];
    }
  }
}

// out[j] = sum_t a[t, j] * b[t, j] (b == nullptr: sum_t a[t, j]) over a
// time-major block, t outer so that the loop over j vectorises.
template <typename T>
void sum_over_time(const T* a, const T* b, const Dims& s, int64_t w, T* out) {
  T acc[kBlock] = {};
  for (int64_t t = 0; t < s.L; ++t)
    for (int64_t j = 0; j < w; ++j)
      acc[j] += a[t * kBlock + j] * (b ? b[t * kBlock + j] : T(1));
  for (int64_t j = 0; j < w; ++j) out[j] = acc[j];
}

template <typename T>
void backward_block(const Inputs<T>& in, const Dims& s,
                    const View<const T>& d_out, const T* d_last, int64_t b,
                    int64_t d0, int64_t w, Scratch<T>& sc, const View<T>& d_u,
                    const View<T>& d_delta, const View<T>& d_z, T* d_a,
                    T* d_bm, T* d_cm, T* d_d_rows, T* d_bias_rows) {
  scan_block<T, true>(in, s, b, d0, w, sc);
  // dL/dy before the gate: d_out * silu(z); dL/dz from y' = y + D u.
  load_block(d_out, b, d0, sc.g.data(), s, w);
  if (in.z.p) {
    // sc.z is free until the reverse scan; it holds z, then dL/dz.
    T* zs = sc.z.data();
    load_block(in.z, b, d0, zs, s, w);
    for (int64_t t = 0; t < s.L; ++t)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t i = t * kBlock + j;
        const T zv = zs[i], sig = sigmoid(zv);
        const T y_full = sc.y[i] + (in.d ? in.d[d0 + j] * sc.u[i] : T(0));
        zs[i] = sc.g[i] * y_full * sig * (T(1) + zv * (T(1) - sig));
        sc.g[i] *= zv * sig;
      }
    store_block(zs, d_z, b, d0, s, w);
  }
  if (in.d) sum_over_time(sc.g.data(), sc.u.data(), s, w, d_d_rows + b * s.Di + d0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t j = 0; j < w; ++j)
      sc.dh[n * kBlock + j] =
          d_last ? d_last[(b * s.Di + d0 + j) * s.N + n] : T(0);
  if (w == kBlock)
    reverse<T, true>(in, s, b, d0, w, sc, d_a, d_bm, d_cm);
  else
    reverse<T, false>(in, s, b, d0, w, sc, d_a, d_bm, d_cm);
  // sc.y = dL/d(dt), sc.z = dL/dx; x = dt * u, out = ... + D u.
  for (int64_t t = 0; t < s.L; ++t)
    for (int64_t j = 0; j < w; ++j) {
      const int64_t i = t * kBlock + j;
      const T d_x = sc.z[i];
      T d_step = sc.y[i] + d_x * sc.u[i];
      if (in.softplus) d_step *= sigmoid(sc.raw[i]);
      sc.y[i] = d_step;
      sc.z[i] = d_x * sc.dt[i] + (in.d ? in.d[d0 + j] * sc.g[i] : T(0));
    }
  if (in.bias)
    sum_over_time<T>(sc.y.data(), nullptr, s, w, d_bias_rows + b * s.Di + d0);
  store_block(sc.y.data(), d_delta, b, d0, s, w);
  store_block(sc.z.data(), d_u, b, d0, s, w);
}

// The C interface. Pointers to T are float or double as dtype says; a
// (B, Di, L) operand is a pointer and its three strides, in elements.
struct MaatStrided {
  void* p;
  int64_t sb, sd, st;
};

struct MaatScanArgs {
  int64_t B, Di, L, N;
  int32_t dtype;  // 0: float32, 1: float64
  int32_t softplus;
  MaatStrided u, delta, z;  // z.p == nullptr: no gate
  const void* a;            // (Di, N)
  const void* bm;           // (B, N, L)
  const void* cm;
  const void* d;     // (Di) or nullptr
  const void* bias;  // (Di) or nullptr
  // Forward outputs.
  MaatStrided out;
  void* h_last;  // (B, Di, N)
  // Backward: d_out (p may be nullptr), d_last (B, Di, N) or nullptr, and
  // the gradients. d_a_rows (B, N, Di), d_d_rows and d_bias_rows (B, Di) are
  // per batch row, summed by the caller; d_bm and d_cm must start zeroed.
  MaatStrided d_out;
  const void* d_last;
  MaatStrided d_u, d_delta, d_z;
  void *d_a_rows, *d_bm, *d_cm, *d_d_rows, *d_bias_rows;
};

template <typename T>
View<const T> in_view(const MaatStrided& v) {
  return View<const T>{static_cast<const T*>(v.p), v.sb, v.sd, v.st};
}

template <typename T>
View<T> out_view(const MaatStrided& v) {
  return View<T>{static_cast<T*>(v.p), v.sb, v.sd, v.st};
}

template <typename T>
Inputs<T> inputs_of(const MaatScanArgs& x) {
  return Inputs<T>{in_view<T>(x.u),
                   in_view<T>(x.delta),
                   in_view<T>(x.z),
                   static_cast<const T*>(x.a),
                   static_cast<const T*>(x.bm),
                   static_cast<const T*>(x.cm),
                   static_cast<const T*>(x.d),
                   static_cast<const T*>(x.bias),
                   x.softplus != 0};
}

int64_t blocks_of(const MaatScanArgs& x) { return (x.Di + kBlock - 1) / kBlock; }

// Work items [begin, end) of B * blocks_of(x): item i is batch row
// i / blocks, channels from (i % blocks) * kBlock.
template <typename T>
void forward_items(const MaatScanArgs& x, int64_t begin, int64_t end) {
  const Dims s{x.B, x.Di, x.L, x.N};
  const auto in = inputs_of<T>(x);
  const auto out = out_view<T>(x.out);
  const int64_t blocks = blocks_of(x);
  FlushSubnormals flush;
  Scratch<T> sc(s, false);
  for (int64_t i = begin; i < end; ++i) {
    const int64_t b = i / blocks, d0 = (i % blocks) * kBlock;
    forward_block(in, s, b, d0, std::min(kBlock, s.Di - d0), sc, out,
                  static_cast<T*>(x.h_last));
  }
}

// Batch rows [begin, end): the blocks of one row add into that row's dB and
// dC one after another, so rows are the unit of work.
template <typename T>
void backward_rows(const MaatScanArgs& x, int64_t begin, int64_t end) {
  const Dims s{x.B, x.Di, x.L, x.N};
  const auto in = inputs_of<T>(x);
  FlushSubnormals flush;
  Scratch<T> sc(s, true);
  for (int64_t b = begin; b < end; ++b)
    for (int64_t d0 = 0; d0 < s.Di; d0 += kBlock)
      backward_block(in, s, in_view<T>(x.d_out), static_cast<const T*>(x.d_last),
                     b, d0, std::min(kBlock, s.Di - d0), sc, out_view<T>(x.d_u),
                     out_view<T>(x.d_delta), out_view<T>(x.d_z),
                     static_cast<T*>(x.d_a_rows), static_cast<T*>(x.d_bm),
                     static_cast<T*>(x.d_cm), static_cast<T*>(x.d_d_rows),
                     static_cast<T*>(x.d_bias_rows));
}

// Runs f<float> or f<double>; returns 0, or 1 for an unknown dtype, 2 when
// out of memory (exceptions must not cross the C boundary).
template <template <typename> class F>
int32_t dispatch(const MaatScanArgs* x, int64_t begin, int64_t end) {
  try {
    if (x->dtype == 0) {
      F<float>::run(*x, begin, end);
    } else if (x->dtype == 1) {
      F<double>::run(*x, begin, end);
    } else {
      return 1;
    }
  } catch (const std::bad_alloc&) {
    return 2;
  }
  return 0;
}

template <typename T>
struct Forward {
  static void run(const MaatScanArgs& x, int64_t b, int64_t e) {
    forward_items<T>(x, b, e);
  }
};

template <typename T>
struct Backward {
  static void run(const MaatScanArgs& x, int64_t b, int64_t e) {
    backward_rows<T>(x, b, e);
  }
};

}  // namespace

// Bumped whenever MaatScanArgs or a signature changes; _cpu.py checks it.
MAAT_API int32_t maat_abi_version() { return 1; }

// Channels per work item of maat_scan_forward.
MAAT_API int64_t maat_block_size() { return kBlock; }

// The best instruction-set level this CPU (and OS) supports: 0 baseline,
// 1 SSE4.2, 2 AVX2 + FMA, 3 AVX-512 (F, VL, BW, DQ, CD); setup.py builds
// one variant per level. Called on the baseline build.
MAAT_API int32_t maat_cpu_level() {
#if defined(MAAT_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma"))
    return 3;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt"))
    return 1;
#endif
  return 0;
}

// Forward over work items [begin, end) of B * ceil(Di / maat_block_size()).
MAAT_API int32_t maat_scan_forward(const MaatScanArgs* args, int64_t begin,
                                   int64_t end) {
  return dispatch<Forward>(args, begin, end);
}

// Backward over batch rows [begin, end).
MAAT_API int32_t maat_scan_backward(const MaatScanArgs* args, int64_t begin,
                                    int64_t end) {
  return dispatch<Backward>(args, begin, end);
}
