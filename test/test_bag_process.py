"""`av-pose bag` (`av_pose.bag.process`): a bag written by scene-to-bag → the node's core objects → an MCAP with
inputs, TF, odometry, DOA spectrum and markers stamped with the image stamps; the summary against the scene's
ground truth; the CLI (plots, JSON, one-line errors); and `BagPairDataset` reading the bag as training pairs."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from scipy.spatial.transform import Rotation

from av_pose.bag.process import SCALES, BagProcessOptions, process_bag, ros_name
from av_pose.bag.reader import BagReadOptions
from av_pose.bag.scene_to_bag import BagOptions, make_typestore, scene_to_bag
from av_pose.cli import build_parser, main
from av_pose.data.bag_pairs import BagPairDataset
from av_pose.data.pairs import FramePairDataset
from av_pose.errors import UserInputError
from av_pose.geometry import relative_pose
from av_pose.pose.base import PoseEstimator
from av_pose.pose.registry import make_pose_estimator
from av_pose.scene.generate import SynthConfig, generate_scene

SUMMARY_KEYS = ('ate_m', 'rpe_rot_deg', 'rotation_auc', 'total_auc', 'rotation_mae_deg', 'pairs')


@pytest.fixture(scope='module')
def scene_and_bag(tmp_path_factory):
    root = tmp_path_factory.mktemp('bag_process')
    generate_scene(root / 'scene', SynthConfig(duration_s=4.0, image_size=(128, 96), num_sources=1), seed=5)
    scene_to_bag(root / 'scene', root / 'bag', BagOptions(progress=False))
    return root / 'scene', root / 'bag'


@pytest.fixture(scope='module')
def processed(scene_and_bag, tmp_path_factory, one_torch_thread_module):
    _, bag = scene_and_bag
    out = tmp_path_factory.mktemp('bag_process_out') / 'out'
    estimators = {name: make_pose_estimator(name, device='cpu') for name in ('geometric-vision', 'geometric')}
    return process_bag(bag, out, estimators, BagProcessOptions(progress=False))


@pytest.fixture(scope='module')
def one_torch_thread_module():
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def read_messages(path):
    typestore = make_typestore('audio_common_msgs/msg/AudioDataStamped')
    out: dict[str, list] = {}
    with AnyReader([path], default_typestore=typestore) as reader:
        for connection, stamp, raw in reader.messages():
            out.setdefault(connection.topic, []).append((stamp, reader.deserialize(raw, connection.msgtype)))
    return out


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


def test_output_bag_holds_inputs_and_every_output_at_image_stamps(scene_and_bag, processed):
    _, bag = scene_and_bag
    inputs, outputs = read_messages(bag), read_messages(processed.out_path)
    added = {'/tf': sum(len(t.frames) for t in processed.tracks.values()), '/tf_static': 1}
    for topic in inputs:  # every input message is copied; /tf and /tf_static also carry the estimate's frames
        assert len(outputs[topic]) == len(inputs[topic]) + added.get(topic, 0), topic
    np.testing.assert_array_equal(outputs['/camera/image_raw'][5][1].data, inputs['/camera/image_raw'][5][1].data)
    image_stamps = {stamp_ns(msg.header) for _, msg in inputs['/camera/image_raw']}
    for name, track in processed.tracks.items():
        prefix = f'/{ros_name(name)}'
        odometry = outputs[f'{prefix}/pose/odometry']
        assert len(odometry) == len(track.steps) == len(outputs[f'{prefix}/pose/relative']) > 10
        assert len(outputs[f'{prefix}/pose/markers']) == len(track.frames)
        for (log_stamp, msg), T in zip(odometry, track.poses()[1:]):
            assert stamp_ns(msg.header) == log_stamp and log_stamp in image_stamps  # image stamps, never others
            assert (msg.header.frame_id, msg.child_frame_id) == (f'{ros_name(name)}/odom',
                                                                 f'{ros_name(name)}/camera_optical')
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            np.testing.assert_allclose([p.x, p.y, p.z], T[:3, 3], atol=1e-9)
            np.testing.assert_allclose(Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), T[:3, :3], atol=1e-9)
            assert np.all(np.isfinite(msg.pose.covariance)) and np.all(np.isfinite(msg.twist.covariance))
    spectra = outputs['/doa/spectrum']
    assert len(spectra) == len(processed.doa) and all(len(m.ranges) == 360 for _, m in spectra)
    assert all(stamp in image_stamps for stamp, _ in spectra)
    np.testing.assert_allclose(spectra[3][1].ranges, processed.doa[3].spectrum, atol=1e-6)
    estimated_tf = [t for _, m in outputs['/tf'] for t in m.transforms if t.header.frame_id.endswith('/odom')]
    assert len(estimated_tf) == sum(len(t.frames) for t in processed.tracks.values())
    static = [t for _, m in outputs['/tf_static'] for t in m.transforms]
    assert {t.child_frame_id for t in static} >= {'geometric/odom', 'geometric_vision/odom', 'mic_array'}
    arrows = [m for _, msg in outputs['/geometric/pose/markers'] for m in msg.markers if m.ns == 'sound' and m.type == 0
              and m.action == 0]
    assert arrows, 'the sound directions are drawn'


def test_summary_scores_against_the_ground_truth(processed, scene_and_bag):
    summary = processed.summary
    assert summary['ground_truth'] and summary['scale'] == 'ground-truth' and summary['keyframes'] == 21
    for name in ('geometric-vision', 'geometric'):
        model = summary['models'][name]
        assert all(key in model for key in SUMMARY_KEYS)
        track = processed.tracks[name]   # every estimated pair; the failed ones were dropped, as in the node
        assert model['pairs'] == len(track.pairs) == len(track.steps) + model['failed']
        assert model['restarts'] == track.restarts == 0
        assert 0.0 <= model['ate_m'] < 1.0 and 0.0 <= model['rpe_rot_deg'] < 20.0
        assert len(model['rotation_auc']) == 3 and model['rotation_auc'][2] > 0.5  # a real, working estimator
        assert model['rotation_mae_deg'] < 10.0


def test_cli_writes_bag_plots_and_json(scene_and_bag, tmp_path, capsys):
    _, bag = scene_and_bag
    code = main(['bag', str(bag), '--out', str(tmp_path / 'out'), '--model', 'geometric-audio', '--plot',
                 str(tmp_path / 'plots'), '--json', str(tmp_path / 'summary.json'), '--rate', '2', '--quiet'])
    assert code == 0
    summary = json.loads((tmp_path / 'summary.json').read_text())
    model = summary['models']['geometric-audio']
    assert all(key in model for key in SUMMARY_KEYS) and model['pairs'] >= 5
    for name in ('trajectory', 'doa', 'pose_errors'):
        png = tmp_path / 'plots' / f'{name}.png'
        assert png.read_bytes()[:4] == b'\x89PNG' and summary['plots'][name] == str(png)
    printed = capsys.readouterr().out
    assert 'geometric-audio' in printed and 'ATE m' in printed
    assert main(['bag', str(bag), '--out', str(tmp_path / 'out'), '--quiet']) == 2  # exists: one-line error
    assert 'already exists' in capsys.readouterr().err


def test_bag_without_ground_truth_gives_rotation_only_odometry(scene_and_bag, tmp_path):
    _, bag = scene_and_bag
    options = BagProcessOptions(read=BagReadOptions(tf_topic='/no_tf'), progress=False, rate_hz=2.0)
    result = process_bag(bag, None, {'geometric': make_pose_estimator('geometric', device='cpu')}, options)
    assert not result.summary['ground_truth'] and result.summary['scale'] == 'none'
    assert 'ate_m' not in result.summary['models']['geometric']
    np.testing.assert_allclose(result.tracks['geometric'].poses()[:, :3, 3], 0.0)  # no invented translation
    with pytest.raises(UserInputError, match='needs --speed'):
        process_bag(bag, None, {'g': make_pose_estimator('geometric', device='cpu')},
                    BagProcessOptions(scale='fixed', progress=False))


def test_the_bags_odometry_gives_every_pair_the_cameras_travel(scene_and_bag):
    # `--translation-scale odometry`: the bag's world → camera poses as a reference odometry (a robot's wheel
    # odometry through its frame tree): each pair's estimator gets the camera's own travel in its axes at the
    # earlier frame (`PosePair.translation_prior_m`), the ground truth's relative translation here.
    _, bag = scene_and_bag
    inner = make_pose_estimator('geometric-audio', device='cpu')

    class Recorder(PoseEstimator):
        def __init__(self) -> None:
            self.priors = []

        def estimate_batch(self, pairs):
            self.priors += [(pair.view_a.stamp_s, pair.view_b.stamp_s, pair.translation_prior_m) for pair in pairs]
            return inner.estimate_batch(pairs)
    recorder = Recorder()
    result = process_bag(bag, None, {'g': recorder}, BagProcessOptions(scale='odometry', progress=False, rate_hz=2.0))
    assert result.summary['scale'] == 'odometry' and len(recorder.priors) >= 5
    recording = result.recording
    for t_a, t_b, prior in recorder.priors:
        truth = relative_pose(recording.pose_at(t_a), recording.pose_at(t_b))[:3, 3]
        np.testing.assert_allclose(prior, truth, atol=1e-6)
    assert max(np.linalg.norm(prior) for _, _, prior in recorder.priors) > 0.05   # the rig walks
    bag_command = build_parser()._subparsers._group_actions[0].choices['bag']
    choices = next(a.choices for a in bag_command._actions if a.dest == 'translation_scale')
    assert tuple(choices) == SCALES   # the CLI offers every scale the bag tool knows


def test_bag_pair_dataset_matches_the_scene_dataset(scene_and_bag):
    scene, bag = scene_and_bag
    from_bag, from_scene = BagPairDataset(bag, gap_s=1.0, max_sources=2), FramePairDataset(scene, gap_s=1.0,
                                                                                            max_sources=2)
    assert len(from_bag) == len(from_scene) == 31
    a, b = from_bag[7], from_scene[7]
    assert (a['frame_a'], a['frame_b']) == (b['frame_a'], b['frame_b'])
    np.testing.assert_allclose(a['T_a_b'].numpy(), b['T_a_b'].numpy(), atol=1e-5)
    np.testing.assert_array_equal(a['image_a'].numpy(), b['image_a'].numpy())
    np.testing.assert_allclose(a['audio_b'].numpy(), b['audio_b'].numpy(), atol=1.0 / 32768 + 1e-7)
    assert a['t_a'] == pytest.approx(b['t_a']) and a['scene_id'] == 'bag'
    assert a['azimuths_a_deg'].shape == (2,) and np.isnan(a['azimuths_a_deg'].numpy()).all()
    with pytest.raises(UserInputError, match='no ground-truth'):
        BagPairDataset(bag, options=BagReadOptions(tf_topic='/no_tf'))


def test_cli_sources_maps_the_talker_of_a_bag(tmp_path, capsys):
    from av_pose.audio.arrays import load_array

    from scene_fixtures import scene_with_static_talker

    config = SynthConfig(duration_s=8.0, fps=5.0, image_size=(128, 96), array=load_array('uma8'), sample_rate=16000,
                         num_sources=1)
    record = scene_with_static_talker(tmp_path / 'scene', config, seed=3)
    scene_to_bag(tmp_path / 'scene', tmp_path / 'bag', BagOptions(progress=False))
    # the odometry as pose_node runs it (smoothing, direction hold): this seed's talker 0.01 m off; the eight seeds 1-8
    # 0.01-1.3 m, five within 0.6 m (two smoothed without the hold, three with neither; stop 40, docs/results.md
    # "Holding the direction of travel")
    assert main(['bag', str(tmp_path / 'bag'), '--out', str(tmp_path / 'out'), '--model', 'geometric', '--array',
                 'uma8', '--sources', '--json', str(tmp_path / 'summary.json'), '--quiet']) == 0
    sources = json.loads((tmp_path / 'summary.json').read_text())['sources']
    talker = np.asarray(record.sources[0]['position_m'])
    printed = capsys.readouterr().out
    assert 'sound sources with ground-truth poses' in printed
    held = re.search(r'followed the last known one \(--direction-hold\): geometric (\d+) of (\d+)', printed)
    assert held and 0 < int(held[1]) < int(held[2])   # 19 of 35 measured: at 128×96 vision often has no direction
    # measured 0.07 m and 0.40 m with the default front end (ZoneNet, 0.5 s windows; stop 33); zone voting gave 0.51 m
    # and 0.30 m, one NormMUSIC spectrum per 1 s window 0.24 m and 0.07 m with twice the false entries
    limits = {'ground-truth': 0.6, 'geometric': 0.6}
    for poses, limit in limits.items():
        errors = [np.linalg.norm(np.asarray(s['position_m'][:2]) - talker[:2]) for s in sources[poses]]
        print(poses, [round(e, 2) for e in errors])
        assert min(errors) < limit, (poses, sources[poses])
    # OUT holds the maps as source_map_node publishes them, 1 Hz of audio time, each in its pose source's frame
    outputs = read_messages(tmp_path / 'out')
    static = {t.child_frame_id: t.transform for _, m in outputs['/tf_static'] for t in m.transforms}
    for poses, frame in (('ground-truth', 'world'), ('geometric', 'geometric/odom')):
        maps, markers = outputs[f'/{ros_name(poses)}/sources/map'], outputs[f'/{ros_name(poses)}/sources/markers']
        stamps = [stamp for stamp, _ in maps]
        assert len(maps) == len(markers) >= 8 and [stamp for stamp, _ in markers] == stamps
        headers = [(stamp, m.header) for stamp, m in maps] + [(stamp, m.markers[0].header) for stamp, m in markers]
        assert all(stamp_ns(header) == stamp and header.frame_id == frame for stamp, header in headers)
        assert 0.9e9 < np.median(np.diff(stamps)) < 1.1e9
        T_world_frame = np.eye(4)
        if frame != 'world':  # placed in the world by /tf_static, as RViz would
            t, q = static[frame].translation, static[frame].rotation
            T_world_frame[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
            T_world_frame[:3, 3] = [t.x, t.y, t.z]
        final = maps[-1][1].sources
        positions = np.array([[s.position.x, s.position.y, s.position.z, 1.0] for s in final]) @ T_world_frame.T
        np.testing.assert_allclose(positions[:, :3], [s['position_m'] for s in sources[poses]], atol=2e-3)
        assert [s.id for s in final] == [s['id'] for s in sources[poses]]
        assert np.min(np.linalg.norm(positions[:, :2] - talker[:2], axis=1)) < limits[poses]
        for source, entry in zip(final, sources[poses]):  # covariance rotated into the frame: same variances
            R = T_world_frame[:3, :3]
            cov = R @ np.reshape(source.position_covariance, (3, 3)) @ R.T
            np.testing.assert_allclose(np.sqrt(np.diag(cov)), entry['std_m'], atol=2e-3)
        drawn = markers[-1][1].markers
        assert drawn[0].action == 3  # DELETEALL, then sphere, covariance ellipse and id per source
        spheres = [m for m in drawn if m.ns == 'sound_sources' and m.action == 0]
        assert [m.id for m in spheres] == [s.id for s in final]
        np.testing.assert_allclose([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in spheres],
                                   [[s.position.x, s.position.y, s.position.z] for s in final], atol=1e-9)
        ellipses = [m for m in drawn if m.ns == 'sound_source_covariance']
        assert len(ellipses) == len(final) and all(m.scale.x >= m.scale.y > 0 for m in ellipses)
        for m in ellipses:  # flat in the world, whatever the frame
            q = m.pose.orientation
            axis = T_world_frame[:3, :3] @ Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()[:, 2]
            np.testing.assert_allclose(axis, [0.0, 0.0, 1.0], atol=1e-6)
        assert [m.text for m in drawn if m.ns == 'sound_source_ids'] == [
            f'source {s.id}' + (' (moving)' if s.moving else '') for s in final]
        for source in final:  # last_heard on the bag's clock, not the recording's
            assert 0 <= maps[-1][0] - (source.last_heard.sec * 10**9 + source.last_heard.nanosec) < 10**10
        # the tracks behind the map, as doa_node publishes them: every 0.1 s, array frame
        tracks = outputs[f'/{ros_name(poses)}/doa/tracks']
        assert len(tracks) >= 60 and 0.09e9 < np.median(np.diff([stamp for stamp, _ in tracks])) < 0.11e9
        assert len({m.header.frame_id for _, m in tracks}) == 1 and tracks[0][1].header.frame_id
        confirmed = {t.id for _, m in tracks for t in m.tracks if t.confirmed}
        assert {int(i) for s in final for i in s.track_ids} <= confirmed
