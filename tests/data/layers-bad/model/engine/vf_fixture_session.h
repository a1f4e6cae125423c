#pragma once
#include "vf_fixture_llm.h"
