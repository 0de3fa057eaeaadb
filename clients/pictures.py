"""An export's inputs as pictures, and pictures (photos, files) as an export's inputs.

Exports take float32 [*input_shape] in [0, 1] (docs/serving.md). Three input shapes occur:

  [H, W, C]   images (CelebA 64x64x3, TFD 48x48x1): shown as they are;
  [n], n = s*s  a flattened square greyscale image (the digits' [64] = 8x8): shown as s x s;
  [n], other  a vector (the swiss roll's [3]): shown as a bar chart of its values.

A photo becomes an image export's input through `photo_to_inputs`: the face aligned into CelebA's
frame and cropped as in training (`clients.face_alignment`), or, with align=False, an image that is
already aligned (CelebA's 218x178 frames get the training crop; anything else is only resized).
"""

from __future__ import annotations

import io
import math
import os
import stat
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from clients import face_alignment

DISPLAY_SIZE = 160  # px: small inputs are enlarged (nearest neighbour) to at least this


class PictureError(ValueError):
    """The input cannot be shown or made from a picture; the message says what to do."""


def picture_shape(input_shape: Sequence[int]) -> Optional[Tuple[int, int, int]]:
    """(height, width, channels) of an export's inputs seen as images, or None for plain vectors."""
    shape = list(input_shape)
    if len(shape) == 3:
        return tuple(shape)
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0] and side > 1:
            return (side, side, 1)
    return None


