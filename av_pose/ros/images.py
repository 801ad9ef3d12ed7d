"""sensor_msgs/Image and CompressedImage ↔ numpy RGB (H×W×3 uint8), with OpenCV and without cv_bridge.

Decoding never trusts the message: the encoding, sizes, `step` and data length are checked and any problem
raises `ImageDecodeError` (a `UserInputError`) with one line saying what is wrong, so a node can count and
skip the frame.
"""
from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from av_pose.errors import UserInputError
from av_pose.ros.conversions import make_header

MAX_SIDE = 16384  # larger images are refused as corrupt headers rather than allocated

# encoding → (dtype, channels, OpenCV conversion to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[np.dtype, int, int | None]] = {
    'rgb8': (np.uint8, 3, None),
    'bgr8': (np.uint8, 3, cv2.COLOR_BGR2RGB),
    '8UC3': (np.uint8, 3, cv2.COLOR_BGR2RGB),
    'rgba8': (np.uint8, 4, cv2.COLOR_RGBA2RGB),
    'bgra8': (np.uint8, 4, cv2.COLOR_BGRA2RGB),
    '8UC4': (np.uint8, 4, cv2.COLOR_BGRA2RGB),
    'mono8': (np.uint8, 1, cv2.COLOR_GRAY2RGB),
    '8UC1': (np.uint8, 1, cv2.COLOR_GRAY2RGB),
    'mono16': (np.uint16, 1, cv2.COLOR_GRAY2RGB),
    '16UC1': (np.uint16, 1, cv2.COLOR_GRAY2RGB),
    'rgb16': (np.uint16, 3, None),
    'bgr16': (np.uint16, 3, cv2.COLOR_BGR2RGB),
    'yuv422': (np.uint8, 2, cv2.COLOR_YUV2RGB_UYVY),
    'uyvy': (np.uint8, 2, cv2.COLOR_YUV2RGB_UYVY),
    'yuv422_yuy2': (np.uint8, 2, cv2.COLOR_YUV2RGB_YUY2),
    'yuyv': (np.uint8, 2, cv2.COLOR_YUV2RGB_YUY2),
    'bayer_rggb8': (np.uint8, 1, cv2.COLOR_BayerRGGB2RGB),
    'bayer_bggr8': (np.uint8, 1, cv2.COLOR_BayerBGGR2RGB),
    'bayer_gbrg8': (np.uint8, 1, cv2.COLOR_BayerGBRG2RGB),
    'bayer_grbg8': (np.uint8, 1, cv2.COLOR_BayerGRBG2RGB),
}
RAW_ENCODINGS = tuple(_RAW_ENCODINGS)


class ImageDecodeError(UserInputError):
    """An image message that cannot be turned into pixels."""


def _checked_size(height: int, width: int) -> tuple[int, int]:
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f'image has size {width}×{height}')
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageDecodeError(f'image size {width}×{height} exceeds {MAX_SIDE} pixels a side')
    return height, width


def image_to_rgb(msg: Image) -> np.ndarray:
    """sensor_msgs/Image → H×W×3 uint8 RGB (16-bit encodings keep their high byte).

    Raises:
        ImageDecodeError: unknown encoding, zero or huge size, odd YUV width, `step` shorter than a row or
            data shorter than step × height.
    """
    encoding = str(msg.encoding)
    if encoding not in _RAW_ENCODINGS:
        raise ImageDecodeError(f'unsupported image encoding {encoding!r} (supported: {", ".join(RAW_ENCODINGS)})')
    dtype, channels, conversion = _RAW_ENCODINGS[encoding]
    height, width = _checked_size(msg.height, msg.width)
    if channels == 2 and width % 2:
        raise ImageDecodeError(f'{encoding} image has an odd width {width}')
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    step = int(msg.step)
    if step < row_bytes:
        raise ImageDecodeError(f'{encoding} image step {step} is shorter than a row ({row_bytes} bytes)')
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size < step * (height - 1) + row_bytes:
        raise ImageDecodeError(f'{encoding} image {width}×{height} needs {step * height} bytes, got {data.size}')
    rows = np.lib.stride_tricks.as_strided(data, shape=(height, row_bytes), strides=(step, 1))
    pixels = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder('>' if msg.is_bigendian else '<'))
    pixels = pixels.reshape(height, width, channels)
    if itemsize == 2:
        pixels = (pixels.astype(np.uint16) >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels if channels > 1 else pixels[:, :, 0], conversion)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG, PNG, anything OpenCV decodes) → H×W×3 uint8 RGB.

    Raises:
        ImageDecodeError: empty or corrupt data, or an image OpenCV cannot decode.
    """
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageDecodeError(f'compressed image ({msg.format or "no format"}) has no data')
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None or decoded.ndim != 3 or decoded.size == 0:
        raise ImageDecodeError(f'compressed image ({msg.format or "no format"}, {data.size} bytes) is corrupt '
                               'or of an unknown format')
    _checked_size(*decoded.shape[:2])
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def rgb_to_image(rgb: np.ndarray, stamp_s: float, frame_id: str, encoding: str = 'rgb8') -> Image:
    """H×W×3 uint8 RGB → sensor_msgs/Image in `rgb8`, `bgr8` or `mono8`."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if encoding == 'bgr8':
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding == 'mono8':
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    elif encoding == 'rgb8':
        pixels = rgb
    else:
        raise UserInputError(f'rgb_to_image writes rgb8, bgr8 or mono8, not {encoding!r}')
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    return Image(header=make_header(stamp_s, frame_id), height=height, width=width, encoding=encoding,
                 is_bigendian=0, step=width * channels, data=pixels.tobytes())


def rgb_to_compressed(rgb: np.ndarray, stamp_s: float, frame_id: str, image_format: str = 'jpeg',
                      quality: int = 90) -> CompressedImage:
    """H×W×3 uint8 RGB → sensor_msgs/CompressedImage (`jpeg` or `png`)."""
    extension = {'jpeg': '.jpg', 'jpg': '.jpg', 'png': '.png'}.get(image_format)
    if extension is None:
        raise UserInputError(f'rgb_to_compressed writes jpeg or png, not {image_format!r}')
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if extension == '.jpg' else []
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8),
                                                       cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise UserInputError(f'OpenCV could not encode a {rgb.shape} image as {image_format}')
    return CompressedImage(header=make_header(stamp_s, frame_id), format=image_format, data=encoded.tobytes())
