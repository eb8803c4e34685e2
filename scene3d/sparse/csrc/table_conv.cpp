// Sparse convolution kernels for the CPU, built and loaded by scene3d/sparse/native.py
// (plain C ABI, no torch headers). All arrays are row-major and contiguous.
//
// table_conv, output-stationary: each output row sums its neighbours in vector registers
// and is written once (no gathered block, no scatter):
//   out[o, :] = sum_{k : table[o, k] >= 0} features[table[o, k], :] @ weight[k]
//   features (n_in, ci), weight (K, ci, co), table (n_out, K) int32 (-1: none), out (n_out, co).
//
// fill_table, the neighbour table of a map's pairs grouped by offset:
//   table[rows[m], k] = vals[m] for m in [ptr[k], ptr[k+1]), -1 elsewhere; table (n, K) int32.
//
// pair_wgrad, the weight gradient from the map's pairs grouped by offset:
//   grad_w[k] = sum_{m in [ptr[k], ptr[k+1])} features[in_idx[m], :]^T grad_out[out_idx[m], :]
//   features (n_in, ci), grad_out (n_out, co), grad_w (K, ci, co), written whole.
//
// co must be a multiple of the vector width (scene3d_vector_bytes() / sizeof(scalar)) and at
// most 16 vectors; the caller pads and splits columns. Rows run on `threads` OpenMP threads
// (output rows for table_conv, offsets for pair_wgrad: no two threads write one value).
#include <cstdint>
#include <cstring>

namespace {

#if defined(__AVX512F__)
constexpr int VBYTES = 64;
#else
constexpr int VBYTES = 32;
#endif

template <typename T, int NV>
void conv_rows(const T* f, const T* w, const int32_t* table, T* out, int64_t n_out, int64_t kvol,
               int64_t ci, int threads) {
  typedef T vec __attribute__((vector_size(VBYTES)));
  constexpr int L = VBYTES / sizeof(T);
  constexpr int CO = NV * L;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t o = 0; o < n_out; ++o) {
    vec acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = vec{};
    const int32_t* row = table + o * kvol;
    for (int64_t k = 0; k < kvol; ++k) {
      const int64_t i = row[k];
      if (i < 0) continue;
      const T* fi = f + i * ci;
      const T* wk = w + k * ci * CO;
      for (int64_t c = 0; c < ci; ++c) {
        const vec v = vec{} + fi[c];
        const T* wr = wk + c * CO;
        for (int j = 0; j < NV; ++j) {
          vec wv;
          std::memcpy(&wv, wr + j * L, sizeof(vec));
          acc[j] += v * wv;
        }
      }
    }
    std::memcpy(out + o * CO, acc, sizeof(acc));
  }
}

template <typename T, int NV>
void wgrad_pairs(const T* f, const T* g, const int64_t* in_idx, const int64_t* out_idx, const int64_t* ptr,
                 T* gw, int64_t kvol, int64_t ci, int threads) {
  typedef T vec __attribute__((vector_size(VBYTES)));
  constexpr int L = VBYTES / sizeof(T);
  constexpr int CO = NV * L;
  constexpr int64_t BLOCK = 64;  // pairs whose rows stay in L1 while every input channel passes
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t k = 0; k < kvol; ++k) {
    T* gk = gw + k * ci * CO;
    std::memset(gk, 0, sizeof(T) * ci * CO);
    for (int64_t b0 = ptr[k]; b0 < ptr[k + 1]; b0 += BLOCK) {
      const int64_t b1 = b0 + BLOCK < ptr[k + 1] ? b0 + BLOCK : ptr[k + 1];
      for (int64_t c = 0; c < ci; ++c) {
        vec acc[NV];
        for (int j = 0; j < NV; ++j) acc[j] = vec{};
        for (int64_t m = b0; m < b1; ++m) {
          const vec v = vec{} + f[in_idx[m] * ci + c];
          const T* gr = g + out_idx[m] * CO;
          for (int j = 0; j < NV; ++j) {
            vec gv;
            std::memcpy(&gv, gr + j * L, sizeof(vec));
            acc[j] += v * gv;
          }
        }
        T* dst = gk + c * CO;
        for (int j = 0; j < NV; ++j) {
          vec d;
          std::memcpy(&d, dst + j * L, sizeof(vec));
          d += acc[j];
          std::memcpy(dst + j * L, &d, sizeof(vec));
        }
      }
    }
  }
}

#define SCENE3D_CASES(CALL) \
  CALL(1) CALL(2) CALL(3) CALL(4) CALL(5) CALL(6) CALL(7) CALL(8) \
  CALL(9) CALL(10) CALL(11) CALL(12) CALL(13) CALL(14) CALL(15) CALL(16)

template <typename T>
int conv(const T* f, const T* w, const int32_t* table, T* out, int64_t n_out, int64_t kvol, int64_t ci,
         int64_t co, int threads) {
  constexpr int L = VBYTES / sizeof(T);
  if (co % L != 0) return -1;
  switch (co / L) {
#define CASE(n) case n: conv_rows<T, n>(f, w, table, out, n_out, kvol, ci, threads); return 0;
    SCENE3D_CASES(CASE)
#undef CASE
    default: return -1;
  }
}

template <typename T>
int wgrad(const T* f, const T* g, const int64_t* in_idx, const int64_t* out_idx, const int64_t* ptr, T* gw,
          int64_t kvol, int64_t ci, int64_t co, int threads) {
  constexpr int L = VBYTES / sizeof(T);
  if (co % L != 0) return -1;
  switch (co / L) {
#define CASE(n) case n: wgrad_pairs<T, n>(f, g, in_idx, out_idx, ptr, gw, kvol, ci, threads); return 0;
    SCENE3D_CASES(CASE)
#undef CASE
    default: return -1;
  }
}

}  // namespace

extern "C" {

int scene3d_vector_bytes() { return VBYTES; }

void scene3d_fill_table(const int64_t* rows, const int64_t* vals, const int64_t* ptr, int64_t kvol, int64_t n,
                        int32_t* table) {
  std::memset(table, 0xff, sizeof(int32_t) * n * kvol);  // all bytes 0xff: -1
  for (int64_t k = 0; k < kvol; ++k)
    for (int64_t m = ptr[k]; m < ptr[k + 1]; ++m) table[rows[m] * kvol + k] = static_cast<int32_t>(vals[m]);
}

int scene3d_table_conv_f32(const float* f, const float* w, const int32_t* table, float* out, int64_t n_out,
                           int64_t kvol, int64_t ci, int64_t co, int threads) {
  return conv<float>(f, w, table, out, n_out, kvol, ci, co, threads);
}

int scene3d_table_conv_f64(const double* f, const double* w, const int32_t* table, double* out, int64_t n_out,
                           int64_t kvol, int64_t ci, int64_t co, int threads) {
  return conv<double>(f, w, table, out, n_out, kvol, ci, co, threads);
}

int scene3d_pair_wgrad_f32(const float* f, const float* g, const int64_t* in_idx, const int64_t* out_idx,
                           const int64_t* ptr, float* gw, int64_t kvol, int64_t ci, int64_t co, int threads) {
  return wgrad<float>(f, g, in_idx, out_idx, ptr, gw, kvol, ci, co, threads);
}

int scene3d_pair_wgrad_f64(const double* f, const double* g, const int64_t* in_idx, const int64_t* out_idx,
                           const int64_t* ptr, double* gw, int64_t kvol, int64_t ci, int64_t co, int threads) {
  return wgrad<double>(f, g, in_idx, out_idx, ptr, gw, kvol, ci, co, threads);
}

}
