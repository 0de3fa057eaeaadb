r"""Input-pipeline throughput, as a multiple of the train step's: would the data keep up?

    python -m benchmarks.input_pipeline                       # measures the train step too
    python -m benchmarks.input_pipeline --train_images_per_second=37

Three figures, each in images/s over whole passes timed after one warm-up pass:

1. CelebA preprocessing: generated 218x178 JPEGs (CelebA's aligned size, named 000001.jpg, ...)
   read, decoded and put through `csvae_tf.data.celeba.preprocess` (the Larsen crop and the
   antialiased 64x64 resize the dataset builder stores) in a tf.data pipeline, batched. Once
   with `num_parallel_calls=AUTOTUNE` over every usable core, once single-threaded and in order,
   to show how it scales. The trainers do this once, when `celeba.prepare` writes the 64x64 TFDS
   copy; this figure says what it would cost to do it on the fly instead. (`prepare` itself runs
   the same ops eagerly, one image at a time, inside TFDS's writer; that is not timed here.)
2. The training pipeline the image trainers read every epoch: `pipeline.epoch_indexed_batches`
   over uint8 64x64x3 images held in memory (a stateless shuffle, a gather, a cast to [0, 1]).
3. The train step: the default CelebA CSVAE (dim_z=64, dim_w=2, k=2) built and compiled as the
   trainer does, timed as `fit` runs it on one fixed batch (benchmarks/step_timing); or
   --train_images_per_second from an earlier run, so the pipelines can be compared without
   building a model.

On a CPU-only machine the pipeline and the train step share the same cores, so "Nx the train
step" also says that producing a batch takes about 1/N of a train step's time on those cores.
The parallel figure is the first to suffer when other processes hold some of the cores: run it
on an otherwise idle machine.
The last line printed is the JSON record (benchmarks/common.py).
"""

from __future__ import annotations

import os
import tempfile
from typing import Dict, List

from benchmarks import common, step_timing  # sets KERAS_BACKEND and quiets TF before TensorFlow is imported

import numpy as np
import tensorflow as tf
from absl import app, flags

from csvae_tf import paths
from csvae_tf.data import celeba, fake, pipeline

FLAGS = flags.FLAGS

flags.DEFINE_integer("num_images", 512, "Generated CelebA-sized JPEGs (one pass reads them all).")
flags.DEFINE_integer("memory_images", 2048, "In-memory 64x64x3 images for the training pipeline "
                     "(the CelebA trainer's --fake_examples default).")
flags.DEFINE_integer("passes", 5, "Timed passes over the images, after one warm-up pass.")
flags.DEFINE_integer("batch_size", 64, "Images per batch (the paper's CelebA batch size).")
flags.DEFINE_float("train_images_per_second", 0.0, "The train step's images/s to compare with; "
                   "0 measures it here (builds the default CelebA CSVAE).")
flags.DEFINE_integer("train_steps", 5, "Timed train steps when measuring the train step (after 2 warm-up).")
paths.DEFINE_path("jpeg_dir", None, "Write the JPEGs here and keep them (default: a temporary folder, removed).")
flags.DEFINE_integer("seed", 0, "Seed of the generated images.")
flags.register_validator("num_images", lambda v: v >= 1, "--num_images must be >= 1.")
flags.register_validator("passes", lambda v: v >= 1, "--passes must be >= 1.")
flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be >= 1.")
flags.register_validator("train_images_per_second", lambda v: v >= 0, "--train_images_per_second must be >= 0.")
flags.register_validator("train_steps", lambda v: v >= 1, "--train_steps must be >= 1.")

TRAIN_WARMUP_STEPS = 2
# The train step's CelebA model (benchmarks/step_timing): images and labels of that shape.
CELEBA_IMAGE_SHAPE = tuple(step_timing.CONFIGS["celeba"][0]["input_shape"])
CELEBA_NUM_LABELS = step_timing.CONFIGS["celeba"][0]["num_labels"]
JPEG_QUALITY = 95


