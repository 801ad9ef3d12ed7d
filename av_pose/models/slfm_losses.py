"""SLfM's self-supervised losses and the label-free targets they use (networks: `models.slfm`).

Radians throughout; every input is a (B,) tensor unless stated. Conventions (θ, φ, REP-103) as in
`av_pose.models.slfm`: a static source at θ_s seen from a rig that yaws by φ from s to t lies at θ_t = θ_s − φ.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch.nn import functional

from av_pose.errors import UserInputError
from av_pose.models.slfm import SLFM_RATE, SlfmNet

LOSS_WEIGHTS = {'geometric': 5.0, 'binaural': 1.0, 'symmetry': 1.0, 'visual_sign': 1.0, 'visual_yaw': 1.0}
"""SLfM's weights of the geometric, binaural (IID) and symmetry losses (and of the optional visual cues)."""
VISUAL_CUES = ('none', 'sign', 'yaw')
"""What the images alone tell the rotation network besides the audio (`slfm_losses`' `visual_cue`)."""


def visual_cue_name(value: bool | str | None) -> str:
    """A config's `visual_cue` as one of `VISUAL_CUES` (true: 'sign', false or null: 'none')."""
    if value is None or value is False:
        return 'none'
    if value is True:
        return 'sign'
    if value not in VISUAL_CUES:
        raise UserInputError(f'unknown visual cue {value!r}: use one of {", ".join(VISUAL_CUES)}')
    return str(value)


def reflect(angle: torch.Tensor) -> torch.Tensor:
    """Front/back reflection about the left-right (y) axis: θ → π − θ."""
    return math.pi - angle


