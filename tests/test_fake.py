"""csvae_tf/data/fake.py: the generated images are the documented drawing, made in bounded memory."""

import json

import numpy as np

from conftest import run_program
from csvae_tf.data import fake


def _drawn_at_once(num_examples, image_shape, num_labels, label_type, seed):
    """The drawing of the module docstring for all examples at once: background, then a band per label that is on."""
    height, width, channels = image_shape
    rng = np.random.default_rng(seed)
    coarse = rng.random((num_examples, 4, 4, channels))
    images = 0.5 * coarse.repeat(-(-height // 4), axis=1)[:, :height].repeat(-(-width // 4), axis=2)[:, :, :width]
    if label_type == "categorical":
        labels = np.eye(num_labels, dtype=np.float32)[rng.integers(0, num_labels, num_examples)]
    else:
        labels = (rng.random((num_examples, num_labels)) < 0.5).astype(np.float32)
    band = max(1, height // (2 * num_labels + 1))
    for label in range(num_labels):
        images[labels[:, label] > 0, (2 * label + 1) * band : (2 * label + 2) * band] = 0.95
    return np.round(images * 255).astype(np.uint8), labels


def test_images_composed_in_chunks_are_the_drawing_made_at_once():
    for shape, k, label_type in [((16, 12, 3), 2, "binary"), ((10, 10, 1), 7, "categorical")]:
        n = 2 * fake.CHUNK + 5  # three chunks, the last a partial one
        images, labels = fake.fake_images(n, shape, k, label_type, seed=3)
        expected_images, expected_labels = _drawn_at_once(n, shape, k, label_type, 3)
        assert images.dtype == np.uint8 and images.shape == (n, *shape)
        np.testing.assert_array_equal(labels, expected_labels)
        np.testing.assert_array_equal(images, expected_images)


_PEAK = """
import json, resource
from csvae_tf.data import fake
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
images, labels = fake.fake_images(4096, (64, 64, 3), 2)
print(json.dumps({"peak_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "images_mib": images.nbytes / 2**20}))
"""


def test_generating_holds_the_uint8_images_and_a_bounded_chunk():
    """4,096 64x64x3 images are 48 MiB of uint8; drawing them in float64 all at once peaked at 0.7 to 1.5 GiB
    above the interpreter's (3.2 GiB for 8,192), which made a large --fake_examples a MemoryError."""
    run = run_program("-c", _PEAK, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    assert measured["images_mib"] == 48.0
    assert measured["peak_mib"] < measured["images_mib"] + 250, measured  # 0.1 GiB above the images here
