#!/bin/sh
# Viewfinder's two set-up commands on a fresh Debian 12 machine:
#   ./setup.sh run    install missing packages, configure, build, start the app
#   ./setup.sh test   install missing packages, configure, build, run every test;
#                     the last line printed is "N passed, N failed"
set -eu
cd "$(dirname "$0")"

what="${1:-run}"
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
    exec build/app/viewfinder
  fi
  exec build/app/viewfinder-cli devices
fi

# XDG_RUNTIME_DIR: Mesa and GTK complain without one (CI has none).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
rc=0
meson test -C build --print-errorlogs --num-processes 2 || rc=$?
python3 scripts/test_summary.py build/meson-logs/testlog.json || rc=1
exit $rc
