"""Array ↔ camera self-calibration (`av_pose.pose.calibration`, `av-pose calibrate`) and the mount file.

Scenes are ShoeboxAV renders (160×120, respeaker4, one static talker, the rig turning and moving) with the array
yawed 90° on the rig, rendered again with a mirrored channel order, and once with two channels swapped (a channel
order that is no symmetry of the array: the spectra cannot follow the turns). The turn tests run the full pipeline
(vision for the rotation, NormMUSIC spectra); the yaw solver is checked on the scenes' exact bearings, since on
rendered audio the yaw is not determined by 12–20 s of travel (see the slow sweep at the end).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from av_pose.audio.arrays import PRESETS, MicArray, load_array
from av_pose.audio.mount import (
    MountFileError,
    apply_channel_order,
    load_mount,
    mirror_channel_order,
    write_mount,
)
from av_pose.audio.streaming import DoaFrame
from av_pose.audio.wav import read_wav, write_wav
from av_pose.cli import main
from av_pose.errors import UserInputError
from av_pose.geometry import (
    R_CAM_ARRAY_DEFAULT,
    array_mount,
    make_transform,
    pixel_direction_deg,
    relative_pose,
    rotation_from_ypr,
    yaw_of,
)
from av_pose.metrics.azimuth import wrap_signed_deg
from av_pose.pose.calibration import UNOBSERVABLE_STD_DEG, OnlineMountCalibrator, calibrate_recording
from av_pose.pose.mount_yaw import BEARING_STD_FLOOR_DEG
from av_pose.pose.sequence import keyframe_indices
from av_pose.scene.format import read_scene
from av_pose.scene.generate import SynthConfig, generate_scene, sample_layout, scene_rng
from av_pose.scene.signals import SourceSpec

MOUNT_YAW_DEG = 90.0
SWAPPED = [1, 0, 2, 3]  # not a symmetry of the respeaker4 ring


def turning_scene(directory: Path, yaw_deg: float, *, mirrored: bool = False, seed: int = 3,
                  duration_s: float = 12.0, rotation_only: bool = False, image_size=(160, 120)) -> Path:
    """A ShoeboxAV scene whose array sits at `yaw_deg` on the rig, with one talker (static, always on).

    `mirrored`: the array is wired in mirror order (rendered with microphones at y → −y) while the scene claims
    the preset's order, as a mis-wired recording would.
    """
    preset = load_array('respeaker4')
    array = replace(preset, positions_m=preset.positions_m * [1.0, -1.0, 1.0]) if mirrored else preset
    config = SynthConfig(duration_s=duration_s, array=array, num_sources=1, image_size=image_size,
                         rotation_only=rotation_only, T_cam_array=array_mount(rpy_deg=(0.0, 0.0, yaw_deg)))
    layout = sample_layout(config, scene_rng(seed, 0))
    sources = tuple(SourceSpec('speech', np.atleast_2d(s.position_m)[0], end_s=duration_s)
                    if s.position_m is not None else s for s in layout.sources)
    generate_scene(directory, config, seed, layout=replace(layout, sources=sources))
    if mirrored:
        meta = json.loads((directory / 'scene.json').read_text())
        meta['array'] = preset.to_dict()
        (directory / 'scene.json').write_text(json.dumps(meta, sort_keys=True, indent=1) + '\n')
    return directory


@pytest.fixture(scope='module')
def scenes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('calibration')
    plain = turning_scene(root / 'plain', MOUNT_YAW_DEG)
    mirrored = turning_scene(root / 'mirrored', MOUNT_YAW_DEG, mirrored=True)
    swapped = root / 'swapped'
    shutil.copytree(plain, swapped)
    audio, rate = read_wav(swapped / 'audio.wav')
    write_wav(swapped / 'audio.wav', audio[SWAPPED], rate)
    return {'plain': plain, 'mirrored': mirrored, 'swapped': swapped}


@pytest.fixture(scope='module')
def results(scenes):
    return {name: calibrate_recording(read_scene(path)) for name, path in scenes.items()}


# ------------------------------------------------------------------------------------ turns: mirror, preset
def test_correct_wiring_follows_the_turns(results):
    result = results['plain']
    assert result.preset_ok and not result.mirrored and result.channel_order is None
    assert result.turning_pairs >= 10 and result.pairs_used >= 20
    assert 0.5 < result.shift_slope < 2.0, result


def test_mirrored_wiring_is_detected_with_the_order_that_undoes_it(results):
    result = results['mirrored']
    assert result.mirrored and result.preset_ok
    assert -2.0 < result.shift_slope < -0.5, result
    assert result.channel_order == [0, 3, 2, 1]
    assert 'mirrored' in result.message


def test_a_wrong_channel_order_fits_no_turn(results):
    result = results['swapped']
    assert result.preset_ok is False and not result.observable
    assert abs(result.shift_slope) < 0.2 and result.yaw_std_deg == UNOBSERVABLE_STD_DEG
    assert 'wrong array preset or channel order' in result.message


# ---------------------------------------------------------------------------- the yaw solver, exact bearings
def bump_spectrum(azimuths_deg: np.ndarray) -> np.ndarray:
    """A 360-bin DOA spectrum with a von Mises bump at each azimuth (what a clean NormMUSIC gives)."""
    grid = np.arange(360) + 0.5
    bumps = [np.exp(8.0 * (np.cos(np.radians(grid - a)) - 1.0)) for a in azimuths_deg if np.isfinite(a)]
    spectrum = np.sum(bumps, axis=0) if bumps else np.zeros(360)
    return spectrum / max(spectrum.max(), 1e-12)


def exact_bearings_calibration(scene_dir: Path, yaw_deg: float, *, mirrored: bool = False, noise_deg: float = 0.0,
                               gap_s: float = 0.5, seed: int = 0, **options):
    """Calibrate from the scene's true source azimuths re-expressed for an array at `yaw_deg` (± noise), with the
    scene's true motion; `mirrored` reflects them as a mirror-wired array would report them. `options` go to the
    calibrator."""
    record = read_scene(scene_dir)
    recorded_yaw = np.degrees(yaw_of(R_CAM_ARRAY_DEFAULT.T @ record.T_cam_array[:3, :3]))
    rng = np.random.default_rng(seed)
    keys = keyframe_indices(record.frame_times_s, gap_s)
    doas = []
    for index in keys:
        t = record.frame_times_s[index]
        azimuths = wrap_signed_deg(record.source_azimuths_deg(t) + recorded_yaw - yaw_deg)  # same sources, new mount
        azimuths = azimuths + rng.normal(0.0, noise_deg, azimuths.shape)
        azimuths = -azimuths if mirrored else azimuths
        doas.append(DoaFrame(t, bump_spectrum(azimuths), azimuths, np.where(np.isfinite(azimuths), 0.9, np.nan), 1.0))
    calibrator = OnlineMountCalibrator(load_array('respeaker4'), translation='metric', **options)
    for n in range(len(keys) - 1):
        T = relative_pose(record.T_world_cam[keys[n]], record.T_world_cam[keys[n + 1]])
        calibrator.add_pair(T[:3, :3], T[:3, 3], doas[n], doas[n + 1])
    return calibrator.result()


@pytest.mark.parametrize('yaw_deg, mirrored', [(30.0, False), (90.0, False), (180.0, False), (-120.0, False),
                                               (-120.0, True)])
def test_exact_bearings_give_the_yaw(scenes, yaw_deg, mirrored):
    result = exact_bearings_calibration(scenes['plain'], yaw_deg, mirrored=mirrored)
    assert result.mirrored == mirrored and result.preset_ok
    assert abs(wrap_signed_deg(result.yaw_offset_deg - yaw_deg)) < 0.5, result
    assert result.observable and result.rays_used >= 20


def test_noisy_bearings_keep_the_yaw_within_its_uncertainty(scenes):
    """3° bearing noise over 12 s of this path: errors of 0–23° (seeds 0–2), each within the reported 3σ."""
    for seed in range(3):
        result = exact_bearings_calibration(scenes['plain'], 30.0, noise_deg=3.0, seed=seed)
        error = abs(wrap_signed_deg(result.yaw_offset_deg - 30.0))
        assert error <= 3.0 * result.yaw_std_deg and result.yaw_std_deg < 60.0, (seed, error, result)


def driving_calibration(seed: int, yaw_deg: float, speed_m_s: float, far_source_xy, noise_deg: float = 3.0):
    """40 s of a ground robot driving (wandering heading, the camera looking around) past a talker at (1.5, 2) m and
    a second static source at `far_source_xy`, both heard all the time: bearings every 0.5 s with `noise_deg` of
    error for an array at `yaw_deg` on the rig, and the exact metric path (wheel odometry)."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, 40.0, 0.5)
    heading = np.radians(25.0) * np.sin(times / 4.0) + np.radians(4.0) * times
    xy = np.cumsum(0.5 * speed_m_s * np.stack([np.cos(heading), np.sin(heading)], 1), axis=0)
    body_yaw = heading + np.radians(30.0) * np.sin(times / 2.5)
    sources = np.array([[1.5, 2.0], far_source_xy])
    poses, doas = [], []
    for k, t in enumerate(times):
        poses.append(make_transform(rotation_from_ypr(body_yaw[k], 0.0, 0.0), [xy[k, 0], xy[k, 1], 0.0])
                     @ make_transform(R_CAM_ARRAY_DEFAULT.T, [0.0, 0.0, 0.0]))   # body → camera optical frame
        towards = sources - xy[k]
        azimuths = wrap_signed_deg(np.degrees(np.arctan2(towards[:, 1], towards[:, 0]) - body_yaw[k]) - yaw_deg
                                   + rng.normal(0.0, noise_deg, 2))
        doas.append(DoaFrame(float(t), bump_spectrum(azimuths), azimuths, np.full(2, 0.9), 1.0))
    calibrator = OnlineMountCalibrator(load_array('respeaker4'), translation='metric')
    for n in range(len(times) - 1):
        T = relative_pose(poses[n], poses[n + 1])
        calibrator.add_pair(T[:3, :3], T[:3, 3], doas[n], doas[n + 1])
    return calibrator.result()


