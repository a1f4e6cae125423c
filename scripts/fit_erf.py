#!/usr/bin/env python3
"""Fits the polynomials of shaders/erf.glsl (needs mpmath; a development tool, not a build step).

Three near-minimax (Chebyshev) fits, each far below float32 rounding (relative error ≤ 5e-9 ≈ 0.08 ulp),
so that the shader's error is dominated by the float32 evaluation itself:

  exp(r)                       r ∈ [−ln2/2, ln2/2]          degree 6   (exp_poly)
  erf(x) / x  as a poly in x²  x ∈ [0, 1]                   degree 6   (erf_small)
  erfc(x)·exp(x²) / t          t = 1/(1 + 0.4·x), x ∈ [0.5, 10]  degree 8   (erfcx_poly)

Prints the coefficients, highest degree first (Horner order), as GLSL float literals.
"""
import mpmath as mp

mp.mp.dps = 40


def fit(name, f, interval, degree):
    poly = mp.chebyfit(f, interval, degree + 1)
    grid = mp.linspace(interval[0], interval[1], 2000)
    rel = max(abs(mp.polyval(poly, t) / f(t) - 1) for t in grid)
    print(f"// {name}: degree {degree} on [{float(interval[0]):.6g}, {float(interval[1]):.6g}], "
          f"max relative error {float(rel):.2e}")
    print(",\n".join(f"  {mp.nstr(c, 12, strip_zeros=False)}" for c in poly))
    print()


half_ln2 = mp.log(2) / 2
fit("exp_poly", mp.exp, [-half_ln2, half_ln2], 6)


def erf_over_x(s):
    if s == 0:
        return 2 / mp.sqrt(mp.pi)
    return mp.erf(mp.sqrt(s)) / mp.sqrt(s)


fit("erf_small (in s = x²)", erf_over_x, [mp.mpf(0), mp.mpf(1)], 6)


def erfcx_over_t(t):
    x = (1 / t - 1) / mp.mpf("0.4")
    return mp.erfc(x) * mp.exp(x * x) / t


t_lo, t_hi = 1 / (1 + mp.mpf("0.4") * 10), 1 / (1 + mp.mpf("0.4") * mp.mpf("0.5"))
fit("erfcx_poly (in t = 1/(1 + 0.4x))", erfcx_over_t, [t_lo, t_hi], 8)
