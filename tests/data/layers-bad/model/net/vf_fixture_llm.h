#pragma once
#include "vf_fixture_image.h"
#include "vf_fixture_ops.h"
