import numpy as np
import pytest

from av_pose.audio.arrays import PRESETS, ArrayConfigError, MicArray, load_array


@pytest.mark.parametrize('name, channels, radius', [('respeaker4', 4, 0.032), ('respeaker6', 6, 0.0463),
                                                    ('uma8', 7, 0.043), ('binaural', 2, 0.0875)])
def test_presets_have_published_geometry(name, channels, radius):
    array = load_array(name)
    assert array.num_channels == channels
    radii = np.linalg.norm(array.positions_m[:, :2], axis=1)
    assert np.allclose(radii[radii > 0], radius)
    assert np.allclose(array.positions_m[:, 2], 0.0)


def test_binaural_left_ear_is_channel_zero_on_plus_y():
    assert PRESETS['binaural'].positions_m[0, 1] > 0 and PRESETS['binaural'].channel_names == ('left', 'right')


def test_a_head_travels_with_the_array_description(tmp_path):
    binaural = PRESETS['binaural']
    assert binaural.head_radius_m == pytest.approx(0.0875)
    assert MicArray.from_dict(binaural.to_dict()).head_radius_m == pytest.approx(0.0875)  # scene.json round trip
    assert PRESETS['respeaker4'].head_radius_m is None and 'head_radius_m' not in PRESETS['respeaker4'].to_dict()
    path = tmp_path / 'kemar.yaml'
    path.write_text('name: kemar\nhead_radius_m: 0.09\npositions_m: [[0, 0.09, 0], [0, -0.09, 0]]\n')
    assert load_array(str(path)).head_radius_m == pytest.approx(0.09)


def test_respeaker4_aliasing_frequency():
    assert PRESETS['respeaker4'].spatial_alias_hz == pytest.approx(3790, abs=10)


def test_foa_preset_is_b_format():
    foa = load_array('foa')
    assert foa.kind == 'foa' and foa.channel_names == ('W', 'Y', 'Z', 'X')


def test_yaml_round_trip(tmp_path):
    path = tmp_path / 'mine.yaml'
    path.write_text('name: tri\nsample_rate: 44100\npositions_m: [[0.05, 0, 0], [-0.025, 0.0433, 0], '
                    '[-0.025, -0.0433, 0]]\n')
    array = load_array(str(path))
    assert array.name == 'tri' and array.sample_rate == 44100 and array.num_channels == 3
    assert MicArray.from_dict(array.to_dict()).positions_m.tolist() == array.positions_m.tolist()


@pytest.mark.parametrize('text, message', [
    ('positions_m: [[0, 0], [1, 1]]', 'positions_m must be a list of'),
    ('name: x\n', 'expected a mapping with positions_m'),
    ('positions_m: [[0, 0, 0]]\nsample_rate: -5', 'sample_rate must be a positive number'),
    ('positions_m: [[0, 0, a]]', 'not a numeric list'),
    ('positions_m: [[0, 0, 0]\n', 'not valid YAML'),
    ('positions_m: [[0, 0.09, 0], [0, -0.09, 0]]\nhead_radius_m: 0.05', 'needs two pressure capsules at'),
    ('positions_m: [[0, 0.09, 0], [0, -0.09, 0], [0, 0, 0]]\nhead_radius_m: 0.09', 'needs two pressure capsules'),
    ('positions_m: [[0, 0.09, 0], [0, -0.09, 0]]\nhead_radius_m: big', 'head_radius_m must be a number'),
])
def test_bad_yaml_gives_one_clear_line(tmp_path, text, message):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(ArrayConfigError, match=message) as info:
        load_array(str(path))
    assert '\n' not in str(info.value)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ArrayConfigError, match='respeaker4'):
        load_array('respeaker5')


@pytest.mark.parametrize('name, channel_azimuths_deg', [
    ('respeaker4', [180, 270, 0, 90]),                 # ODAS respeaker_usb_4_mic_array.cfg, channel order
    ('respeaker6', [120, 180, 240, 300, 0, 60]),       # ODAS respeaker_6_mic_array.cfg
    ('uma8', [90, 30, 330, 270, 210, 150]),            # ODAS minidsp/uma8.json, after the centre capsule
])
def test_preset_channel_order_matches_the_hardware(name, channel_azimuths_deg):
    positions = load_array(name).positions_m
    ring = positions[1:] if name == 'uma8' else positions
    expected = np.radians(channel_azimuths_deg)
    assert np.allclose(ring[:, :2] / np.linalg.norm(ring[:, :2], axis=1, keepdims=True),
                       np.stack([np.cos(expected), np.sin(expected)], axis=1), atol=1e-3)
