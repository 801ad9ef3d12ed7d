#!/usr/bin/env bash
# Regenerates docs/results.md "Lens distortion" (README "Lens distortion"): the 16 moving ReSpeaker 4 scenes of
# tools/reproduce_geometric_results.sh (seed 700) rendered through a pinhole and through a wide webcam-like lens
# (plumb_bob k1 -0.28, k2 0.09), and the lens's raw frames read as if they were a pinhole's (the same scenes without
# their `distortion`); geometric-vision and geometric on every 2nd frame at a 1 s gap, clean and corrupted (mixed).
# Usage: tools/reproduce_lens_results.sh [DATA_DIR]   (default data/lens; about 15 min on 2 cores)
set -euo pipefail
data=${1:-data/lens}
av=${AV_POSE:-av-pose}
python=${PYTHON:-python}
render() {  # NAME [synth options...]
  local name=$1; shift
  [ -f "$data/$name/.done" ] && return
  $av synth --out "$data/$name" --scenes 16 --duration 10 --array respeaker4 --seed 700 "$@"
  touch "$data/$name/.done"
}
render pinhole
render lens --distortion -0.28 0.09 0 0
# the lens's frames and audio (linked) with a scene.json that does not name the lens
$python - "$data/lens" "$data/lens_ignored" <<'PY'
import json, os, sys
from pathlib import Path
source, target = Path(sys.argv[1]), Path(sys.argv[2])
for scene in sorted(source.glob('scene_*')):
    out = target / scene.name
    out.mkdir(parents=True, exist_ok=True)
    for name in ('frames', 'audio.wav'):
        if not (out / name).exists():
            os.symlink((scene / name).resolve(), out / name)
    data = json.loads((scene / 'scene.json').read_text())
    data.pop('distortion')
    (out / 'scene.json').write_text(json.dumps(data))
PY
mkdir -p docs/results/lens
for set in pinhole lens lens_ignored; do
  $av eval --model geometric-vision --model geometric --data "$data/$set" --corrupted mixed --stride 2 --no-progress \
    --json "docs/results/lens/$set.json" > "docs/results/lens/$set.md"
done
