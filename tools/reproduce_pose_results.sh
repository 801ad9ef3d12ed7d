#!/usr/bin/env bash
# Regenerates docs/results.md: the ShoeboxAV set, every model of the table (CPU-sized configs), the evaluation.
# Usage: tools/reproduce_pose_results.sh [DATA_DIR] [RUNS_DIR]   (defaults data/shoeboxav, runs)
# Each training resumes where it stopped; a finished one (runs/NAME/done) is skipped. Logs: RUNS_DIR/NAME.log.
set -euo pipefail
data=${1:-data/shoeboxav}
runs=${2:-runs}
av=${AV_POSE:-av-pose}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # CPU: one thread per process (2-core machines thrash with more)
AV_POSE=$av tools/make_pose_data.sh "$data"
split() { echo "[$data/$1]"; }
paths="data.train=$(split train) data.val=$(split val)"
source "$(dirname "$0")/train_runs.sh"  # train NAME CONFIG [overrides...]
mkdir -p "$runs"
stage=${STAGE:-all}  # vision | audio | fused | all: run the independent groups on separate cores if you like
if [ "$stage" = all ] || [ "$stage" = audio ]; then
  train chance config/train/chance.yaml
  train doa-cp config/train/doa-cp.yaml
  train nvas-tiny config/train/nvas-tiny.yaml
  train doa-cp-corr config/train/doa-cp.yaml model.doa_correlation=true
fi
if [ "$stage" = all ] || [ "$stage" = vision ]; then
  train vision-tiny config/train/vision-tiny.yaml
  train na-cp-tiny config/train/vision-tiny.yaml model.kind=na-cp  # spectrogram images in place of RGB
fi
if [ "$stage" = all ] || [ "$stage" = fused ]; then
  fused="init=$runs/vision-tiny/checkpoint-best.pt model.nvas_init=$runs/nvas-tiny/checkpoint-best.pt"
  train av-tiny config/train/av-tiny.yaml $fused
  train av-gate-tiny config/train/av-tiny.yaml $fused model.kind=av-gate
  train av-paper-tiny config/train/av-tiny.yaml $fused model.doa_correlation=false
  train av-no-doa-tiny config/train/av-tiny.yaml $fused model.kind=av-no-doa
  train av-no-binaural-tiny config/train/av-tiny.yaml init="$runs/vision-tiny/checkpoint-best.pt" \
    model.kind=av-no-binaural
  train reloc3r-av-tiny config/train/av-tiny.yaml init="$runs/vision-tiny/checkpoint-best.pt" model.kind=reloc3r-av
fi
[ "$stage" = all ] || [ "$stage" = eval ] || exit 0
models=""
for name in chance doa-cp doa-cp-corr na-cp-tiny vision-tiny reloc3r-av-tiny av-paper-tiny av-tiny av-gate-tiny \
    av-no-doa-tiny av-no-binaural-tiny; do
  [ -f "$runs/$name/done" ] && models="$models --model $runs/$name/checkpoint-best.pt"
done
mkdir -p docs/results/table1 docs/results/detail
# Table 1 (every model; 1 s gap; clean and the mixed corrupted set) and the detail study (per corruption type,
# per gap 0.5-4 s) for the shipped pair and the geometric estimator; the two can run on separate cores.
$av eval $models --model geometric --data "$data/test" --corrupted mixed --gap 1 --stride 4 --device cpu \
  --no-progress --json docs/results/table1/pose_eval.json --plot docs/results/table1 > docs/results/table1/pose_eval.md
$av eval --model "$runs/av-tiny/checkpoint-best.pt" --model "$runs/vision-tiny/checkpoint-best.pt" --model geometric \
  --data "$data/test" --corrupted mixed,blur,noise,jitter --gap 0.5 1 2 4 --stride 12 --device cpu --no-progress \
  --json docs/results/detail/pose_eval.json --plot docs/results/detail > docs/results/detail/pose_eval.md
${PYTHON:-python3} tools/ship_models.py "$runs" docs/results/table1/pose_eval.json
echo "results in docs/results/ (see docs/results.md); shipped weights in av_pose/weights/"