def geometric_loss(theta_s: torch.Tensor, theta_t: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of min over reflections of θ_s and θ_t of 1 − cos(θ_s − θ_t − φ).

    Zero when θ_t = θ_s − φ (a static source, rig yawing by φ from s to t), whichever of each angle's two
    front/back mirror images the predictions chose. Reflecting both angles reverses the apparent motion, so
    (θ_s, θ_t, φ) and (π − θ_s, π − θ_t, −φ) cost the same: with sources all round a front/back-symmetric
    two-microphone array, this loss fixes the magnitude of φ but not its sign (SLfM's own front-only setting
    drops the reflections).
    """
    candidates = torch.stack([1.0 - torch.cos(a - b - phi) for a in (theta_s, reflect(theta_s))
                              for b in (theta_t, reflect(theta_t))])
    return candidates.amin(0).mean()


def iid_target(binaural: torch.Tensor, n_fft: int = 512, hop_length: int = 160, win_length: int = 400
               ) -> torch.Tensor:
    """(B,) 1.0 where the left ear is louder: majority over STFT frames of log(mean_f |L| / mean_f |R|) > 0.

    binaural: B×2×M at 16 kHz. Derived from the audio alone (no label).
    """
    batch, channels, samples = binaural.shape
    window = torch.hann_window(win_length, device=binaural.device)
    spec = torch.stft(binaural.reshape(batch * channels, samples).float(), n_fft, hop_length, win_length, window,
                      center=True, pad_mode='constant', return_complex=True).abs()
    level = spec.mean(1).reshape(batch, channels, -1).clamp_min(1e-12)  # B×2×T, mean over frequency
    left_louder = (level[:, 0].log() - level[:, 1].log() > 0).float().mean(1)
    return (left_louder > 0.5).float()


def gcc_phat_lag(binaural: torch.Tensor, max_lag: int = 16, subsample: bool = False) -> torch.Tensor:
    """(B,) GCC-PHAT peak lag of the right channel behind the left, samples (> 0: the sound reached the left first).

    binaural: B×2×M; the peak is searched within ±`max_lag` samples. `subsample`: refined by a parabola through
    the peak and its two neighbours (else an integer).
    """
    samples = binaural.shape[-1]
    left = torch.fft.rfft(binaural[:, 0].float(), n=2 * samples)
    right = torch.fft.rfft(binaural[:, 1].float(), n=2 * samples)
    cross = left.conj() * right  # peaks at lag τ > 0 when the right channel is the left one delayed
    correlation = torch.fft.irfft(cross / cross.abs().clamp_min(1e-12), n=2 * samples)
    return _correlation_peak(correlation, max_lag, subsample)


def _correlation_peak(correlation: torch.Tensor, max_lag: int, subsample: bool = True) -> torch.Tensor:
    """(B,) lag (in correlation samples) of the peak of a B×L circular correlation within ±`max_lag`.

    With `subsample`, refined by a parabola through the peak and its two neighbours (else an integer).
    """
    lags = torch.cat([correlation[:, -max_lag - 1:], correlation[:, :max_lag + 2]], 1)  # lags −max−1 … max+1
    peak = lags[:, 1:-1].argmax(1) + 1
    lag = (peak - max_lag - 1).float()
    if not subsample:
        return lag
    before, at, after = (lags.gather(1, (peak + step)[:, None])[:, 0] for step in (-1, 0, 1))
    curvature = before - 2.0 * at + after
    offset = torch.where(curvature < 0, 0.5 * (before - after) / curvature.clamp_max(-1e-12), 0.0)
    return lag + offset.clamp(-0.5, 0.5)


ONSET_GCC_NFFT = 512
"""Frame length (samples at 16 kHz, 32 ms) of `onset_gcc_phat_lag`'s per-frame cross-spectra."""
ONSET_GCC_BAND_HZ = (200.0, 4000.0)
"""Band of `onset_gcc_phat_lag`, Hz. With the frame length, the setting whose reading was closest to the truth on
the 80 validation rooms among 100–3000, 200–4000, 300–2000, 500–4000 Hz and the full band, 512 and 1024 samples."""


def onset_gcc_phat_lag(binaural: torch.Tensor, max_lag: int = 16, nfft: int = ONSET_GCC_NFFT,
                       band_hz: tuple[float, float] = ONSET_GCC_BAND_HZ, upsample: int = 4) -> torch.Tensor:
    """(B,) GCC-PHAT lag (samples, > 0: left first) that listens at onsets, where the direct sound leads the echoes.

    Each `nfft`-sample frame's cross-spectrum is PHAT-normalised within `band_hz`; the frames' mean is added to
    their onset-weighted sum (`audio.doa.onset.onset_weights`: frames whose band power rises 6 dB or more over the
    three before them, the precedence effect), and the peak of the correlation, `upsample`× interpolated, is
    refined by a parabola within ±`max_lag` samples. binaural: B×2×M at 16 kHz.
    """
    from av_pose.audio.doa.onset import onset_weights

    batch, channels, samples = binaural.shape
    window = torch.hann_window(nfft, device=binaural.device)
    spec = torch.stft(binaural.reshape(batch * channels, samples).float(), nfft, nfft // 2, nfft, window,
                      return_complex=True).reshape(batch, channels, nfft // 2 + 1, -1)
    freqs = torch.fft.rfftfreq(nfft, 1.0 / SLFM_RATE).to(binaural.device)
    band = ((freqs >= band_hz[0]) & (freqs < band_hz[1])).to(spec.real.dtype)[None, :, None]
    cross = spec[:, 0].conj() * spec[:, 1]                                  # B×F×N
    cross = cross / cross.abs().clamp_min(1e-12) * band
    weights = onset_weights(spec.abs().square().mul(band[:, None]).sum((1, 2)))   # B×N
    combined = cross.mean(2) + (cross * weights[:, None, :]).sum(2)
    return _correlation_peak(torch.fft.irfft(combined, n=nfft * upsample), max_lag * upsample) / upsample


def itd_target(binaural: torch.Tensor, max_lag: int = 16) -> torch.Tensor:
    """(B,) side cue from the interaural time difference (GCC-PHAT peak lag): left first 1.0, right 0.0, lag 0 0.5.

    A lag of 0 means ahead or behind.

    binaural: B×2×M; the peak is searched within ±`max_lag` samples (16 = 1 ms at 16 kHz, beyond a head's and
    the `binaural` preset's 17.5 cm). Derived from the audio alone (no label). Beside SLfM's IID cue for arrays
    without a head between the microphones: on rotation-only ShoeboxAV scenes of the `binaural` preset (two
    omnis) the IID sign agreed with the true side for 60–70 % of 1 s windows, this one for 91 %.
    """
    return (torch.sign(gcc_phat_lag(binaural, max_lag)) + 1.0) / 2.0


def itd_azimuth_target(binaural: torch.Tensor, head_radius_m: float | None = None, sample_rate: float = SLFM_RATE,
                       max_lag: int = 16) -> torch.Tensor:
    """(B,) soft side cue (sin θ_itd + 1) / 2, θ_itd the azimuth a spherical head's ITD gives for the GCC-PHAT lag.

    Woodworth's ITD of a head of radius a, (a/c)(θ + sin θ) for |θ| ≤ 90° (`av_pose.audio.binaural.woodworth_itd_s`,
    the delays of `spherical_head_ears`, which render the `binaural` preset), inverted by Newton steps from the
    sub-sample lag (the head shadow's low-pass delays the far ear a little more: 60° reads as about 64°).
    Against a hard 0/1 side target, whose cross-entropy pulls every source towards ±90°, this one pulls a
    frontal source towards the small angle its lag says. Derived from the audio and the head's radius alone (no label).
    `head_radius_m`: default the `binaural` preset's; `sample_rate`: the audio's (SLfM items are at `SLFM_RATE`).
    """
    from av_pose.audio.arrays import PRESETS, SPEED_OF_SOUND_M_S

    if head_radius_m is None:
        head_radius_m = PRESETS['binaural'].head_radius_m
    limit = math.pi / 2 + 1.0
    x = (gcc_phat_lag(binaural, max_lag, subsample=True) / sample_rate * SPEED_OF_SOUND_M_S / head_radius_m)
    x = x.clamp(-limit, limit)
    theta = x / 2.0
    for _ in range(6):  # θ + sin θ = x, monotonic on [−π/2, π/2]
        theta = (theta - (theta + torch.sin(theta) - x) / (1.0 + torch.cos(theta))).clamp(-math.pi / 2, math.pi / 2)
    return (torch.sin(theta) + 1.0) / 2.0


@functools.lru_cache(maxsize=4)
def head_lag_table(head_radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(lags (91,) samples, azimuths (91,) radians 0°…90°): what `onset_gcc_phat_lag` reads from the spherical head.

    White noise rendered by the head itself (`audio.binaural.SphericalHeadHrtf`, radius `head_radius_m`, at
    `SLFM_RATE`) from each whole degree, read by the same estimator; made non-decreasing. Within its band the head
    shadow's low-pass stretches the lag beyond Woodworth's formula (60° reads as 70° through it), so the lag is
    turned into an azimuth through the head's own readings, no labels involved.
    """
    from av_pose.audio.binaural import SphericalHeadHrtf, binauralize

    noise = np.random.default_rng(0).standard_normal(SLFM_RATE).astype(np.float32)
    hrtf = SphericalHeadHrtf(SLFM_RATE, head_radius_m)
    azimuths = np.arange(91.0)
    audio = torch.from_numpy(np.stack([binauralize(noise, hrtf, azimuth) for azimuth in azimuths]))
    lags = np.maximum.accumulate(onset_gcc_phat_lag(audio).numpy().astype(np.float64)) + 1e-6 * azimuths
    return lags, np.radians(azimuths)


def itd_onset_azimuth_target(binaural: torch.Tensor, head_radius_m: float | None = None) -> torch.Tensor:
    """(B,) soft side cue (sin θ + 1) / 2 of the onset-weighted lag (`onset_gcc_phat_lag`) of B×2×M at `SLFM_RATE`.

    θ comes through the head's own readings (`head_lag_table`; `head_radius_m` default the `binaural` preset's).

    Folded reading against the truth on rotation-only ShoeboxAV rooms (mean / median, share more than 40° off): 80
    validation rooms 15.0° / 6.8°, 10.2 % (the whole window's `itd_azimuth_target`: 17.7° / 8.1°, 12.9 %); the 40
    test rooms 16.1° / 5.7°, 10.7 % (17.3° / 7.1°, 14.7 %). In the free field it reads the head's azimuth exactly.
    """
    from av_pose.audio.arrays import PRESETS

    if head_radius_m is None:
        head_radius_m = PRESETS['binaural'].head_radius_m
    lags, azimuths = head_lag_table(float(head_radius_m))
    lag = onset_gcc_phat_lag(binaural).cpu().numpy().astype(np.float64)
    theta = np.sign(lag) * np.interp(np.abs(lag), lags, azimuths)
    return torch.from_numpy((np.sin(theta) + 1.0) / 2.0).to(binaural.device, torch.float32)


SIDE_CUES = {'iid': iid_target, 'itd': itd_target, 'itd-azimuth': itd_azimuth_target,
             'itd-onset-azimuth': itd_onset_azimuth_target}
"""Self-supervised left/right targets by name (`slfm_losses(side_cue=...)`)."""


def iid_loss(theta: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE between p = (sin θ + 1) / 2 (left probability) and a side target in [0, 1], mean over the batch."""
    probability = ((torch.sin(theta) + 1.0) / 2.0).clamp(1e-6, 1.0 - 1e-6)
    return functional.binary_cross_entropy(probability, target.to(probability.dtype))


SIDE_LOSSES = ('bce', 'cauchy')
"""How the audio network's azimuth meets the side target (`slfm_losses(side_loss=...)`)."""
SIDE_SCALE_DEG = 10.0
"""Default scale of the 'cauchy' side loss: folded azimuth residuals well beyond it are read as cue outliers."""


def side_angle_loss(theta: torch.Tensor, target: torch.Tensor, scale_deg: float = SIDE_SCALE_DEG) -> torch.Tensor:
    """Batch mean of log(1 + (r / scale)²), r = front-folded θ − the azimuth asin(2·target − 1).

    A robust (Cauchy) alternative to `iid_loss`: cross-entropy against a soft target is least at the target's
    conditional mean, so the windows where the cue reads the wrong side (reverberation; 14 % of held-out windows
    read more than 40° off by the `itd-azimuth` cue) pull every lateral source inwards. This loss is least near
    the cue's most common reading instead. The fold atan2(sin θ, |cos θ|) keeps the gradient finite at ±90°.
    """
    reading = torch.asin((2.0 * target.to(theta.dtype) - 1.0).clamp(-1.0, 1.0))
    folded = torch.atan2(torch.sin(theta), torch.cos(theta).abs())
    return torch.log1p(((folded - reading) / math.radians(scale_deg)) ** 2).mean()


def image_shift_target(image_s: torch.Tensor, image_t: torch.Tensor) -> torch.Tensor:
    """(B,) visual sign cue: 1.0 where view t's content moved right (camera turned left, φ > 0), 0.0 left, 0.5 none.

    The horizontal shift is the peak of the phase correlation of the grey images (B×3×H×W, both the same size),
    best over vertical shifts. Derived from the images alone (no label); on rotation-only ShoeboxAV pairs its
    sign agreed with the true yaw for 92 % of pairs turning more than 1°.
    """
    grey_s, grey_t = image_s.float().mean(1), image_t.float().mean(1)
    spectrum_s = torch.fft.rfft2(grey_s - grey_s.mean((-2, -1), keepdim=True))
    spectrum_t = torch.fft.rfft2(grey_t - grey_t.mean((-2, -1), keepdim=True))
    cross = spectrum_s.conj() * spectrum_t
    correlation = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-9), s=grey_s.shape[-2:])
    width = grey_s.shape[-1]
    shift = correlation.amax(-2).argmax(-1)
    shift = torch.where(shift > width // 2, shift - width, shift)
    return (torch.sign(shift).float() + 1.0) / 2.0


def image_yaw_target(image_s: torch.Tensor, image_t: torch.Tensor, K: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) yaw φ from view s to view t that the images' global shift implies, radians, and its 1-σ (B,) radians.

    `av_pose.vision.image_shift.image_shift_rotation` (phase correlation, the shift turned into a turn through
    the intrinsics K, B×3×3, of these B×3×H×W images), about the camera's up axis (−y of the optical frame):
    the rig's yaw when the camera is level and the rig only turns, which SLfM's data assumes. The 1-σ is the
    correlation peak's (`ImageShift.peak_std_deg`, 2° when sharp); infinite where there is no answer (a low
    peak, K unknown). Derived from the images and the camera's calibration alone (no label). On 400 held-out
    rotation-only ShoeboxAV pairs at 128×96 it answered 359 with a mean error of 0.54° (docs/results.md, SLfM).
    """
    from av_pose.geometry import so3_log
    from av_pose.vision.image_shift import image_shift_rotation

    yaws, stds = torch.zeros(len(image_s)), torch.full((len(image_s),), math.inf)
    pictures = [images.detach().float().permute(0, 2, 3, 1).cpu().numpy() for images in (image_s, image_t)]
    for index, intrinsics in enumerate(K.detach().double().cpu().numpy()):
        if not np.all(np.isfinite(intrinsics)):
            continue
        shift = image_shift_rotation(pictures[0][index], pictures[1][index], intrinsics)
        if shift.ok:
            yaws[index] = -float(so3_log(shift.R_a_b)[1])  # about the camera's +y (down) → about up
            stds[index] = math.radians(shift.peak_std_deg)
    return yaws.to(image_s.device), stds.to(image_s.device)


def rotation_yaw_loss(phi: torch.Tensor, target: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Batch mean of (1 − cos(φ − target)) / (1 − cos σ): about ((φ − target) / σ)², 1 at one σ; 0 where σ = ∞."""
    answered = torch.isfinite(std)
    scale = 1.0 - torch.cos(torch.where(answered, std, torch.ones_like(std)))
    terms = (1.0 - torch.cos(phi - target)) / scale
    return torch.where(answered, terms, torch.zeros_like(terms)).mean()


def rotation_sign_loss(phi: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Hinge on the sign of φ only: mean of relu(−(2·target − 1)·sin φ); no pull on |φ|, none for target 0.5."""
    return functional.relu(-(2.0 * target.to(phi.dtype) - 1.0) * torch.sin(phi)).mean()


def symmetry_loss(theta: torch.Tensor, theta_swapped: torch.Tensor, phi_st: torch.Tensor | None = None,
                  phi_ts: torch.Tensor | None = None) -> torch.Tensor:
    """1 − cos(θ(x) + θ(x with L, R swapped)) plus, with both given, 1 − cos(φ(s→t) + φ(t→s)); batch means."""
    loss = (1.0 - torch.cos(theta + theta_swapped)).mean()
    if phi_st is not None and phi_ts is not None:
        loss = loss + (1.0 - torch.cos(phi_st + phi_ts)).mean()
    return loss


def slfm_losses(model: SlfmNet, batch: Mapping[str, torch.Tensor], side_cue: str = 'iid',
                visual_cue: bool | str = 'none', side_loss: str = 'bce',
                side_scale_deg: float = SIDE_SCALE_DEG) -> tuple[torch.Tensor, dict[str, float]]:
    """SLfM's self-supervised loss of a batch {audio_s, audio_t (B×2×M, 16 kHz), image_s, image_t[, K]}.

    Returns (5·geometric + 1·binaural + 1·symmetry, the parts as floats). Uses no labels. `side_cue` names the
    binaural target (`SIDE_CUES`): 'iid' as SLfM, 'itd' for microphone pairs without a head between them.
    `side_loss` (`SIDE_LOSSES`): 'bce' (`iid_loss`, SLfM's) or 'cauchy' (`side_angle_loss` at `side_scale_deg`).
    `visual_cue` (`VISUAL_CUES`; beyond SLfM; True means 'sign'):
    - 'sign' adds 1·`rotation_sign_loss` against `image_shift_target`: with sources all round a
      front/back-symmetric pair, the geometric loss has the same value for φ and −φ and its gradient for φ
      cancels at φ = 0 (sources in front pull one way, those behind the other), so the visual network stays at
      φ ≈ 0 without a cue for the sign of the rotation;
    - 'yaw' adds the sign cue and 1·`rotation_yaw_loss` against `image_yaw_target` (needs the batch's `K`): the
      size of the turn from the images' shift and the camera's intrinsics. With the sign cue alone the audio
      sets |φ|, and a tiny audio network that hears lateral sources near 40° teaches a rotation about half the
      true one (slope 0.54 on held-out pairs, docs/results.md, SLfM); the image shift, at its own 1-σ, holds φ
      to the camera's geometry, and the geometric loss then teaches the audio network from that φ.
    """
    visual_cue = visual_cue_name(visual_cue)
    if side_cue not in SIDE_CUES:
        raise UserInputError(f'unknown side cue {side_cue!r}: use one of {", ".join(SIDE_CUES)}')
    if side_loss not in SIDE_LOSSES:
        raise UserInputError(f'unknown side loss {side_loss!r}: use one of {", ".join(SIDE_LOSSES)}')
    audio = torch.cat([batch['audio_s'], batch['audio_t']])
    swapped = audio.flip(1)
    thetas = model.audio(torch.cat([audio, swapped]))
    count = len(batch['audio_s'])
    theta_s, theta_t = thetas[:count], thetas[count:2 * count]
    phis = model.visual(torch.cat([batch['image_s'], batch['image_t']]),
                        torch.cat([batch['image_t'], batch['image_s']]))
    phi_st, phi_ts = phis[:count], phis[count:]
    side = SIDE_CUES[side_cue](audio)
    parts = {'geometric': 0.5 * (geometric_loss(theta_s, theta_t, phi_st) + geometric_loss(theta_t, theta_s, phi_ts)),
             'binaural': (iid_loss(thetas[:2 * count], side) if side_loss == 'bce' else
                          side_angle_loss(thetas[:2 * count], side, side_scale_deg)),
             'symmetry': symmetry_loss(thetas[:2 * count], thetas[2 * count:], phi_st, phi_ts)}
    if visual_cue != 'none':
        shift = image_shift_target(batch['image_s'], batch['image_t'])
        parts['visual_sign'] = rotation_sign_loss(torch.cat([phi_st, phi_ts]), torch.cat([shift, 1.0 - shift]))
    if visual_cue == 'yaw':
        if 'K' not in batch:
            raise UserInputError("visual_cue 'yaw' needs the camera intrinsics K in the batch")
        yaw, std = image_yaw_target(batch['image_s'], batch['image_t'], batch['K'])
        parts['visual_yaw'] = rotation_yaw_loss(torch.cat([phi_st, phi_ts]), torch.cat([yaw, -yaw]),
                                                torch.cat([std, std]))
    total = sum(LOSS_WEIGHTS[name] * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}
