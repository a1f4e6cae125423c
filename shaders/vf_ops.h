/* The op library: one header per op family. */
#pragma once

#include "ops_activation.h"
#include "ops_attention.h"
#include "ops_common.h"
#include "ops_elementwise.h"
#include "ops_matmul.h"
#include "ops_matmul_quant.h"
#include "ops_memread.h"
#include "ops_norm.h"
#include "ops_reduce.h"
#include "ops_rope.h"