def enlarge(image: np.ndarray, size: int = DISPLAY_SIZE) -> np.ndarray:
    """uint8 [h, w, 3] -> enlarged by an integer factor (nearest) so its larger side is >= size."""
    factor = max(1, math.ceil(size / max(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def to_picture(x: np.ndarray, input_shape: Sequence[int], size: int = DISPLAY_SIZE) -> np.ndarray:
    """One input float [*input_shape] -> uint8 [h, w, 3] for display (vectors: a bar chart)."""
    x = np.asarray(x, np.float32)
    shape = picture_shape(input_shape)
    if shape is None:
        return _bar_chart(x.reshape(-1), size)
    image = np.clip(np.round(x.reshape(shape) * 255.0), 0, 255).astype(np.uint8)
    if shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return enlarge(image, size)


def _bar_chart(values: np.ndarray, size: int) -> np.ndarray:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(size / 50, size / 50), dpi=50)
    axes.bar(range(len(values)), values, color="#4c72b0")
    axes.set_xticks(range(len(values)))
    axes.axhline(0, color="black", linewidth=0.5)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    from PIL import Image  # noqa: PLC0415

    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    shrinking = image.shape[0] > height or image.shape[1] > width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    """float [h, w, 3] -> [h, w, channels] (1: ITU-R 601 luma, as PIL's "L")."""
    if channels == 3:
        return image
    return (image @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]


class PreparedPhoto(NamedTuple):
    """inputs: float32 [*input_shape] in [0, 1]; aligned: uint8 [218, 178, 3] or None; note: what was done."""

    inputs: np.ndarray
    aligned: Optional[np.ndarray]
    note: str


def photo_to_inputs(photo: np.ndarray, input_shape: Sequence[int], align: bool = True,
                    eyes: Optional[Sequence[float]] = None,
                    min_face: int = face_alignment.DEFAULT_MIN_FACE) -> PreparedPhoto:
    """A photo (uint8 [h, w, 3], [h, w] or [h, w, 4]) -> an export's input.

    Image exports: aligned into CelebA's frame and cropped as in training (align=True), or, when
    align=False, given the training crop if the image is a 218x178 CelebA frame and resized as it
    is otherwise. Square-vector exports (digits): greyscale, resized, flattened (no alignment: the
    digits have no face). Raises PictureError / face_alignment.AlignmentError with what to do.
    """
    shape = picture_shape(input_shape)
    if shape is None:
        raise PictureError(f"This export's inputs are vectors of {list(input_shape)} values, not pictures: "
                           f"pass them as arrays (an .npz with `inputs`).")
    height, width, channels = shape
    rgb = face_alignment.as_rgb(photo)
    if eyes is not None:
        eyes = check_eyes(eyes, rgb.shape[1], rgb.shape[0])
    if len(input_shape) == 1:
        image = _resize(rgb, height, width).astype(np.float32) / 255.0
        return PreparedPhoto(_channels(image, 1).reshape(input_shape), None, f"resized to {height}x{width} greyscale")
    aligned = None
    if align:
        result = face_alignment.align(rgb, eyes=eyes, min_face=min_face)
        aligned = result.aligned
        where = "eyes placed by hand" if result.face is None else f"face at {result.face[:2]}, {result.face[2]} px"
        note = (f"aligned ({where}; eyes {_points(result.eyes)} -> CelebA's {_points(face_alignment.CELEBA_EYES)}), "
                f"training crop, {height}x{width}")
        crop = face_alignment.training_crop(aligned, (height, width))
    elif rgb.shape[:2] == (face_alignment.ALIGNED_HEIGHT, face_alignment.ALIGNED_WIDTH):
        aligned = rgb
        crop = face_alignment.training_crop(rgb, (height, width))
        note = f"CelebA-aligned 218x178 frame: training crop, {height}x{width}"
    else:
        crop = _resize(rgb, height, width).astype(np.float32) / 255.0
        note = f"taken as an aligned crop: resized {rgb.shape[1]}x{rgb.shape[0]} -> {width}x{height}"
    return PreparedPhoto(np.clip(_channels(crop, channels), 0.0, 1.0).astype(np.float32), aligned, note)


def check_eyes(eyes: Sequence[float], width: int, height: int) -> np.ndarray:
    """float [4]: x1,y1,x2,y2, checked to be four finite pixel coordinates inside a width x height photo."""
    eyes = np.asarray(eyes, np.float64).reshape(-1)
    inside = eyes.size == 4 and np.isfinite(eyes).all() and (eyes[0::2] >= 0).all() and \
        (eyes[0::2] < width).all() and (eyes[1::2] >= 0).all() and (eyes[1::2] < height).all()
    if not inside:
        raise PictureError(f"--eyes={','.join(f'{v:g}' for v in eyes)}: expected x1,y1,x2,y2, four finite pixel "
                           f"coordinates inside the {width}x{height} photo (as a viewer shows it upright).")
    return eyes


def _points(points: np.ndarray) -> str:
    return " ".join(f"({x:.1f}, {y:.1f})" for x, y in np.asarray(points, np.float64))


MAX_PIXELS = 50_000_000  # a photo larger than this (e.g. 7100x7100) is refused from its header, before decoding
# A larger photo is read reduced to this longer side: a face in it then still has the ~150 px of CelebA's
# crop, and face detection and alignment no longer cost gigabytes (or find faces in the texture).
MAX_SIDE = 2048
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ORIENTATION = 0x0112  # the EXIF tag exif_transpose follows; 5..8 turn the photo by 90 degrees
RESAMPLED_AS = {"1": "L", "P": "RGBA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


class Photo(NamedTuple):
    """A photo as read: pixels uint8 [h, w, 3]; size (width, height) of the upright file, which is larger than
    the pixels when the photo was read reduced (MAX_SIDE)."""

    pixels: np.ndarray
    size: Tuple[int, int]

    @property
    def reduced(self) -> bool:
        return (self.pixels.shape[1], self.pixels.shape[0]) != tuple(self.size)

    def to_pixels(self, points) -> np.ndarray:
        """float [n, 2] (x, y) in the upright file's pixels -> the same points in `pixels` (pixel centres kept)."""
        factors = np.array([self.pixels.shape[1] / self.size[0], self.pixels.shape[0] / self.size[1]])
        return np.maximum((np.asarray(points, np.float64).reshape(-1, 2) + 0.5) * factors - 0.5, 0.0)

    def note(self) -> str:
        """How the photo was read, for the programs' messages ("" when read whole)."""
        if not self.reduced:
            return ""
        return f"read reduced to {self.pixels.shape[1]}x{self.pixels.shape[0]} from {self.size[0]}x{self.size[1]}; "


def read_image(path: str, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> np.ndarray:
    """An image file -> uint8 [h, w, 3] RGB: `read_photo(...).pixels` (larger photos reduced to `max_side`)."""
    return read_photo(path, max_pixels, max_side).pixels


def read_photo(path: str, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Photo:
    """An image file (PNG, JPEG, ...) -> Photo: uint8 [h, w, 3] RGB as a viewer shows it, and the file's size.

    The one reader of photos for `apply` and the explorer: the size is checked from the header before
    any pixel is decoded; a photo whose longer side is over `max_side` is read reduced to it (a JPEG
    decoded at 1/2, 1/4 or 1/8 scale, then area-averaged), so its memory stays bounded; EXIF
    orientation is applied (the eyes of --eyes are in the upright photo's pixels: `Photo.to_pixels`);
    16-bit greyscale is scaled to 8 bits (not clipped); floating-point greyscale (a 32-bit TIFF) is
    read as 0..1 or 0..255 by its largest value; transparency is laid on white; CMYK, palette and
    greyscale become RGB; what is not a regular file (a folder, a FIFO) is refused before it is
    opened, and a truncated or damaged file when it is decoded.

    Raises:
      PictureError: one line naming the file and what is wrong.
    """
    import warnings  # noqa: PLC0415

    from PIL import Image, ImageOps, UnidentifiedImageError  # noqa: PLC0415

    check_regular_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own bound below says it in one line
            opened = Image.open(path)
        with opened as image:
            width, height = image.size
            if width * height > max_pixels:
                raise PictureError(f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over "
                                   f"the {max_pixels / 1e6:.0f} megapixels this reads; scale it down first.")
            turned = image.getexif().get(ORIENTATION) in (5, 6, 7, 8)
            reduce = max(width, height) > max_side
            if reduce:  # a JPEG decodes straight into a smaller size, no smaller than asked for
                factor = max_side / max(width, height)
                image.draft(None, (math.ceil(width * factor), math.ceil(height * factor)))
            image.load()  # decodes now: a truncated file fails here, not inside the conversions
            if reduce:
                if image.mode in RESAMPLED_AS:  # palette and 1-bit resize by nearest neighbour, CMYK by channel
                    image = image.convert(RESAMPLED_AS[image.mode])
                image.thumbnail((max_side, max_side), Image.Resampling.BOX)  # area average: no ringing, no overshoot
            image = ImageOps.exif_transpose(image)
            return Photo(_rgb(image, path), (height, width) if turned else (width, height))
    except PictureError:
        raise
    except Image.DecompressionBombError:
        raise PictureError(f"{path} is larger than the {max_pixels / 1e6:.0f} megapixels this reads; scale it down "
                           f"first.") from None
    except FileNotFoundError:
        raise PictureError(f"No image at {path}.") from None
    except UnidentifiedImageError:
        raise PictureError(f"{path} is not an image PIL can read (PNG, JPEG, ...).") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise PictureError(f"{path} is truncated or damaged ({' '.join(str(error).split())[:120]}); "
                           f"pass a complete image file.") from None


def check_regular_file(path: str) -> None:
    """Refuse, before opening it, what is not a regular file: a folder, or a pipe, socket or device, which
    `open` would wait on for ever (a FIFO) or read without end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise PictureError(f"No image at {path}.") from None
    except OSError as error:
        raise PictureError(f"{path} cannot be read ({error.strerror or error}).") from None
    if stat.S_ISDIR(mode):
        raise PictureError(f"{path} is a folder; pass one image file (PNG, JPEG, ...).")
    if not stat.S_ISREG(mode):
        raise PictureError(f"{path} is not a regular file (a pipe, socket or device); pass an image file (PNG, "
                           f"JPEG, ...).")


def _rgb(image, path: str) -> np.ndarray:
    """A decoded PIL image of any mode -> uint8 [h, w, 3].

    Floating-point pixels (mode F, e.g. a 32-bit TIFF) are read by their range: 0..1 (the largest value
    at most 1) or 0..255; other ranges and non-finite values are refused. 16- and 32-bit integers are
    16-bit values (0..65535), scaled to 8 bits.
    """
    from PIL import Image  # noqa: PLC0415

    if image.mode == "F":
        values = np.asarray(image, np.float64)
        if not np.isfinite(values).all():
            raise PictureError(f"{path} holds NaN or infinite pixel values; pass an image of finite values.")
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if low < 0.0 or high > 255.0:
            raise PictureError(f"{path} holds floating-point pixels from {low:g} to {high:g}; expected 0..1 or "
                               f"0..255: rescale it to one of those (or save it with 8 bits per channel).")
        scale = 255.0 if high <= 1.0 else 1.0
        grey = np.clip(np.round(values * scale), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, np.float64)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if low < 0.0 or high > 65535.0:
            raise PictureError(f"{path} holds integer pixels from {low:g} to {high:g}; expected 16-bit values "
                               f"(0..65535): rescale it (or save it with 8 bits per channel).")
        grey = np.clip(np.round(values / 65535.0 * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))  # CMYK, YCbCr, P, L, 1, RGB


def check_output_path(path: str, flag: str = "out") -> None:
    """Refuse, before any work, an output path whose folder is missing or whose extension PIL cannot write."""
    from PIL import Image  # noqa: PLC0415

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise PictureError(f"--{flag}={path}: the folder {folder} does not exist; create it or pass another path.")
    if os.path.isdir(path):
        raise PictureError(f"--{flag}={path} is a folder; pass a file name such as {os.path.join(path, 'out.png')}.")
    extension = os.path.splitext(path)[1].lower()
    if Image.registered_extensions().get(extension) not in Image.SAVE:
        raise PictureError(f"--{flag}={path}: unknown image extension {extension or '(none)'!r}; use .png or .jpg.")


def write_image(path: str, image: np.ndarray) -> None:
    from PIL import Image  # noqa: PLC0415

    Image.fromarray(np.asarray(image, np.uint8)).save(path)


def side_by_side(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """uint8 [h_i, w_i, 3] images -> one row, top-aligned on a white background."""
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    row = np.full([height, width, 3], 255, np.uint8)
    x = 0
    for image in images:
        row[: image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1] + gap
    return row