@pytest.mark.parametrize('speed_m_s, far_source_xy', [(0.1, (4.0, -3.5)), (0.25, (-3.0, 5.0))])
def test_a_strong_source_does_not_hide_the_other_from_the_yaw_search(speed_m_s, far_source_xy):
    """The yaw search seeds the sources with the Hough votes' peaks. Taken as the two highest cells, the near
    talker's elongated vote blob gave both (a ghost beside it), the other source went unseeded and the profile's
    minimum landed 19–70° off on these paths (3° bearings); explaining each chosen cell's bearings away before
    the next finds both sources, and the yaw within a degree."""
    for seed in range(3):
        result = driving_calibration(seed, 150.0, speed_m_s, far_source_xy)
        assert abs(wrap_signed_deg(result.yaw_offset_deg - 150.0)) < 1.5, (seed, result)
        assert result.observable and result.sources == 2


def test_turning_in_place_leaves_the_yaw_unobservable(tmp_path):
    scene = turning_scene(tmp_path / 'turning', 45.0, rotation_only=True, duration_s=8.0, image_size=(32, 24))
    result = exact_bearings_calibration(scene, 45.0)
    assert not result.observable and result.yaw_std_deg == UNOBSERVABLE_STD_DEG
    assert 'did not travel' in result.message
    assert result.preset_ok and not result.mirrored  # the turns still check the wiring


