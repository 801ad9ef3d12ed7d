"""`av-pose eval --sources` on a real ShoeboxAV scene: DOA → tracker → triangulation, scored against the truth."""
import json

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.cli import build_parser, main
from av_pose.eval.sources import SOURCE_SCALES, evaluate_scene_sources, summarize_sources
from av_pose.geometry import relative_pose
from av_pose.scene.generate import SynthConfig

from scene_fixtures import scene_with_static_talker


@pytest.fixture(scope='module')
def talker_scene(tmp_path_factory):
    config = SynthConfig(duration_s=10.0, fps=5.0, image_size=(64, 48), array=load_array('uma8'), sample_rate=16000,
                         num_sources=1)
    return scene_with_static_talker(tmp_path_factory.mktemp('talker') / 'scene_00000', config, seed=3)


def test_one_talker_is_mapped_near_its_true_position(talker_scene):
    scores = evaluate_scene_sources(talker_scene, ('ground-truth',), snapshot_times_s=(5.0,))
    by_time = {s.time_s: s for s in scores}
    early, end = by_time[5.0], by_time[max(by_time)]
    print({t: s.to_json() for t, s in by_time.items()})
    # measured: 0.08 m after 5 s, 0.37 m at the end (uma8, one talker 1.5 m from a rig turning ~25°/s; the map on
    # the tracks' measured bearings since stop 23: 0.11 m and 0.27 m on their filtered azimuths)
    assert early.missed == 0 and early.errors_m[0] < 0.3 and early.localized == 1
    assert end.missed == 0 and end.errors_m[0] < 0.6
    summary = summarize_sources(scores)
    assert summary['ground-truth']['at_end']['sources'] == 1


def test_a_late_source_is_also_scored_five_seconds_after_it_starts(tmp_path):
    """A talker starting at 4 s has been heard 1 s at the 5 s snapshot: `after_5s_heard` scores it at 9 s.

    With ZoneNet, the front end of `pose.launch.py` and the demo (zone voting confirms tracks on the sensor noise of
    the silent first seconds: 0.1–0.3 confident peaks, which then share the talker's map entry)."""
    config = SynthConfig(duration_s=10.0, fps=5.0, image_size=(64, 48), array=load_array('uma8'), sample_rate=16000,
                         num_sources=1)
    record = scene_with_static_talker(tmp_path / 'scene_00000', config, seed=3, start_s=4.0)
    scores = evaluate_scene_sources(record, ('ground-truth',), snapshot_times_s=(5.0,), zone_net='zone-net-tiny')
    focused = [s for s in scores if s.focus is not None]
    assert [(s.focus, s.time_s) for s in focused] == [(0, 9.0)]
    at_5s = next(s for s in scores if s.focus is None and s.time_s == 5.0)
    print([s.to_json() for s in scores])
    # measured: at 5 s the talker (heard 1 s, fewer bearings than a map entry needs) is missed; at 9 s 0.19 m off
    # (0.18 m with stop 31's ZoneNet)
    assert at_5s.missed == 1 and not at_5s.errors_m and at_5s.false == 0
    assert focused[0].sources == (0,) and focused[0].errors_m[0] < 0.3
    row = summarize_sources(scores)['ground-truth']['after_5s_heard']
    assert row['sources'] == 1 and row['missed'] == 0 and row['false'] is None
    assert row['median_error_m'] == focused[0].errors_m[0]


def test_cli_sources_json(talker_scene, tmp_path, capsys):
    out = tmp_path / 'sources.json'
    assert main(['eval', '--sources', '--data', str(talker_scene.directory), '--json', str(out),
                 '--no-progress']) == 0
    report = json.loads(out.read_text())
    assert set(report['summary']) == {'ground-truth'} and report['snapshots']
    assert 'Targets' in capsys.readouterr().out


def test_cli_rejects_tracks_with_sources(talker_scene, capsys):
    assert main(['eval', '--sources', '--tracks', '--data', str(talker_scene.directory)]) == 2
    assert 'choose one' in capsys.readouterr().err


def test_cli_sources_with_planar_motion_odometry(talker_scene, tmp_path, capsys, monkeypatch):
    """`--planar-motion` reaches the odometry that places the bearings (here the scene's rig is not planar: the
    test follows the axis, not the accuracy)."""
    from av_pose.pose import sequence

    seen = []
    run_odometry = sequence.run_odometry
    monkeypatch.setattr(sequence, 'run_odometry',
                        lambda *a, **k: seen.append(k.get('planar_up')) or run_odometry(*a, **k))
    out = tmp_path / 'sources.json'
    assert main(['eval', '--sources', '--model', 'geometric-vision', '--planar-motion', '--data',
                 str(talker_scene.directory), '--json', str(out), '--no-progress']) == 0
    assert set(json.loads(out.read_text())['summary']) == {'ground-truth', 'geometric-vision'}
    assert seen == [(0.0, -1.0, 0.0)] and 'planar motion' in capsys.readouterr().out


def test_cli_sources_odometry_options_reach_the_odometry(talker_scene, tmp_path, capsys, monkeypatch):
    """`--smoothing-lag`, `--direction-hold` and `--translation-scale` shape the odometry that places the bearings, as
    in `av-pose bag`; with `--translation-scale odometry` every pair knows the camera's true travel."""
    from av_pose.pose import sequence

    seen = []
    run_odometry = sequence.run_odometry
    monkeypatch.setattr(sequence, 'run_odometry', lambda *a, **k: seen.append(
        (k['smoother'], k['direction_hold_s'], a[2]().travel(1.0, 2.0))) or run_odometry(*a, **k))
    out = tmp_path / 'sources.json'
    assert main(['eval', '--sources', '--model', 'geometric-vision', '--smoothing-lag', '0', '--direction-hold', '0',
                 '--data', str(talker_scene.directory), '--json', str(out), '--no-progress']) == 0
    assert seen == [(None, 0.0, None)] and 'odometry smoothing 0 s, direction hold 0 s, scale ground-truth' in \
        capsys.readouterr().out
    assert main(['eval', '--sources', '--model', 'geometric-vision', '--translation-scale', 'odometry',
                 '--data', str(talker_scene.directory), '--json', str(out), '--no-progress']) == 0
    truth = relative_pose(talker_scene.pose_at(1.0), talker_scene.pose_at(2.0))[:3, 3]
    np.testing.assert_allclose(seen[-1][2], truth, atol=1e-6)
    assert 'scale odometry' in capsys.readouterr().out
    assert main(['eval', '--model', 'geometric', '--direction-hold', '2', '--data', str(talker_scene.directory)]) == 2
    assert '--direction-hold and --translation-scale shape the odometry of --sources' in capsys.readouterr().err
    eval_command = build_parser()._subparsers._group_actions[0].choices['eval']
    choices = next(a.choices for a in eval_command._actions if a.dest == 'translation_scale')
    assert tuple(choices) == SOURCE_SCALES   # the CLI offers every scale the source evaluation knows
