// Workgroup-wide reductions for kernels that give one workgroup one row (norms, argmax).
//
// The workgroup size is specialization constant 0 (a power of two, chosen per device by the host).
// With USE_SUBGROUP each subgroup reduces in registers (subgroupAdd/Max/Min) and every invocation then
// combines the per-subgroup partials from shared memory in the same order, so all invocations get
// bit-identical results whatever the subgroup size (1 on some devices, 8 on lavapipe, 32 or 64 on
// GPUs). Without it, a shared-memory tree does the same for devices without subgroup arithmetic.
//
// Both end with a barrier, so the shared arrays can be reused by the next reduction.

#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif

layout(local_size_x_id = 0) in;

// Large enough for one entry per invocation (the tree) or per subgroup (at most one per invocation).
shared float reduce_f[gl_WorkGroupSize.x];
#ifdef REDUCE_ARGMAX
shared uint reduce_key[gl_WorkGroupSize.x];
shared uint reduce_idx[gl_WorkGroupSize.x];
#endif

float workgroup_sum(float v) {
#ifdef USE_SUBGROUP
  v = subgroupAdd(v);
  if (subgroupElect())
    reduce_f[gl_SubgroupID] = v;
  barrier();
  float total = 0.0;
  for (uint s = 0; s < gl_NumSubgroups; s++)
    total += reduce_f[s];
#else
  uint t = gl_LocalInvocationID.x;
  reduce_f[t] = v;
  barrier();
  for (uint k = gl_WorkGroupSize.x / 2u; k > 0u; k >>= 1) {
    if (t < k)
      reduce_f[t] += reduce_f[t + k];
    barrier();
  }
  float total = reduce_f[0];
#endif
  barrier();
  return total;
}

#ifdef REDUCE_ARGMAX
// Argmax candidates are (key, index) pairs: a larger key wins, equal keys go to the lower index.
// The key orders floats as uints (see argmax_key in argmax.comp).
bool argmax_better(uint key_a, uint idx_a, uint key_b, uint idx_b) {
  return key_a > key_b || (key_a == key_b && idx_a < idx_b);
}

void workgroup_argmax(inout uint key, inout uint idx) {
#ifdef USE_SUBGROUP
  uint best = subgroupMax(key);
  uint first = subgroupMin(key == best ? idx : 0xffffffffu);
  if (subgroupElect()) {
    reduce_key[gl_SubgroupID] = best;
    reduce_idx[gl_SubgroupID] = first;
  }
  barrier();
  key = reduce_key[0];
  idx = reduce_idx[0];
  for (uint s = 1; s < gl_NumSubgroups; s++)
    if (argmax_better(reduce_key[s], reduce_idx[s], key, idx)) {
      key = reduce_key[s];
      idx = reduce_idx[s];
    }
#else
  uint t = gl_LocalInvocationID.x;
  reduce_key[t] = key;
  reduce_idx[t] = idx;
  barrier();
  for (uint k = gl_WorkGroupSize.x / 2u; k > 0u; k >>= 1) {
    if (t < k && argmax_better(reduce_key[t + k], reduce_idx[t + k], reduce_key[t], reduce_idx[t])) {
      reduce_key[t] = reduce_key[t + k];
      reduce_idx[t] = reduce_idx[t + k];
    }
    barrier();
  }
  key = reduce_key[0];
  idx = reduce_idx[0];
#endif
  barrier();
}
#endif
