#!/usr/bin/env python3
"""The layer order of the source tree (tests/check_layers.py), and proof that the check can fail: the
fixture tree tests/data/layers-bad breaks each rule once and must give exactly these violations. TAP."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, 'tests', 'data', 'layers-bad')

EXPECTED_IN_FIXTURE = [
    'ui/vf_fixture_window.c:2: #include "vf_fixture_missing.h": no such header in the tree',
    'model/text/vf_fixture_tokenizer.c:1: #include <libavcodec/avcodec.h>: '
    'FFmpeg, libpng, libjpeg and poppler headers belong to model/media/ only',
    'model/text/vf_fixture_tokenizer.c:2: #include "vf_fixture_image.h": upward, model/text/ may not include '
    'model/media/',
    'shaders/vf_fixture_ops.h:3: #include "vf_fixture_session.h": upward, shaders/ may not include model/engine/',
    'ui/vf_fixture_window.c: sees Vulkan through ui/vf_fixture_window.h → model/engine/vf_fixture_session.h → '
    'model/net/vf_fixture_llm.h → shaders/vf_fixture_ops.h',
    'ui/vf_fixture_window.h: sees Vulkan through model/engine/vf_fixture_session.h → model/net/vf_fixture_llm.h → '
    'shaders/vf_fixture_ops.h',
]


def main():
    print('1..2')
    failed = 0
    problems = check_layers.check(ROOT)
    if problems:
        failed += 1
        print('not ok 1 - the source tree keeps the layer order')
        for p in problems:
            print('# ' + p)
    else:
        print('ok 1 - the source tree keeps the layer order')
    got = check_layers.check(FIXTURE)
    if sorted(got) != sorted(EXPECTED_IN_FIXTURE):
        failed += 1
        print('not ok 2 - the fixture breaks each rule once and every break is reported')
        for p in sorted(set(got) - set(EXPECTED_IN_FIXTURE)):
            print('# unexpected: ' + p)
        for p in sorted(set(EXPECTED_IN_FIXTURE) - set(got)):
            print('# missing: ' + p)
    else:
        print('ok 2 - the fixture breaks each rule once and every break is reported')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
