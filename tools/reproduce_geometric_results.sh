#!/usr/bin/env bash
# Regenerate the weightless `geometric` figures of docs/results.md (issue 10 §1) on CPU: three ShoeboxAV sets,
# each evaluated for geometric-vision (the reference), geometric (fused) and geometric-audio, clean and corrupted.
#   rotation: the rig only turns, one static source (talker, music, noise, babble or clicks), SNR 30 dB;
#   rotation_snr10: the same scenes with the sensor noise 10 dB below the signal;
#   moving:   the default synth (the rig walks and turns, two sources, a quarter of them walking).
# Respeaker 4-mic and UMA-8, 16 scenes of 10 s each per array and set, 256x192 frames.
# Usage: tools/reproduce_geometric_results.sh [OUT_DIR]   (default /tmp/av_pose_geometric; ~80 min on 2 cores)
set -euo pipefail
out=${1:-/tmp/av_pose_geometric}
py=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p docs/results/geometric
synth() {  # set array seed options...
  local dir="$out/$1/$2"
  shift 2
  [ -f "$dir/.done" ] || { "$py" -m av_pose.cli synth --out "$dir" --scenes 16 --duration 10 "$@" && touch "$dir/.done"; }
}
synth rotation respeaker4 --array respeaker4 --seed 900 --rotation-only --sources 1 --moving-sources 0
synth rotation uma8 --array uma8 --seed 1000 --rotation-only --sources 1 --moving-sources 0
synth rotation_snr10 respeaker4 --array respeaker4 --seed 900 --rotation-only --sources 1 --moving-sources 0 --snr 10
synth rotation_snr10 uma8 --array uma8 --seed 1000 --rotation-only --sources 1 --moving-sources 0 --snr 10
synth moving respeaker4 --array respeaker4 --seed 700
synth moving uma8 --array uma8 --seed 800
for set in rotation rotation_snr10 moving; do
  "$py" -m av_pose.cli eval --model geometric-vision --model geometric --model geometric-audio --data "$out/$set" \
    --corrupted mixed --stride 2 --device cpu --no-progress --json "docs/results/geometric/$set.json" \
    > "docs/results/geometric/$set.md"
done
# the odometry over the moving set: chain smoothing (stop 39) and direction hold (stop 40), clean and corrupted
mkdir -p docs/results/odometry
for corrupted in "" "--corrupted"; do
  tag=${corrupted:+_corrupted}
  "$py" tools/odometry_smoothing.py "$out/moving" $corrupted --json "docs/results/odometry/smoothing_moving$tag.json" \
    --md "docs/results/odometry/smoothing_moving$tag.md"
  "$py" tools/direction_hold.py "$out/moving" $corrupted --json "docs/results/odometry/direction_hold_moving$tag.json" \
    --md "docs/results/odometry/direction_hold_moving$tag.md"
done
# fused against vision-only odometry, scored per keyframe and at every frame (stop 42), per array, three corruptions
for array in respeaker4 uma8; do
  for condition in clean corrupted_seed0 corrupted_seed1 corrupted_seed2; do
    options=()
    [ "$condition" = clean ] || options=(--corrupted --corruption-seed "${condition#corrupted_seed}")
    "$py" tools/compare_odometry.py "$out/moving/$array" ${options[@]+"${options[@]}"} \
      --json "docs/results/odometry/compare_moving_${array}_$condition.json" \
      --md "docs/results/odometry/compare_moving_${array}_$condition.md"
  done
done
echo "geometric results in docs/results/geometric and docs/results/odometry"
