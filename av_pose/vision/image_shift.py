"""Rotation from the global shift of two images: the vision half's fallback where features fail.

A camera that turns by a small angle θ about its y axis (optical frame: x right, y down, z forward) sees the whole
image move sideways by about fx·tan θ pixels; a tilt φ about x moves it vertically by fy·tan φ. Blur, sensor noise
and colour jitter destroy the corners that ORB matches, but keep the low spatial frequencies, where the shift
still shows. Both images are converted to grey, area-downsampled to `SHIFT_WIDTH_PX` wide, their mean removed and
a Hann window applied; their cross-power spectrum, divided by the square root of its magnitude
(`WHITENING_POWER`: half-way between plain correlation and phase correlation) and weighted by a Gaussian low-pass
(`LOWPASS_CYCLES_PER_PX`), is transformed back into a correlation surface whose peak is the shift (sub-pixel by a
parabola through its neighbours). Full phase correlation (OpenCV's `phaseCorrelate`, used here up to stop 37)
whitens every frequency alike, so the noise that fills the high frequencies of a corrupted frame weighs as much
as the structure in the low ones.

With the shift (dx, dy) from image a to image b in pixels, R_a_b = exp([φ, θ, 0]×) with θ = −atan(dx/(fx·g_x))
and φ = atan(dy/(fy·g_y)): a point on the optical axis of a lands at (−fx·tan θ, fy·tan φ) in b, and a pixel x
from the centre moves by about fx·θ·(1 + (x/fx)²), so the window-weighted mean shift is fx·θ·g_x with
g_x = 1 + E[(x/fx)²] (1.06 across a 256-px image with fx = 183 px). The roll about the optical
axis is not seen (its prior is the caller's), and translation is unknown: a translating camera also shifts the
image by its parallax f·t/Z, which `PARALLAX_DEG` and `PARALLAX_SHARE` below account for.

The peak's sharpness, its peak-to-sidelobe ratio (`psr`: the peak's height above the mean of the surface outside
the 5×5 pixels round it, in standard deviations of that surface), says how much of the two images moved as one.
Calibrated on the corrupted pairs (the paper's mixed blur / noise / jitter) of the ShoeboxAV sets of
`tools/reproduce_geometric_results.sh` where the essential matrix fails (docs/results.md, "The image-shift
fallback"): on the 1203 turning-in-place pairs, whose shift has no parallax, the 68th percentile of the yaw error
is 0.25° at a ratio of 10–12, 0.5° at 8–9, 0.85° at 7–8, 1.2° at 6–7, 1.5° at 5–6 and 1.9° at 4.3–5, with 7 % of
the pairs more than 10° off at 4.3–5 and 19 % at 3.5–4.3; hence the 1-σ `STD_AT_FULL_DEG` · (`FULL_PSR` / psr)^
`STD_POWER` (a little above those percentiles) and no answer below `MIN_PSR`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import planar_up_axis, so3_exp
from av_pose.vision.epipolar import planar_pose

SHIFT_WIDTH_PX = 64
"""Width the images are area-downsampled to before the correlation, pixels."""
WHITENING_POWER = 0.5
"""The cross-power spectrum is divided by its magnitude to this power (1: phase correlation, 0: plain
correlation). On the 1148 corrupted moving pairs above, at the same share of pairs answered (the most confident
70 %), 0.3–0.7 all gave median yaw errors of 1.25–1.42° and 6.5–9.8 % of pairs more than 10° off, against 1.80° and
13.8 % for OpenCV's phase correlation (its own peak height ranking the pairs)."""
LOWPASS_CYCLES_PER_PX = 0.1
"""1-σ of the Gaussian weight on the cross-power spectrum, cycles per (downsampled) pixel; 0.06–0.15 gave the same
figures within 0.1°, none (whitening alone) about 0.1° worse."""
MIN_PSR = 5.0
"""Peak-to-sidelobe ratios below this give no answer (moving pairs at 4.1–4.7: median error 3.7°, 21 % beyond 10°)."""
SURE_PSR = 5.5
"""From this ratio up a shift stands alone; below it `av_pose.pose.geometric` uses it only beside an audio yaw that
agrees with it (its gate drops the shift, not the audio, when they disagree), so `geometric-vision` answers from
here up. On the turning pairs 1.7 % of the answers at 5–5.5 are more than 10° off and 0.1 % from 5.5 up: a wrong
peak, not an imprecise one. Letting them stand alone gained 1–5 points of corrupted rotation AUC@20 on the sets of
docs/results.md ("The image-shift fallback") and followed one heavily blurred pair of the demo 31° off, where the
audio yaw was refused."""
FULL_PSR = 10.0
"""At this ratio the peak's 1-σ is `STD_AT_FULL_DEG` ..."""
STD_AT_FULL_DEG = 0.5
"""... degrees, growing as (FULL_PSR / psr)^STD_POWER below it (never less than this above it) ..."""
STD_POWER = 2.5
"""... with this power: 0.9° at a ratio of 8, 1.8° at 6, 2.8° at 5."""
PARALLAX_DEG = 6.0
"""The 1-σ of a translating camera's parallax, combined (root sum of squares) with the peak's for the shift's
whole 1-σ, degrees: a rig that turns while it sidesteps can keep the image still (on clean moving pairs where the
essential matrix failed, the shift was 5–9° off with sharp peaks). With 4° such shifts outweighed a correct audio
yaw (fused clean rotation AUC@20 on the moving ReSpeaker set 87.6 % against 87.9 % without the fallback, stop
22); 6° and 8° gave 87.8 and 87.9 %, and 68.3 and 68.1 % corrupted."""
PARALLAX_SHARE = 0.15
"""Share of answered pairs whose shift the parallax spoils (the rest are within the peak's precision): the
prior weight of the wide component when `av_pose.pose.geometric` fuses the shift with the audio yaw. Measured in
stop 23 on the 601 corrupted moving pairs of the sets above that the shift answered where the essential matrix
failed: 11.8 %, 5.5 % and 2.7 % of them were more than 2, 3 and 4 peak 1-σ off (a Gaussian: 4.6, 0.3, 0.006 %),
which a parallax component of about a 3× wider 1-σ explains with a share of 0.13–0.18; the median error was 0.22°
where the camera moved under 0.1 m, 2.95° at 0.1–0.3 m and 5.25° beyond. Shares of 0.10, 0.25 and 0.50 gave
fused figures within 0.5 point of AUC of each other on those sets."""
PSR_EXCLUDE_PX = 2
"""The peak's neighbourhood left out of the sidelobe statistics: ±this many pixels in each direction."""


