/* The op library: one header per op family. */
#pragma once

#include "ops_common.h"
#include "ops_elementwise.h"
