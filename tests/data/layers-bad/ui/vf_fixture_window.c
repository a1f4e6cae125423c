#include "vf_fixture_window.h"
#include "vf_fixture_missing.h"
#include <gtk/gtk.h>
