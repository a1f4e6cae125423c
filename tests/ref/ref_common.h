/* Scalar helpers shared by the CPU references: exact bf16/f16 conversions. */
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float
ref_bf16_to_f32(uint16_t h)
{
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Round to nearest even, NaN stays NaN. */
static inline uint16_t
ref_f32_to_bf16(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static inline float
ref_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= sign;
    memcpy(&f, &u, 4);
    return f;
  }
  uint32_t u = sign | ((exp == 31 ? 255u : exp + 112u) << 23) | (man << 13);
  memcpy(&f, &u, 4);
  return f;
}

/* Round to nearest even (values in range; used to make test data). */
static inline uint16_t
ref_f32_to_f16(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  float a = fabsf(f);
  if (a >= 65520.0f)
    return (uint16_t)(sign | 0x7c00u);
  if (a < 6.103515625e-05f) {
    /* subnormal: units of 2^-24 */
    uint32_t m = (uint32_t)nearbyintf(a * 16777216.0f);
    return (uint16_t)(sign | m);
  }
  memcpy(&u, &a, 4);
  uint32_t exp = (u >> 23) - 112u;
  uint32_t man = u & 0x7fffffu;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    h++;
  return (uint16_t)(sign | h);
}
