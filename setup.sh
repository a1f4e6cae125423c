#!/bin/sh
# Viewfinder's two set-up commands on a fresh Debian 12 machine:
#   ./setup.sh run    install missing packages, configure, build, start the app (extra arguments go to
#                     build/app/viewfinder, e.g. ./setup.sh run --model ~/models/Qwen2-VL-2B-Instruct)
#   ./setup.sh test   install missing packages, configure, build, run every test; then build again with clang,
#                     AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer and libFuzzer (build-asan)
#                     and run the unit, golden and fuzz suites there; the last line printed is
#                     "N passed, N failed" over both builds
set -eu
cd "$(dirname "$0")"

what="${1:-run}"
[ $# -gt 0 ] && shift
case "$what" in
  run|test) ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

sh scripts/deps.sh

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=debugoptimized
fi
ninja -C build

if [ "$what" = run ]; then
  if [ -x build/app/viewfinder ]; then
    if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
      exec build/app/viewfinder "$@"
    fi
    echo "viewfinder: no display (DISPLAY and WAYLAND_DISPLAY are unset): listing the Vulkan devices instead." >&2
    echo "viewfinder: start build/app/viewfinder from a desktop session." >&2
  fi
  exec build/app/viewfinder-cli devices
fi

# XDG_RUNTIME_DIR: Mesa and GTK complain without one (CI has none).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
rc=0
meson test -C build --print-errorlogs --num-processes 2 || rc=$?

# The sanitizer build: clang with ASan + UBSan (+ LSan, on with ASan) and the libFuzzer harnesses.
if [ ! -f build-asan/build.ninja ]; then
  CC=clang meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz=true
fi
if ninja -C build-asan; then
  meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 --suite unit --suite golden \
    --suite fuzz || rc=$?
  asan_log=build-asan/meson-logs/testlog.json
else
  rc=1
  asan_log=""
  echo "viewfinder: the sanitizer build failed" >&2
fi
# shellcheck disable=SC2086
python3 scripts/test_summary.py build/meson-logs/testlog.json $asan_log || rc=1
exit $rc
