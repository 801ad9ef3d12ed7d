#!/usr/bin/env bash
# Regenerates the SLfM figures (docs/results.md, "SLfM"): rotation-only binaural ShoeboxAV scenes, the tiny CPU runs
# (binauralize → slfm, their ablations, the supervised network with labels; 200 and 1000 training rooms), the
# choice between runs on the val80 rooms and the held-out evaluation. The shipped weights: slfm-onset-1000-tiny
# (stop 29; stop 28 shipped slfm-cauchy-1000-tiny).
# Usage: tools/reproduce_slfm_results.sh [DATA_DIR] [RUNS_DIR]   (defaults data/slfm, runs)
# A finished run (RUNS_DIR/NAME/done) is skipped, a stopped one resumes. Logs: RUNS_DIR/NAME.log.
set -euo pipefail
data=${1:-data/slfm}
runs=${2:-runs}
av=${AV_POSE:-av-pose}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# train800: 800 more training rooms for the data-scale runs at the end (stop 27); val80: 80 more validation rooms
# to choose between runs (stop 28; the 20-room val split picks each run's checkpoint, unlabelled)
for split_spec in "train 200 7100" "val 20 7200" "test 40 7300" "train800 800 7400" "val80 80 7250"; do
  set -- $split_spec
  [ -f "$data/$1/.done" ] && continue
  $av synth --out "$data/$1" --rotation-only --array binaural --sources 1 --image-size 128x96 --duration 10 \
    --scenes "$2" --seed "$3"
  touch "$data/$1/.done"
done
paths="data.train=[$data/train] data.val=[$data/val]"
source "$(dirname "$0")/train_runs.sh"  # train NAME CONFIG [overrides...]
mkdir -p "$runs"
train slfm-supervised-tiny config/train/slfm-supervised-tiny.yaml
train slfm-binauralize-tiny config/train/slfm-binauralize-tiny.yaml
# The 200-room runs of stops 27–28 name their side cue (itd-azimuth): the config's default is stop 29's onset cue
az=model.slfm.side_cue=itd-azimuth
train slfm-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" $az
# stop 27's slfm-tiny: the same soft side target met by SLfM's cross-entropy (stop 28 ships the Cauchy side loss),
# and the Cauchy loss at other scales
train slfm-itd-azimuth-bce-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.side_loss=bce $az
for scale in 5 20; do
  train "slfm-cauchy$scale-tiny" config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
    model.slfm.side_scale_deg=$scale $az
done
# the shipped config again with another seed (run-to-run spread)
train slfm-seed1-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" seed=1 $az
# stop 26's slfm-tiny: the hard side from the time difference's sign
train slfm-itd-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.side_cue=itd model.slfm.side_loss=bce
# SLfM's own left/right cue (the level ratio) in place of the time difference: usable now that the preset has a head
train slfm-iid-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.side_cue=iid model.slfm.side_loss=bce
# Ablations: without the NormMUSIC spectrum in the audio network; and stop 24's model (the rotation's sign alone
# from the images, no spectrum)
train slfm-nodoa-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.audio.doa=false model.slfm.side_cue=itd model.slfm.side_loss=bce
train slfm-sign-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.audio.doa=false model.slfm.visual_cue=sign model.slfm.side_cue=itd model.slfm.side_loss=bce
# Stop 29: the side target from the onset-weighted time difference (read through the head's own lag table), and
# the audio network's NormMUSIC spectrum with onset emphasis
train slfm-onset-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.side_cue=itd-onset-azimuth
train slfm-doaonset-tiny config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-tiny/checkpoint-best.pt" \
  model.slfm.audio.doa_onset=true $az
# Choosing between the side losses on the 80 extra validation rooms (labelled, never the test split)
for run in tiny seed1-tiny cauchy5-tiny cauchy20-tiny itd-azimuth-bce-tiny onset-tiny doaonset-tiny; do
  $av eval --azimuth --data "$data/val80" --model "$runs/slfm-$run/checkpoint-best.pt" --stride 10 --device cpu \
    > "docs/results/slfm/validation80_${run%-tiny}.md"
