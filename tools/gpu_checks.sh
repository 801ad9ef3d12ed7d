#!/usr/bin/env bash
# The checks that need a CUDA GPU, in phases that fit a short lease of a GPU machine whose python3 has torch with
# CUDA (the av_pose checkout is the working directory; nothing is installed into that python).
#   tools/gpu_checks.sh OUT checks   # `pytest -m gpu`, `av-pose bench doa|azimuth|pose` on CUDA (reloc3r-512 fp16
#                                    # with random weights), then the ShoeboxAV pose set at SCALE and the start
#                                    # of a GPU-sized vision-only training in the background
#   tools/gpu_checks.sh OUT finish   # waits for that training, exports it slim and evaluates it on the test split
# Environment: DATA (default /tmp/shoeboxav), RUN (default /tmp/runs/vision-tiny-gpu), SCALE (train scenes ×,
# default 4; or TRAIN_SCENES, VAL_SCENES, TEST_SCENES per array), EPOCHS (default 16), WORKERS (loader processes,
# default: cores − 2), DEVICE (default cuda), WAIT_S (checks: seconds to wait after starting the training),
# TRAIN_BUDGET_S (finish: seconds the training may still run, default 150).
# Results land in OUT: gpu.txt, pytest_gpu.log, bench_*.json, train.log, metrics.csv, vision-tiny-gpu.pt, eval.*.
set -uo pipefail
out=${1:?usage: tools/gpu_checks.sh OUT checks|finish}
phase=${2:?usage: tools/gpu_checks.sh OUT checks|finish}
data=${DATA:-/tmp/shoeboxav}
run=${RUN:-/tmp/runs/vision-tiny-gpu}
scale=${SCALE:-4}
epochs=${EPOCHS:-16}
device=${DEVICE:-cuda}
cores=$(nproc)
workers=${WORKERS:-$(( cores > 3 ? cores - 2 : 1 ))}
py=${PYTHON:-python3}
av="$py -m av_pose.cli"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=1
mkdir -p "$out"
stamp() { echo "[$(date +%T)] $*" | tee -a "$out/phases.log"; }

synth() {  # split array scenes seed: the seeds of tools/make_pose_data.sh, so val/test are its scenes
  [ -f "$data/$1/$2/.done" ] && return 0
  $av synth --out "$data/$1/$2" --scenes "$3" --duration 10 --image-size 128x96 --array "$2" --seed "$4" \
    --workers "$workers" > /dev/null 2>> "$out/synth.err" && touch "$data/$1/$2/.done"
}

if [ "$phase" = checks ]; then
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    $py -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
    echo "cpu cores: $cores"; } > "$out/gpu.txt"
  stamp "pytest -m gpu"
  timeout 240 $py -m pytest -q -m gpu -p no:cacheprovider test/test_doa.py test/test_reloc3r.py \
    test/test_audio_encoder.py > "$out/pytest_gpu.log" 2>&1
  stamp "bench doa"
  timeout 150 $av bench doa --device "$device" --clips 8 --json > "$out/bench_doa.json" 2> "$out/bench.err"
  stamp "bench azimuth"
  timeout 60 $av bench azimuth --device "$device" --json > "$out/bench_azimuth.json" 2>> "$out/bench.err"
  stamp "bench pose"
  $py -c "from av_pose.models.reloc3r import build_reloc3r, save_reloc3r_snapshot
save_reloc3r_snapshot(build_reloc3r('reloc3r-512'), '/tmp/reloc3r-512')" 2>> "$out/bench.err"
  timeout 180 $av bench pose --device "$device" --threads 4 --model av-tiny --model vision-tiny \
    --model doa-cp-tiny --model /tmp/reloc3r-512 --json > "$out/bench_pose.json" 2>> "$out/bench.err"
  stamp "data (scale $scale, $workers workers)"
  for split in "train 1000 ${TRAIN_SCENES:-$(( 32 * scale ))}" "val 2000 ${VAL_SCENES:-4}" "test 3000 ${TEST_SCENES:-8}"; do
    set -- $split
    synth "$1" respeaker4 "$3" "$2"; synth "$1" uma8 "$3" "$(( $2 + 100 ))"; synth "$1" binaural "$3" "$(( $2 + 200 ))"
  done
  stamp "training started in the background"
  mkdir -p "$(dirname "$run")"
  setsid nohup $av train config/train/vision-tiny.yaml --out "$run" --no-progress --device "$device" \
    "data.train=[$data/train]" "data.val=[$data/val]" data.stride=2 data.val_stride=3 "data.workers=$workers" \
    optim.batch_size=64 optim.lr=1.0e-3 "optim.epochs=$epochs" log.tensorboard=off \
    > "$out/train.log" 2>&1 < /dev/null &
  sleep "${WAIT_S:-0}"
  cp "$run/metrics.csv" "$out/" 2>/dev/null
  stamp "checks done"
  exit 0
fi

if [ "$phase" = finish ]; then
  deadline=$(( $(date +%s) + ${TRAIN_BUDGET_S:-150} ))
  while pgrep -f "av_pose.cli train" > /dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
  pkill -f "av_pose.cli train" && stamp "training stopped at its time budget"
  cp "$run/metrics.csv" "$run/config.yaml" "$out/" 2>/dev/null
  [ -f "$run/checkpoint-best.pt" ] || { stamp "no checkpoint"; exit 1; }
  $py -c "from av_pose.pose.learned import export_checkpoint
export_checkpoint('$run/checkpoint-best.pt', '$out/vision-tiny-gpu.pt', 'vision-tiny-gpu')"
  stamp "eval"
  timeout 200 $av eval --model "$out/vision-tiny-gpu.pt" --model vision-tiny --model av-tiny --data "$data/test" \
    --corrupted mixed --gap 1 --stride 4 --device "$device" --no-progress --json "$out/eval.json" \
    > "$out/eval.md" 2> "$out/eval.err"
  stamp "finished"
  exit 0
fi
echo "unknown phase $phase (checks | finish)" >&2
exit 2
