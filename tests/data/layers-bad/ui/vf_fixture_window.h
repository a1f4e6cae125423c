#pragma once
#include <gtk/gtk.h>
#include "vf_fixture_session.h"
