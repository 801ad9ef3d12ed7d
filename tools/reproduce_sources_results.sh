#!/usr/bin/env bash
# Regenerate the sound-source figures of docs/results.md (tracking and the source map) on CPU.
# Usage: tools/reproduce_sources_results.sh [OUT_DIR]   (default /tmp/av_pose_sources; ~20 min on 2 cores)
set -euo pipefail
out=${1:-/tmp/av_pose_sources}
py=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p "$out/results"
for n in 2 3 4; do
  for array in respeaker4 uma8; do
    set_dir="$out/scenes/${array}_s$n"
    [ -d "$set_dir" ] || "$py" -m av_pose.cli synth --out "$set_dir" --scenes 6 --duration 20 --sources "$n" \
      --image-size 64x48 --array "$array" --sample-rate 16000 --seed "$n" --workers 1
    # zone voting (--zone-frames 4; the CLI's default front end is ZoneNet since stop 33:
    # tools/reproduce_zone_net_results.sh scores it)
    "$py" -m av_pose.cli eval --tracks --zone-frames 4 --data "$set_dir" --json "$out/results/tracks_${array}_s$n.json" \
      --no-progress > "$out/results/tracks_${array}_s$n.md"
    # the same with one NormMUSIC spectrum per 1 s window (the front end before zone voting), for comparison
    "$py" -m av_pose.cli eval --tracks --zone-frames 0 --window 1 --data "$set_dir" --no-progress \
      --json "$out/results/tracks_${array}_s${n}_whole.json" > "$out/results/tracks_${array}_s${n}_whole.md"
    # the same with onset votes (`--onset-emphasis`, an option, off by default)
    "$py" -m av_pose.cli eval --tracks --onset-emphasis --data "$set_dir" --no-progress \
      --json "$out/results/tracks_${array}_s${n}_onsets.json" > "$out/results/tracks_${array}_s${n}_onsets.md"
    "$py" -m av_pose.cli eval --sources --zone-frames 4 --data "$set_dir" --json "$out/results/sources_${array}_s$n.json" \
      --no-progress > "$out/results/sources_${array}_s$n.md"
  done
done
heldout() {  # folder array sources seed: render a held-out set there and score zone voting's tracks on it
  local set_dir="$1/heldout_${2}_s$3"
  [ -d "$set_dir" ] || "$py" -m av_pose.cli synth --out "$set_dir" --scenes 6 --duration 20 --sources "$3" \
    --image-size 64x48 --array "$2" --sample-rate 16000 --seed "$4" --workers 1
  "$py" -m av_pose.cli eval --tracks --zone-frames 4 --data "$set_dir" --json "$out/results/tracks_heldout_${2}_s$3.json" \
    --no-progress > "$out/results/tracks_heldout_${2}_s$3.md"
}
# held-out sets (other seeds), tracking only: the tracker defaults were tuned on the sets above
for spec in "respeaker4 2 102" "respeaker4 3 103" "uma8 3 203" "uma8 4 204"; do
  set -- $spec
  heldout "$out/scenes" "$@"
  "$py" -m av_pose.cli eval --tracks --onset-emphasis --data "$out/scenes/heldout_${1}_s$2" --no-progress \
    --json "$out/results/tracks_heldout_${1}_s$2_onsets.json" > "$out/results/tracks_heldout_${1}_s$2_onsets.md"
done
# held-out sets of the ReSpeaker 6, the demo's array (stop 32), in a folder of their own (OUT/scenes_respeaker6), so
# that the ten sets above keep their means
heldout "$out/scenes_respeaker6" respeaker6 3 603
heldout "$out/scenes_respeaker6" respeaker6 4 604
# the map with the pose pipeline's own odometry: the ShoeboxAV test split (tools/make_pose_data.sh), uma8
if [ -d /work/data/shoeboxav/test/uma8 ] || [ -n "${POSE_TEST:-}" ]; then
  "$py" -m av_pose.cli eval --sources --zone-frames 4 --data "${POSE_TEST:-/work/data/shoeboxav/test/uma8}" --model geometric \
    --json "$out/results/sources_test_uma8_geometric.json" --no-progress > "$out/results/sources_test_uma8_geometric.md"
  "$py" -m av_pose.cli eval --sources --data "${POSE_TEST:-/work/data/shoeboxav/test/uma8}" --model geometric \
    --json "$out/results/sources_test_uma8_geometric_zone_net.json" --no-progress \
    > "$out/results/sources_test_uma8_geometric_zone_net.md"
  # the same with the true poses as a wheel odometry that also gives each pair's travel
  "$py" -m av_pose.cli eval --sources --zone-frames 4 --data "${POSE_TEST:-/work/data/shoeboxav/test/uma8}" --model geometric \
    --translation-scale odometry --json "$out/results/sources_test_uma8_geometric_wheels.json" --no-progress \
    > "$out/results/sources_test_uma8_geometric_wheels.md"
  "$py" -m av_pose.cli eval --sources --data "${POSE_TEST:-/work/data/shoeboxav/test/uma8}" --model geometric \
    --translation-scale odometry --json "$out/results/sources_test_uma8_geometric_zone_net_wheels.json" --no-progress \
    > "$out/results/sources_test_uma8_geometric_zone_net_wheels.md"
fi
tail -n 12 "$out"/results/*.md
