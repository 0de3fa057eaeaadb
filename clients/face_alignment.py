"""A photo of a face -> CelebA's aligned 218x178 frame -> the training crop, as the model saw faces.

A CSVAE trained on CelebA has only seen faces aligned as in CelebA's `img_align_celeba`: the
eyes at fixed points of a 178x218 frame, then cropped (rows 40:188, columns 15:163) and resized to
64x64 (`csvae_tf.data.celeba.preprocess`). A face anywhere else is out of its distribution, so a
photo is first warped the way CelebA's aligned images were made.

**The template.** CelebA's aligned images come from a non-reflective similarity transform that
sends the two eyes and the mouth centre to fixed points; the MATLAB alignment function
distributed as "the face alignment method used in generating CelebA" (`align_face_celeba.m`,
`pos_align`) uses, in MATLAB's 1-based pixel coordinates, left eye (70.745, 112), right eye
(108.237, 112), mouth centre (89.432, 153.514). `list_landmarks_align_celeba.txt` holds each
image's landmarks after that transform; its means are quoted as lefteye (69, 111), righteye
(108, 111) (rounded), which agree. We use the eyes alone (a Haar cascade finds eyes, not mouth
corners): two points fix a similarity (scale, rotation, translation) exactly. In 0-based
coordinates of pixel centres (what OpenCV uses), `CELEBA_EYES` = (69.745, 111.0) for the eye on
the image's left and (107.237, 111.0) for the one on its right: 37.5 px apart, level.

**Detection.** OpenCV's Haar cascades, which ship inside `opencv-python-headless`
(`cv2.data.haarcascades`): nothing is downloaded. The frontal-face cascade finds the face; the eye
cascade (then the eyeglasses one) searches the face's upper part for one eye in each half. A photo
with no face, several faces of similar size (detections under half the largest face's width are
taken for background faces or false alarms and ignored), a face too small, or a face without two findable eyes raises
`AlignmentError` with what to do; `eyes=` skips detection for eyes placed by hand.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

# (x, y) of the image-left and image-right eye in CelebA's aligned frame, 0-based pixel centres.
CELEBA_EYES = np.array([[69.745, 111.0], [107.237, 111.0]], np.float64)
ALIGNED_HEIGHT, ALIGNED_WIDTH = 218, 178  # csvae_tf.data.celeba.ALIGNED_SHAPE
DEFAULT_MIN_FACE = 64  # px: below this the face is upsampled more than ~2x into the 148 px crop

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADES = ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml")


class AlignmentError(ValueError):
    """The photo cannot be aligned; the message (one line) says why and what to do."""


class Alignment(NamedTuple):
    """What `align` found and made.

    Attributes:
      aligned: uint8 [218, 178, 3], the photo in CelebA's aligned frame.
      eyes: float [2, 2], (x, y) of the image-left and image-right eye in the photo.
      face: (x, y, width, height) of the detected face in the photo, or None (eyes given by hand).
      matrix: float [2, 3], the similarity photo -> aligned frame (x' = matrix @ [x, y, 1]).
    """

    aligned: np.ndarray
    eyes: np.ndarray
    face: Optional[Tuple[int, int, int, int]]
    matrix: np.ndarray


def _cv2():
    import cv2  # noqa: PLC0415 - only photo alignment needs OpenCV

    return cv2


def _cascade(name: str):
    cv2 = _cv2()
    path = os.path.join(cv2.data.haarcascades, name)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise AlignmentError(
            f"OpenCV's {name} is missing from {cv2.data.haarcascades}: install opencv-python-headless "
            f"as pinned in requirements.txt (OpenCV 5 no longer ships the Haar cascades).")
    return cascade


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 [h, w], [h, w, 1], [h, w, 3] or [h, w, 4] -> uint8 [h, w, 3]."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise AlignmentError(f"Photos must be uint8 pixels, got {image.dtype}.")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise AlignmentError(f"A photo must be [height, width] or [height, width, 1/3/4 channels], got {image.shape}.")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def detect_faces(gray: np.ndarray, min_size: int = 24) -> np.ndarray:
    """Haar frontal faces of an equalised uint8 [h, w] image: int [n, 4] (x, y, width, height)."""
    faces = _cascade(FACE_CASCADE).detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    return np.asarray(faces, np.int64).reshape(-1, 4)


def detect_eyes(gray: np.ndarray, face: Sequence[int]) -> Optional[np.ndarray]:
    """The centres (x, y) [2, 2] of the image-left and image-right eye inside `face`, or None.

    Eyes are searched in the face box's top 60 %; a candidate counts when its centre lies in the
    box's top 55 %, and each half of the box gets its largest candidate. The eyeglasses cascade is
    tried when the plain one does not give one eye per half.
    """
    x, y, width, height = (int(v) for v in face)
    top = gray[y : y + int(0.6 * height), x : x + width]
    size = max(width // 10, 8)
    for name in EYE_CASCADES:
        boxes = _cascade(name).detectMultiScale(top, scaleFactor=1.05, minNeighbors=3, minSize=(size, size))
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        centres = boxes[:, :2] + boxes[:, 2:] / 2.0
        keep = centres[:, 1] < 0.55 * height
        boxes, centres = boxes[keep], centres[keep]
        halves = [centres[:, 0] < width / 2.0, centres[:, 0] >= width / 2.0]
        if all(half.any() for half in halves):
            pair = [centres[half][np.argmax(boxes[half, 2])] for half in halves]
            return np.array(pair) + np.array([x, y], np.float64)
    return None


def eye_similarity(eyes: np.ndarray, template: np.ndarray = CELEBA_EYES) -> np.ndarray:
    """float [2, 3]: the similarity sending eyes[0] -> template[0] and eyes[1] -> template[1].

    In complex numbers, z' = t0 + s (z - e0) with s = (t1 - t0) / (e1 - e0): a rotation by arg s
    and a scaling by |s|, no reflection.
    """
    e0, e1 = (complex(*point) for point in np.asarray(eyes, np.float64))
    t0, t1 = (complex(*point) for point in np.asarray(template, np.float64))
    if abs(e1 - e0) < 1e-6:
        raise AlignmentError("Both eyes are at the same point; give two distinct eye positions.")
    s = (t1 - t0) / (e1 - e0)
    shift = t0 - s * e0
    return np.array([[s.real, -s.imag, shift.real], [s.imag, s.real, shift.imag]], np.float64)


def warp_to_celeba(image: np.ndarray, eyes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(uint8 [218, 178, 3] aligned frame, float [2, 3] matrix photo -> frame) for eyes (x, y) [2, 2].

    A photo shrunk by more than 2x is first reduced with area averaging, so the bilinear warp
    does not alias; borders are replicated, as CelebA's alignment did.
    """
    cv2 = _cv2()
    image = as_rgb(image)
    eyes = np.asarray(eyes, np.float64)
    matrix = eye_similarity(eyes)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    source, source_eyes = image, eyes
    if scale < 0.5:
        factor = 2.0 * scale  # reduce so that the warp shrinks by 2x at most
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        source = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        # pixel centres: x_small + 0.5 = (x + 0.5) * actual factor, per axis
        factors = np.array([size[0] / image.shape[1], size[1] / image.shape[0]])
        source_eyes = (eyes + 0.5) * factors - 0.5
    aligned = cv2.warpAffine(
        source, eye_similarity(source_eyes), (ALIGNED_WIDTH, ALIGNED_HEIGHT),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return aligned, matrix


def align(image: np.ndarray, eyes: Optional[Sequence[float]] = None, min_face: int = DEFAULT_MIN_FACE) -> Alignment:
    """Find the face and its eyes in a photo and warp it into CelebA's aligned frame.

    Args:
      image: uint8 [h, w, 3] (RGB), [h, w] or [h, w, 4].
      eyes: optional (x_left, y_left, x_right, y_right) in photo pixels: skips detection.
      min_face: the smallest face width (px) accepted.

    Raises:
      AlignmentError: no face, several faces, a face narrower than `min_face`, or no two eyes.
    """
    image = as_rgb(image)
    if eyes is not None:
        eyes = np.asarray(eyes, np.float64).reshape(2, 2)
        eyes = eyes[np.argsort(eyes[:, 0])]
        aligned, matrix = warp_to_celeba(image, eyes)
        return Alignment(aligned, eyes, None, matrix)
    cv2 = _cv2()
    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    faces = detect_faces(gray)
    if len(faces) == 0:
        raise AlignmentError(
            "No face found in the photo: use a frontal, upright face, or pass --no_align for an image "
            "that is already an aligned crop (or --eyes=x1,y1,x2,y2 to place the eyes by hand).")
    large = faces[faces[:, 2] >= min_face]
    if len(large) == 0:
        widest = int(faces[:, 2].max())
        raise AlignmentError(
            f"The face is too small: {widest} px wide, at least {min_face} px needed (the model sees a "
            f"148 px crop). Use a larger photo or a closer crop (or lower --min_face_size).")
    # Detections under half the largest face's width are background faces or false alarms.
    large = large[large[:, 2] >= 0.5 * large[:, 2].max()]
    if len(large) > 1:
        boxes = ", ".join(f"({x},{y} {w}x{h})" for x, y, w, h in large[:5])
        raise AlignmentError(
            f"{len(large)} faces found at {boxes}: crop the photo to the one face you want.")
    face = tuple(int(v) for v in large[0])
    found = detect_eyes(gray, face)
    if found is None:
        raise AlignmentError(
            f"Found a face at {face[:2]} ({face[2]}x{face[3]} px) but not both eyes (closed, covered or "
            f"in shadow?): pass --eyes=x1,y1,x2,y2 to place them, or --no_align for an aligned crop.")
    aligned, matrix = warp_to_celeba(image, found)
    return Alignment(aligned, found, face, matrix)


def training_crop(aligned: np.ndarray, size: Tuple[int, int] = (64, 64)) -> np.ndarray:
    """CelebA's training crop of an aligned frame: uint8 [218, 178, 3] -> float32 [*size, 3] in [0, 1].

    The crop and 64x64 resize are `csvae_tf.data.celeba.preprocess` (rows 40:188, columns 15:163,
    antialiased bilinear), the function that made the training data; a model of another size
    gets that 64x64 crop resized again.
    """
    import tensorflow as tf  # noqa: PLC0415
    from csvae_tf.data import celeba  # noqa: PLC0415 - the preprocessing itself, no model code

    crop = celeba.preprocess(tf.constant(as_rgb(aligned)))
    if tuple(size) != tuple(crop.shape[:2]):
        crop = tf.clip_by_value(tf.image.resize(crop, size, method="bilinear", antialias=True), 0.0, 1.0)
    return crop.numpy()
