r"""Peak memory of the batched evaluation: does it grow with the split beyond the split itself?

    python -m benchmarks.evaluation_memory                       # 2,000 then 20,000 images (~10 min on 2 cores)
    python -m benchmarks.evaluation_memory --sizes=500,2000 --batch_size=128

For each size n (in one process, smallest first): n generated 64x64x3 uint8 images with CelebA-
Glasses' single binary label (csvae_tf.data.fake) are evaluated as `csvae_tf.evaluation.comparison`
evaluates a test split: Method 1 (every image switched to the opposite of its label by the default
CelebA CSVAE with the paper's networks, then classified by the convolutional C), §5.4's p_j
(W's posterior means over the split) and the z encoding the leakage probes read (posterior means
and samples). The models are untrained: memory does not depend on the weights' values.

Resident memory (RSS, from /proc/self/statm sampled every 10 ms by a thread, and the kernel's
peak ru_maxrss) is read before the images exist (models built, every function traced on a small
split), after they exist, and at its peak during the evaluation. The figure that matters is the
growth during the evaluation (peak minus after the arrays): it must stay the same for 2,000 and
20,000 images (batches, not the split, are what the evaluation allocates), while the arrays
themselves are n * 12,288 bytes (245.8 MB for 20,000). The last line is the JSON record.
"""

from __future__ import annotations

import os
import resource
import threading
import time

from benchmarks import common  # sets KERAS_BACKEND and quiets TF before TensorFlow is imported

import numpy as np
from absl import app, flags

from csvae_tf.data import fake
from csvae_tf.evaluation import batched, classifier_accuracy, latents
from csvae_tf.models import registry

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["2000", "20000"], "Split sizes to evaluate, in this order, in one process.")
flags.DEFINE_integer("batch_size", batched.DEFAULT_BATCH_SIZE, "Examples per encode / switch / classify call.")
flags.DEFINE_float("log_every_seconds", 30.0, "Seconds between progress lines.")

SHAPE = (64, 64, 3)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakSampler:
    """The largest RSS seen by a thread polling every `interval` seconds between start() and stop()."""

    def __init__(self, interval: float = 0.01):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def generated(n: int, chunk: int = 1000):
    """n fake images uint8 [n, 64, 64, 3] and labels [n, 1], made in chunks (no float copy of the split)."""
    images, labels = np.empty((n,) + SHAPE, np.uint8), np.empty((n, 1), np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        images[start:stop], labels[start:stop] = fake.fake_images(stop - start, SHAPE, 1, seed=start)
    return images, labels


def evaluate(model, classifier, images, labels, batch_size, every_seconds):
    """What comparison.compare does with a test split, minus the figures and the probes' fits."""
    switch = classifier_accuracy.method1_switch(model, images, labels, images, labels, batch_size)
    method1 = classifier_accuracy.switch_accuracy(
        classifier, switch, images, labels, "binary", model.label_names, batch_size=batch_size,
        progress=batched.Progress(f"method 1 on {len(images)}", len(images), every_seconds=every_seconds))
    encoded = latents.encode_z(model, images, labels, batch_size=batch_size)
    return method1, encoded


def main(argv):
    del argv
    sizes = [int(s) for s in FLAGS.sizes]
    model = registry.get("csvae")(input_shape=list(SHAPE), num_labels=1, label_type="binary",
                                  label_names=["Eyeglasses"], dim_z=64, dim_w=2)
    classifier = classifier_accuracy.AttributeClassifier(SHAPE, 1, "binary")
    warm_images, warm_labels = fake.fake_images(2 * FLAGS.batch_size + 3, SHAPE, 1, seed=99)
    evaluate(model, classifier, warm_images, warm_labels, FLAGS.batch_size, None)  # trace every function
    del warm_images, warm_labels
    rows = {}
    for n in sizes:
        before = rss_bytes()
        images, labels = generated(n)
        after_arrays = rss_bytes()
        started = time.perf_counter()
        cpu_started = time.process_time()
        with PeakSampler() as sampler:
            method1, encoded = evaluate(model, classifier, images, labels, FLAGS.batch_size, FLAGS.log_every_seconds)
        rows[n] = {
            "array_mb": (images.nbytes + labels.nbytes) / 1e6,
            "rss_before_mb": before / 1e6,
            "rss_after_arrays_mb": after_arrays / 1e6,
            "rss_peak_mb": sampler.peak / 1e6,
            "growth_during_evaluation_mb": (sampler.peak - after_arrays) / 1e6,
            "results_mb": (encoded.means.nbytes + encoded.samples.nbytes) / 1e6,
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
            "method1_final": method1.final,
        }
        row = rows[n]
        print(f"{n} images: arrays {row['array_mb']:.1f} MB; RSS before {row['rss_before_mb']:.0f} MB, with the "
              f"arrays {row['rss_after_arrays_mb']:.0f} MB, peak during evaluation {row['rss_peak_mb']:.0f} MB "
              f"(+{row['growth_during_evaluation_mb']:.0f} MB, of which {row['results_mb']:.1f} MB are the z "
              f"results); {row['seconds']:.0f} s wall, {row['cpu_seconds']:.0f} s CPU", flush=True)
        del images, labels, encoded
    common.print_record("evaluation_memory", {
        "batch_size": FLAGS.batch_size,
        "image_shape": list(SHAPE),
        "rows": {str(n): row for n, row in rows.items()},
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    })


if __name__ == "__main__":
    app.run(main)
