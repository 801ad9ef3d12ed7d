"""ShoeboxAV generation end to end: `av-pose synth`, determinism, ground-truth consistency (the demo: test_demo)."""
import hashlib
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.audio.doa import make_estimator
from av_pose.data.pairs import FramePairDataset
from av_pose.errors import UserInputError
from av_pose.geometry import array_mount, invert_transform, rotation_angle_deg
from av_pose.metrics.azimuth import azimuth_difference_deg
from av_pose.scene.camera import PinholeCamera
from av_pose.scene.doa_eval import stream_scene_doa
from av_pose.scene.format import read_scene
from av_pose.scene.generate import SynthConfig, generate_scene, sample_layout, scene_rng
from av_pose.scene.raycast import RoomRenderer
from av_pose.scene.room import Room

from scene_fixtures import scene_with_static_talker


def av_pose(*args):
    return subprocess.run([sys.executable, '-m', 'av_pose.cli', *args], capture_output=True, text=True, timeout=300)


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob('*') if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope='module')
def synth_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp('synth')
    common = ['--scenes', '2', '--duration', '2', '--seed', '5', '--image-size', '128x96']
    one = av_pose('synth', '--out', str(root / 'one'), *common)
    two = av_pose('synth', '--out', str(root / 'two'), *common, '--workers', '2')
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    return root / 'one', root / 'two'


def test_same_seed_same_bytes_with_any_worker_count(synth_dirs):
    one, two = synth_dirs
    assert tree_digest(one) == tree_digest(two)
    assert tree_digest(one / 'scene_00000') != tree_digest(one / 'scene_00001')


def test_scene_folder_has_the_documented_contents(synth_dirs):
    scene = synth_dirs[0] / 'scene_00000'
    meta = json.loads((scene / 'scene.json').read_text())
    for key in ('fps', 'sample_rate', 'image_size', 'K', 'array', 'T_cam_array', 'room', 'sources', 'frames'):
        assert key in meta
    assert meta['image_size'] == [128, 96] and meta['array']['name'] == 'respeaker4'
    assert len(meta['frames']) == 21 and len(list((scene / 'frames').glob('*.png'))) == 21
    assert set(meta['room']) >= {'dims_m', 'rt60_s'}
    record = read_scene(scene)
    assert record.audio().shape == (4, 2 * 16000) and record.frame(0).shape == (96, 128, 3)


