#pragma once
#include "vf_fixture_device.h"
#include "vf_fixture_session.h"
