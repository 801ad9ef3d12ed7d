"""Sound azimuth and camera rotation over a test folder, SLfM protocol (`metrics.azimuth`).

`evaluate_azimuth` reports, on labelled two-view items of rotation-only two-channel scenes
(`data.slfm_pairs`):
- sound azimuth: each pair's view-s window (every `stride`-th frame once) that hears a source; predictions and
  truth folded into the front half-plane, error = arccos of the clamped cosine; mean and torch's (lower) median.
  Methods: the SLfM checkpoint, the supervised checkpoint (upper bound), NormMUSIC and SRP-PHAT on the same two
  channels steered with the preset's spherical head and, as `*_free_field`, as two bare microphones (a
  2-microphone array cannot tell front from back: folding applies to them too), and
  chance: always 0° (`chance_zero`) and a uniformly random azimuth in [−180°, 180°) (`chance_random`, seeded).
- camera rotation (yaw from view s to view t, not folded): the SLfM checkpoint's visual network, chance 0° and
  uniform random in [−90°, 90°) (the network's range). With sources all round a two-microphone array the
  self-supervised loss cannot fix the sign of the rotation (`models.slfm_losses.geometric_loss`); given a labelled
  `sign_calibration` folder (the validation split), `slfm_sign_calibrated` also reports the rotation after the
  one global sign that fits that folder best (one bit of supervision, stated in the result). `image_shift` is the
  classical yaw from the images' global shift and the camera's intrinsics (`models.slfm_losses.image_yaw_target`,
  what the 'yaw' visual cue trains with), over the pairs it answers (its count says how many).

`load_slfm_azimuth(path)` gives the batched azimuth predictor of a `slfm` or `slfm-supervised` checkpoint.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from av_pose.errors import UserInputError
from av_pose.metrics.azimuth import slfm_summary
from av_pose.models.slfm import load_slfm_azimuth, load_slfm_model, predict_batches  # noqa: F401 (API)
from av_pose.models.slfm_losses import image_yaw_target

DOA_BASELINES = ('normmusic', 'srp_phat')
DIRECTION_BANDS_DEG = ((0.0, 30.0), (30.0, 60.0), (60.0, 75.0), (75.0, 90.0))
"""|Folded true azimuth| bands of the error breakdown: 0° = in front of the pair (broadside), 90° = along its axis
(endfire), where a time difference changes least with the angle."""


def doa_azimuths_deg(method: str, audio: torch.Tensor, fs: int = 16000, free_field: bool = False) -> np.ndarray:
    """Azimuth (B,) degrees of the strongest peak of a DOA method on B×2×N windows of the `binaural` array.

    Steered with the preset's spherical head, or with `free_field` as two bare microphones at the ears (what a
    user without a model of the head gets).
    """
    from dataclasses import replace

    from av_pose.audio.arrays import load_array
    from av_pose.audio.doa import make_estimator

    array = load_array('binaural')
    if free_field:
        array = replace(array, name=f'{array.name}-free-field', head_radius_m=None)
    estimator = make_estimator(method, array, fs)
    return np.concatenate([estimator.estimate(chunk).azimuths_deg[:, 0] for chunk in torch.split(audio, 64)])


def evaluate_azimuth(test: str | Sequence[str], slfm_checkpoint: str | Path | None = None,
                     supervised_checkpoint: str | Path | None = None, gaps_s: Sequence[float] = (1.0,),
                     window_s: float = 1.0, stride: int = 10, batch_size: int = 32,
                     device: str | torch.device = 'cpu', seed: int = 0,
                     doa_methods: Sequence[str] = DOA_BASELINES,
                     sign_calibration: str | Sequence[str] | None = None) -> dict:
    """SLfM-protocol table over `test` (module docstring) as a JSON-ready dict.

    Returns {'azimuth': {method: slfm_summary}, 'rotation': {method: slfm_summary}, 'azimuth_by_direction':
    {method: {band: slfm_summary}} (bands of |folded true azimuth|, `DIRECTION_BANDS_DEG`, named 'LO-HI'),
    'pairs', 'windows', 'settings'}; the image size comes from the SLfM checkpoint (128×96 without one).
    """
    from av_pose.audio.doa import resolve_device
    from av_pose.data.slfm_pairs import build_slfm_pairs

    device = resolve_device(device)
    settings = {'gaps_s': list(gaps_s), 'window_s': float(window_s), 'stride': int(stride), 'fold_azimuth': True,
                'seed': int(seed)}
    models = {name: load_slfm_model(path, device) for name, path in
              (('slfm', slfm_checkpoint), ('supervised', supervised_checkpoint)) if path is not None}
    visual = next((model.visual for model in models.values() if model.visual is not None), None)
    image_size = visual.image_size if visual is not None else (128, 96)

    def loader_of(folders) -> DataLoader:
        folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
        return DataLoader(build_slfm_pairs(folders, gaps_s=gaps_s, window_s=window_s, stride=stride,
                                           image_size=image_size, labelled=True, seed=seed), batch_size=batch_size)

    loader = loader_of(test)
    dataset = loader.dataset
    truth_s, rotation, image_yaw = [], [], []
    for batch in loader:
        truth_s.append(batch['azimuth_s_deg'].numpy())
        rotation.append(batch['rotation_deg'].numpy())
        yaw, std = image_yaw_target(batch['image_s'], batch['image_t'], batch['K'])
        image_yaw.append(np.where(np.isfinite(std.numpy()), np.degrees(yaw.numpy()), np.nan))
    truth_s, rotation, image_yaw = (np.concatenate(values).astype(np.float64)
                                    for values in (truth_s, rotation, image_yaw))
    heard = np.isfinite(truth_s)
    if not heard.any():
        raise UserInputError(f'{test}: no test window hears a source')
    rng = np.random.default_rng(seed)
    predicted = {'chance_zero': np.zeros(heard.sum()), 'chance_random': rng.uniform(-180.0, 180.0, heard.sum())}
    rotations = {'chance_zero': slfm_summary(np.zeros_like(rotation), rotation, fold=False),
                 'chance_random': slfm_summary(rng.uniform(-90.0, 90.0, rotation.size), rotation, fold=False)}
    shifted = np.isfinite(image_yaw)
    if shifted.any():  # the classical estimate the 'yaw' visual cue teaches with; counts only the pairs it answers
        rotations['image_shift'] = slfm_summary(image_yaw[shifted], rotation[shifted], fold=False)
    for name, model in models.items():
        predictions = predict_batches(model, loader, device)
        predicted[name] = predictions['theta_s_deg'][heard]
        if 'phi_deg' in predictions:
            rotations[name] = slfm_summary(predictions['phi_deg'], rotation, fold=False)
            if sign_calibration is not None:
                fit = predict_batches(model, loader_of(sign_calibration), device)
                sign = 1.0 if float(np.sum(fit['phi_deg'] * fit['rotation_deg'])) >= 0 else -1.0
                rotations[f'{name}_sign_calibrated'] = slfm_summary(sign * predictions['phi_deg'], rotation,
                                                                    fold=False)
                settings[f'{name}_rotation_sign'] = sign
    if doa_methods:
        audio = torch.cat([batch['audio_s'] for batch in loader])[torch.from_numpy(heard)]
        for method in doa_methods:
            predicted[method] = doa_azimuths_deg(method, audio)
            predicted[f'{method}_free_field'] = doa_azimuths_deg(method, audio, free_field=True)
    truth = truth_s[heard]
    azimuth = {name: slfm_summary(values, truth) for name, values in predicted.items()}
    return {'azimuth': azimuth, 'rotation': rotations, 'azimuth_by_direction': by_direction(predicted, truth),
            'pairs': int(len(dataset)), 'windows': int(heard.sum()), 'settings': settings}


def by_direction(predicted: dict[str, np.ndarray], truth_deg: np.ndarray) -> dict[str, dict[str, dict]]:
    """Folded azimuth errors per method and band of |folded true azimuth| (`DIRECTION_BANDS_DEG`)."""
    from av_pose.metrics.azimuth import fold_front_deg

    side = np.abs(fold_front_deg(truth_deg))
    bands = {f'{low:g}-{high:g}': (side >= low) & ((side < high) | (high >= 90.0)) for low, high in DIRECTION_BANDS_DEG}
    return {name: {band: slfm_summary(values[mask], truth_deg[mask]) for band, mask in bands.items() if mask.any()}
            for name, values in predicted.items()}


def markdown_azimuth(result: dict, description: str) -> str:
    """`evaluate_azimuth`'s result as Markdown: one table for the sound azimuth, one for the camera rotation."""
    lines = ['# Sound azimuth and camera rotation (SLfM protocol)', '', description, '']
    for table, title in (('azimuth', 'Sound azimuth (folded to the front half-plane)'),
                         ('rotation', 'Camera rotation between the two views (not folded)')):
        lines += [f'## {title}', '', '| method | mean ° | median ° | windows |', '|---|---|---|---|']
        lines += [f'| {name} | {row["mean_deg"]:.2f} | {row["median_deg"]:.2f} | {row["count"]} |'
                  for name, row in result[table].items()]
        lines.append('')
    breakdown = result.get('azimuth_by_direction')
    if breakdown:
        bands = [f'{low:g}-{high:g}' for low, high in DIRECTION_BANDS_DEG]
        first = next(iter(breakdown.values()))
        counts = ' / '.join(str(first[band]['count'] if band in first else 0) for band in bands)
        lines += ['## Sound azimuth by direction: mean / median ° per band of |folded true azimuth|', '',
                  f'0° = broadside (in front of the pair), 90° = endfire (along its axis). Windows per band: {counts}.',
                  '', '| method | ' + ' | '.join(f'{band}°' for band in bands) + ' |',
                  '|---|' + '---|' * len(bands)]
        lines += [f'| {name} | ' + ' | '.join(f'{rows[band]["mean_deg"]:.1f} / {rows[band]["median_deg"]:.1f}'
                                              if band in rows else '–' for band in bands) + ' |'
                  for name, rows in breakdown.items()]
        lines.append('')
    return '\n'.join(lines)


def plot_azimuth(result: dict, path: str | Path) -> Path:
    """Bar chart of mean and median errors per method, sound azimuth beside camera rotation (PNG)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from av_pose.viz import save_png

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={'width_ratios': [3, 2]})
    for axis, table in zip(axes, ('azimuth', 'rotation')):
        names = list(result[table])
        x = np.arange(len(names))
        axis.bar(x - 0.2, [result[table][n]['mean_deg'] for n in names], 0.4, label='mean')
        axis.bar(x + 0.2, [result[table][n]['median_deg'] for n in names], 0.4, label='median')
        axis.set_xticks(x, names, rotation=30, ha='right')
        axis.set_ylabel('error (°)')
        axis.set_title('sound azimuth (folded)' if table == 'azimuth' else 'camera rotation')
        axis.legend()
    return save_png(figure, path, dpi=110)
