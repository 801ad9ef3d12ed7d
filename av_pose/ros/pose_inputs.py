"""Middleware-free input handling of `pose_node`: keyframe selection, frame queue, audio windows, keyframe DOA.

`FrameQueue` runs in the image callback (cheap: stamps only, no decoding): it checks stamps (out of order,
duplicate, jumping back = bag loop → restart), keeps one frame per `period_s` of image time on the
`EstimateScheduler` grid, and holds those frames until their audio is there. `ready()` hands the worker a batch
whose frames are closer together than the shortest pair gap, so none of them can be another's partner.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from av_pose.audio.arrays import MicArray
from av_pose.audio.buffer import AudioRingBuffer, AudioWindow
from av_pose.audio.doa import DoaEstimator
from av_pose.audio.doa.onset import OnsetEmphasisDoa
from av_pose.audio.streaming import DoaFrame
from av_pose.errors import UserInputError
from av_pose.pose.base import View
from av_pose.pose.sequence import keyframe_estimator
from av_pose.ros.node_common import EstimateScheduler
from av_pose.scene.camera import PinholeCamera
from av_pose.vision.lens import LensDistortion, Undistorter, undistorter_for

MAX_AUDIO_DELAY_S = 1.0
"""A frame waits at most this long (wall time) for audio that lags behind; then it goes with what is there."""


@dataclass(frozen=True)
class PendingFrame:
    """A keyframe waiting for the worker: image stamp (s), arrival (time.monotonic()), message, frame_id.

    `msg` is None for an audio-only frame (no images): its stamp is on the audio clock.
    """

    stamp_s: float
    arrival_s: float
    msg: Any
    frame_id: str


class FrameQueue:
    """Keyframes chosen from the incoming images, waiting to be estimated.

    Args:
        scheduler: the keyframe grid (one frame per period of image time).
        capacity: frames held at most; the oldest is dropped beyond it (the worker cannot keep up).
        max_backward_jump_s: a stamp further back than this restarts everything (a bag played in a loop);
            a smaller step back is a late frame and is dropped.
    """

    def __init__(self, scheduler: EstimateScheduler, capacity: int, max_backward_jump_s: float = 1.0) -> None:
        self.scheduler, self.capacity, self.max_backward_jump_s = scheduler, int(capacity), float(max_backward_jump_s)
        self.received = self.skipped = self.behind = 0
        self._pending: deque[PendingFrame] = deque()
        self._last_stamp_s: float | None = None
        self._reset = False

    def __len__(self) -> int:
        return len(self._pending)

    def offer(self, stamp_s: float, msg: Any, frame_id: str, arrival_s: float) -> tuple[str, str] | None:
        """Take an image; returns (reason, message) when it was dropped or restarted the timeline, else None."""
        self.received += 1
        return self._offer(PendingFrame(float(stamp_s), float(arrival_s), msg, frame_id))

    def offer_audio_only(self, stamp_s: float, arrival_s: float) -> None:
        """Schedule an audio-only frame at `stamp_s` (audio clock) when one is due; late ones are ignored."""
        if self._last_stamp_s is None or stamp_s > self._last_stamp_s or \
                stamp_s < self._last_stamp_s - self.max_backward_jump_s:
            self._offer(PendingFrame(float(stamp_s), float(arrival_s), None, ''))

    def _offer(self, frame: PendingFrame) -> tuple[str, str] | None:
        stamp, last = frame.stamp_s, self._last_stamp_s
        problem = None
        if not math.isfinite(stamp) or stamp <= 0.0:
            return 'stamp', f'image stamp {stamp} s is not a time'
        if last is not None and stamp <= last:
            if stamp == last:
                return 'duplicate', f'second image stamped {stamp:.6f} s'
            if stamp >= last - self.max_backward_jump_s:
                return 'late', f'image stamped {stamp:.6f} s arrived after {last:.6f} s'
            self.restart()
            problem = ('time_jump', f'image time jumped back by {last - stamp:.3f} s (bag loop or clock reset?): '
                                    'odometry chain restarted from the last pose')
        self._last_stamp_s = stamp
        if not self.scheduler.due(stamp):
            self.skipped += 1
            return problem
        self.scheduler.mark(stamp)
        if len(self._pending) >= self.capacity:
            dropped = self._pending.popleft()
            problem = problem or ('queue_full', f'keyframe {dropped.stamp_s:.3f} s: the estimator is behind')
        self._pending.append(frame)
        return problem

    def restart(self) -> None:
        """Forget the queue, the last stamp and the keyframe grid; `take_reset()` then says True once."""
        self._pending.clear()
        self.scheduler.reset()
        self._last_stamp_s = None
        self._reset = True

    def take_reset(self) -> bool:
        """True once after each restart (the worker then resets the odometry chain)."""
        reset, self._reset = self._reset, False
        return reset

    def ready(self, audio_end_s: float | None, wait_s: float, max_batch: int, min_gap_s: float,
              now: float, max_age_s: float = 0.0) -> list[PendingFrame]:
        """Remove and return the frames that can be estimated now, oldest first.

        A frame is ready once the audio reaches `wait_s` past its stamp, when there is no (fresh) audio
        (`audio_end_s` None), or after waiting MAX_AUDIO_DELAY_S. A batch holds at most `max_batch` frames,
        all less than `min_gap_s` after its first. With `max_age_s` > 0 a frame ready for more than that long is
        skipped when a newer one is ready too: the estimator is behind, and estimating every frame late would let
        the latency grow without bound. Ready for: since it came (wall time), or, with audio, since the audio
        passed `wait_s` after it (audio time), whichever is shorter, so that frames held up by lagging audio are
        not skipped when it comes. Skipped frames are counted in `behind`.
        """
        def is_ready(frame: PendingFrame) -> bool:
            return audio_end_s is None or audio_end_s >= frame.stamp_s + wait_s - 1e-9 \
                or now - frame.arrival_s >= MAX_AUDIO_DELAY_S

        def ready_for(frame: PendingFrame) -> float:
            waited = now - frame.arrival_s
            return waited if audio_end_s is None else min(waited, audio_end_s - frame.stamp_s - wait_s)

        if max_age_s > 0.0:
            while len(self._pending) > 1 and ready_for(self._pending[0]) > max_age_s \
                    and is_ready(self._pending[0]) and is_ready(self._pending[1]):
                self._pending.popleft()
                self.behind += 1
        out: list[PendingFrame] = []
        while self._pending and len(out) < max_batch:
            frame = self._pending[0]
            if out and frame.stamp_s - out[0].stamp_s >= min_gap_s:
                break
            if not is_ready(frame):
                break
            out.append(self._pending.popleft())
        return out


def cut_window(buffer: AudioRingBuffer, center_s: float, duration_s: float, until_s: float) -> AudioWindow | None:
    """The window centred on `center_s`, with everything from `until_s` on left out (zeros, lower coverage).

    Both views of a pair are cut the same way, so their windows cover the same span around their frames.
    None when the window holds no recorded audio.
    """
    window = buffer.window(center_s, duration_s)
    count = window.samples.shape[1]
    keep = int(round((until_s - window.start_s) * window.sample_rate))
    if keep < count:
        samples = window.samples.copy()
        samples[:, max(keep, 0):] = 0.0
        window = AudioWindow(samples, window.start_s, window.sample_rate,
                             min(window.coverage, max(keep, 0) / count))
    return window if window.coverage > 0.0 else None


def scaled_intrinsics(info: Any, image_size: tuple[int, int], rectified: bool = False) -> np.ndarray | None:
    """3×3 K from a sensor_msgs/CameraInfo, scaled to images of `image_size` (W, H); None when unset.

    `rectified`: the images are already undistorted (image_proc's `image_rect`, which shares the raw camera_info),
    so their intrinsics are the projection P's left 3×3, not K (K where P is unset).
    """
    K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if rectified:
        P = np.asarray(info.p, dtype=np.float64).reshape(3, 4)[:, :3]
        K = P if np.all(np.isfinite(P)) and P[0, 0] > 0 and P[1, 1] > 0 else K
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        return None
    width, height = image_size
    if info.width and info.height and (info.width, info.height) != (width, height):
        K = K.copy()
        K[0] *= width / info.width
        K[1] *= height / info.height
        K[2] = (0.0, 0.0, 1.0)
    return K


def camera_intrinsics(info: Any, image_size: tuple[int, int], rectified: bool = False,
                      fallback_hfov_deg: float = 0.0) -> np.ndarray | None:
    """K of images of `image_size` (W, H) from a CameraInfo (or None), for pose_node and the bag reader.

    As `scaled_intrinsics` gives it; where it gives none, a centred square-pixel pinhole of `fallback_hfov_deg`
    (> 0), else None.
    """
    K = None if info is None else scaled_intrinsics(info, image_size, rectified)
    if K is None and fallback_hfov_deg > 0:
        return PinholeCamera.from_fov(*image_size, fallback_hfov_deg).K
    return K


def camera_lens(info: Any, rectified: bool = False) -> LensDistortion | None:
    """The lens of the images a CameraInfo (or None) describes, for pose_node and the bag reader.

    None for rectified images, no camera_info, or D all zero; UserInputError for a model or D that cannot be used.
    """
    if info is None or rectified:
        return None
    return LensDistortion.from_camera_info(info.distortion_model, info.d)


class CameraLens:
    """The camera_info's intrinsics and lens, and the undistortion of raw images onto the pinhole K.

    Raw images (`rectified` False) are remapped onto the pinhole camera with the same K when CameraInfo's D is
    not zero (`av_pose.vision.lens`); rectified ones are used as they come, with P's intrinsics. A distortion
    that cannot be used (an unknown model, a malformed D) is warned about through `warn(reason, message)` and the
    images are used as they come. Without a usable K (no camera_info, or an uncalibrated camera's zeros) and with
    `fallback_hfov_deg` > 0 the images are taken as a centred pinhole with that horizontal field of view.
    CameraInfo is replaced whole by the subscriber thread and read by the worker.
    """

    def __init__(self, rectified: bool, warn: Callable[[str, str], None], fallback_hfov_deg: float = 0.0) -> None:
        self.rectified = rectified
        self.fallback_hfov_deg = float(fallback_hfov_deg)
        self.info: Any = None
        self._warn = warn
        self._undistorter: Undistorter | None = None

    def intrinsics(self, image_size: tuple[int, int] | None) -> np.ndarray | None:
        """K of the images as the estimators get them (scaled to `image_size`), or None without one."""
        if image_size is None:
            return None
        return camera_intrinsics(self.info, image_size, self.rectified, self.fallback_hfov_deg)

    def undistort(self, rgb: np.ndarray) -> np.ndarray:
        """The H×W×3 image on the pinhole K: remapped when the lens distorts, else as given."""
        size = (rgb.shape[1], rgb.shape[0])
        try:
            lens = camera_lens(self.info, self.rectified)
        except UserInputError as err:
            self._warn('camera_info', f'camera_info: {err}; images used without undistortion')
            return rgb
        self._undistorter = undistorter_for(self._undistorter, self.intrinsics(size), lens, size)
        return rgb if self._undistorter is None else self._undistorter(rgb)

    def describe(self) -> str:
        """One line for /diagnostics: where the intrinsics come from and what is done with the lens."""
        info = self.info
        if info is None or scaled_intrinsics(info, (max(info.width, 1), max(info.height, 1)), self.rectified) is None:
            state = 'no camera_info yet' if info is None else 'camera_info without intrinsics (K unset)'
            if self.fallback_hfov_deg > 0:
                return f'{state}: a centred pinhole of camera_hfov_deg {self.fallback_hfov_deg:g}°'
            return state
        if self.rectified:
            return 'rectified images: intrinsics from P'
        try:
            lens = camera_lens(info)
        except UserInputError as err:
            return f'raw images used as they come ({err})'
        return 'pinhole (D all zero)' if lens is None else f'{lens.model} lens: raw images undistorted onto K'


class KeyframeDoa:
    """DOA of each keyframe's audio window (the sound arrows and the mount calibrator's input).

    One DOA estimator (`keyframe_estimator`, as the bag tool and `av-pose calibrate` use it, on the CPU) per stream
    sample rate.
    """

    def __init__(self, array: MicArray) -> None:
        self.array = array
        self._estimator: DoaEstimator | OnsetEmphasisDoa | None = None

    def __call__(self, view: View, sample_rate: int | None) -> DoaFrame | None:
        """The DOA of the view's audio window, or None without audio (or for a rate the band does not fit)."""
        if view.audio is None or not sample_rate:
            return None
        if self._estimator is None or self._estimator.sample_rate != sample_rate:
            try:
                estimator = keyframe_estimator(self.array, int(sample_rate), num_sources=1)
            except UserInputError:
                return None
            self.release()
            self._estimator = estimator
        result = self._estimator.estimate(view.audio)
        return DoaFrame(view.stamp_s, result.spectrum[0], result.azimuths_deg[0], result.confidence[0],
                        view.audio_coverage)

    def release(self) -> None:
        """Free the estimator."""
        if self._estimator is not None:
            self._estimator.release()
            self._estimator = None


class BackgroundCalibration:
    """Runs a mount calibrator (`OnlineMountCalibrator`) in its own thread, so that solving never delays poses.

    `add_pair(...)` only queues; the thread adds the queued pairs and, every `period_s` of data time, calls
    `result()` and hands it to `on_result`.
    """

    def __init__(self, calibrator: Any, period_s: float, on_result: Callable[[Any], None]) -> None:
        self.calibrator, self.period_s, self.on_result = calibrator, float(period_s), on_result
        self._inbox: deque[tuple] = deque(maxlen=10000)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._first_s: float | None = None
        self._thread = threading.Thread(target=self._run, name='mount_calibration', daemon=True)
        self._thread.start()

    def add_pair(self, R_a_b: np.ndarray, t_a_b: np.ndarray | None, doa_a: DoaFrame, doa_b: DoaFrame) -> None:
        """Queue a pair (see `OnlineMountCalibrator.add_pair`)."""
        self._inbox.append((R_a_b, t_a_b, doa_a, doa_b))
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            newest = None
            while self._inbox:
                R_a_b, t_a_b, doa_a, doa_b = self._inbox.popleft()
                self.calibrator.add_pair(R_a_b, t_a_b, doa_a, doa_b)
                newest = doa_b.stamp_s
                if self._first_s is None or newest < self._first_s:  # the first pair, or time went back
                    self._first_s = newest
            if newest is not None and newest - self._first_s >= self.period_s:
                self._first_s = newest
                self.on_result(self.calibrator.result())

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10.0)
