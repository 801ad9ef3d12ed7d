"""Rooms, textures, the pinhole camera and the ray caster against exact geometry."""
import json

import numpy as np
import pytest
from scipy.ndimage import map_coordinates
from skimage.feature import corner_harris, corner_peaks
from skimage.transform import ProjectiveTransform, warp

from av_pose.errors import UserInputError
from av_pose.geometry import R_CAM_ARRAY_DEFAULT, look_at, make_transform, relative_pose, rotation_from_ypr
from av_pose.scene.camera import PinholeCamera
from av_pose.scene.raycast import RoomRenderer, intersect, render, render_depth
from av_pose.scene.room import FACE_NAMES, Box, Poster, Room, SceneConfigError, Surface
from av_pose.scene.textures import POSTER_PHOTOS, TEXTURE_KINDS, load_poster, make_texture

CAMERA = PinholeCamera.from_fov(256, 192, 70.0)


def _room() -> Room:
    """A 6×5×3 m room with structured textures, two boxes and two posters."""
    kinds = ('bricks', 'noise', 'tiles', 'photo_gravel', 'tiles', 'noise')
    faces = tuple(Surface(kind, seed, 1.5) for seed, kind in enumerate(kinds))
    boxes = (Box((0.5, 0.5, 0.0), (1.5, 1.3, 0.9), Surface('blobs', 7, 0.8)),
             Box((4.2, 3.6, 0.0), (5.6, 4.6, 1.9), Surface('photo_brick', 8, 1.0)))
    posters = (Poster('astronaut', 'x1', 2.5, 1.6, 1.2, 1.2), Poster('coffee', 'y0', 3.0, 1.5, 1.5, 1.0))
    return Room((6.0, 5.0, 3.0), faces, boxes, posters, rt60_s=0.35)


def _body_pose(position, yaw_deg, pitch_deg=0.0, roll_deg=0.0) -> np.ndarray:
    """T_world_cam of a camera whose REP-103 body has the given position and yaw/pitch/roll."""
    R_world_body = rotation_from_ypr(*np.radians([yaw_deg, pitch_deg, roll_deg]))
    return make_transform(R_world_body @ R_CAM_ARRAY_DEFAULT.T, position)


def _warp_error(image_a: np.ndarray, image_b: np.ndarray, H_b_to_a: np.ndarray) -> tuple[float, float]:
    """Mean |A(H·x) − B(x)| in grey levels over pixels x of B whose H·x falls inside A; and that fraction."""
    warped = warp(image_a / 255.0, ProjectiveTransform(H_b_to_a), order=1, cval=np.nan)
    valid = np.all(np.isfinite(warped), axis=-1)
    return float(np.abs(warped - image_b / 255.0)[valid].mean() * 255.0), float(valid.mean())


def test_pure_rotation_is_a_homography():
    room = _room()
    renderer = RoomRenderer(room, CAMERA)
    centre = np.array([3.0, 2.5, 1.5])
    T_world_1 = _body_pose(centre, 20.0, 4.0, 1.0)
    T_world_2 = _body_pose(centre, 32.0, -3.0, -2.0)
    image_a, image_b = renderer.render(T_world_1), renderer.render(T_world_2)
    K = CAMERA.K
    R_1_2 = relative_pose(T_world_1, T_world_2)[:3, :3]  # maps camera-2 directions into camera 1
    # A pixel x_B of frame B sees direction K⁻¹x_B in camera 2, i.e. R_1_2·K⁻¹x_B in camera 1, so
    # x_A ~ K·R_1_2·K⁻¹·x_B. Equivalently x_B ~ H_21·x_A with H_21 = K·R_21·K⁻¹, R_21 = R_1_2ᵀ: frame A warped
    # by H_21 gives frame B. skimage's warp takes the output→input map, which is H_21⁻¹ = K·R_1_2·K⁻¹.
    H_b_to_a = K @ R_1_2 @ np.linalg.inv(K)
    error, valid_fraction = _warp_error(image_a, image_b, H_b_to_a)
    assert valid_fraction > 0.5
    assert error < 6.0

    R_wrong = R_1_2 @ rotation_from_ypr(np.radians(1.5), 0.0, 0.0)
    wrong_error, _ = _warp_error(image_a, image_b, K @ R_wrong @ np.linalg.inv(K))
    transposed_error, _ = _warp_error(image_a, image_b, K @ R_1_2.T @ np.linalg.inv(K))
    assert wrong_error > 2.0 * error
    assert transposed_error > 5.0 * error