# ------------------------------------------------------------------------------ a source of known bearing
def first_view_direction(scene_dir: Path) -> tuple[float, float]:
    """The source's direction at the first frame in the camera heading frame, as a user who faced it gives it."""
    record = read_scene(scene_dir)
    return record.source_heading_direction_deg(record.frame_times_s[0])


@pytest.fixture(scope='module')
def turning_in_place(tmp_path_factory) -> Path:
    """12 s of turning in place (yaw sweeps, small pitch and roll), one talker, the array at −120° on the rig."""
    return turning_scene(tmp_path_factory.mktemp('turning') / 'scene', -120.0, rotation_only=True, seed=21)


@pytest.mark.parametrize('yaw_deg, mirrored', [(30.0, False), (180.0, False), (-120.0, True)])
def test_a_known_source_bearing_gives_the_yaw_from_turning_alone(turning_in_place, yaw_deg, mirrored):
    """Exact bearings while the rig only turns: triangulation cannot see the yaw, a known first bearing can."""
    bearing, elevation = first_view_direction(turning_in_place)
    result = exact_bearings_calibration(turning_in_place, yaw_deg, mirrored=mirrored, source_bearing_deg=bearing,
                                        source_elevation_deg=elevation)
    assert result.mirrored == mirrored and result.observable
    assert abs(wrap_signed_deg(result.yaw_offset_deg - yaw_deg)) < 0.2, result
    assert result.yaw_std_deg == pytest.approx(BEARING_STD_FLOOR_DEG) and 'bearing' in result.message
    # The bearing is what sets the yaw: a bearing 10° off moves it by 10°.
    shifted = exact_bearings_calibration(turning_in_place, yaw_deg, mirrored=mirrored,
                                         source_bearing_deg=bearing + 10.0, source_elevation_deg=elevation)
    assert abs(wrap_signed_deg(shifted.yaw_offset_deg - yaw_deg - 10.0)) < 0.5
    without = exact_bearings_calibration(turning_in_place, yaw_deg, mirrored=mirrored)
    assert not without.observable and 'a known source bearing can' in without.message