def test_stored_poses_reproduce_the_stored_frames(synth_dirs):
    """The ground truth in scene.json is the geometry the pixels came from."""
    record = read_scene(synth_dirs[0] / 'scene_00001')
    room = Room.from_dict(record.room)
    width, height = record.image_size
    K = record.K
    camera = PinholeCamera(width, height, K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    renderer = RoomRenderer(room, camera)
    for index in (0, 10, 20):
        assert np.array_equal(renderer.render(record.T_world_cam[index]), record.frame(index))


def test_relative_poses_compose_to_the_rendered_poses(synth_dirs):
    dataset = FramePairDataset(synth_dirs[0] / 'scene_00000', gap_s=0.5)
    record = dataset.records[0]
    chained = np.eye(4)
    for index in range(0, len(dataset), 5):  # pairs (0, 5), (5, 10), (10, 15), (15, 20)
        chained = chained @ dataset[index]['T_a_b'].numpy().astype(np.float64)
    direct = invert_transform(record.T_world_cam[0]) @ record.T_world_cam[20]
    assert rotation_angle_deg(chained[:3, :3], direct[:3, :3]) < 1e-3
    assert np.allclose(chained[:3, 3], direct[:3, 3], atol=1e-5)


def test_doa_on_rendered_audio_finds_the_true_azimuth(tmp_path):
    config = SynthConfig(duration_s=5.0, array=load_array('uma8'), rotation_only=True, num_sources=1,
                         image_size=(64, 48), snr_db=40.0)
    record = scene_with_static_talker(tmp_path / 'scene', config, seed=11)
    track = stream_scene_doa(record, make_estimator('normmusic', record.array(), record.sample_rate))
    errors = track.errors_deg[np.isfinite(track.errors_deg)]
    assert len(errors) >= 20
    assert np.median(errors) <= 3.0, np.round(errors, 1)


@pytest.mark.parametrize('args, message', [
    (['--renderer', 'ambisonic'], 'ambisonic renderer cannot feed pressure array respeaker4'),
    (['--renderer', 'ism', '--array', 'foa'], 'ism renderer cannot feed foa array foa'),
    (['--image-size', 'big'], 'image size must look like 256x192'),
    (['--array', 'nope'], "unknown array 'nope'"),
    (['--moving-sources', '1.5'], 'share of moving sources must lie in [0, 1]'),
    (['--rotation-only', '--ground-robot'], '--rotation-only, --ground-robot and --differential-drive are different'),
    (['--ground-robot', '--differential-drive'], '--rotation-only, --ground-robot and --differential-drive are'),
])
def test_synth_errors_are_one_line(tmp_path, args, message):
    result = av_pose('synth', '--out', str(tmp_path / 'x'), *args)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize('duration_s', [1.0, 1.5, 10.0, 30.0])
def test_layouts_keep_every_source_in_the_room(duration_s):
    """Long walks and short scenes once broke generation (seed 22 at 10 s; 1 s scenes)."""
    config = SynthConfig(duration_s=duration_s)
    for index in range(40):
        layout = sample_layout(config, scene_rng(22, index))
        size = np.asarray(layout.room.size_m)
        for source in layout.sources:
            if source.position_m is not None:
                points = np.atleast_2d(source.position_m)
                assert np.all((points > 0.0) & (points < size)), (duration_s, index)
                assert source.end_s is None or source.start_s < source.end_s <= duration_s


def test_ground_robot_scenes_keep_the_free_layout_on_a_level_floor():
    """The same seed draws the same room (the draws match the free rig's); the rig holds its height and stays level."""
    free = sample_layout(SynthConfig(), scene_rng(4, 0))
    ground = sample_layout(SynthConfig(ground_robot=True), scene_rng(4, 0))
    assert free.room == ground.room
    poses = ground.trajectory.sample(np.linspace(0.0, ground.trajectory.duration_s, 50))
    assert np.ptp(poses[:, 2, 3]) == 0.0 and np.allclose(poses[:, :3, 1], [0.0, 0.0, -1.0], atol=1e-12)
    assert np.ptp(free.trajectory.sample(np.linspace(0.0, free.trajectory.duration_s, 50))[:, 2, 3]) > 0.0


def test_differential_drive_scenes_travel_where_the_camera_looks():
    """`--differential-drive`: the same room as the seed's other rigs, level, and each step of the camera's travel
    along its optical axis (z), which a ground robot's free ('ground') path does not keep."""
    drive = sample_layout(SynthConfig(differential_drive=True, duration_s=20.0), scene_rng(4, 0))
    ground = sample_layout(SynthConfig(ground_robot=True, duration_s=20.0), scene_rng(4, 0))
    assert drive.room == ground.room
    cosines = {}
    for name, layout in (('drive', drive), ('ground', ground)):
        poses = layout.trajectory.sample(np.arange(0.0, layout.trajectory.duration_s, 0.1))
        steps = np.diff(poses[:, :3, 3], axis=0)
        moving = np.linalg.norm(steps, axis=1) > 0.01
        cosines[name] = np.einsum('nd,nd->n', steps[moving] / np.linalg.norm(steps[moving], axis=1, keepdims=True),
                                  poses[:-1, :3, 2][moving])
    assert np.median(cosines['drive']) > 0.999 and np.median(cosines['ground']) < 0.9
    with pytest.raises(UserInputError, match='different rigs'):
        SynthConfig(differential_drive=True, rotation_only=True)


def test_one_second_scene_end_to_end(tmp_path):
    config = SynthConfig(duration_s=1.0, image_size=(32, 24), num_sources=1)
    record = generate_scene(tmp_path / 'short', config, seed=3)
    track = stream_scene_doa(record, make_estimator('normmusic', record.array(), record.sample_rate))
    assert len(track.times_s) == 1 and track.times_s[0] == pytest.approx(0.5)


def test_layouts_mix_static_and_moving_sources_clear_of_the_rig():
    config = SynthConfig(duration_s=6.0)
    moving = 0
    for index in range(12):
        layout = sample_layout(config, scene_rng(3, index))
        rig = layout.trajectory.sample(np.linspace(0.0, layout.trajectory.duration_s, 60))[:, :3, 3]
        for source in layout.sources:
            if source.position_m is None:
                assert source.kind == 'ambient'
                continue
            points = np.atleast_2d(source.position_m)
            moving += len(points) > 1
            assert np.all((points > 0.0) & (points < np.asarray(layout.room.size_m)))
            assert np.linalg.norm(rig[None] - points[:, None], axis=-1).min() >= 0.95
    assert moving >= 2


def test_moving_share_zero_keeps_every_source_still_in_the_same_room_and_rig_path():
    still, default = SynthConfig(duration_s=6.0, moving_share=0.0), SynthConfig(duration_s=6.0)
    for index in range(12):
        layout, drawn = sample_layout(still, scene_rng(3, index)), sample_layout(default, scene_rng(3, index))
        assert all(np.asarray(s.position_m).ndim == 1 for s in layout.sources if s.position_m is not None)
        assert len(layout.sources) == len(drawn.sources) and layout.room.size_m == drawn.room.size_m
        assert np.allclose(layout.trajectory.sample([1.0]), drawn.trajectory.sample([1.0]))


def test_source_kinds_choose_the_signals_and_keep_the_layout(tmp_path):
    default, continuous = SynthConfig(duration_s=6.0), SynthConfig(duration_s=6.0, source_kinds=('pink', 'babble'))
    kinds = set()
    for index in range(12):
        layout, drawn = sample_layout(continuous, scene_rng(3, index)), sample_layout(default, scene_rng(3, index))
        points = [s for s in layout.sources if s.kind != 'ambient']
        kinds |= {s.kind for s in points}
        for mine, theirs in zip(points, [s for s in drawn.sources if s.kind != 'ambient']):
            assert np.allclose(mine.position_m, theirs.position_m) and (mine.start_s, mine.end_s) == \
                (theirs.start_s, theirs.end_s)
    assert kinds == {'pink', 'babble'}
    with pytest.raises(UserInputError, match='source kinds'):
        SynthConfig(source_kinds=('pink', 'white'))
    result = av_pose('synth', '--out', str(tmp_path / 'speech'), '--source-kinds', 'speech', '--duration', '1',
                     '--image-size', '32x24', '--sources', '2')
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / 'speech' / 'scene_00000' / 'scene.json').read_text())
    assert [s['kind'] for s in meta['sources']] == ['speech', 'speech', 'ambient']