@dataclass(frozen=True)
class ImageShift:
    """The rotation that the global image shift of a pair implies.

    Attributes:
        ok: False when there is no answer (`reason` says why).
        R_a_b: 3×3 rotation camera b → camera a (optical frames); identity when not ok.
        std_deg: 1-σ of the two rotation angles it measures (about the camera's x and y axes), degrees: the
            peak's precision and a translating camera's parallax together.
        peak_std_deg: the peak's precision alone, degrees: the 1-σ of the pairs that the parallax does not
            spoil (all but a `PARALLAX_SHARE` of them; see `av_pose.pose.geometric`).
        shift_px: (dx, dy) of image b against image a at full resolution, pixels.
        psr: the correlation peak's peak-to-sidelobe ratio (module docstring); 0 when there was no surface.
        reason: why there is no answer ('' when ok).
    """

    ok: bool
    R_a_b: np.ndarray = field(default_factory=lambda: np.eye(3))
    std_deg: float = float('inf')
    peak_std_deg: float = float('inf')
    shift_px: tuple[float, float] = (0.0, 0.0)
    psr: float = 0.0
    reason: str = ''


def peak_std_deg(psr: float) -> float:
    """The 1-σ of a shift's rotation angles from its peak-to-sidelobe ratio, degrees (module docstring)."""
    return float(STD_AT_FULL_DEG * max(1.0, FULL_PSR / max(float(psr), 1e-9)) ** STD_POWER)


def _grey(image: np.ndarray, width: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3], dtype=np.float32), cv2.COLOR_RGB2GRAY)
    if image.ndim != 2 or min(image.shape) < 8 or not np.all(np.isfinite(image)):
        raise UserInputError(f'an image of shape {np.shape(image)} (or with non-finite pixels) has no shift to '
                             'measure')
    scale = width / image.shape[1]
    small = cv2.resize(image.astype(np.float64), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small - small.mean()   # else the window × mean, common to both images, peaks at zero shift


def _spread_gain(size_px: int, focal_px: float) -> float:
    """1 + E[(x/f)²] over the window-weighted pixels of one image axis.

    A turn by θ moves a pixel x from the centre by f·tan(atan(x/f) + θ) − x ≈ f·θ·(1 + (x/f)²), so the mean shift
    is f·θ times this.
    """
    x = np.arange(size_px) - 0.5 * (size_px - 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size_px) / max(size_px - 1, 1))
    return 1.0 + float(np.sum(window * (x / focal_px) ** 2) / max(np.sum(window), 1e-12))