def test_a_bearing_for_a_view_the_first_chain_does_not_start_at_is_refused(turning_in_place):
    result = exact_bearings_calibration(turning_in_place, 30.0, source_bearing_deg=0.0, bearing_stamp_s=3.25)
    assert not result.observable and result.yaw_std_deg == UNOBSERVABLE_STD_DEG
    assert 'first chain of visual pairs starts at' in result.message
    with pytest.raises(UserInputError, match='elevation'):
        OnlineMountCalibrator(source_bearing_deg=0.0, source_elevation_deg=95.0)
    with pytest.raises(UserInputError, match='finite'):
        OnlineMountCalibrator(source_bearing_deg=float('nan'))


def test_cli_known_bearing_on_a_rendered_turning_scene(turning_in_place, capsys):
    """The whole path: rendered audio (reverberant room), NormMUSIC, visual rotations from ORB, the user's bearing.

    The DOA bias turning does not average out stays in the answer: −4.1° on this scene (50 scenes: median 1–2°,
    up to 18°; docs/results.md), within the reported 2σ.
    """
    bearing, elevation = first_view_direction(turning_in_place)
    assert main(['calibrate', str(turning_in_place), '--json', '--source-bearing', f'{bearing:.2f}',
                 '--source-elevation', f'{elevation:.2f}']) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['observable'] and not summary['mirrored'] and summary['rays_used'] >= 20
    error = abs(wrap_signed_deg(summary['yaw_offset_deg'] + 120.0))
    assert error <= 6.0 and error <= 2.0 * summary['yaw_std_deg'], summary
    # The same direction given as the source's pixel in the first image (it need not be drawn to be projected).
    record = read_scene(turning_in_place)
    source = next(s for s in record.sources if s['kind'] != 'ambient')
    T_cam_world = np.linalg.inv(record.T_world_cam[0])
    u, v, w = record.K @ (T_cam_world[:3, :3] @ np.asarray(source['position_m']) + T_cam_world[:3, 3])
    assert main(['calibrate', str(turning_in_place), '--json', '--source-pixel', f'{u / w:.3f}', f'{v / w:.3f}']) == 0
    by_pixel = json.loads(capsys.readouterr().out)
    assert by_pixel['yaw_offset_deg'] == pytest.approx(summary['yaw_offset_deg'], abs=0.05)
    assert main(['calibrate', str(turning_in_place), '--source-pixel', '1', '2', '--source-bearing', '0']) == 2
    assert 'not both' in capsys.readouterr().err


