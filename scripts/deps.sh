#!/bin/sh
# Installs the Debian 12 packages Viewfinder needs, only those that are missing. (clang, its sanitizer and
# libFuzzer runtimes and llvm-symbolizer are for the sanitizer and fuzz runs of setup.sh test.)
# Uses sudo when not root. Safe to run repeatedly.
set -eu

PACKAGES="
  build-essential pkg-config meson ninja-build python3
  libglib2.0-dev libjson-glib-dev libgtk-4-dev libadwaita-1-dev libpango1.0-dev
  libvulkan-dev libvulkan-volk-dev glslc spirv-tools
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  libpng-dev libjpeg-dev
  libsoup-3.0-dev glib-networking
  libpoppler-glib-dev libcairo2-dev
  libsqlite3-dev
  xvfb xauth xdotool imagemagick dbus dbus-x11 libglib2.0-bin
  fonts-dejavu-core adwaita-icon-theme desktop-file-utils appstream
  clang libclang-rt-14-dev llvm
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

# The OpenAI SDK compatibility test runs the official `openai` npm package with node. By command rather than by
# package: a machine with NodeSource's nodejs (which bundles npm and conflicts with Debian's npm) has both.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -z "$missing" ]; then
  exit 0
fi

echo "viewfinder: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
