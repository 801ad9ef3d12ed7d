#!/usr/bin/env bash
# Regenerates the ZoneNet figures (docs/results.md, "Sound sources", stops 30–32): ShoeboxAV training scenes with 1–4
# sources for the ReSpeaker 4 and the UMA-8 (train: stop 30's 320) and for the ReSpeaker 4, UMA-8 and ReSpeaker 6
# (train2: stop 32's 480 more; seeds disjoint from the tracking sets), the tiny CPU runs, and the tracker scored on
# the tracking sets of tools/reproduce_sources_results.sh (and its ReSpeaker 6 sets, SOURCE_SETS_respeaker6).
# Usage: tools/reproduce_zone_net_results.sh [DATA_DIR] [RUNS_DIR] [SOURCE_SETS]
#   (defaults data/zone_net, runs, /tmp/av_pose_sources/scenes: run tools/reproduce_sources_results.sh first)
# Rendering ~45 min, training 45 + 25 min (stop 37's zone_sources run: 83 min on 2 threads), evaluation ~25 min on
# 2 cores. The shipped zone-net-tiny is zone-net-tiny
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
for spec in "respeaker4 1 2120" "respeaker4 2 2130" "respeaker4 3 2140" "respeaker4 4 2150" \
            "uma8 1 2114" "uma8 2 2124" "uma8 3 2134" "uma8 4 2144" \
            "respeaker6 1 2160" "respeaker6 2 2170" "respeaker6 3 2180" "respeaker6 4 2190"; do
  set -- $spec
  render "$data/train2/$1_s$2" "$1" "$2" 40 "$3"
done
render "$data/val/respeaker4_s3" respeaker4 3 10 1503
render "$data/val/uma8_s3" uma8 3 10 1513
paths="data.train=[$data/train,$data/train2] data.val=[$data/val]"
source "$(dirname "$0")/train_runs.sh"  # train NAME CONFIG [overrides...]
mkdir -p "$runs" docs/results/sources
train zone-net-tiny config/train/zone-net-tiny.yaml
# stop 37's run with two-dimensional zone subspaces on every array (model.zone_net.zone_sources=2; not shipped: its
# sweep is docs/results/sources/zone_net_threshold_sweep_zone_sources2.*)
train zone-net-zone-sources2-tiny config/train/zone-net-tiny.yaml model.zone_net.zone_sources=2
# stop 30's ablation without the onset spectrum, on stop 30's data and schedule (its tables: *_zone_net_no_onsets)
train zone-net-no-onsets-tiny config/train/zone-net-tiny.yaml model.zone_net.onsets=false "data.train=[$data/train]" \
  optim.epochs=8
for set_dir in "$sets"/*_s[234] "${sets}_respeaker6"/*_s[234]; do
  name=$(basename "$set_dir")
  $av eval --tracks --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/tracks_${name}_zone_net.json" > "docs/results/sources/tracks_${name}_zone_net.md"
  case $name in *respeaker6*) continue;; esac
  $av eval --tracks --zone-net "$runs/zone-net-no-onsets-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/tracks_${name}_zone_net_no_onsets.json" \
    > "docs/results/sources/tracks_${name}_zone_net_no_onsets.md"
  case $name in heldout_*) continue;; esac
  $av eval --sources --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" --data "$set_dir" --no-progress \
    --json "docs/results/sources/sources_${name}_zone_net.json" > "docs/results/sources/sources_${name}_zone_net.md"
done
# the peak threshold against the tracking scores (the default, zone_net_doa.THRESHOLD, is the best MOTA of the six
# development sets: 0.65 for stop 32's network)
${PYTHON:-python} tools/zone_net_threshold_sweep.py "$sets" --zone-net "$runs/zone-net-tiny/checkpoint-best.pt" \
  --thresholds 0.4 0.5 0.55 0.6 0.65 0.7 0.8 \
  --json docs/results/sources/zone_net_threshold_sweep_tiny.json > docs/results/sources/zone_net_threshold_sweep_tiny.md
${PYTHON:-python} tools/zone_net_threshold_sweep.py "$sets" --zone-net "$runs/zone-net-zone-sources2-tiny/checkpoint-best.pt" \
  --thresholds 0.5 0.55 0.6 0.65 0.7 --json docs/results/sources/zone_net_threshold_sweep_zone_sources2.json \
  > docs/results/sources/zone_net_threshold_sweep_zone_sources2.md
${PYTHON:-python} tools/zone_net_threshold_sweep.py "${sets}_respeaker6" --zone-net \
  "$runs/zone-net-tiny/checkpoint-best.pt" --thresholds 0.5 0.55 0.6 0.65 0.7 \
  --json docs/results/sources/zone_net_threshold_sweep_tiny_respeaker6.json \
  > docs/results/sources/zone_net_threshold_sweep_tiny_respeaker6.md
tail -n 12 docs/results/sources/tracks_*_zone_net.md
