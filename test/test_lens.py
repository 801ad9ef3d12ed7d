"""Lens distortion: the models, undistortion onto the pinhole, scenes rendered through a lens, bags that carry it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from av_pose.errors import UserInputError
from av_pose.scene.camera import PinholeCamera
from av_pose.vision.lens import LensDistortion, Undistorter

K = np.array([[180.0, 0.0, 127.5], [0.0, 180.0, 95.5], [0.0, 0.0, 1.0]])
LENSES = [LensDistortion('plumb_bob', (-0.28, 0.09, 0.001, -0.0005)),
          LensDistortion('plumb_bob', (-0.3, 0.1, 0.0, 0.0, -0.02)),
          LensDistortion('rational_polynomial', (-0.3, 0.1, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0)),
          LensDistortion('equidistant', (0.05, -0.01, 0.002, 0.0))]
WIDE_WEBCAM = LensDistortion('plumb_bob', (-0.28, 0.09, 0.0, 0.0))


def _grid(width: int = 256, height: int = 192) -> np.ndarray:
    return np.stack(np.meshgrid(np.linspace(0, width - 1, 9), np.linspace(0, height - 1, 7)), -1).reshape(-1, 2)


@pytest.mark.parametrize('lens', LENSES, ids=lambda lens: f'{lens.model}{len(lens.coefficients)}')
def test_undistort_inverts_distort(lens):
    points = _grid()
    distorted = lens.distort(points, K)
    assert np.abs(distorted - points).max() > 5.0  # the lens moves the corners by pixels
    np.testing.assert_allclose(lens.undistort(distorted, K), points, atol=1e-6)


def test_radial_distortion_follows_brown_conrady():
    """k1 alone: a point at normalised radius r is imaged at r·(1 + k1·r²)."""
    lens = LensDistortion('plumb_bob', (-0.2, 0.0, 0.0, 0.0))
    x, y = 0.6, -0.3
    r2 = x * x + y * y
    pixel = np.array([[K[0, 2] + K[0, 0] * x, K[1, 2] + K[1, 1] * y]])
    expected = [K[0, 2] + K[0, 0] * x * (1 - 0.2 * r2), K[1, 2] + K[1, 1] * y * (1 - 0.2 * r2)]
    np.testing.assert_allclose(lens.distort(pixel, K)[0], expected, atol=1e-9)


def test_camera_info_distortion():
    assert LensDistortion.from_camera_info('plumb_bob', []) is None
    assert LensDistortion.from_camera_info('plumb_bob', [0.0] * 5) is None
    assert LensDistortion.from_camera_info('', [-0.1, 0.01, 0, 0, 0]).model == 'plumb_bob'
    padded = LensDistortion.from_camera_info('equidistant', [0.1, 0.01, 0.0, 0.0, 0.0, 0.0])  # zeros past the 4
    assert padded.coefficients == (0.1, 0.01, 0.0, 0.0)
    with pytest.raises(UserInputError, match='unknown distortion model'):
        LensDistortion.from_camera_info('kannala_brandt', [0.1, 0.0, 0.0, 0.0])
    with pytest.raises(UserInputError, match='takes 8'):
        LensDistortion.from_camera_info('rational_polynomial', [0.1, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(UserInputError, match='finite'):
        LensDistortion('plumb_bob', (np.nan, 0.0, 0.0, 0.0))


def test_a_lens_camera_projects_where_its_pixel_rays_point():
    camera = PinholeCamera(256, 192, 180.0, 180.0, 127.5, 95.5, WIDE_WEBCAM)
    rays = camera.pixel_directions_cam[::997]
    uv, depth = camera.project(rays * 2.5, np.eye(4))  # points 2.5 m along each pixel's ray
    pixels = np.stack([np.arange(256 * 192) % 256, np.arange(256 * 192) // 256], -1)[::997]
    np.testing.assert_allclose(uv, pixels, atol=1e-6)
    np.testing.assert_allclose(depth, 2.5)
    corner = camera.pixel_directions_cam[0]  # the lens sees further out than the pinhole
    assert corner[0] < (0 - 127.5) / 180.0 - 0.1


def test_a_pixel_of_a_lens_image_gives_its_true_direction():
    """`av-pose calibrate --source-pixel` on a recording through a lens: the pixel is undistorted before the ray."""
    from av_pose.geometry import R_CAM_ARRAY_DEFAULT, pixel_direction_deg

    camera = PinholeCamera(256, 192, 180.0, 180.0, 127.5, 95.5, WIDE_WEBCAM)
    azimuth, elevation = 30.0, 15.0  # left of forward and up, in the heading frame
    a, e = np.radians([azimuth, elevation])
    heading_ray = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    uv, _ = camera.project((R_CAM_ARRAY_DEFAULT @ heading_ray)[None], np.eye(4))
    u, v = uv[0]
    assert pixel_direction_deg(K, u, v, WIDE_WEBCAM) == pytest.approx((azimuth, elevation), abs=1e-6)
    naive = pixel_direction_deg(K, u, v)
    assert naive[0] < azimuth - 2.0 and naive[1] < elevation - 1.0  # the lens pulls it towards the centre


def test_undistorter_maps_a_distorted_image_onto_the_pinhole():
    """A checkerboard drawn through the lens comes back to the pinhole's checkerboard."""
    height, width = 192, 256
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    pinhole = (((u // 16) + (v // 16)) % 2 * 255).astype(np.uint8)
    ideal = WIDE_WEBCAM.undistort(np.stack([u.ravel(), v.ravel()], -1), K).reshape(height, width, 2)
    through_lens = (((ideal[..., 0] // 16) + (ideal[..., 1] // 16)) % 2 * 255).astype(np.uint8)
    restored = Undistorter(K, WIDE_WEBCAM, (width, height))(np.dstack([through_lens] * 3))[..., 0]
    inner = np.s_[8:-8, 8:-8]
    assert np.mean(through_lens[inner] != pinhole[inner]) > 0.15
    wrong = np.abs(restored.astype(int) - pinhole) > 128
    near_an_edge = (np.minimum(u % 16, 16 - u % 16) < 1.5) | (np.minimum(v % 16, 16 - v % 16) < 1.5)
    assert not np.any((wrong & ~near_an_edge)[inner])  # the squares are back where the pinhole has them
    assert np.mean(wrong[inner]) < 0.08  # and their edges within a pixel
    with pytest.raises(UserInputError, match='built for 256×192'):
        Undistorter(K, WIDE_WEBCAM, (width, height))(np.zeros((100, 100, 3), np.uint8))


@pytest.fixture(scope='module')
def lens_scenes(tmp_path_factory):
    """The same 4 s scene rendered through a wide lens and through an ideal pinhole."""
    from av_pose.scene.generate import SynthConfig, generate_scene

    root = tmp_path_factory.mktemp('lens')
    scenes = {}
    for name, lens in (('lens', WIDE_WEBCAM), ('pinhole', None)):
        scenes[name] = generate_scene(root / name, SynthConfig(duration_s=4.0, distortion=lens), seed=5)
    return scenes


def test_a_scene_through_a_lens_reads_as_the_pinhole_scene(lens_scenes):
    from av_pose.scene.format import read_scene

    lens = read_scene(lens_scenes['lens'].directory)
    pinhole = read_scene(lens_scenes['pinhole'].directory)
    assert lens.distortion == WIDE_WEBCAM and pinhole.distortion is None
    assert json.loads((lens.directory / 'scene.json').read_text())['distortion'] == WIDE_WEBCAM.to_dict()
    raw_error = np.abs(lens.raw_frame(10).astype(float) - pinhole.frame(10)).mean()
    error = np.abs(lens.frame(10).astype(float) - pinhole.frame(10)).mean()
    assert raw_error > 10.0 and error < 0.4 * raw_error
    np.testing.assert_array_equal(lens.K, pinhole.K)


def test_a_bag_of_a_lens_scene_carries_the_lens(lens_scenes, tmp_path):
    from av_pose.bag.reader import BagReadOptions, read_bag
    from av_pose.bag.scene_to_bag import BagOptions, scene_to_bag

    scene = lens_scenes['lens']
    scene_to_bag(scene.directory, tmp_path / 'bag', BagOptions(progress=False))
    recording = read_bag(tmp_path / 'bag')
    assert recording.distortion == WIDE_WEBCAM
    np.testing.assert_array_equal(recording.frame(7), scene.frame(7))  # undistorted as the scene reads it
    rectified = read_bag(tmp_path / 'bag', BagReadOptions(images_rectified=True))
    assert rectified.distortion is None
    np.testing.assert_array_equal(rectified.frame(7), scene.raw_frame(7))
    np.testing.assert_allclose(rectified.K, scene.K)  # P = [K | 0] as scene-to-bag writes it


def test_the_essential_matrix_needs_the_lens_undistorted(lens_scenes):
    """Vision-only rotation of every 1 s pair: on the undistorted frames as good as through the pinhole; on the raw
    frames, read as a pinhole, the turns come out wrong (barrel distortion compresses the image's edges)."""
    from av_pose.geometry import relative_pose
    from av_pose.metrics.pose import rotation_error_deg
    from av_pose.vision.two_view import estimate_two_view

    def median_error(record, frame) -> float:
        errors = []
        for i in range(record.num_frames - 10):
            T_a_b = estimate_two_view(frame(i), frame(i + 10), record.K).T_a_b
            truth = relative_pose(record.T_world_cam[i], record.T_world_cam[i + 10])
            errors.append(180.0 if T_a_b is None else rotation_error_deg(T_a_b[:3, :3], truth[:3, :3]))
        return float(np.median(errors))

    lens, pinhole = lens_scenes['lens'], lens_scenes['pinhole']
    undistorted, raw, ideal = median_error(lens, lens.frame), median_error(lens, lens.raw_frame), \
        median_error(pinhole, pinhole.frame)
    print(f'\nmedian rotation error: undistorted {undistorted:.2f}°, lens ignored {raw:.2f}°, pinhole {ideal:.2f}°')
    assert undistorted <= ideal + 0.3
    assert raw >= 1.5 * undistorted


def test_a_scene_with_a_malformed_lens_names_its_file(lens_scenes, tmp_path):
    import shutil

    from av_pose.scene.format import SceneFormatError, read_scene

    scene = shutil.copytree(lens_scenes['lens'].directory, tmp_path / 'scene')
    data = json.loads((scene / 'scene.json').read_text())
    data['distortion'] = {'model': 'fov', 'coefficients': [0.9]}
    (scene / 'scene.json').write_text(json.dumps(data))
    with pytest.raises(SceneFormatError, match=r"scene\.json: unknown distortion model 'fov'"):
        read_scene(scene)


def test_a_bag_without_camera_info_takes_the_given_field_of_view(lens_scenes, tmp_path):
    """`av-pose bag --camera-hfov 70`: ShoeboxAV's camera is that centred 70° pinhole, so K comes out exact."""
    from av_pose.bag.reader import BagReadError, BagReadOptions, read_bag
    from av_pose.bag.scene_to_bag import BagOptions, scene_to_bag

    scene = lens_scenes['pinhole']
    scene_to_bag(scene.directory, tmp_path / 'bag', BagOptions(progress=False))
    assert read_bag(tmp_path / 'bag', BagReadOptions(camera_info_topic='/none')).K is None
    recording = read_bag(tmp_path / 'bag', BagReadOptions(camera_info_topic='/none', camera_hfov_deg=70.0))
    np.testing.assert_allclose(recording.K, scene.K, rtol=1e-9)
    kept = read_bag(tmp_path / 'bag', BagReadOptions(camera_hfov_deg=40.0))   # camera info wins where it has a K
    np.testing.assert_allclose(kept.K, scene.K, rtol=1e-7)
    with pytest.raises(BagReadError, match=r'in \[0, 180\)'):
        read_bag(tmp_path / 'bag', BagReadOptions(camera_hfov_deg=-5.0))
