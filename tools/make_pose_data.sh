#!/usr/bin/env bash
# The ShoeboxAV train/val/test set behind docs/results.md: three arrays, several rooms, moving talkers, music
# and noise that start and stop, rig rotation + translation. Usage: tools/make_pose_data.sh DATA_DIR [SCALE]
# (SCALE multiplies the scene counts; 1 → 96 train / 12 val / 24 test scenes of 10 s, 128×96 frames at 10 fps).
set -euo pipefail
out=${1:?usage: tools/make_pose_data.sh DATA_DIR [SCALE]}
scale=${2:-1}
av=${AV_POSE:-av-pose}
gen() {  # split array count seed
  local n=$(( $3 * scale ))
  [ -f "$out/$1/$2/.done" ] && return 0
  $av synth --out "$out/$1/$2" --scenes "$n" --duration 10 --image-size 128x96 --array "$2" --seed "$4"
  touch "$out/$1/$2/.done"
}
for split_seed in "train 1000" "val 2000" "test 3000"; do
  set -- $split_seed
  case $1 in train) k=32;; val) k=4;; test) k=8;; esac
  gen "$1" respeaker4 "$k" "$2"
  gen "$1" uma8 "$k" "$(( $2 + 100 ))"
  gen "$1" binaural "$k" "$(( $2 + 200 ))"
done
echo "ShoeboxAV pose set ready in $out"
