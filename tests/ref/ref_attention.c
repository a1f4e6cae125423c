/* Attention references in double, with a per-output error bound for an f32 flash-attention kernel.
 *
 * The bound (ε = 2^-24, first order in ε). The kernel computes, per query, scores in log2 units
 * s'_j = (q·c)·k_j with c = log2(e)/sqrt(head_dim), weights p_j = 2^(s'_j − m) and o = Σ p_j v_j / Σ p_j,
 * with the sums rescaled by 2^(m_old − m_new) whenever the running max m grows. Each weight is off by a
 * relative η_j:
 *   - the dot product of head_dim terms, plus the rounding of c and of q·c: (head_dim + 4)·ε·S_j where
 *     S_j = c·Σ_d |q_d·k_jd| (the sum of the absolute terms);
 *   - s'_j − m rounds with error ε·|x_j|, x_j = s'_j − max s', and exp2 is within 3 + 2|x_j| ulp (the
 *     Vulkan precision of exp2): (3 + 3|x_j|)·ε.
 *   Relative weight errors move o by Σ_j p_j·η_j·(v_jd − o_d) / Σ p_j, bounded by the same sum with
 *   absolute values.
 * The running sums Σ p_j v_jd and Σ p_j take at most N additions, N products and N rescalings per lane
 * plus a merge of at most 64 partial sums (a rescale multiplies the numerator and the denominator by the
 * same factor, so only its rounding counts): each is within (2N + 72)·ε of its sum of absolute terms,
 * which moves o by (2N + 72)·ε·(Σ_j p_j|v_jd| / Σ p_j + |o_d|). The final division and the rounding of
 * the reference to f32 add 3ε·|o_d|.
 */
#include "ref_attention.h"

#include <glib.h>
#include <math.h>

#define EPS (1.0 / 16777216.0)

void
ref_kv_store(const float *qkv, uint32_t rows, uint32_t row_stride, uint32_t k_offset, uint32_t v_offset,
             uint32_t kv_heads, uint32_t capacity, uint32_t head_dim, uint32_t seq0, float *k_cache,
             float *v_cache)
{
  for (uint32_t r = 0; r < rows && seq0 + r < capacity; r++)
    for (uint32_t h = 0; h < kv_heads; h++)
      for (uint32_t d = 0; d < head_dim; d++) {
        size_t dst = ((size_t)h * capacity + seq0 + r) * head_dim + d;
        k_cache[dst] = qkv[(size_t)r * row_stride + k_offset + h * head_dim + d];
        v_cache[dst] = qkv[(size_t)r * row_stride + v_offset + h * head_dim + d];
      }
}

/* One query q[head_dim] against keys k + t·stride, values v + t·stride, t in [lo, hi). */
static void
attend(const float *q, const float *k, const float *v, size_t stride, uint32_t lo, uint32_t hi,
       uint32_t head_dim, float *out, float *bound)
{
  uint32_t n = hi > lo ? hi - lo : 0;
  if (n == 0) {
    for (uint32_t d = 0; d < head_dim; d++)
      out[d] = bound[d] = 0;
    return;
  }
  double c = M_LOG2E / sqrt((double)head_dim);
  double *s = g_new(double, n), *abs_terms = g_new(double, n), *p = g_new(double, n);
  double s_max = -INFINITY;
  for (uint32_t j = 0; j < n; j++) {
    const float *kj = k + (size_t)(lo + j) * stride;
    double dot = 0, abs_dot = 0;
    for (uint32_t d = 0; d < head_dim; d++) {
      dot += (double)q[d] * kj[d];
      abs_dot += fabs((double)q[d] * kj[d]);
    }
    s[j] = c * dot;
    abs_terms[j] = c * abs_dot;
    s_max = fmax(s_max, s[j]);
  }
  double l = 0;
  for (uint32_t j = 0; j < n; j++) {
    p[j] = exp2(s[j] - s_max);
    l += p[j];
  }
  for (uint32_t d = 0; d < head_dim; d++) {
    double o = 0;
    for (uint32_t j = 0; j < n; j++)
      o += p[j] * v[(size_t)(lo + j) * stride + d];
    o /= l;
    double weight_err = 0, abs_sum = 0;
    for (uint32_t j = 0; j < n; j++) {
      double vj = v[(size_t)(lo + j) * stride + d];
      double eta = (head_dim + 4) * abs_terms[j] + 3 + 3 * fabs(s[j] - s_max);
      weight_err += p[j] * eta * fabs(vj - o);
      abs_sum += p[j] * fabs(vj);
    }
    out[d] = (float)o;
    bound[d] = (float)(EPS * (weight_err / l + (2.0 * n + 72) * (abs_sum / l + fabs(o)) + 3 * fabs(o)));
  }
  g_free(s);
  g_free(abs_terms);
  g_free(p);
}