done
# slfm: checkpoint-best (picked by the unlabelled validation loss); the rotation's global sign is also fitted on the
# validation split (one bit of supervision, reported apart as slfm_sign_calibrated).
mkdir -p docs/results/slfm
$av eval --azimuth --data "$data/test" --model "$runs/slfm-tiny/checkpoint-best.pt" \
  --supervised "$runs/slfm-supervised-tiny/checkpoint-best.pt" --sign-calibration "$data/val" --stride 10 \
  --device cpu --json "$runs/slfm-eval.json" > docs/results/slfm/azimuth_eval.md
$av eval --azimuth --data "$data/test" --model "$runs/slfm-iid-tiny/checkpoint-best.pt" --sign-calibration "$data/val" \
  --stride 10 --device cpu --json "$runs/slfm-iid-eval.json" > docs/results/slfm/azimuth_eval_iid.md
for ablation in itd-azimuth-bce cauchy5 cauchy20 seed1 itd nodoa sign onset doaonset; do
  $av eval --azimuth --data "$data/test" --model "$runs/slfm-$ablation-tiny/checkpoint-best.pt" \
    --sign-calibration "$data/val" --stride 10 --device cpu --json "$runs/slfm-$ablation-eval.json" \
    > docs/results/slfm/azimuth_eval_$ablation.md
done
# Data scale (stop 27): the same configs on 1000 training rooms (train + train800; 2 binauralize and 6 slfm epochs,
# about the optimizer steps ×3.8): the hard and the soft time-difference side cue with cross-entropy (stop 27) and
# the Cauchy side loss (stop 28). The shipped slfm-tiny is slfm-onset-1000-tiny (tools/ship_run.py RUN slfm-tiny; stop 28's
# was slfm-cauchy-1000-tiny); its table is azimuth_eval_1000_onset.md and the plot azimuth_errors.png.
paths="data.train=[$data/train,$data/train800] data.val=[$data/val]"
train slfm-supervised-1000-tiny config/train/slfm-supervised-tiny.yaml
train slfm-binauralize-1000-tiny config/train/slfm-binauralize-tiny.yaml optim.epochs=2
# Stop 29: the onset-weighted side target ("onset") and the onset-emphasised spectrum ("doaonset") on 1000 rooms;
# stop 30: both at once ("onsetboth").
for variant in "itd itd bce" "itd-azimuth itd-azimuth bce" "cauchy itd-azimuth cauchy" \
               "onset itd-onset-azimuth cauchy" "doaonset itd-azimuth cauchy model.slfm.audio.doa_onset=true" \
               "onsetboth itd-onset-azimuth cauchy model.slfm.audio.doa_onset=true"; do
  set -- $variant
  train "slfm-$1-1000-tiny" config/train/slfm-tiny.yaml init="$runs/slfm-binauralize-1000-tiny/checkpoint-best.pt" \
    optim.epochs=6 model.slfm.side_cue=$2 model.slfm.side_loss=$3 "${@:4}"
  plot=(); [ "$1" = onset ] && plot=(--plot docs/results/slfm)
  $av eval --azimuth --data "$data/test" --model "$runs/slfm-$1-1000-tiny/checkpoint-best.pt" \
    --supervised "$runs/slfm-supervised-1000-tiny/checkpoint-best.pt" --sign-calibration "$data/val" --stride 10 \
    --device cpu --json "$runs/slfm-$1-1000-eval.json" "${plot[@]}" > "docs/results/slfm/azimuth_eval_1000_$1.md"
  $av eval --azimuth --data "$data/val80" --model "$runs/slfm-$1-1000-tiny/checkpoint-best.pt" --stride 10 \
    --device cpu > "docs/results/slfm/validation80_$1-1000.md"
done
cat docs/results/slfm/azimuth_eval_1000_onset.md
# Stop 29: the floor of the SLfM protocol for any reading of a two-ear head (the cone of confusion; no network)
for split in test val80; do
  "${PYTHON:-python}" "$(dirname "$0")/slfm_lateral_floor.py" "$data/$split" --json "docs/results/slfm/lateral_floor_$split.json" > /dev/null
done
