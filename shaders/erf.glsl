// erf, erfc and exact GELU in f32, accurate to a few ulp (GLSL has no erf).
//
// Polynomials from scripts/fit_erf.py (near-minimax fits, each ≤ 5e-9 relative error, far below f32
// rounding). The error budget is the f32 evaluation itself:
//   erf(x),  |x| < 1:   x + x·P(x²)                       ≈ 1.3 ulp measured
//   erfc(a), a ≥ 0.5:   exp(−a²) · t · Q(t), t = 1/(1 + 0.4a)   ≈ 5 ulp (mostly the rounding of t)
//   erf(x),  |x| ≥ 1:   ±(1 − erfc(|x|))                  erfc ≤ 0.16 there, so ≈ 1–2 ulp of erf
// exp(−a²) is computed from an exact split of a² (a = ah + al with ah holding 12 bits, so ah² is exact)
// and our own exp, because a² rounded to f32 has an absolute error of u·a², which exp turns into a
// relative error of up to 100 ulp at a = 10, and the built-in exp may be off by 3 + 2|x| ulp.
//
// `precise` keeps the compiler from fusing or reassociating the few steps whose rounding we rely on.

// exp(r) for |r| ≤ ln2/2.
float erf_exp_poly(float r) {
  float q = 0.00139411084;
  q = q * r + 0.00837512640;
  q = q * r + 0.0416663529;
  q = q * r + 0.166664155;
  q = q * r + 0.500000005;
  q = q * r + 1.00000004;
  return q * r + 1.0;
}

// exp(−(hi + lo)) for 0 ≤ hi ≤ 87.3 and |lo| ≪ 1: Cody–Waite reduction with ln2 split into a
// 16-bit head (so k·head is exact for k < 2^8) and a tail.
float erf_exp_neg(float hi, float lo) {
  float k = roundEven(hi * 1.44269504);
  precise float r = (hi - k * 0.693145752) - k * 1.42860677e-6;
  precise float rr = -(r + lo);
  return ldexp(erf_exp_poly(rr), -int(k));
}

// The top 12 significant bits of a (the low 12 bits of the f32 mantissa cleared).
float erf_head(float a) { return uintBitsToFloat(floatBitsToUint(a) & 0xfffff000u); }

// exp(−a²·scale) for scale = 1 or 1/2, with a² split exactly: a² = ah² + (a − ah)(a + ah).
float erf_exp_neg_square(float a, float scale) {
  float ah = erf_head(a);
  precise float hi = (ah * ah) * scale;  // exact: a 24-bit product times a power of two
  precise float lo = ((a - ah) * (a + ah)) * scale;
  return erf_exp_neg(hi, lo);
}

// erfc(a)·exp(a²) for a in [0.5, 10], as t·Q(t) with t = 1/(1 + 0.4a).
float erfcx_poly(float a) {
  float t = 1.0 / (1.0 + 0.4 * a);
  float q = 0.0607734047;
  q = q * t - 0.222993793;
  q = q * t + 0.232709144;
  q = q * t - 0.0600718485;
  q = q * t + 0.168711697;
  q = q * t + 0.160427082;
  q = q * t + 0.209231175;
  q = q * t + 0.225545286;
  q = q * t + 0.225680332;
  return q * t;
}

// erf(x)/x − 1 as a polynomial in s = x², |x| < 1 (computing x + x·P keeps P's rounding small).
float erf_small_poly(float s) {
  float q = 7.87587506e-5;
  q = q * s - 0.000801686429;
  q = q * s + 0.00518908742;
  q = q * s - 0.0268542120;
  q = q * s + 0.112835947;
  q = q * s - 0.376126267;
  return q * s + 0.128379166;
}

// erfc(a) for a ≥ 0.5 (0 once it is below the smallest normal float, a > 9.3).
float erfc_tail(float a) {
  if (a >= 9.3)
    return 0.0;
  return erf_exp_neg_square(a, 1.0) * erfcx_poly(a);
}

float erf_f32(float x) {
  float a = abs(x);
  if (a < 1.0)
    return x + x * erf_small_poly(x * x);
  float e = a >= 4.0 ? 1.0 : 1.0 - erfc_tail(a);  // erfc(4) < 2^-25: erf rounds to 1
  return x < 0.0 ? -e : e;
}

// 0.5·x·(1 + erf(x/√2)). For x/√2 ≤ −0.5 the bracket is erfc(|x|/√2), taken from erfc directly
// (1 + erf would cancel to nothing in the negative tail), with exp(−x²/2) split from x itself
// so that the rounding of x/√2 does not reach the exponential.
float gelu_f32(float x) {
  float z = x * 0.707106781;
  if (z > -0.5)
    return 0.5 * x * (1.0 + erf_f32(z));
  float a = -z;
  if (a >= 9.3)
    return -0.0;  // the true value is below the smallest normal float
  return 0.5 * x * (erf_exp_neg_square(x, 0.5) * erfcx_poly(a));
}
