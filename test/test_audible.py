"""Which active sources a window can hear (`scene.activity.source_levels`, `audible_sources`) and the coverage
`av-pose eval --tracks` reports over those windows."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from av_pose.audio.arrays import load_array
from av_pose.eval.track_score import SceneTracks, aggregate_scores, score_scene_tracks
from av_pose.geometry import make_transform
from av_pose.scene.activity import audible_sources, source_levels
from av_pose.scene.generate import SynthConfig, generate_scene
from av_pose.scene.signals import SourceSpec

FS = 16000


def _levels_scene():
    """A: white noise that stops sounding at 2 s though its activity runs to 6 s (a pause); B: 15 dB quieter at the
    same distance, sounding throughout; C: the diffuse bed."""
    rng = np.random.default_rng(0)
    loud = rng.standard_normal(6 * FS)
    loud[2 * FS:] = 0.0
    quiet = rng.standard_normal(6 * FS) * 10 ** (-15 / 20)
    sources = [SourceSpec('white', np.array([2.0, 0.0, 0.0])), SourceSpec('white', np.array([0.0, 2.0, 0.0])),
               SourceSpec('ambient', None)]
    levels = source_levels(sources, [loud, quiet, quiet], lambda t: make_transform(np.eye(3), np.zeros(3)), 6.0, FS)
    record = SimpleNamespace(sources=[s.to_dict() for s in sources], extra={'source_levels': levels})
    return levels, record


def test_levels_are_the_direct_sound_at_the_array_in_the_doa_band():
    levels, _ = _levels_scene()
    a, b, bed = (np.asarray(d) if d is not None else None for d in levels['db'])
    assert bed is None and len(a) == len(b) == 120 and levels['frame_s'] == 0.05
    # white noise: 3500 of 8000 Hz in the band; 2 m away: −6 dB
    assert np.median(a[5:35]) == pytest.approx(10 * np.log10(3500 / 8000) - 20 * np.log10(2.0), abs=0.5)
    assert np.median(a[5:35]) - np.median(b[5:35]) == pytest.approx(15.0, abs=0.5)
    assert a[50:].max() < -150.0


def test_a_source_is_audible_unless_it_pauses_or_another_drowns_it():
    _, record = _levels_scene()
    assert audible_sources(record, [1.0], 0.5)[0].tolist() == [True, False, False]   # B 15 dB under A
    assert audible_sources(record, [4.0], 0.5)[0].tolist() == [False, True, False]   # A's pause; B alone
    assert audible_sources(SimpleNamespace(sources=record.sources, extra={}), [1.0], 0.5) is None


def test_coverage_of_audible_windows_leaves_the_silent_ones_out():
    """One source, audible in its first 60 windows of 100, held by a track in the first 70."""
    times = np.arange(0.0, 10.0, 0.1)
    rows = np.array([(w, 0, 41.0, 1.0) for w in range(70)], dtype=float)
    audible = (np.arange(100) < 60)[:, None]
    run = SceneTracks('toy', times, np.zeros(100), np.full((100, 1), 40.0), np.array([np.inf]),
                      np.full((100, 1), np.nan), rows, audible)
    score = score_scene_tracks(run)
    assert score.coverage == pytest.approx(0.7) and score.coverage_audible == 1.0 and score.audible_windows == 60
    total = aggregate_scores([score, score_scene_tracks(SceneTracks(*list(vars(run).values())[:7]))])
    assert total.audible_windows == 60 and total.to_json()['coverage_audible'] == 1.0


def test_rendered_scenes_store_the_levels_of_their_point_sources(tmp_path):
    config = SynthConfig(duration_s=4.0, num_sources=2, image_size=(32, 24), array=load_array('respeaker4'),
                         sample_rate=FS)
    record = generate_scene(tmp_path / 'scene', config, seed=3)
    stored = json.loads((tmp_path / 'scene' / 'scene.json').read_text())['source_levels']
    points = record.point_source_indices()
    assert [i for i, d in enumerate(stored['db']) if d is not None] == points
    for i in points:
        db = np.asarray(stored['db'][i])
        start, end = record.sources[i].get('start_s') or 0.0, record.sources[i].get('end_s') or 4.0
        centres = (np.arange(len(db)) + 0.5) * 0.05
        inside = db[(centres > start + 0.05) & (centres < end - 0.05)]
        outside = db[(centres < start - 0.05) | (centres > end + 0.05)]  # past the band filter's ringing
        assert len(db) == 80 and np.median(inside) > -60.0
        assert outside.size == 0 or outside.max() < -150.0
    assert record.extra['source_levels'] == stored