def smooth_random_images(count: int, rng: np.random.Generator) -> np.ndarray:
    """Photo-like content at CelebA's aligned size: uint8 [count, 218, 178, 3].

    A random colour gradient, plus random noise upsampled from three coarse grids (large blobs
    to small detail), plus faint pixel noise, so that JPEG sizes and decode work are those of a
    photograph rather than of a flat or a white-noise image (about 10 KiB each at quality 95).
    """
    height, width = celeba.ALIGNED_SHAPE
    rows = np.linspace(0.0, 1.0, height)[None, :, None, None]
    columns = np.linspace(0.0, 1.0, width)[None, None, :, None]
    start, stop = rng.random((2, count, 1, 1, 3))
    slope = rng.random((count, 1, 1, 1))
    images = start + (stop - start) * (slope * rows + (1.0 - slope) * columns)
    for grid, amplitude in (((4, 4), 0.35), ((14, 12), 0.2), ((55, 45), 0.05)):
        coarse = rng.normal(size=(count, *grid, 3)).astype(np.float32)
        images = images + amplitude * tf.image.resize(coarse, [height, width], method="bilinear").numpy()
    images = 0.5 * images + rng.normal(scale=0.006, size=images.shape)
    return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def write_celeba_jpegs(folder: str, num_images: int, seed: int, chunk: int = 64) -> List[str]:
    """Write `num_images` JPEGs (quality 95) named as CelebA's, 000001.jpg ...; return their paths."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for first in range(0, num_images, chunk):
        for image in smooth_random_images(min(chunk, num_images - first), rng):
            path = os.path.join(folder, f"{len(paths) + 1:06d}.jpg")
            tf.io.write_file(path, tf.io.encode_jpeg(image, quality=JPEG_QUALITY))
            paths.append(path)
    return paths


def celeba_preprocessing(paths: List[str], batch_size: int, parallel: bool) -> tf.data.Dataset:
    """file name -> read -> decode_jpeg -> celeba.preprocess -> float32 [batch, 64, 64, 3] batches.

    parallel: map with AUTOTUNE calls over every usable core, out of order, prefetched;
      otherwise one call at a time, one thread inside each op, in order, nothing prefetched.
    """

    def load(path):
        return celeba.preprocess(tf.io.decode_jpeg(tf.io.read_file(path), channels=3))

    options = tf.data.Options()
    if parallel:
        options.deterministic = False  # order does not matter for throughput
        options.threading.private_threadpool_size = common.usable_cores()
    else:
        options.deterministic = True
        options.threading.max_intra_op_parallelism = 1
    dataset = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE if parallel else None)
        .batch(batch_size)
        .with_options(options)
    )
    return dataset.prefetch(tf.data.AUTOTUNE) if parallel else dataset


def training_batches(num_images: int, batch_size: int, seed: int) -> tf.data.Dataset:
    """One epoch of the image trainers' pipeline: (x float32 [batch, 64, 64, 3], y [batch, 2]).

    Generated uint8 images held in memory, as the CelebA trainer holds its subset.
    """
    images, labels = fake.fake_images(num_images, CELEBA_IMAGE_SHAPE, CELEBA_NUM_LABELS, seed=seed)
    stream = pipeline.epoch_indexed_batches(images, labels, batch_size, seed)
    return stream.take(pipeline.steps_per_epoch(num_images, batch_size))


def images_per_second(dataset: tf.data.Dataset, images_per_pass: int, passes: int) -> np.ndarray:
    """images/s of each of `passes` full passes over `dataset` [passes], after one warm-up pass."""

    def one_pass():
        for _ in dataset:
            pass

    return images_per_pass / common.time_calls(one_pass, warmup=1, repeats=passes)


def train_step_images_per_second(batch_size: int, steps: int) -> float:
    """images/s of the default CelebA CSVAE's step as fit runs it (benchmarks/step_timing), best of `steps`."""
    model = step_timing.build_model("csvae", "celeba", mode="plain", steps_per_execution=1)
    seconds = step_timing.time_train_function(
        model, step_timing.example_batch(model, batch_size), steps_per_execution=1,
        warmup=TRAIN_WARMUP_STEPS, calls=steps,
    )
    return batch_size / seconds


def summary(name: str, throughput: np.ndarray, train_images_per_second: float) -> Dict[str, float]:
    """{name}_best / _median images/s, and the median as a multiple of the train step's images/s."""
    median = float(np.median(throughput))
    return {
        f"{name}_images_per_second_best": float(np.max(throughput)),
        f"{name}_images_per_second_median": median,
        f"{name}_x_train_step": median / train_images_per_second,
    }


