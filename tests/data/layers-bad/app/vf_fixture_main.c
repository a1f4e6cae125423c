#include <gtk/gtk.h>
#include "vf_fixture_window.h"