def test_array_mounting_moves_ground_truth_and_doa_together(tmp_path):
    """An array yawed 90° left on the rig: ground truth and measured azimuths both drop by 90°."""
    base = SynthConfig(duration_s=3.0, array=load_array('uma8'), rotation_only=True, num_sources=1,
                       image_size=(32, 24), snr_db=40.0)
    turned = replace(base, T_cam_array=array_mount(offset_m=(0.0, -0.05, 0.02), rpy_deg=(0.0, 0.0, 90.0)))
    tracks = {}
    for name, config in (('base', base), ('turned', turned)):
        record = scene_with_static_talker(tmp_path / name, config, seed=4)
        tracks[name] = (record, stream_scene_doa(record, make_estimator('normmusic', record.array(),
                                                                        record.sample_rate)))
    (base_record, base_track), (turned_record, turned_track) = tracks['base'], tracks['turned']
    assert np.allclose(turned_record.T_cam_array[:3, 3], [0.0, -0.05, 0.02])
    truth_shift = azimuth_difference_deg(turned_track.true_azimuths_deg[:, 0], base_track.true_azimuths_deg[:, 0])
    assert np.allclose(truth_shift, -90.0, atol=2.0)  # plus parallax of the 5 cm offset: <= atan(0.05 / 1.5) = 1.9°
    assert np.median(turned_track.errors_deg[np.isfinite(turned_track.errors_deg)]) <= 3.0
    assert np.array_equal(base_record.frame(5), turned_record.frame(5))  # the camera did not move


def test_foa_scene_renders_ambisonics_that_intensity_doa_follows(tmp_path):
    config = SynthConfig(duration_s=3.0, array=load_array('foa'), rotation_only=True, num_sources=1,
                         image_size=(32, 24), snr_db=40.0)
    assert config.renderer == 'ambisonic'
    record = scene_with_static_talker(tmp_path / 'foa', config, seed=5)
    assert record.renderer == 'ambisonic' and record.audio().shape == (4, 3 * 16000)
    track = stream_scene_doa(record, make_estimator('intensity', record.array(), record.sample_rate))
    assert np.median(track.errors_deg[np.isfinite(track.errors_deg)]) <= 3.0


@pytest.mark.slow
@pytest.mark.parametrize('target, keys', [
    (['doa', '--clips', '2'], {'speedup_vs_pyroomacoustics', 'max_peak_diff_deg', 'realtime_factor', 'device'}),
    (['synth', '--scenes', '1', '--duration', '2'], {'frames_per_s', 'images_only_frames_per_s'}),
])
def test_bench_commands_print_their_json(target, keys):
    result = av_pose('bench', *target, '--json')
    assert result.returncode == 0, result.stderr
    assert keys <= set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_snr_option_sets_the_sensor_noise_below_the_signal(tmp_path):
    common = ['--scenes', '1', '--duration', '1', '--image-size', '32x24', '--seed', '5', '--sources', '1']
    for snr in ('10', '40'):
        result = av_pose('synth', '--out', str(tmp_path / snr), '--snr', snr, *common)
        assert result.returncode == 0, result.stderr
    noisy, clean = (read_scene(tmp_path / snr / 'scene_00000').audio() for snr in ('10', '40'))
    gain = float(np.sum(noisy * clean) / np.sum(clean * clean))  # the renders may be scaled differently
    noise_db = 10 * np.log10(np.mean((noisy - gain * clean) ** 2) / np.mean((gain * clean) ** 2))
    assert -11.5 < noise_db < -8.5, noise_db  # 10 dB below the mean channel power (the 40 dB floor adds 0.04 dB)
