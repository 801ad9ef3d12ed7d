"""Readers for SLfM's HM3D-SS and Ego-Exo4D/Aria takes, on tiny mimic fixtures written here."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile
from scipy.spatial.transform import Rotation

from av_pose.data.egoexo4d import EgoExo4DPairDataset, read_closed_loop_trajectory
from av_pose.data.hm3d_ss import HM3DSSPairDataset, habitat_camera_pose
from av_pose.errors import UserInputError
from av_pose.geometry import invert_transform, make_transform, rotation_angle_deg, rotation_from_ypr

# ---------------------------------------------------------------- HM3D-SS (SLfM layout)
PITCH_RAD = -math.pi / 8.0  # SLfM's sensor_pitch
CAMERA_YAWS_DEG = (10.0, 40.0)
CAMERA_POSITION = [-3.66, 1.61, 3.33]
SOURCES = [[-4.02, 1.22, 3.25], [-3.25, 1.40, 4.30]]
# (left delay, right delay) in samples and gain of the RIR of source s at view i
RIR_DELAYS = {(0, 0): (2, 9), (0, 1): (7, 3), (1, 0): (4, 4), (1, 1): (11, 5)}
RIR_GAIN = 0.5


def slfm_quaternion_wxyz(yaw_deg: float) -> list[float]:
    """Camera rotation as SLfM writes it: yaw about +y, then the sensor pitch about x."""
    # quat_from_angle_axis(yaw, +y) * quat_from_angle_axis(-sensor_pitch, -x): a pitch of PITCH_RAD about +x.
    rotation = Rotation.from_rotvec([0.0, math.radians(yaw_deg), 0.0]) * Rotation.from_rotvec([PITCH_RAD, 0.0, 0.0])
    x, y, z, w = rotation.as_quat()
    return [w, x, y, z]


def slfm_relative_angle_deg(source, position, yaw_deg: float) -> float:
    """Source direction relative to the agent heading, left positive (Habitat: −z forward, +x right)."""
    yaw = math.radians(yaw_deg)
    d = np.asarray(source) - np.asarray(position)
    forward = d @ [-math.sin(yaw), 0.0, -math.cos(yaw)]
    left = d @ [-math.cos(yaw), 0.0, math.sin(yaw)]
    return math.degrees(math.atan2(left, forward))


def test_slfm_quaternion_convention_matches_the_published_example():
    # IFICL/SLfM ProcessedData-examples .../pair-0000/metadata.json, camera 0.
    np.testing.assert_allclose(slfm_quaternion_wxyz(5.695647424760262),
                               [0.9795740257146412, -0.19484938847852126, 0.048728784110162494,
                                0.009692757806884684], atol=1e-9)


def write_hm3d_pair(pair_dir, seed: int = 0):
    (pair_dir / 'binaural_rirs').mkdir(parents=True)
    meta = {'scene_id': 'Habitat/scene_datasets/hm3d/train/00009-x/x.basis.glb'}
    rng = np.random.default_rng(seed)
    for i, yaw in enumerate(CAMERA_YAWS_DEG):
        meta[f'camera_{i}_angle'] = yaw
        meta[f'camera_{i}_position'] = CAMERA_POSITION
        meta[f'camera_{i}_rotation_in_quaternion'] = slfm_quaternion_wxyz(yaw)
        rgba = rng.integers(0, 256, (24, 32, 4), dtype=np.uint8)  # plt.imsave writes RGBA
        Image.fromarray(rgba).save(pair_dir / f'camera_{i}_rgb.png')
        for s, source in enumerate(SOURCES):
            meta[f'relative_angle_between_sound_{s}_camera_{i}'] = slfm_relative_angle_deg(source, CAMERA_POSITION,
                                                                                          yaw)
            rir = np.zeros((64, 2), dtype=np.int16)  # soundfile's default WAV subtype is PCM_16
            for channel, delay in enumerate(RIR_DELAYS[(s, i)]):
                rir[delay, channel] = int(RIR_GAIN * 32768)
            wavfile.write(pair_dir / 'binaural_rirs' / f'sound_{s}_camera_{i}_rir.wav', 16000, rir)
    for s, source in enumerate(SOURCES):
        meta[f'source_{s}_position'] = source
    (pair_dir / 'metadata.json').write_text(json.dumps(meta, indent=4, sort_keys=True))


def shifted(signal: np.ndarray, delay: int) -> np.ndarray:
    return np.concatenate([np.zeros(delay), signal[:len(signal) - delay]])


def test_hm3d_ss_item_poses_audio_and_azimuths(tmp_path):
    write_hm3d_pair(tmp_path / '00009-vLpv2VX547B' / 'pair-0000')
    write_hm3d_pair(tmp_path / '00009-vLpv2VX547B' / 'pair-0001', seed=1)
    rng = np.random.default_rng(5)
    mono = [rng.uniform(-0.3, 0.3, 40000), rng.uniform(-0.3, 0.3, 40000)]
    dataset = HM3DSSPairDataset(tmp_path, mono, window_s=1.0, window_start_s=0.5)
    assert len(dataset) == 2 and dataset.max_sources == 2
    item = dataset[0]
    assert item['scene_id'] == '00009-vLpv2VX547B/pair-0000'
    assert item['image_a'].shape == (3, 24, 32)
    # Audio: Σ_s gain·mono_s delayed per ear, the 1 s window starting 0.5 s in.
    for key, view in (('audio_a', 0), ('audio_b', 1)):
        expected = sum(RIR_GAIN * np.stack([shifted(mono[s], d) for d in RIR_DELAYS[(s, view)]]) for s in range(2))
        np.testing.assert_allclose(item[key].numpy(), expected[:, 8000:24000], atol=1e-6)
    assert item['coverage_a'] == 1.0
    # Pose: same position, b turned 30° left of a (pitch is common, so the relative angle stays 30°).
    T_a_b = item['T_a_b'].double().numpy()
    assert rotation_angle_deg(T_a_b[:3, :3], np.eye(3)) == pytest.approx(30.0, abs=1e-4)
    np.testing.assert_allclose(T_a_b[:3, 3], 0.0, atol=1e-6)
    forward_b_in_a = T_a_b[:3, 2]
    assert forward_b_in_a[0] < -0.4  # OpenCV x is right: b looks to a's left
    # Both cameras pitched down by 22.5°: optical z has a downward (−y world) component.
    T_world_a = habitat_camera_pose(CAMERA_POSITION, slfm_quaternion_wxyz(10.0))
    assert math.degrees(math.asin(-T_world_a[1, 2])) == pytest.approx(22.5, abs=1e-6)
    for key, view in (('azimuths_a_deg', 0), ('azimuths_b_deg', 1)):
        expected = [slfm_relative_angle_deg(src, CAMERA_POSITION, CAMERA_YAWS_DEG[view]) % 360 for src in SOURCES]
        np.testing.assert_allclose(item[key].numpy(), expected, atol=1e-4)
    # Independent of SLfM's angle formula: the azimuths follow from the reader's own camera pose and the
    # source positions (optical axis levelled onto the floor plane, Habitat y up; left positive).
    for key, yaw in (('azimuths_a_deg', CAMERA_YAWS_DEG[0]), ('azimuths_b_deg', CAMERA_YAWS_DEG[1])):
        T_world_cam = habitat_camera_pose(CAMERA_POSITION, slfm_quaternion_wxyz(yaw))
        forward = T_world_cam[:3, 2] * [1.0, 0.0, 1.0]
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        offsets = np.asarray(SOURCES) - CAMERA_POSITION
        from_pose = np.degrees(np.arctan2(offsets @ -right, offsets @ forward)) % 360
        np.testing.assert_allclose(item[key].numpy(), from_pose, atol=1e-3)
    # Turning left by 30° moves every source 30° clockwise (to smaller azimuths) in the array frame.
    np.testing.assert_allclose((item['azimuths_a_deg'] - item['azimuths_b_deg']).numpy() % 360, 30.0, atol=1e-4)


def test_hm3d_ss_split_csv_and_errors(tmp_path):
    pair = tmp_path / 'data' / 'scene' / 'pair-0007'
    write_hm3d_pair(pair)
    split = tmp_path / 'test.csv'
    split.write_text(f'"path"\n"{pair}"\n')
    dataset = HM3DSSPairDataset(split, [np.ones(20000)], views=(1, 0))
    assert len(dataset) == 1 and dataset[0]['frame_a'] == 1
    with pytest.raises(UserInputError, match='no HM3D-SS pairs'):
        HM3DSSPairDataset(tmp_path / 'data' / 'scene' / 'pair-0007' / 'binaural_rirs', [np.ones(10)])
    (pair / 'binaural_rirs' / 'sound_1_camera_0_rir.wav').unlink()
    with pytest.raises(UserInputError, match='sound_1_camera_0_rir.wav: no such audio file'):
        dataset[0]


# ---------------------------------------------------------------- Ego-Exo4D / Aria take
T0_US = 1_000_000_000
AUDIO_RATE = 48000
AUDIO_START_US = T0_US + 200_000
YAW_RATE = math.radians(20.0)  # rad/s


def device_pose(t_rel_s: float) -> np.ndarray:
    return make_transform(rotation_from_ypr(YAW_RATE * t_rel_s, 0.1, 0.0), [0.5 * t_rel_s, 0.2, 1.6])


T_DEVICE_CAMERA = make_transform(rotation_from_ypr(0.0, 0.0, -math.pi / 2) @ rotation_from_ypr(-math.pi / 2, 0, 0),
                                 [0.01, -0.05, 0.0])


def write_aria_take(take_dir, with_calibration: bool = True) -> np.ndarray:
    (take_dir / 'trajectory').mkdir(parents=True)
    (take_dir / 'frames').mkdir()
    columns = ['graph_uid', 'tracking_timestamp_us', 'utc_timestamp_ns', 'tx_world_device', 'ty_world_device',
               'tz_world_device', 'qx_world_device', 'qy_world_device', 'qz_world_device', 'qw_world_device',
               'quality_score']
    with (take_dir / 'trajectory' / 'closed_loop_trajectory.csv').open('w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for k in range(301):  # 100 Hz for 3 s
            T = device_pose(k / 100.0)
            q = Rotation.from_matrix(T[:3, :3]).as_quat()
            writer.writerow(['g0', T0_US + 10_000 * k, -1, *T[:3, 3], *q, 1.0])
    rng = np.random.default_rng(3)
    for i in range(25):  # 10 fps starting at 0.05 s
        stamp = T0_US + 50_000 + 100_000 * i
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(take_dir / 'frames' / f'{stamp}.png')
    audio = rng.integers(-20000, 20000, (2 * AUDIO_RATE, 7), dtype=np.int16)
    wavfile.write(take_dir / 'audio.wav', AUDIO_RATE, audio)
    (take_dir / 'audio.json').write_text(json.dumps({'first_sample_timestamp_us': AUDIO_START_US}))
    if with_calibration:
        (take_dir / 'calibration.json').write_text(json.dumps({'T_device_camera': T_DEVICE_CAMERA.tolist()}))
    return audio


def test_closed_loop_trajectory_reader(tmp_path):
    write_aria_take(tmp_path / 'take')
    times, poses = read_closed_loop_trajectory(tmp_path / 'take' / 'trajectory' / 'closed_loop_trajectory.csv')
    assert times.shape == (301,) and times[0] == pytest.approx(1000.0)
    np.testing.assert_allclose(poses[150], device_pose(1.5), atol=1e-9)


def test_egoexo4d_pairs_poses_and_audio(tmp_path):
    audio = write_aria_take(tmp_path / 'takes' / 'cmu_bike_01')
    dataset = EgoExo4DPairDataset(tmp_path / 'takes', gap_s=1.0, window_s=0.5)
    assert len(dataset) == 15
    item = dataset[4]
    t_a_rel, t_b_rel = 0.45, 1.45
    assert item['t_a'] == pytest.approx(1000.0 + t_a_rel) and item['scene_id'] == 'cmu_bike_01'
    # Between 100 Hz samples: slerp/lerp of a constant-rate yaw and linear motion are exact.
    expected = invert_transform(device_pose(t_a_rel) @ T_DEVICE_CAMERA) @ device_pose(t_b_rel) @ T_DEVICE_CAMERA
    np.testing.assert_allclose(item['T_a_b'].numpy(), expected, atol=1e-5)
    assert rotation_angle_deg(item['T_a_b'][:3, :3].double().numpy(), np.eye(3)) == pytest.approx(20.0, abs=1e-3)
    # Audio window of 0.5 s centred on 0.45 s device-relative; the audio starts at 0.2 s.
    start = int(round((t_a_rel - 0.25 - 0.2) * AUDIO_RATE))
    assert item['audio_a'].shape == (7, 24000) and item['coverage_a'] == 1.0
    np.testing.assert_allclose(item['audio_a'].numpy(), audio[start:start + 24000].T / 32768.0, atol=1e-7)
    first = dataset[0]  # window [-0.2, 0.3] s, audio from 0.2 s: 0.1 s of 0.5 s inside
    assert first['coverage_a'] == pytest.approx(0.2)
    assert np.isnan(item['azimuths_a_deg'].numpy()).all() and item['azimuths_a_deg'].shape == (1,)


def test_egoexo4d_errors(tmp_path):
    write_aria_take(tmp_path / 'take', with_calibration=False)
    (tmp_path / 'take' / 'audio.json').write_text('{}')
    with pytest.raises(UserInputError, match='first_sample_timestamp_us'):
        EgoExo4DPairDataset(tmp_path / 'take')
    path = tmp_path / 'take' / 'trajectory' / 'closed_loop_trajectory.csv'
    path.write_text('tracking_timestamp_us,tx_world_device\n1,2\n')
    with pytest.raises(UserInputError, match='missing column'):
        read_closed_loop_trajectory(path)
