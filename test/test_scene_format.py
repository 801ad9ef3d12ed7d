"""The on-disk scene format: round trip, byte determinism, ground-truth helpers, clear errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from av_pose.audio.arrays import PRESETS
from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, make_transform, rotation_angle_deg, rotation_from_ypr
from av_pose.scene.format import (
    SceneFormatError,
    SceneRecord,
    extract_window,
    frame_path,
    read_scene,
    write_scene,
)

FPS = 10.0
SAMPLE_RATE = 16000
YAW_RATE_DEG_S = 10.0
SPEED_M_S = 0.5
STATIC_SOURCE = [3.0, 2.5, 1.5]


def camera_pose(t: float) -> np.ndarray:
    """Level camera at height 1.5 m, moving +x at SPEED_M_S and yawing left at YAW_RATE_DEG_S."""
    R_world_array = rotation_from_ypr(math.radians(YAW_RATE_DEG_S * t), 0.0, 0.0)
    return make_transform(R_world_array @ R_CAM_ARRAY_DEFAULT.T, [1.0 + SPEED_M_S * t, 1.0, 1.5])


def expected_azimuth_deg(t: float, source) -> float:
    """atan2 of the source seen from the yawed, level array (array at the camera centre)."""
    dx, dy = source[0] - (1.0 + SPEED_M_S * t), source[1] - 1.0
    return (math.degrees(math.atan2(dy, dx)) - YAW_RATE_DEG_S * t) % 360.0


def scene_audio(channels: int, num_samples: int) -> np.ndarray:
    """Deterministic C×T audio whose values identify channel and sample."""
    k = np.arange(num_samples)
    return np.stack([((k % 1000) / 1000.0 - 0.5) * (c + 1) / channels for c in range(channels)]).astype(np.float32)


def scene_frames(count: int, width: int = 8, height: int = 6) -> list[np.ndarray]:
    """Tiny RGB frames whose pixels identify the frame index."""
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[..., 0] = 10 * i
        frame[..., 1] = np.arange(width, dtype=np.uint8)[None, :] * 7
        frame[..., 2] = 255 - i
        frames.append(frame)
    return frames


def make_scene(directory: Path, duration_s: float = 2.0, seed: int = 0) -> SceneRecord:
    """Write a tiny synthetic scene (4-mic array, moving camera, one static and one moving source)."""
    times = np.arange(int(round(duration_s * FPS))) / FPS
    record = SceneRecord(
        fps=FPS, sample_rate=SAMPLE_RATE, image_size=(8, 6), K=[[6.0, 0, 4.0], [0, 6.0, 3.0], [0, 0, 1]],
        mic_array=PRESETS['respeaker4'], T_cam_array=make_transform(R_CAM_ARRAY_DEFAULT, np.zeros(3)),
        room={'dims_m': [6.0, 5.0, 3.0], 'rt60_s': 0.4, 'absorption': 0.3},
        sources=[
            {'kind': 'speech', 'position_m': STATIC_SOURCE, 'start_s': 0.0, 'end_s': duration_s},
            {'kind': 'noise', 'start_s': 0.5, 'end_s': 1.5,
             'trajectory': [{'t': 0.5, 'position_m': [4.0, 1.0, 1.5]}, {'t': 1.5, 'position_m': [4.0, 3.0, 1.5]}]},
        ],
        frame_times_s=times, T_world_cam=np.stack([camera_pose(t) for t in times]),
        seed=seed, renderer='test-fixture')
    audio = scene_audio(4, int(duration_s * SAMPLE_RATE))
    return write_scene(directory, record, scene_frames(len(times)), audio)


def test_round_trip_keeps_metadata_frames_and_audio(tmp_path):
    written = make_scene(tmp_path / 'scene')
    record = read_scene(tmp_path / 'scene')
    assert record.name == 'scene' and record.num_frames == 20 and record.num_sources == 2
    assert record.duration_s == pytest.approx(2.0)
    np.testing.assert_allclose(record.T_world_cam, written.T_world_cam, atol=1e-9)
    np.testing.assert_allclose(record.frame_times_s, np.arange(20) / FPS, atol=1e-12)
    np.testing.assert_allclose(record.K, written.K)
    assert record.array().name == 'respeaker4'
    np.testing.assert_allclose(record.array().positions_m, PRESETS['respeaker4'].positions_m, atol=1e-6)
    assert record.room['absorption'] == 0.3 and record.sources[1]['trajectory'][1]['t'] == 1.5
    for i, frame in enumerate(scene_frames(20)):
        np.testing.assert_array_equal(record.frame(i), frame)
    audio = record.audio()
    assert audio.shape == (4, 32000) and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, scene_audio(4, 32000))


def test_writing_twice_gives_identical_bytes(tmp_path):
    make_scene(tmp_path / 'a')
    make_scene(tmp_path / 'b')
    files_a = sorted(p.relative_to(tmp_path / 'a') for p in (tmp_path / 'a').rglob('*') if p.is_file())
    assert len(files_a) == 22  # scene.json, audio.wav, 20 frames
    for rel in files_a:
        assert (tmp_path / 'a' / rel).read_bytes() == (tmp_path / 'b' / rel).read_bytes(), rel
    text = (tmp_path / 'a' / 'scene.json').read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data['format_version'] == 1 and data['image_size'] == [8, 6] and data['renderer'] == 'test-fixture'


def test_pose_at_interpolates_between_frames(tmp_path):
    record = make_scene(tmp_path / 'scene')
    np.testing.assert_allclose(record.pose_at(0.3), camera_pose(0.3), atol=1e-9)
    # Constant yaw rate and speed: slerp + lerp between frames reproduce the motion exactly.
    np.testing.assert_allclose(record.pose_at(0.77), camera_pose(0.77), atol=1e-9)
    assert rotation_angle_deg(record.pose_at(0.0)[:3, :3], record.pose_at(1.0)[:3, :3]) == pytest.approx(10.0)
    np.testing.assert_allclose(record.pose_at(-1.0), camera_pose(0.0), atol=1e-12)
    np.testing.assert_allclose(record.pose_at(9.0), camera_pose(1.9), atol=1e-9)


@pytest.mark.parametrize('t', [0.0, 0.25, 0.6, 1.0, 1.45])
def test_source_azimuths_in_array_frame(tmp_path, t):
    record = make_scene(tmp_path / 'scene')
    azimuths = record.source_azimuths_deg(t)
    assert azimuths[0] == pytest.approx(expected_azimuth_deg(t, STATIC_SOURCE), abs=1e-9)
    if 0.5 <= t <= 1.5:
        moving = [4.0, 1.0 + 2.0 * (t - 0.5), 1.5]
        assert azimuths[1] == pytest.approx(expected_azimuth_deg(t, moving), abs=1e-9)
    else:
        assert np.isnan(azimuths[1])


def test_audio_window_zero_pads_at_the_edges(tmp_path):
    record = make_scene(tmp_path / 'scene')
    audio = scene_audio(4, 32000)
    window, coverage = record.audio_window(1.0, 1.0)
    np.testing.assert_array_equal(window, audio[:, 8000:24000])
    assert coverage == 1.0
    window, coverage = record.audio_window(0.1, 1.0)  # starts 0.4 s before the recording
    assert coverage == pytest.approx(0.6)
    np.testing.assert_array_equal(window[:, :6400], 0.0)
    np.testing.assert_array_equal(window[:, 6400:], audio[:, :9600])
    window, coverage = extract_window(audio.T, SAMPLE_RATE, 5.0, 0.5)
    assert coverage == 0.0 and window.shape == (4, 8000) and not window.any()


def test_missing_and_corrupt_files_raise_one_line_errors(tmp_path):
    with pytest.raises(SceneFormatError, match='no such directory'):
        read_scene(tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SceneFormatError, match='scene.json: missing'):
        read_scene(tmp_path / 'empty')
    make_scene(tmp_path / 'scene')
    json_path = tmp_path / 'scene' / 'scene.json'
    good = json_path.read_text()
    json_path.write_text(good[:50])
    with pytest.raises(SceneFormatError, match='not valid JSON'):
        read_scene(tmp_path / 'scene')
    data = json.loads(good)
    del data['K'], data['fps']
    json_path.write_text(json.dumps(data))
    with pytest.raises(SceneFormatError, match='missing key.*K.*fps|missing key.*fps.*K'):
        read_scene(tmp_path / 'scene')
    json_path.write_text(good)
    frame_path(tmp_path / 'scene', 7).unlink()
    with pytest.raises(SceneFormatError, match='1 of 20 frame PNGs missing.*000007.png'):
        read_scene(tmp_path / 'scene')
    frame_path(tmp_path / 'scene', 7).write_bytes(b'not a png')
    record = read_scene(tmp_path / 'scene')
    with pytest.raises(SceneFormatError, match='000007.png: not a readable image'):
        record.frame(7)
    (tmp_path / 'scene' / 'audio.wav').write_bytes(b'RIFF0000garbage')
    with pytest.raises(UserInputError, match='audio.wav: not a readable WAV'):
        read_scene(tmp_path / 'scene')


def test_write_rejects_inconsistent_inputs(tmp_path):
    record = make_scene(tmp_path / 'scene')
    frames = scene_frames(20)
    with pytest.raises(SceneFormatError, match='C×T with C=4'):
        write_scene(tmp_path / 'x', record, frames, np.zeros((2, 100), np.float32))
    with pytest.raises(SceneFormatError, match='got 19 frames for 20'):
        write_scene(tmp_path / 'x', record, frames[:19], np.zeros((4, 100), np.float32))
    with pytest.raises(SceneFormatError, match='frame 0: expected 6×8×3 uint8'):
        write_scene(tmp_path / 'x', record, [np.zeros((6, 8, 3), np.float32)] * 20, np.zeros((4, 100)))
    record.room['rt60_s'] = float('nan')
    with pytest.raises(SceneFormatError, match='non-finite'):
        write_scene(tmp_path / 'x', record, frames, np.zeros((4, 100), np.float32))
