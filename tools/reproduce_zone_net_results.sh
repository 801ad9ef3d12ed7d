#!/usr/bin/env bash
# Regenerates the ZoneNet figures (docs/results.md, "Sound sources", stop 30): ShoeboxAV training scenes with 1–4
# sources for the ReSpeaker 4 and the UMA-8 (seeds disjoint from the tracking sets), the tiny CPU run, and the
# tracker scored on the tracking sets of tools/reproduce_sources_results.sh with zone voting and with ZoneNet.
# Usage: tools/reproduce_zone_net_results.sh [DATA_DIR] [RUNS_DIR] [SOURCE_SETS]
#   (defaults data/zone_net, runs, /tmp/av_pose_sources/scenes: run tools/reproduce_sources_results.sh first)
# Rendering ~30 min, training 2 × 25 min, evaluation ~25 min on 2 cores. The shipped zone-net-tiny is zone-net-tiny
# (tools/ship_run.py RUNS_DIR/zone-net-tiny zone-net-tiny).
set -euo pipefail
data=${1:-data/zone_net}
runs=${2:-runs}
sets=${3:-/tmp/av_pose_sources/scenes}
av=${AV_POSE:-av-pose}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
render() {  # folder array sources scenes seed
  [ -f "$1/.done" ] && return 0
  rm -rf "$1"
  $av synth --out "$1" --scenes "$4" --duration 20 --sources "$3" --image-size 64x48 --array "$2" \
    --sample-rate 16000 --seed "$5" --workers 1
  touch "$1/.done"
}
for spec in "respeaker4 1 1120" "respeaker4 2 1130" "respeaker4 3 1140" "respeaker4 4 1150" \
            "uma8 1 1114" "uma8 2 1124" "uma8 3 1134" "uma8 4 1144"; do
  set -- $spec
  render "$data/train/$1_s$2" "$1" "$2" 40 "$3"
done
render "$data/val/respeaker4_s3" respeaker4 3 10 1503
render "$data/val/uma8_s3" uma8 3 10 1513
paths="data.train=[$data/train] data.val=[$data/val]"
source "$(dirname "$0")/train_runs.sh"  # train NAME CONFIG [overrides...]
mkdir -p "$runs" docs/results/sources
train zone-net-tiny config/train/zone-net-tiny.yaml
train zone-net-no-onsets-tiny config/train/zone-net-tiny.yaml model.zone_net.onsets=false  # the ablation
for set_dir in "$sets"/*_s[234]; do
  name=$(basename "$set_dir")
  $av eval --tracks --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/tracks_${name}_zone_net.json" > "docs/results/sources/tracks_${name}_zone_net.md"
  $av eval --tracks --zone-net "$runs/zone-net-no-onsets-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/tracks_${name}_zone_net_no_onsets.json" \
    > "docs/results/sources/tracks_${name}_zone_net_no_onsets.md"
  case $name in heldout_*) continue;; esac
  $av eval --sources --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/sources_${name}_zone_net.json" > "docs/results/sources/sources_${name}_zone_net.md"
done
# the peak threshold against the tracking scores (stop 31: the default 0.6 was chosen here)
${PYTHON:-python} tools/zone_net_threshold_sweep.py "$sets" --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" \
  --json docs/results/sources/zone_net_threshold_sweep_tiny.json > docs/results/sources/zone_net_threshold_sweep_tiny.md
tail -n 12 docs/results/sources/tracks_*_zone_net.md
