// Shared helpers for Viewfinder compute shaders.
// Storage conventions: activations are f32; weights are bf16/f16 packed two per uint32
// (element 2i in the low half, 2i+1 in the high half, little-endian as stored on disk) or f32.

#extension GL_EXT_control_flow_attributes : enable

// bf16 -> f32 is exact: the bf16 bits are the top half of the f32.
float bf16_lo(uint w) { return uintBitsToFloat(w << 16); }
float bf16_hi(uint w) { return uintBitsToFloat(w & 0xffff0000u); }
vec2 bf16x2(uint w) { return vec2(bf16_lo(w), bf16_hi(w)); }
vec2 f16x2(uint w) { return unpackHalf2x16(w); }

// 2-D dispatch grid for 1-D work larger than 65535 workgroups: group index = x + y * num_x.
uint flat_group_index() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