def test_depth_of_a_facing_wall_is_its_distance():
    room = _room()
    camera = PinholeCamera.from_fov(65, 49, 30.0)  # odd size: one pixel sits exactly on the optical axis
    distance = 2.25
    T_world_cam = _body_pose([distance, 2.5, 2.0], 180.0)  # looking along −x at wall x0, above the boxes
    depth = render_depth(room, camera, T_world_cam)
    assert depth.shape == (49, 65) and depth.dtype == np.float32
    assert depth[24, 32] == pytest.approx(distance, abs=1e-6)
    # A fronto-parallel wall has the same depth along the optical axis at every pixel.
    np.testing.assert_allclose(depth, distance, atol=1e-5)

    # Facing the tall box's −y face (y = 3.6) from 1.5 m in front of it.
    T_box = _body_pose([4.9, 2.1, 1.0], 90.0)
    assert render_depth(room, camera, T_box)[24, 32] == pytest.approx(1.5, abs=1e-6)


def test_depth_pixels_back_project_onto_surfaces():
    room = _room()
    T_world_cam = _body_pose([2.2, 2.9, 1.4], 215.0, 12.0, 3.0)
    depth = render_depth(room, CAMERA, T_world_cam).astype(np.float64).ravel()
    origins, directions = CAMERA.rays(T_world_cam, normalize=False)
    points = origins + depth[:, None] * directions
    planes = [(axis, value) for axis in range(3) for value in (0.0, room.size_m[axis])]
    for box in room.boxes:
        planes += [(axis, bound[axis]) for axis in range(3) for bound in (box.min_m, box.max_m)]
    distance_to_plane = np.min([np.abs(points[:, axis] - value) for axis, value in planes], axis=0)
    assert distance_to_plane.max() < 1e-4  # float32 depth
    assert np.all(room.is_free(points, margin_m=-1e-4) | (distance_to_plane < 1e-4))


def test_projected_point_lies_on_the_ray_of_its_pixel():
    room = _room()
    T_world_cam = _body_pose([3.0, 2.0, 1.6], 30.0, -5.0)
    corner = np.array([5.6, 3.6, 1.9])  # top corner of the tall box, in view
    uv, depth = CAMERA.project(corner[None], T_world_cam)
    assert depth[0] > 0 and 0 <= uv[0, 0] < CAMERA.width and 0 <= uv[0, 1] < CAMERA.height
    ray_cam = np.linalg.inv(CAMERA.K) @ np.array([uv[0, 0], uv[0, 1], 1.0])
    ray_world = T_world_cam[:3, :3] @ ray_cam
    t = depth[0]  # with camera-frame z = 1 the ray parameter is the depth
    np.testing.assert_allclose(T_world_cam[:3, 3] + t * ray_world, corner, atol=1e-9)

    # Points found by casting the rays of given pixels project back onto exactly those pixels.
    pixels = np.array([[10.0, 20.0], [128.0, 96.0], [250.0, 5.0], [77.3, 150.8]])
    rays = (np.c_[pixels, np.ones(len(pixels))] @ np.linalg.inv(CAMERA.K).T) @ T_world_cam[:3, :3].T
    hits = intersect(room, T_world_cam[:3, 3], rays)
    uv_back, depth_back = CAMERA.project(hits.points, T_world_cam)
    np.testing.assert_allclose(uv_back, pixels, atol=1e-9)
    np.testing.assert_allclose(depth_back, hits.t, rtol=1e-12)


def test_render_shapes_supersampling_and_cache():
    room = _room()
    T_world_cam = look_at([1.0, 4.0, 1.5], [5.0, 1.0, 1.2])
    image = render(room, CAMERA, T_world_cam)
    assert image.shape == (192, 256, 3) and image.dtype == np.uint8
    assert image.std() > 10  # textured, not flat
    np.testing.assert_array_equal(image, render(room, CAMERA, T_world_cam))
    smooth = RoomRenderer(room, CAMERA, supersample=2).render(T_world_cam)
    assert smooth.shape == image.shape
    assert 0.5 < np.abs(smooth.astype(float) - image).mean() < 12