def verdict(description: str, median: float, train_images_per_second: float) -> str:
    """One readable line: the throughput, its multiple of the train step's, and whether it would hold it up."""
    ratio = median / train_images_per_second
    if ratio < 1.0:
        judgement = "a bottleneck: the train step would wait for it"
    else:
        judgement = f"not a bottleneck (a batch takes about {100.0 / ratio:.2g}% as long as a train step)"
    return (f"{description}: {median:.0f} images/s = {ratio:.1f}x the train step's "
            f"{train_images_per_second:.1f} images/s; {judgement}.")


def main(argv):
    del argv
    try:  # a bad size ends in one line, before any work
        batches_per_pass = pipeline.steps_per_epoch(FLAGS.memory_images, FLAGS.batch_size)
    except ValueError as error:
        raise app.UsageError(f"--memory_images={FLAGS.memory_images}: {error}") from None
    cores = common.usable_cores()
    with tempfile.TemporaryDirectory() as scratch:
        folder = FLAGS.jpeg_dir or os.path.join(scratch, celeba.IMAGES_DIR)
        paths = write_celeba_jpegs(folder, FLAGS.num_images, FLAGS.seed)
        jpeg_bytes = float(np.mean([os.path.getsize(path) for path in paths]))
        print(f"Wrote {len(paths)} JPEGs of 218x178x3 (quality {JPEG_QUALITY}, mean {jpeg_bytes / 1024:.1f} KiB) "
              f"to {folder}.", flush=True)
        parallel = images_per_second(celeba_preprocessing(paths, FLAGS.batch_size, parallel=True),
                                     len(paths), FLAGS.passes)
        serial = images_per_second(celeba_preprocessing(paths, FLAGS.batch_size, parallel=False),
                                   len(paths), FLAGS.passes)
    print(f"CelebA preprocessing, {cores} cores (AUTOTUNE): best {parallel.max():.0f}, "
          f"median {np.median(parallel):.0f} images/s", flush=True)
    print(f"CelebA preprocessing, 1 thread: best {serial.max():.0f}, median {np.median(serial):.0f} images/s "
          f"(AUTOTUNE gives {np.median(parallel) / np.median(serial):.2f}x on {cores} cores)", flush=True)

    training = images_per_second(training_batches(FLAGS.memory_images, FLAGS.batch_size, FLAGS.seed),
                                 batches_per_pass * FLAGS.batch_size, FLAGS.passes)
    print(f"Training pipeline (epoch_indexed_batches, {FLAGS.memory_images} images in memory): "
          f"best {training.max():.0f}, median {np.median(training):.0f} images/s", flush=True)

    measured = FLAGS.train_images_per_second == 0
    if measured:
        train_rate = train_step_images_per_second(FLAGS.batch_size, FLAGS.train_steps)
        print(f"Train step (CelebA CSVAE {step_timing.CONFIGS['celeba'][0]}, batch {FLAGS.batch_size}): "
              f"{train_rate:.1f} images/s (best of {FLAGS.train_steps} step(s))", flush=True)
    else:
        train_rate = FLAGS.train_images_per_second

    print(verdict(f"CelebA preprocessing (decode, crop, resize), {cores} cores", float(np.median(parallel)),
                  train_rate))
    print(verdict("CelebA preprocessing, 1 thread", float(np.median(serial)), train_rate))
    print(verdict("Training pipeline (epoch_indexed_batches)", float(np.median(training)), train_rate))
    print("(The trainers preprocess CelebA once, in celeba.prepare; each epoch reads only the training pipeline.)",
          flush=True)
    common.print_record("input_pipeline", {
        "num_images": FLAGS.num_images,
        "memory_images": FLAGS.memory_images,
        "passes": FLAGS.passes,
        "batch_size": FLAGS.batch_size,
        "jpeg_mean_bytes": jpeg_bytes,
        "train_step_images_per_second": train_rate,
        "train_step_measured": measured,
        **summary("celeba_preprocess_parallel", parallel, train_rate),
        **summary("celeba_preprocess_serial", serial, train_rate),
        **summary("training_pipeline", training, train_rate),
    })


if __name__ == "__main__":
    app.run(main)
