"""Export trained runs as the package's shipped models (av_pose/weights/NAME.pt) with a model card (NAME.md).

Usage: python tools/ship_models.py RUNS_DIR EVAL_JSON
Ships RUNS_DIR/{av-tiny, vision-tiny, doa-cp-corr} as av-tiny, vision-tiny, doa-cp-tiny. EVAL_JSON is what
`av-pose eval --json` wrote for the test split (tools/reproduce_pose_results.sh); its figures go in the cards.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from av_pose.pose.learned import export_checkpoint

WEIGHTS = Path(__file__).resolve().parent.parent / 'av_pose' / 'weights'
SHIPPED = {'av-tiny': ('av-tiny', 'config/train/av-tiny.yaml'),
           'vision-tiny': ('vision-tiny', 'config/train/vision-tiny.yaml'),
           'doa-cp-tiny': ('doa-cp-corr', 'config/train/doa-cp.yaml model.doa_correlation=true')}
MAX_BYTES = 20 * 1024 * 1024
NOTES = {
    'av-tiny': '**Read this**: its vision branch is `vision-tiny` (encoder frozen); the audio (both DOA spectra, '
               'their circular correlation, the binaural embedding) makes it more accurate than `vision-tiny`, '
               'most of all on corrupted frames. It does not learn the translation direction (ShoeboxAV\'s 1 s '
               'translations are a few centimetres). The weightless `geometric` estimator is more accurate on clean '
               'frames and far less on corrupted ones (docs/results.md).',
    'vision-tiny': '**Read this**: trained from scratch on 2 CPU cores (10 epochs, translation term weighted 0.1: '
                   'at Reloc3r\'s weight 1 it stayed at chance). It estimates the rotation from the images and '
                   'suffers from corruption as vision does; its translation direction is at chance. Shipped as the '
                   'A/B twin and initialisation of av-tiny. For a real vision model train `reloc3r-224/512` on a '
                   'GPU, or give `model:` official Reloc3r weights (a vision-only estimator).',
    'doa-cp-tiny': 'Rotation only: its translation direction is at chance, as the paper found for audio-only models.',
}


def _row(report: dict, run: str, condition: str) -> str:
    entry = report.get('models', {}).get(run, {}).get(condition)
    if not entry:
        return f'| {condition} | – | – | – | – | – |'
    rot, total = entry['rotation_auc'], entry['total_auc']
    return (f'| {condition} | {100 * rot[0]:.1f} / {100 * rot[1]:.1f} / {100 * rot[2]:.1f} | '
            f'{100 * total[0]:.1f} / {100 * total[1]:.1f} / {100 * total[2]:.1f} | {entry["rotation_mae_deg"]:.2f} | '
            f'{entry["pairs"]} |')


def card(name: str, run: str, config: str, payload: dict, report: dict, size: int) -> str:
    """The model card text (Markdown)."""
    build = payload['build']
    parameters = sum(t.numel() for t in payload['model'].values())
    metrics = payload.get('metrics') or {}
    rows = '\n'.join(_row(report, run, c) for c in ('clean', 'corrupted'))
    images = 'two RGB frames 1 s apart (any size; resized to 64 px)'
    audio = ('each frame\'s 1 s audio window from any supported array (DOA in the camera heading frame via the '
             'array mount)')
    inputs = {'vision': images, 'doa-cp': audio}.get(build['kind'], f'{images} and {audio}')
    parts = [f'Reloc3r config `{build.get("reloc3r")}`'] if build['kind'] != 'doa-cp' else []
    if build['kind'] != 'vision':
        parts.append(f'audio encoder {json.dumps(build.get("audio"))}, DOA correlation '
                     f'{"on" if build.get("doa_correlation") else "off"}')
    return f"""# {name}

**What**: `{build['kind']}` relative-pose model (`av_pose.models.av_pose.MODEL_KINDS`), {', '.join(parts)};
{parameters / 1e6:.2f} M parameters, {size / 1e6:.1f} MB. Input: {inputs}. Output: the relative rotation and the
translation *direction* (no scale) both ways, with a covariance from validation errors.

**Data**: ShoeboxAV only (`tools/make_pose_data.sh`: 96 training scenes of 10 s, 128×96 at 10 fps; respeaker4,
uma8 and binaural arrays; talkers, music and noise that start and stop; rig rotation + translation). Not
trained on real recordings: fine-tune on your robot's bags (`av-pose train` reads rosbag2 with ground-truth /tf).

**Training**: `av-pose train {config}` (CPU, 2 cores; see docs/results.md).
Validation: rotation AUC@20 {100 * metrics.get('rotation_auc20', float('nan')):.1f} %, total AUC@20
{100 * metrics.get('total_auc20', float('nan')):.1f} %, median rotation error
{metrics.get('rotation_median_deg', float('nan')):.2f}°.

**Test split** (24 unseen scenes, 1 s gap: Table 1 of docs/results.md; AUC in %, `av-pose eval`):

| condition | rotation AUC@5/10/20 | total AUC@5/10/20 | rotation MAE ° | pairs |
|---|---|---|---|---|
{rows}

{NOTES.get(name, '')}

**Limits**: a tiny model for CPU real time on synthetic rooms: expect far lower accuracy on real video than
the published Reloc3r-512. Ambient audio can reveal bystanders: process on the robot, keep no raw audio.
"""


def main(runs: Path, eval_json: Path) -> None:
    """Export every shipped run and write its card."""
    report = json.loads(eval_json.read_text()) if eval_json.is_file() else {}
    WEIGHTS.mkdir(exist_ok=True)
    for name, (run, config) in SHIPPED.items():
        source = runs / run / 'checkpoint-best.pt'
        if not source.is_file():
            print(f'skip {name}: no {source}')
            continue
        target = export_checkpoint(source, WEIGHTS / f'{name}.pt', name, card={'run': run, 'config': config})
        size = target.stat().st_size
        if size > MAX_BYTES:
            raise SystemExit(f'{target} is {size / 1e6:.1f} MB, over the 20 MB limit')
        payload = torch.load(target, weights_only=True)
        (WEIGHTS / f'{name}.md').write_text(card(name, run, config, payload, report, size))
        print(f'shipped {name}: {size / 1e6:.2f} MB')


if __name__ == '__main__':
    main(Path(sys.argv[1]), Path(sys.argv[2]))