def test_posters_appear_upright_on_their_wall():
    room = _room()
    poster = room.posters[0]  # the astronaut on wall x1, centred at y = 2.5, z = 1.6, 1.2 m wide
    camera = PinholeCamera.from_fov(129, 129, 40.0)
    distance = 3.0
    T_world_cam = _body_pose([6.0 - distance, poster.center_m, poster.center_z_m], 0.0)
    image = RoomRenderer(room, camera, shading=False).render(T_world_cam).astype(float) / 255
    # By similar triangles the poster spans centre ± fx·(width/2)/distance pixels; map those onto its texels.
    texels = load_poster('astronaut').shape[0]
    left_px = 64.0 - camera.fx * (poster.width_m / 2) / distance
    texels_per_px = texels / (camera.fx * poster.width_m / distance)
    lo, hi = int(np.ceil(left_px)) + 1, int(np.floor(128 - left_px)) - 1
    rows, cols = np.mgrid[lo:hi + 1, lo:hi + 1]
    texel_coords = [(rows - left_px) * texels_per_px - 0.5, (cols - left_px) * texels_per_px - 0.5]
    expected = np.stack([map_coordinates(load_poster('astronaut')[..., c], texel_coords, order=1)
                         for c in range(3)], axis=-1)
    crop = image[lo:hi + 1, lo:hi + 1]
    assert np.abs(crop - expected).mean() < 0.01
    assert np.abs(crop - expected[:, ::-1]).mean() > 0.1
    assert np.abs(crop - expected[::-1]).mean() > 0.1


def test_room_round_trip_and_random_rooms():
    room = _room()
    assert Room.from_dict(json.loads(json.dumps(room.to_dict()))) == room
    for seed in range(5):
        random_room = Room.random(np.random.default_rng(seed))
        assert Room.from_dict(random_room.to_dict()) == random_room
        assert 4.0 <= random_room.size_m[0] <= 9.0 and 3.0 <= random_room.size_m[1] <= 7.0
        assert 2.5 <= random_room.size_m[2] <= 3.5 and 0.2 <= random_room.rt60_s <= 0.6
        assert len(random_room.boxes) <= 3 and len(random_room.faces) == len(FACE_NAMES)
        centre = random_room.center_m.copy()
        centre[2] = 1.5
        assert random_room.is_free(centre, margin_m=0.5)
    assert Room.random(np.random.default_rng(3)) == Room.random(np.random.default_rng(3))


@pytest.mark.parametrize('change', [
    {'dims_m': [4.0, -1.0, 3.0]},
    {'boxes': [{'min_m': [1, 1, 0], 'max_m': [7, 2, 1], 'surface': {'kind': 'noise', 'seed': 1, 'scale_m': 1}}]},
    {'posters': [{'photo': 'astronaut', 'wall': 'floor', 'center_m': 1, 'center_z_m': 1, 'width_m': 1,
                  'height_m': 1}]},
    {'faces': {'x0': {'kind': 'marble', 'seed': 1, 'scale_m': 1}}},
    {'rt60_s': 0.0},
])
def test_bad_room_descriptions_are_rejected(change):
    data = _room().to_dict()
    data.update(change)
    with pytest.raises(SceneConfigError):
        Room.from_dict(data)


def test_bad_camera_input_is_rejected():
    with pytest.raises(UserInputError):
        PinholeCamera.from_fov(256, 192, 190.0)
    with pytest.raises(UserInputError):
        PinholeCamera(0, 10, 1.0, 1.0, 0.0, 0.0)
    with pytest.raises(UserInputError):
        render_depth(_room(), CAMERA, _body_pose([7.0, 1.0, 1.0], 0.0))  # outside the room
    with pytest.raises(UserInputError):
        CAMERA.rays(np.eye(3))


@pytest.mark.parametrize('kind', TEXTURE_KINDS)
def test_textures_have_structure_and_are_deterministic(kind):
    texture = make_texture(kind, 11, 128)
    assert texture.shape == (128, 128, 3) and texture.dtype == np.float32
    assert 0.0 <= texture.min() and texture.max() <= 1.0
    grey = texture.mean(axis=-1)
    assert len(corner_peaks(corner_harris(grey), min_distance=3)) >= 40
    grad_rows, grad_cols = np.gradient(grey)
    assert np.mean(grad_rows**2 + grad_cols**2) > 1e-4
    make_texture.cache_clear()
    np.testing.assert_array_equal(make_texture(kind, 11, 128), texture)
    assert np.abs(make_texture(kind, 12, 128) - texture).mean() > 0.01
    if not kind.startswith('photo_'):  # procedural textures tile: the wrap-around jump is a typical one
        for image in (grey, grey.T):
            column_jumps = np.abs(np.diff(image, axis=1)).mean(axis=0)
            assert np.abs(image[:, 0] - image[:, -1]).mean() <= 1.25 * column_jumps.max()


def test_posters_load_offline():
    for name in POSTER_PHOTOS:
        poster = load_poster(name, 64)
        assert poster.shape == (64, 64, 3) and poster.std() > 0.05