def _correlate(grey_a: np.ndarray, grey_b: np.ndarray) -> tuple[float, float, float]:
    """The shift of `grey_b` against `grey_a` and the sharpness of its correlation peak (module docstring).

    Returns (dx, dy, psr): the shift in pixels of these same-size, mean-removed grey images, and the peak-to-sidelobe
    ratio.
    """
    height, width = grey_a.shape
    window = cv2.createHanningWindow((width, height), cv2.CV_64F)
    cross = np.fft.rfft2(grey_b * window) * np.conj(np.fft.rfft2(grey_a * window))
    magnitude = np.abs(cross)
    cross = cross / (magnitude ** WHITENING_POWER + 1e-12 * (float(magnitude.max()) ** WHITENING_POWER + 1e-30))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]
    cross *= np.exp(-(fx ** 2 + fy ** 2) / (2.0 * LOWPASS_CYCLES_PER_PX ** 2))
    surface = np.fft.fftshift(np.fft.irfft2(cross, s=(height, width)))
    row, col = np.unravel_index(int(np.argmax(surface)), surface.shape)
    peak = surface[row, col]

    def vertex(before: float, after: float) -> float:   # parabola through three samples, offset of its top
        curvature = before - 2.0 * peak + after
        return 0.0 if curvature >= 0.0 else float(0.5 * (before - after) / curvature)

    dy = row + vertex(surface[row - 1, col], surface[(row + 1) % height, col]) - height // 2
    dx = col + vertex(surface[row, col - 1], surface[row, (col + 1) % width]) - width // 2
    sidelobes = np.ones(surface.shape, dtype=bool)
    sidelobes[max(row - PSR_EXCLUDE_PX, 0):row + PSR_EXCLUDE_PX + 1,
              max(col - PSR_EXCLUDE_PX, 0):col + PSR_EXCLUDE_PX + 1] = False
    rest = surface[sidelobes]
    return float(dx), float(dy), float((peak - rest.mean()) / max(float(rest.std()), 1e-12))


def image_shift_rotation(image_a: np.ndarray, image_b: np.ndarray, K: np.ndarray,
                         up: np.ndarray | None = None) -> ImageShift:
    """The rotation from a to b that the global shift of image b against image a implies (module docstring).

    Args:
        image_a: H×W×3 RGB or H×W grey image of view a.
        image_b: the same of view b (the same size).
        K: 3×3 intrinsics of both.
        up: planar motion (a ground robot): the rig's up axis in the camera frame; only the turn about it is kept
            (the shift's tilt is noise there), as `estimate_two_view(..., up=...)` does. None: free motion.
    """
    if np.shape(image_a) != np.shape(image_b):
        return ImageShift(False, reason=f'images of different sizes {np.shape(image_a)} and {np.shape(image_b)}')
    try:
        grey_a, grey_b = _grey(image_a, SHIFT_WIDTH_PX), _grey(image_b, SHIFT_WIDTH_PX)
    except UserInputError as err:
        return ImageShift(False, reason=str(err))
    if float(grey_a.std()) < 1e-3 or float(grey_b.std()) < 1e-3:
        return ImageShift(False, reason='a featureless (constant) image')
    dx, dy, psr = _correlate(grey_a, grey_b)
    scale = np.shape(image_a)[1] / SHIFT_WIDTH_PX
    dx, dy = dx * scale, dy * scale
    if not (np.isfinite(dx) and np.isfinite(dy) and np.isfinite(psr)) or psr < MIN_PSR:
        return ImageShift(False, shift_px=(dx, dy), psr=psr,
                          reason=f'image shift peak-to-sidelobe ratio {psr:.1f} below {MIN_PSR}')
    K = np.asarray(K, dtype=np.float64)
    height, width = np.shape(image_a)[:2]
    yaw = -np.arctan2(dx, K[0, 0] * _spread_gain(width, K[0, 0]))   # about the camera y axis
    pitch = np.arctan2(dy, K[1, 1] * _spread_gain(height, K[1, 1]))  # about the camera x axis
    peak_std = peak_std_deg(psr)
    R_a_b = so3_exp(np.array([pitch, yaw, 0.0]))
    up = planar_up_axis(up)
    if up is not None:
        R_a_b = planar_pose(R_a_b, np.zeros(3), up)[0]
    return ImageShift(True, R_a_b=R_a_b, std_deg=float(np.hypot(peak_std, PARALLAX_DEG)), peak_std_deg=peak_std,
                      shift_px=(dx, dy), psr=psr)
