#include <libavcodec/avcodec.h>
#include "vf_fixture_image.h"