void
ref_attention_causal(const float *q, uint32_t rows, uint32_t row_stride, uint32_t heads, const float *k_cache,
                     const float *v_cache, uint32_t kv_heads, uint32_t capacity, uint32_t head_dim, uint32_t seq0,
                     uint32_t key_begin, float *out, float *bound)
{
  uint32_t ratio = heads / kv_heads;
  for (uint32_t r = 0; r < rows; r++) {
    uint32_t hi = MIN(seq0 + r + 1, capacity);
    for (uint32_t h = 0; h < heads; h++) {
      size_t g = h / ratio;
      size_t o = ((size_t)r * heads + h) * head_dim;
      attend(q + (size_t)r * row_stride + (size_t)h * head_dim, k_cache + g * capacity * head_dim,
             v_cache + g * capacity * head_dim, head_dim, key_begin, hi, head_dim, out + o, bound + o);
    }
  }
}

void
ref_attention_groups(const float *qkv, uint32_t rows, uint32_t row_stride, uint32_t heads, uint32_t head_dim,
                     const int32_t *cu_seqlens, uint32_t groups, float *out, float *bound)
{
  size_t width = (size_t)heads * head_dim;
  for (uint32_t g = 0; g < groups; g++) {
    uint32_t lo = (uint32_t)cu_seqlens[g], hi = (uint32_t)cu_seqlens[g + 1];
    for (uint32_t r = lo; r < hi && r < rows; r++)
      for (uint32_t h = 0; h < heads; h++) {
        size_t o = ((size_t)r * heads + h) * head_dim;
        attend(qkv + (size_t)r * row_stride + h * head_dim, qkv + width + h * head_dim,
               qkv + 2 * width + h * head_dim, row_stride, lo, hi, head_dim, out + o, bound + o);
      }
  }
}

void
ref_attention_groups_window(const float *qkv, uint32_t row_stride, uint32_t heads, uint32_t head_dim,
                            const int32_t *cu_seqlens, uint32_t groups, uint32_t q_first, uint32_t rows,
                            uint32_t kv_first, uint32_t kv_rows, float *out, float *bound)
{
  size_t width = (size_t)heads * head_dim;
  for (uint32_t i = 0; i < rows; i++) {
    uint32_t r = q_first + i, lo = 0, hi = 0;
    for (uint32_t g = 0; g < groups; g++)
      if ((uint32_t)cu_seqlens[g] <= r && r < (uint32_t)cu_seqlens[g + 1]) {
        lo = MAX((uint32_t)cu_seqlens[g], kv_first);
        hi = MIN((uint32_t)cu_seqlens[g + 1], kv_first + kv_rows);
      }
    for (uint32_t h = 0; h < heads; h++) {
      size_t o = ((size_t)i * heads + h) * head_dim;
      attend(qkv + (size_t)r * row_stride + h * head_dim, qkv + width + h * head_dim,
             qkv + 2 * width + h * head_dim, row_stride, lo, hi, head_dim, out + o, bound + o);
    }
  }
}
