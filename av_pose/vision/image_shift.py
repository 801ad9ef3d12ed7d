"""Rotation from the global shift of two images: the vision half's fallback where features fail.

A camera that turns by a small angle θ about its y axis (optical frame: x right, y down, z forward) sees the whole
image move sideways by about fx·tan θ pixels; a tilt φ about x moves it vertically by fy·tan φ. Blur, sensor noise
and colour jitter destroy the corners that ORB matches, but keep the low spatial frequencies, and phase correlation
(the normalised cross-power spectrum of the two images, blind to brightness and contrast) still finds that shift.
Both images are converted to grey and area-downsampled to `SHIFT_WIDTH_PX` wide first.

With the shift (dx, dy) from image a to image b in pixels, R_a_b = exp([φ, θ, 0]×) with θ = −atan(dx/(fx·g_x))
and φ = atan(dy/(fy·g_y)): a point on the optical axis of a lands at (−fx·tan θ, fy·tan φ) in b, and a pixel x
from the centre moves by about fx·θ·(1 + (x/fx)²), so the window-weighted mean shift is fx·θ·g_x with
g_x = 1 + E[(x/fx)²] (1.06 across a 256-px image with fx = 183 px). The roll about the optical
axis is not seen (its prior is the caller's), and translation is unknown: a translating camera also shifts the
image by its parallax f·t/Z, which the 1-σ below includes because it was fitted on moving rigs. Where the travel t
is known (a robot's odometry), the turn it fakes is taken out (`travel_parallax_turn`, content `SCENE_DEPTH_M` away).

The phase-correlation peak's height (`response`, in [0, 1]) says how much of the two images moved as one. On the
1148 corrupted pairs of the moving ShoeboxAV sets where the essential matrix failed (ReSpeaker 4 and UMA-8 rigs,
`tools/reproduce_geometric_results.sh`; docs/results.md): a response of 0.7 or more (23 % of them) gave a median
yaw error of 0.5° (68 % within 0.9–1.4°), 0.5–0.7 about 2° (68 % within 4.1–4.4°), 0.4–0.5 1.9–5.5°, 0.3–0.4
2–3° with one in six beyond 10°, and below 0.3 the shift is hardly better than a guess (medians 7–19°, against
true yaws of 10°). Hence the 1-σ: `STD_FLOOR_DEG` at `FULL_RESPONSE` and above, growing as (FULL_RESPONSE /
response)³ below it, combined with `PARALLAX_DEG`; no answer below `MIN_RESPONSE` (52 % of those pairs answered,
median error 0.9–1.1°).

Below that response the surface still holds the true shift among noise peaks of about its height. Given a prior on
the turn (the audio yaw), `guided_image_shift` weighs every cell of a low-passed surface by it and answers with
the posterior mean: on the corrupted moving sets' pairs the shift refuses, 4.6° → 2.8° median yaw error against
the audio yaw alone (docs/results.md, "The image shift read around the audio yaw").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from av_pose.errors import UserInputError
from av_pose.geometry import planar_up_axis, so3_exp
from av_pose.vision.epipolar import planar_pose

SHIFT_WIDTH_PX = 64
"""Width the images are area-downsampled to before the phase correlation, pixels."""
MIN_RESPONSE = 0.4
"""Phase-correlation responses below this give no answer (the shift is then no better than a guess)."""
FULL_RESPONSE = 0.7
"""From this response up the 1-σ is STD_FLOOR_DEG ..."""
STD_FLOOR_DEG = 2.0
"""... degrees, growing as (FULL_RESPONSE / response)³ below it ..."""
PARALLAX_DEG = 6.0
"""... and combined (root sum of squares) with this for the parallax of a translating camera, degrees: a rig that
turns while it sidesteps can keep the image still (on clean moving pairs where the essential matrix failed, the
shift was 5–9° off with responses of 0.8–0.9). With 4° such shifts outweighed a correct audio yaw (fused clean
rotation AUC@20 on the moving ReSpeaker set 87.6 % against 87.9 % without the fallback); 6° and 8° gave 87.8 and
87.9 %, and 68.3 and 68.1 % corrupted."""
PARALLAX_SHARE = 0.15
"""Share of answered pairs whose shift the parallax spoils (the rest are within the peak's precision): the
prior weight of the wide component when `av_pose.pose.geometric` fuses the shift with the audio yaw. Measured on
the 601 corrupted moving pairs of the sets above that the shift answers where the essential matrix fails: 11.8 %,
5.5 % and 2.7 % of them are more than 2, 3 and 4 peak 1-σ off (a Gaussian: 4.6, 0.3, 0.006 %), which a parallax
component of about a 3× wider 1-σ explains with a share of 0.13–0.18; the median error is 0.22° where the camera
moved under 0.1 m, 2.95° at 0.1–0.3 m and 5.25° beyond. Shares of 0.10, 0.25 and 0.50 gave fused figures within
0.5 point of AUC of each other on those sets."""


SCENE_DEPTH_M = 2.5
"""Depth at which the image's content is placed to predict the parallax of a known camera travel, metres
(`travel_parallax_turn`). On the corrupted moving ShoeboxAV pairs the shift answers where the essential matrix
fails, the shift's yaw error grows by 23–24° per metre of sideways travel (content 2.4–2.5 m away)."""


def travel_parallax_turn(travel_m: np.ndarray | None, depth_m: float = SCENE_DEPTH_M) -> np.ndarray:
    """The turn ((3,) rotation vector, radians, camera a's optical axes) that a camera travel fakes in the image shift.

    A camera that moves by t (metres, camera a's axes: x right, y down, z forward) sees content `depth_m` ahead
    shift by −f·t_x/depth sideways and −f·t_y/depth vertically, which the shift reads as a turn
    [−atan(t_y/depth), atan(t_x/depth), 0]. Zeros for no travel (None, non-finite, or not 3 values).
    """
    if travel_m is None:
        return np.zeros(3)
    travel = np.asarray(travel_m, dtype=np.float64).reshape(-1)
    if travel.shape != (3,) or not np.all(np.isfinite(travel)) or not depth_m > 0:
        return np.zeros(3)
    return np.array([-np.arctan2(travel[1], depth_m), np.arctan2(travel[0], depth_m), 0.0])


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
        response: phase-correlation peak height in [0, 1].
        reason: why there is no answer ('' when ok).
    """

    ok: bool
    R_a_b: np.ndarray = field(default_factory=lambda: np.eye(3))
    std_deg: float = float('inf')
    peak_std_deg: float = float('inf')
    shift_px: tuple[float, float] = (0.0, 0.0)
    response: float = 0.0
    reason: str = ''


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
    small = cv2.resize(image.astype(np.float32), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return small - small.mean()   # else the window × mean, common to both images, peaks at zero shift


def _spread_gain(size_px: int, focal_px: float) -> float:
    """1 + E[(x/f)²] over the window-weighted pixels of one image axis.

    A turn by θ moves a pixel x from the centre by f·tan(atan(x/f) + θ) − x ≈ f·θ·(1 + (x/f)²), so the mean shift
    is f·θ times this.
    """
    x = np.arange(size_px) - 0.5 * (size_px - 1)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size_px) / max(size_px - 1, 1))
    return 1.0 + float(np.sum(window * (x / focal_px) ** 2) / max(np.sum(window), 1e-12))


def _grey_pair(image_a: np.ndarray, image_b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
    """Both images grey, `SHIFT_WIDTH_PX` wide and mean-free; or why they carry no shift (a reason)."""
    if np.shape(image_a) != np.shape(image_b):
        return f'images of different sizes {np.shape(image_a)} and {np.shape(image_b)}'
    try:
        grey_a, grey_b = _grey(image_a, SHIFT_WIDTH_PX), _grey(image_b, SHIFT_WIDTH_PX)
    except UserInputError as err:
        return str(err)
    if float(grey_a.std()) < 1e-3 or float(grey_b.std()) < 1e-3:
        return 'a featureless (constant) image'
    return grey_a, grey_b


def _shift_turn_deg(dx, dy, K: np.ndarray, size: tuple[int, int], travel_m: np.ndarray | None):
    """The turn (tilt, yaw), degrees about the camera x and y axes, that a shift of image b against image a reads as.

    `dx`, `dy`: the shift in full-resolution pixels (scalars or arrays); `size`: the images' (height, width); the
    turn that a known travel's parallax fakes (`travel_parallax_turn`) is taken out.
    """
    K = np.asarray(K, dtype=np.float64)
    height, width = size
    fake_tilt, fake_yaw, _ = np.degrees(travel_parallax_turn(travel_m))
    tilt = np.degrees(np.arctan2(dy, K[1, 1] * _spread_gain(height, K[1, 1]))) - fake_tilt
    yaw = np.degrees(-np.arctan2(dx, K[0, 0] * _spread_gain(width, K[0, 0]))) - fake_yaw
    return tilt, yaw


def _turn(tilt_deg: float, yaw_deg: float, up: np.ndarray | None) -> np.ndarray:
    """R_a_b of the turn [tilt, yaw, 0] (degrees, camera axes); with planar motion only its turn about `up`."""
    R_a_b = so3_exp(np.radians([tilt_deg, yaw_deg, 0.0]))
    up = planar_up_axis(up)
    return R_a_b if up is None else planar_pose(R_a_b, np.zeros(3), up)[0]


def image_shift_rotation(image_a: np.ndarray, image_b: np.ndarray, K: np.ndarray,
                         up: np.ndarray | None = None, travel_m: np.ndarray | None = None) -> ImageShift:
    """The rotation from a to b that the global shift of image b against image a implies (module docstring).

    Args:
        image_a: H×W×3 RGB or H×W grey image of view a.
        image_b: the same of view b (the same size).
        K: 3×3 intrinsics of both.
        up: planar motion (a ground robot): the rig's up axis in the camera frame; only the turn about it is kept
            (the shift's tilt is noise there), as `estimate_two_view(..., up=...)` does. None: free motion.
        travel_m: the camera's expected travel from a to b (metres, camera a's axes), where known: the turn its
            parallax fakes (`travel_parallax_turn`) is taken out. None: not known.
    """
    greys = _grey_pair(image_a, image_b)
    if isinstance(greys, str):
        return ImageShift(False, reason=greys)
    grey_a, grey_b = greys
    window = cv2.createHanningWindow((grey_a.shape[1], grey_a.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(grey_a, grey_b, window)
    scale = np.shape(image_a)[1] / SHIFT_WIDTH_PX
    dx, dy, response = float(dx) * scale, float(dy) * scale, float(response)
    if not (np.isfinite(dx) and np.isfinite(dy) and np.isfinite(response)) or response < MIN_RESPONSE:
        return ImageShift(False, shift_px=(dx, dy), response=response,
                          reason=f'image shift response {response:.2f} below {MIN_RESPONSE}')
    peak_std_deg = STD_FLOOR_DEG * max(1.0, FULL_RESPONSE / response) ** 3
    R_a_b = _turn(*_shift_turn_deg(dx, dy, K, np.shape(image_a)[:2], travel_m), up)
    return ImageShift(True, R_a_b=R_a_b, std_deg=float(np.hypot(peak_std_deg, PARALLAX_DEG)),
                      peak_std_deg=float(peak_std_deg), shift_px=(dx, dy), response=response)


GUIDED_LOWPASS = 0.1
"""Gaussian low-pass (1-σ, cycles per pixel at `SHIFT_WIDTH_PX`) on the normalised cross-power spectrum of the
guided search: blur and noise leave the low frequencies, and whitening gives the noisy high ones equal say."""
GUIDED_WEIGHT = 0.7
"""β: a cell's log-likelihood is β × the correlation surface's robust z-score there (chosen on the corrupted moving
sets among 0.4–2: 0.7–1.0 gave the lowest errors, 0.7 moves least from the prior on images of pure noise)."""


@dataclass(frozen=True)
class GuidedShift:
    """The turn that the correlation surface and a prior on the turn about one axis agree on (posterior mean).

    Attributes:
        R_a_b: 3×3 rotation camera b → camera a (optical frames), from the posterior mean tilt and yaw.
        yaw_std_deg: posterior 1-σ of the turn about the camera y axis, degrees (at least `STD_FLOOR_DEG`).
        peak_z: the surface's robust z-score at the posterior's mode (how much the images said there).
        shift_px: posterior mean (dx, dy) of image b against image a at full resolution, pixels.
    """

    R_a_b: np.ndarray
    yaw_std_deg: float
    peak_z: float
    shift_px: tuple[float, float]


def _lowpass_correlation(grey_a: np.ndarray, grey_b: np.ndarray, lowpass: float) -> np.ndarray:
    """Phase-correlation surface of two equal-size grey images, low-passed, zero shift at the centre (h//2, w//2).

    The surface peaks at the shift of b against a (cv2.phaseCorrelate's sign).
    """
    height, width = grey_a.shape
    window = cv2.createHanningWindow((width, height), cv2.CV_32F).astype(np.float64)
    cross = np.fft.fft2(grey_b * window) * np.conj(np.fft.fft2(grey_a * window))
    cross /= np.abs(cross) + 1e-12
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    cross *= np.exp(-0.5 * (fx ** 2 + fy ** 2) / lowpass ** 2)
    return np.fft.fftshift(np.real(np.fft.ifft2(cross)))


def guided_image_shift(image_a: np.ndarray, image_b: np.ndarray, K: np.ndarray, axis: np.ndarray, prior_deg: float,
                       prior_std_deg: float, tilt_std_deg: float = 3.0, up: np.ndarray | None = None,
                       travel_m: np.ndarray | None = None) -> GuidedShift | None:
    """The image shift where a prior on the turn guides it, for pairs whose shift alone is too weak to answer.

    Where blur and noise leave the phase-correlation peak too low to trust on its own (`image_shift_rotation`
    refuses), the surface still holds the true shift among noise peaks. Each cell of the low-passed surface is a
    turn ω = [tilt, yaw, 0] (rotation vector, camera frame, converted from the shift as `image_shift_rotation`
    does) with the log-posterior GUIDED_WEIGHT × the surface's robust z-score there + the log-density of the prior
    on the turn about `axis` (ω·axis ~ N(prior_deg, prior_std_deg²)) + a tilt prior of `tilt_std_deg`. The
    answer is the posterior mean and its yaw 1-σ the posterior's: on a surface of pure noise it stays near the
    prior (median 0.2 prior 1-σ away, on the corrupted moving sets' pairs with their images replaced by noise).

    Args:
        image_a: view a (H×W×3 RGB or H×W grey).
        image_b: view b (the same size).
        K: 3×3 intrinsics.
        axis: unit axis in the camera frame about which the prior turn is (the array's z axis for the audio yaw).
        prior_deg: the prior turn about `axis`, degrees.
        prior_std_deg: its 1-σ, degrees (> 0).
        tilt_std_deg: prior 1-σ of the tilt about the camera x axis, degrees (> 0).
        up: planar motion's up axis (camera frame), as in `image_shift_rotation`; None: free motion.
        travel_m: the camera's expected travel, as in `image_shift_rotation`: each cell's turn is read without the
            turn its parallax fakes.

    Returns:
        The guided turn, or None for images that carry no shift (different sizes, featureless, malformed) or a
        prior that is not finite.
    """
    if not 0 < prior_std_deg < np.inf or not np.isfinite(prior_deg) or not 0 < tilt_std_deg < np.inf:
        return None
    greys = _grey_pair(image_a, image_b)
    if isinstance(greys, str):
        return None
    surface = _lowpass_correlation(*(grey.astype(np.float64) for grey in greys), GUIDED_LOWPASS)
    spread = 1.4826 * float(np.median(np.abs(surface - np.median(surface))))
    if not spread > 0:
        return None
    z = (surface - np.median(surface)) / spread
    rows, columns = surface.shape
    scale = np.shape(image_a)[1] / SHIFT_WIDTH_PX
    dx = (np.arange(columns) - columns // 2) * scale
    dy = (np.arange(rows) - rows // 2) * scale
    tilt_deg, yaw_deg = _shift_turn_deg(dx, dy, K, np.shape(image_a)[:2], travel_m)
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    about_axis = tilt_deg[:, None] * axis[0] + yaw_deg[None, :] * axis[1]  # ω·axis (degrees); ω has no roll
    score = (GUIDED_WEIGHT * z - 0.5 * ((about_axis - prior_deg) / prior_std_deg) ** 2
             - 0.5 * (tilt_deg[:, None] / tilt_std_deg) ** 2)
    mode = np.unravel_index(int(np.argmax(score)), score.shape)
    posterior = np.exp(score - score[mode])
    posterior /= posterior.sum()
    yaw_weights, tilt_weights = posterior.sum(0), posterior.sum(1)
    yaw_mean, tilt_mean = float(yaw_weights @ yaw_deg), float(tilt_weights @ tilt_deg)
    yaw_std_deg = max(STD_FLOOR_DEG, float(np.sqrt(yaw_weights @ (yaw_deg - yaw_mean) ** 2)))
    return GuidedShift(R_a_b=_turn(tilt_mean, yaw_mean, up), yaw_std_deg=yaw_std_deg, peak_z=float(z[mode]),
                       shift_px=(float(yaw_weights @ dx), float(tilt_weights @ dy)))