def test_pixel_direction_in_the_heading_frame():
    K = np.array([[200.0, 0.0, 128.0], [0.0, 200.0, 96.0], [0.0, 0.0, 1.0]])
    assert pixel_direction_deg(K, 128.0, 96.0) == pytest.approx((0.0, 0.0), abs=1e-9)
    azimuth, elevation = pixel_direction_deg(K, 128.0 - 200.0, 96.0)   # one focal length left of centre
    assert azimuth == pytest.approx(45.0) and elevation == pytest.approx(0.0, abs=1e-9)
    azimuth, elevation = pixel_direction_deg(K, 128.0, 96.0 - 200.0)   # above
    assert azimuth == pytest.approx(0.0, abs=1e-9) and elevation == pytest.approx(45.0)


# ------------------------------------------------------------------------------------- CLI and mount files
def test_cli_writes_a_mount_that_loads_and_synth_honours(scenes, tmp_path, capsys):
    mount_path = tmp_path / 'array_mount.yaml'
    plot = tmp_path / 'calibration.png'
    assert main(['calibrate', str(scenes['mirrored']), '--out', str(mount_path), '--json', '--plot', str(plot)]) == 0
    assert plot.read_bytes()[:4] == b'\x89PNG' and plot.stat().st_size > 20_000
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {'yaw_offset_deg', 'yaw_std_deg', 'mirrored', 'pairs_used'} <= set(summary)
    assert summary['mirrored'] is True and summary['channel_order'] == [0, 3, 2, 1]
    assert summary['mount_file'] == str(mount_path)
    T_cam_array, order = load_mount(mount_path)
    assert order == [0, 3, 2, 1]
    np.testing.assert_allclose(T_cam_array, array_mount(rpy_deg=(0, 0, summary['yaw_offset_deg'])), atol=1e-6)
    saved = yaml.safe_load(mount_path.read_text())
    assert saved['array'] == 'respeaker4' and saved['mirrored'] is True

    assert main(['synth', '--out', str(tmp_path / 'synth'), '--duration', '1', '--image-size', '32x24',
                 '--sources', '1', '--array-mount', str(mount_path)]) == 0
    rendered = read_scene(tmp_path / 'synth' / 'scene_00000')
    np.testing.assert_allclose(rendered.T_cam_array, T_cam_array, atol=1e-8)


def test_cli_refuses_to_write_a_mount_for_a_wrong_channel_order(scenes, tmp_path, capsys):
    mount_path = tmp_path / 'array_mount.yaml'
    assert main(['calibrate', str(scenes['swapped']), '--out', str(mount_path), '--quiet']) == 1
    out = capsys.readouterr().out
    assert 'not written' in out and 'preset fits the turns: NO' in out and not mount_path.exists()


