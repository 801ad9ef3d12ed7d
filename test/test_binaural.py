import sys

import numpy as np
import pytest
from scipy.signal import correlate

from av_pose.audio.binaural import (
    Hrtf,
    SofaHrtf,
    SphericalHeadHrtf,
    binauralize,
    multichannel_to_binaural,
    to_mono,
    woodworth_itd_s,
)
from av_pose.errors import UserInputError

FS = 48000


@pytest.fixture(scope='module')
def head():
    return SphericalHeadHrtf(FS)


@pytest.fixture(scope='module')
def noise():
    return np.random.default_rng(0).standard_normal(FS // 2).astype(np.float32)


def xcorr_lag(left, right):
    """Lag (samples) by which `right` trails `left`, from the cross-correlation peak."""
    c = correlate(right, left, mode='full', method='fft')
    return int(np.argmax(c)) - (len(left) - 1)


@pytest.mark.parametrize('azimuth', [20.0, 60.0, 90.0, 135.0, -45.0])
def test_itd_matches_woodworth(head, noise, azimuth):
    left, right = binauralize(noise, head, azimuth)
    expected = woodworth_itd_s(azimuth) * FS  # > 0: left ear leads
    assert abs(xcorr_lag(left, right) - expected) <= 1.0
    assert np.sign(xcorr_lag(left, right)) == np.sign(azimuth)


def test_woodworth_value_for_60_degrees():
    # (a / c)(π/3 + sin 60°) with a = 8.75 cm, c = 343 m/s
    assert woodworth_itd_s(60.0) == pytest.approx(0.0875 / 343 * (np.pi / 3 + np.sqrt(3) / 2))
    assert woodworth_itd_s(60.0) * FS == pytest.approx(23.43, abs=0.01)


def test_left_source_is_louder_at_left_ear_above_2khz(head):
    ir = head.hrir(60.0)
    spectrum = np.abs(np.fft.rfft(ir, n=4096, axis=-1)) ** 2
    band = np.fft.rfftfreq(4096, 1 / FS) > 2000
    ild_db = 10 * np.log10(spectrum[0, band].sum() / spectrum[1, band].sum())
    assert ild_db > 10.0
    low = np.fft.rfftfreq(4096, 1 / FS) < 200  # the head does not shadow long wavelengths
    assert abs(10 * np.log10(spectrum[0, low].sum() / spectrum[1, low].sum())) < 1.0


@pytest.mark.parametrize('azimuth, elevation', [(30.0, 0.0), (75.0, 20.0), (150.0, -10.0), (5.0, 60.0)])
def test_mirror_symmetry(head, azimuth, elevation):
    ir = head.hrir(azimuth, elevation)
    mirrored = head.hrir(-azimuth, elevation)
    np.testing.assert_array_equal(ir[0], mirrored[1])
    np.testing.assert_array_equal(ir[1], mirrored[0])


@pytest.mark.parametrize('azimuth, elevation', [(0.0, 0.0), (180.0, 0.0), (0.0, 90.0), (0.0, -40.0)])
def test_median_plane_gives_equal_ears(head, azimuth, elevation):
    ir = head.hrir(azimuth, elevation)
    np.testing.assert_allclose(ir[0], ir[1], atol=1e-7)


def test_hrir_shape_and_unit_dc_gain(head):
    ir = head.hrir(40.0)
    assert ir.shape == (2, 256) and ir.dtype == np.float32
    np.testing.assert_allclose(ir.sum(axis=1), 1.0, atol=0.02)  # the shadow filter is 1 at DC


def test_binauralize_shapes_and_mono_mix(head):
    rng = np.random.default_rng(2)
    audio = rng.standard_normal((4, 3000)).astype(np.float32)
    np.testing.assert_allclose(to_mono(audio), audio.mean(axis=0), rtol=1e-6)
    out = multichannel_to_binaural(audio, head, azimuth_deg=30.0)
    assert out.shape == (2, 3000) and out.dtype == np.float32
    np.testing.assert_allclose(out, binauralize(audio.mean(axis=0), head, 30.0), atol=1e-5)
    batch = np.stack([audio, 0.5 * audio])
    out_batch = multichannel_to_binaural(batch, head, azimuth_deg=30.0)
    assert out_batch.shape == (2, 2, 3000)
    np.testing.assert_allclose(out_batch[1], 0.5 * out, atol=1e-5)
    # a delayed copy of the HRIR: an impulse in gives the HRIR out
    impulse = np.zeros(500, np.float32)
    impulse[0] = 1.0
    np.testing.assert_allclose(binauralize(impulse, head, 30.0)[:, :256], head.hrir(30.0), atol=1e-6)


# ----------------------------------------------------------------------------------------------- SOFA
AZIMUTHS = np.arange(0.0, 360.0, 30.0)
ELEVATIONS = np.array([-30.0, 0.0, 30.0])


def write_sofa(path, rate=FS, cartesian=False, n=64):
    h5py = pytest.importorskip('h5py')
    az, el = (g.ravel() for g in np.meshgrid(AZIMUTHS, ELEVATIONS))
    m = az.size
    irs = np.zeros((m, 2, n))
    irs[np.arange(m), 0, 5] = np.arange(m) + 1.0        # left ear: impulse scaled by direction index + 1
    irs[np.arange(m), 1, 9] = -(np.arange(m) + 1.0)     # right ear: later, negative
    if cartesian:
        a, e = np.radians(az), np.radians(el)
        pos = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=1) * 1.2
    else:
        pos = np.stack([az, el, np.full(m, 1.2)], axis=1)
    with h5py.File(path, 'w') as f:
        f.attrs['SOFAConventions'] = 'SimpleFreeFieldHRIR'
        f.create_dataset('Data.IR', data=irs)
        ds = f.create_dataset('SourcePosition', data=pos)
        ds.attrs['Type'] = 'cartesian' if cartesian else 'spherical'
        ds.attrs['Units'] = 'metre' if cartesian else 'degree, degree, metre'
        f.create_dataset('Data.SamplingRate', data=np.array([float(rate)]))
    return az, el


