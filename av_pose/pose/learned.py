"""Learned relative pose behind `PoseEstimator`: every model `av-pose train` makes (AV, vision-only, baselines).

Images of any size and aspect are resized and cropped as Reloc3r's official preprocessing does; audio windows
are centre-cropped or zero-padded to the model's window and turned into DOA spectra (camera-heading frame,
through each pair's own array and mount) and binaural audio by `models.audio_encoder.AudioFeaturizer`, batched
on the model's device. A window that is short, silent or non-finite makes the audio path unavailable for that
pair: an audio-visual model then answers from vision alone (the fused head with a zero audio embedding) and
says so (`info['audio_unavailable']`); an audio-only model returns an invalid estimate. No NaN is returned.

Covariance: diagonal, from the model's validation errors stored in the checkpoint (`calibration`: rotation and
translation-direction RMS errors in degrees; defaults 10° and 30° when absent). Translation is a unit direction.

Checkpoints: `av-pose train` run files (`checkpoint-best.pt`, or the run folder) and the slim files
`export_checkpoint` writes for shipping; both load with `torch.load(..., weights_only=True)`, strictly. Official
Reloc3r weights (a Hugging Face snapshot folder, `.safetensors`, or a flat/{'model': ...} `.pth`, read by
`models.reloc3r.load_reloc3r`; files without a config are `reloc3r-512`) give the vision-only estimator.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from av_pose.audio.doa import resolve_device
from av_pose.errors import UserInputError
from av_pose.pose.base import UNKNOWN_VARIANCE, PoseEstimate, PoseEstimator, PosePair, Sensors

EXPORT_FORMAT = 'av_pose.pose/1'
DEFAULT_ROTATION_RMS_DEG = 10.0
DEFAULT_TRANSLATION_RMS_DEG = 30.0
BUILD_KEYS = ('kind', 'reloc3r', 'reloc3r_overrides', 'audio', 'freeze_encoder', 'embed_dim', 'head_width',
              'doa_correlation')


class LearnedPoseEstimator(PoseEstimator):
    """A trained pose network as a `PoseEstimator` (module docstring).

    Args:
        model: a `models.av_pose` network (RelativePoseNet or ChancePose), weights loaded.
        build: the checkpoint's build record (kind, window_s, binaural_rate, ...).
        device: 'auto', 'cpu' or 'cuda'; on CUDA the vision encoder/decoder run in fp16, the head in fp32.
        calibration: {'rotation_rms_deg', 'translation_rms_deg'} from validation.
        name: the estimator's name in tables.
    """

    def __init__(self, model: torch.nn.Module, build: dict, device: str = 'auto', calibration: dict | None = None,
                 name: str | None = None):
        from av_pose.models.av_pose import model_inputs

        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.build = dict(build)
        self.name = name or build['kind']
        self.window_s = float(build.get('window_s', 1.0))
        self.binaural_rate = int(build.get('binaural_rate', 16000))
        self.needs_images, self.needs_audio = model_inputs(build['kind'])
        vision = getattr(model, 'vision', None)
        if vision is not None and self.device.type == 'cuda':
            vision.amp_dtype = torch.float16
        self.img_size = vision.img_size if vision is not None else 0
        self.patch_size = vision.patch_size if vision is not None else 1
        calibration = calibration or {}
        self.rotation_rms_deg = float(calibration.get('rotation_rms_deg', DEFAULT_ROTATION_RMS_DEG))
        self.translation_rms_deg = float(calibration.get('translation_rms_deg', DEFAULT_TRANSLATION_RMS_DEG))
        self._featurizers: dict = {}

    def _featurizer(self, sensors: Sensors):
        from av_pose.models.audio_encoder import AudioFeaturizer

        key = (id(sensors.array), sensors.sample_rate, np.asarray(sensors.T_cam_array, dtype=np.float64).tobytes())
        if key not in self._featurizers:
            self._featurizers[key] = AudioFeaturizer(int(sensors.sample_rate), sensors.array, sensors.T_cam_array,
                                                     device=self.device, binaural_rate=self.binaural_rate)
        return self._featurizers[key]

    def _window(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """C×N → C×round(window_s·rate): centre crop or symmetric zero padding."""
        wanted = int(round(self.window_s * sample_rate))
        audio = np.asarray(audio, dtype=np.float32)
        if audio.shape[1] >= wanted:
            start = (audio.shape[1] - wanted) // 2
            return audio[:, start:start + wanted]
        before = (wanted - audio.shape[1]) // 2
        return np.pad(audio, ((0, 0), (before, wanted - audio.shape[1] - before)))

    def _audio_windows(self, pair: PosePair) -> tuple[np.ndarray | None, str]:
        """(2×C×N windows at the model's length, '') when the pair's audio is usable, else (None, why)."""
        from av_pose.models.audio_encoder import usable

        sensors = pair.sensors
        if sensors.array is None or not sensors.sample_rate:
            return None, 'no microphone array'
        views = (pair.view_a, pair.view_b)
        if any(v.audio is None or np.ndim(v.audio) != 2 or v.audio.shape[0] != sensors.array.num_channels
               for v in views):
            return None, 'no audio window (or a channel count that does not match the array)'
        wanted = self.window_s * sensors.sample_rate
        coverage = [v.audio_coverage * min(1.0, v.audio.shape[1] / wanted) for v in views]
        windows = np.stack([self._window(v.audio, sensors.sample_rate) for v in views])
        if not bool(usable(torch.from_numpy(windows), coverage).all()):
            return None, 'audio window short, silent or non-finite'
        return windows, ''

    def _images_ok(self, pair: PosePair) -> bool:
        return all(v.image is not None and np.ndim(v.image) == 3 and v.image.shape[2] == 3
                   and min(v.image.shape[:2]) >= 8 for v in (pair.view_a, pair.view_b))

    @torch.no_grad()
    def estimate_batch(self, pairs: Sequence[PosePair]) -> list[PoseEstimate]:
        """One estimate per pair; pairs are grouped by image size and batched on the device."""
        results: list[PoseEstimate | None] = [None] * len(pairs)
        groups: dict[tuple, list[int]] = {}
        flags: dict[int, tuple[bool, str]] = {}
        windows: dict[int, np.ndarray | None] = {}
        for index, pair in enumerate(pairs):
            windows[index], reason = self._audio_windows(pair) if self.needs_audio else (None, '')
            audio_ok = windows[index] is not None
            flags[index] = (audio_ok, reason)
            if self.needs_images and not self._images_ok(pair):
                results[index] = PoseEstimate.invalid('no usable image in one of the views')
            elif self.needs_audio and not self.needs_images and not audio_ok:
                results[index] = PoseEstimate.invalid(f'audio unavailable: {reason}')
            else:
                shape = tuple(pair.view_a.image.shape) + tuple(pair.view_b.image.shape) if self.needs_images else ()
                groups.setdefault(shape, []).append(index)
        for indices in groups.values():
            estimates = self._run([pairs[i] for i in indices], [flags[i] for i in indices],
                                  [windows[i] for i in indices])
            for index, estimate in zip(indices, estimates):
                results[index] = estimate
        return results

    def _run(self, pairs: list[PosePair], flags: list[tuple[bool, str]],
             windows: list[np.ndarray | None]) -> list[PoseEstimate]:
        from av_pose.models.reloc3r_inference import prepare_images

        batch: dict = {'audio_ok': torch.tensor([ok for ok, _ in flags], device=self.device)}
        if self.needs_images:
            for key, views in (('image_a', [p.view_a for p in pairs]), ('image_b', [p.view_b for p in pairs])):
                images = torch.from_numpy(np.stack([v.image for v in views])).permute(0, 3, 1, 2)
                prepared = prepare_images(images, self.img_size, self.patch_size)
                batch[key] = prepared.images.to(self.device)
                batch[key.replace('image', 'true_shape')] = prepared.true_shape.to(self.device)
        if self.needs_audio:
            self._add_audio(batch, pairs, windows)
        T_a_b, _ = self.model(batch)
        return [self._estimate(T, ok, reason) for T, (ok, reason) in zip(T_a_b.double().cpu().numpy(), flags)]

    def _add_audio(self, batch: dict, pairs: list[PosePair], windows: list[np.ndarray | None]) -> None:
        """doa_a/b and binaural_a/b for the batch from the checked windows (zeros where there are none)."""
        length = int(round(self.window_s * self.binaural_rate))
        doa = torch.zeros(2, len(pairs), 360, device=self.device)
        binaural = torch.zeros(2, len(pairs), 2, length, device=self.device)
        for index, (pair, pair_windows) in enumerate(zip(pairs, windows)):
            if pair_windows is None:
                continue
            features = self._featurizer(pair.sensors).featurize(torch.from_numpy(pair_windows))
            doa[:, index] = features.doa.to(self.device)
            samples = min(length, features.binaural.shape[-1])
            binaural[:, index, :, :samples] = features.binaural[..., :samples].to(self.device)
        batch.update(doa_a=doa[0], doa_b=doa[1], binaural_a=binaural[0], binaural_b=binaural[1])

    def _estimate(self, T_a_b: np.ndarray, audio_ok: bool, reason: str) -> PoseEstimate:
        if not np.all(np.isfinite(T_a_b)):
            return PoseEstimate.invalid('the network returned a non-finite pose')
        T = np.eye(4)
        left, _, right_t = np.linalg.svd(T_a_b[:3, :3])  # float32 network output → an exact float64 rotation
        T[:3, :3] = left @ np.diag([1.0, 1.0, np.linalg.det(left @ right_t)]) @ right_t
        norm = float(np.linalg.norm(T_a_b[:3, 3]))
        translation_known = norm > 1e-9 and self.needs_images
        if translation_known:
            T[:3, 3] = T_a_b[:3, 3] / norm
        rotation_var = math.radians(self.rotation_rms_deg) ** 2
        translation_var = (2.0 * math.sin(math.radians(self.translation_rms_deg) / 2.0)) ** 2 \
            if translation_known else UNKNOWN_VARIANCE
        covariance = np.diag([translation_var] * 3 + [rotation_var] * 3)
        used = tuple(sorted(({'vision'} if self.needs_images else set()) | ({'audio'} if audio_ok else set())))
        info: dict = {'model': self.name}
        if self.needs_audio and not audio_ok:
            info.update(audio_unavailable=True, audio_reason=reason)
        return PoseEstimate(T_a_b=T, covariance=covariance, translation_known=translation_known, valid=True,
                            used=used, confidence=float(1.0 / (1.0 + self.rotation_rms_deg / 5.0)), info=info)

    def release(self) -> None:
        """Drop the featurizers and the CUDA cache."""
        self._featurizers.clear()
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()


def _read(path: Path) -> dict:
    if path.is_dir():
        path = path / 'checkpoint-best.pt'
    try:
        payload = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is one user-facing line
        first_line = (str(err).strip().splitlines() or [''])[0]
        raise UserInputError(f'{path}: not a readable av_pose checkpoint ({type(err).__name__}: {first_line})') \
            from None
    if not isinstance(payload, dict) or payload.get('format') not in (EXPORT_FORMAT, 'av_pose.train/1') \
            or payload.get('stage', 'pose') != 'pose':
        raise UserInputError(f'{path}: not a pose-model checkpoint of av-pose train (or av_pose export)')
    return payload


def build_from_record(build: dict) -> torch.nn.Module:
    """A fresh network from a checkpoint's build record."""
    from av_pose.models.av_pose import build_pose_model

    return build_pose_model(**{key: build[key] for key in BUILD_KEYS if key in build})


def load_checkpoint_estimator(path: str | Path, device: str = 'auto', name: str | None = None,
                              **_options) -> LearnedPoseEstimator:
    """A `LearnedPoseEstimator` from a checkpoint file or run folder (strict, weights_only)."""
    from av_pose.models.checkpoints import load_strict

    path = Path(path)
    try:
        payload = _read(path)
    except UserInputError as ours:
        return _official_reloc3r_estimator(path, device, name, ours)
    model = build_from_record(payload['build'])
    load_strict(model, payload['model'], source=str(path), description=f'{payload["build"]["kind"]} pose model')
    calibration = payload.get('calibration') or calibration_from_metrics(payload.get('metrics') or {})
    return LearnedPoseEstimator(model, payload['build'], device=device, calibration=calibration,
                                name=name or payload.get('name') or (path.parent.name if path.is_file() else path.name))


def _official_reloc3r_estimator(path: Path, device: str, name: str | None,
                                ours: UserInputError) -> LearnedPoseEstimator:
    """A vision-only estimator from official Reloc3r weights (`load_reloc3r`'s layouts), or one line on why not."""
    from av_pose.models.av_pose import RelativePoseNet
    from av_pose.models.reloc3r import load_reloc3r

    try:
        reloc3r = load_reloc3r(path)
    except UserInputError as official:
        why = str(official).removeprefix(f'{path}: ').removeprefix(f'{path}/config.json: ')
        raise UserInputError(f'{ours}; nor official Reloc3r weights ({why})') from None
    with torch.device('meta'):  # the wrapper only; the loaded network replaces its vision part
        model = RelativePoseNet(vision=dict(reloc3r.config), freeze_encoder=False)
    model.vision = reloc3r
    model.head = reloc3r.pose_head
    return LearnedPoseEstimator(model, {'kind': 'vision', 'reloc3r': 'official'}, device=device,
                                name=name or path.stem)


def calibration_from_metrics(metrics: dict) -> dict:
    """Covariance calibration from validation medians (RMS ≈ 1.5 × median for a heavy-tailed error)."""
    out = {}
    if 'rotation_median_deg' in metrics and math.isfinite(metrics['rotation_median_deg']):
        out['rotation_rms_deg'] = 1.5 * float(metrics['rotation_median_deg'])
    if 'translation_median_deg' in metrics and math.isfinite(metrics['translation_median_deg']):
        out['translation_rms_deg'] = 1.5 * float(metrics['translation_median_deg'])
    return out


def export_checkpoint(source: str | Path, destination: str | Path, name: str, card: dict | None = None) -> Path:
    """Write the slim shipped file: build record, weights (float32), calibration, name and card; returns its path."""
    payload = _read(Path(source))
    slim = {'format': EXPORT_FORMAT, 'name': name, 'build': payload['build'],
            'model': {k: v.detach().contiguous() for k, v in payload['model'].items()},
            'calibration': calibration_from_metrics(payload.get('metrics') or {}),
            'metrics': payload.get('metrics') or {}, 'card': card or {}}
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, destination)
    return destination