@pytest.mark.parametrize('args, message', [
    (['calibrate', '/nonexistent/recording'], 'neither a scene folder'),
    (['synth', '--array-mount', 'm.yaml', '--array-rpy', '0', '0', '10'], 'give one or the other'),
    (['synth', '--array-mount', '/nonexistent/m.yaml'], 'cannot read mount file'),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    if args[0] == 'synth':
        args = [*args, '--out', str(tmp_path / 'out')]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()


def test_mount_file_round_trip_and_validation(tmp_path):
    T = array_mount((0.01, -0.02, 0.03), (0.0, 0.0, -120.0))
    path = write_mount(tmp_path / 'm.yaml', T, yaw_offset_deg=-120.0, yaw_std_deg=1.5, mirrored=True,
                       channel_order=[0, 3, 2, 1], array_name='respeaker4')
    loaded, order = load_mount(path)
    np.testing.assert_allclose(loaded, T, atol=1e-8)
    assert order == [0, 3, 2, 1]
    write_mount(tmp_path / 'plain.yaml', T, yaw_offset_deg=0, yaw_std_deg=1, mirrored=False, channel_order=[0, 3, 2, 1],
                array_name='respeaker4')
    assert load_mount(tmp_path / 'plain.yaml')[1] is None  # an order is kept only for a mirrored array
    bad = {'scale.yaml': {'T_cam_array': (2 * np.eye(4)).tolist()},
           'order.yaml': {'T_cam_array': np.eye(4).tolist(), 'channel_order': [0, 0, 1, 2]},
           'missing.yaml': {'yaw_offset_deg': 3.0}}
    for name, content in bad.items():
        (tmp_path / name).write_text(yaml.safe_dump(content))
        with pytest.raises(MountFileError):
            load_mount(tmp_path / name)


@pytest.mark.parametrize('name, expected', [('respeaker4', [0, 3, 2, 1]), ('respeaker6', [2, 1, 0, 5, 4, 3]),
                                            ('uma8', [0, 4, 3, 2, 1, 6, 5]), ('binaural', [1, 0]), ('foa', None)])
def test_mirror_channel_orders_of_the_presets(name, expected):
    array = PRESETS[name]
    order = mirror_channel_order(array)
    assert order == expected
    if order is not None:  # reordering maps every microphone onto the mirror image of another
        np.testing.assert_allclose(array.positions_m[order], array.positions_m * [1, -1, 1], atol=1e-9)
    asymmetric = MicArray('tri', [[0.05, 0.01, 0], [-0.03, 0.04, 0], [-0.02, -0.05, 0]])
    assert mirror_channel_order(asymmetric) is None


def test_apply_channel_order_reorders_channels():
    audio = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(apply_channel_order(audio, [0, 3, 2, 1])[1], audio[3])
    assert apply_channel_order(audio, None) is audio


# ------------------------------------------------------------------------------------------ slow sweep
@pytest.mark.slow
@pytest.mark.parametrize('seed', [11, 12, 13])
def test_sweep_synth_scenes_turns_and_yaw(tmp_path, seed):
    """`av-pose synth` scenes (defaults: 256×192, two random sources, 20 s) at the four target yaws and mirrored.

    Asserted: the mirror test is right every time, and the reported yaw is either off by less than 3 σ or
    flagged unobservable. Printed (pytest -s): the yaw errors; on these scenes they are tens of degrees and the
    calibrator says so (see the module docstring of av_pose.pose.calibration for why).
    """
    preset = load_array('respeaker4')
    for yaw_deg, mirrored in ((30.0, False), (90.0, False), (180.0, False), (-120.0, False), (90.0, True)):
        array = replace(preset, positions_m=preset.positions_m * [1.0, -1.0, 1.0]) if mirrored else preset
        directory = tmp_path / f'{yaw_deg:+.0f}_{mirrored}'
        generate_scene(directory, SynthConfig(duration_s=20.0, array=array,
                                              T_cam_array=array_mount(rpy_deg=(0, 0, yaw_deg))), seed)
        record = read_scene(directory)
        record.mic_array = preset  # the recording claims the preset's order
        result = calibrate_recording(record)
        error = float(wrap_signed_deg(result.yaw_offset_deg - yaw_deg))
        print(f'seed {seed} yaw {yaw_deg:+.0f} mirrored {mirrored}: error {error:+.1f}°, σ {result.yaw_std_deg:.1f}°, '
              f'observable {result.observable}, slope {result.shift_slope:+.2f}')
        assert result.mirrored == mirrored and result.preset_ok
        assert not result.observable or abs(error) <= 3.0 * result.yaw_std_deg
