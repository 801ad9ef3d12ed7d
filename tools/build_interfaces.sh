#!/usr/bin/env bash
# Build the ROS 2 interface packages under tools/interfaces into a Python venv prefix.
#
# The PyPI ROS 2 wheels ship a full install prefix inside the venv but not tf2_msgs or audio
# message packages; this builds them from their .msg files with the wheels' rosidl toolchain and
# installs them into the same prefix (with av_pose's own av_pose_msgs), so `VENV/bin/python -c "import tf2_msgs.msg"` just works.
# Usage: tools/build_interfaces.sh VENV_DIR
set -euo pipefail
venv=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py="$venv/bin/python"
pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$py" -c 'import numpy; print(numpy.get_include())')

# The wheels' exported CMake files name the manylinux build paths; point them at this interpreter.
{ grep -rlZ '/opt/python/cp311-cp311' "$venv/share" --include='*.cmake' 2>/dev/null || true; } |
  xargs -0 -r sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$npinc#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$pyinc#g"

build_root=$(mktemp -d)
trap 'rm -rf "$build_root"' EXIT
repo=$(dirname "$here")
for source in "$here/interfaces/tf2_msgs" "$here/interfaces/audio_common_msgs" "$here/interfaces/audio_utils_msgs" \
    "$repo/av_pose_msgs"; do
  pkg=$(basename "$source")
  mkdir -p "$build_root/$pkg"
  (
    cd "$build_root/$pkg"
    CMAKE_PREFIX_PATH="$venv" AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH" \
      cmake "$source" -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF \
      -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_BUILD_TYPE=Release >/dev/null
    PATH="$venv/bin:$PATH" make -j2 >/dev/null
    make install >/dev/null
  )
  echo "built $pkg into $venv"
done