@pytest.mark.parametrize('cartesian', [False, True])
@pytest.mark.parametrize('query, expected', [
    ((44.0, 5.0), (30.0, 0.0)), ((350.0, 0.0), (0.0, 0.0)),
    ((-95.0, 25.0), (270.0, 30.0)), ((170.0, -80.0), (180.0, -30.0))])
def test_sofa_nearest_direction(tmp_path, cartesian, query, expected):
    az, el = write_sofa(tmp_path / 'tiny.sofa', cartesian=cartesian)
    hrtf = SofaHrtf.from_file(tmp_path / 'tiny.sofa')
    assert isinstance(hrtf, Hrtf) and hrtf.sample_rate == FS
    index = int(np.flatnonzero((az == expected[0]) & (el == expected[1]))[0])
    ir = hrtf.hrir(*query)
    assert ir.shape == (2, 64)
    assert ir[0, 5] == index + 1 and ir[1, 9] == -(index + 1)
    assert np.count_nonzero(ir) == 2


def test_sofa_is_resampled_to_the_requested_rate(tmp_path):
    write_sofa(tmp_path / 'half.sofa', rate=FS // 2)
    hrtf = SofaHrtf.from_file(tmp_path / 'half.sofa', sample_rate=FS)
    ir = hrtf.hrir(0.0)
    assert hrtf.sample_rate == FS and ir.shape == (2, 128)
    # the impulses at 5 and 9 samples (24 kHz) land at 10 and 18 samples (48 kHz)
    assert np.argmax(np.abs(ir[0])) == 10 and np.argmax(np.abs(ir[1])) == 18
    binaural = binauralize(np.ones(400, np.float32), hrtf, 0.0)
    assert binaural.shape == (2, 400)


def test_sofa_errors(tmp_path, monkeypatch):
    h5py = pytest.importorskip('h5py')
    with pytest.raises(UserInputError, match='not found'):
        SofaHrtf.from_file(tmp_path / 'missing.sofa')
    (tmp_path / 'text.sofa').write_text('not hdf5')
    with pytest.raises(UserInputError, match='cannot read'):
        SofaHrtf.from_file(tmp_path / 'text.sofa')
    with h5py.File(tmp_path / 'empty.sofa', 'w') as f:
        f.create_dataset('Data.IR', data=np.zeros((1, 2, 8)))
    with pytest.raises(UserInputError, match='SourcePosition'):
        SofaHrtf.from_file(tmp_path / 'empty.sofa')
    monkeypatch.setitem(sys.modules, 'h5py', None)
    with pytest.raises(UserInputError, match='pip install h5py'):
        SofaHrtf.from_file(tmp_path / 'empty.sofa')
