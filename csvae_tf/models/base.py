"""What every model of the paper shares: the labelled-data contract, Gaussian posteriors, label
distributions, stateless sampling seeds, replica-aware means, input standardisation and trackers.

CSVAE (§4) and the three baselines of §3 (VAE, CondVAE, CondVAE-info) subclass `LabelledModel`,
so each of these ideas has one home:

  * `gaussian_posterior(mean, stddev)`: the reparameterised diagonal Gaussian q(.|x[,y]) an
    encoder's two heads parameterise (csvae_tf.networks.gaussian_encoder);
  * `label_distribution(logits, label_type)`: a Bernoulli per binary label, or a one-hot
    categorical for mutually exclusive classes (CSVAE's q_delta(y|z), CondVAE-info's r_psi(z));
  * `LabelledModel._sampling_seed(step)`: stateless seeds from (seed, step, replica), so a resumed
    run draws the noise an uninterrupted one would have drawn;
  * `global_mean(per_example)`: a replica's share of the global batch mean (tf.distribute sums
    gradients over replicas);
  * `LabelledModel._report(values)`: trackers of per-example values, so what `fit` and `evaluate`
    report is the mean over the examples on any number of replicas;
  * `LabelledModel._encoder_input(x)`: vector data standardised by `input_mean`/`input_scale`;
  * `apply_counting_every_step(optimizer, gradients, variables)`: an update that counts as a step
    even when float16 loss scaling skips it;
  * `LabelledModel._vae_update(x, y)`: one step of the encoders and decoder on `vae_objective`,
    the first half of every alternating `train_step` and the whole of the VAE's (the second half,
    the adversary's, is csvae_tf.models.adversaries);
  * `LabelledModel.serving_metadata()` and `_with_bytes_form(signatures)`: what every family's
    serving declaration (csvae_tf.serving) shares.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import likelihoods
from csvae_tf.kernels import batch_norm

tfd = tfp.distributions

LABEL_TYPES = ("binary", "categorical")


class Encoding(NamedTuple):
    """Posteriors of one batch: z [batch, dim_z] events; w [batch, k, dim_w] events (CSVAE with y only)."""

    z: tfd.Distribution
    w: Optional[tfd.Distribution]


def num_replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_id() -> tf.Tensor:
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    return tf.cast(replica, tf.int32)


def global_mean(per_example: tf.Tensor) -> tf.Tensor:
    """Mean over the global batch from one replica's share.

    Under tf.distribute the optimizer sums gradients over replicas, so each replica's local mean
    is divided by the number of replicas; with one replica this is the plain mean.
    """
    return tf.reduce_mean(per_example) / num_replicas()


def apply_counting_every_step(optimizer, gradients, variables) -> None:
    """`optimizer.apply_gradients`, with `optimizer.iterations` advanced by one even where a float16
    loss-scale optimizer skips the update (non-finite scaled gradients).

    `iterations` is the run's step: it sets the data position, the learning-rate schedule, the
    checkpoint cadence and the sampling seeds, so a skipped update must still count as a step, or a
    resumed mixed_float16 run would read other batches than the uninterrupted one. (Adam's bias
    correction then counts the skipped step too; a skip leaves its moments unchanged.)
    """
    skips = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    before = tf.identity(optimizer.iterations) if skips else None
    optimizer.apply_gradients(zip(gradients, variables))
    if skips:
        skipped = tf.equal(optimizer.iterations, before)
        optimizer.iterations.assign_add(tf.cast(skipped, optimizer.iterations.dtype))


def gaussian_posterior(mean: tf.Tensor, stddev: tf.Tensor, event_shape: Optional[Sequence[int]] = None,
                       name: str = "posterior") -> tfd.Distribution:
    """A diagonal Gaussian from an encoder's heads: batch [batch], event [dim] (or `event_shape`).

    Args:
      mean, stddev: float32 [batch, dim] (stddev > 0, see networks.gaussian_encoder).
      event_shape: reshape the flat [dim] into this event shape (CSVAE's w: [k, dim_w]).
      name: the distribution's name.
    """
    if event_shape is not None:
        shape = [-1, *event_shape]
        mean, stddev = tf.reshape(mean, shape), tf.reshape(stddev, shape)
    ndims = 1 if event_shape is None else len(event_shape)
    return tfd.Independent(tfd.Normal(mean, stddev), reinterpreted_batch_ndims=ndims, name=name)


def label_distribution(logits: tf.Tensor, label_type: str, name: str) -> tfd.Distribution:
    """p(y | .) from logits [batch, k]: one Bernoulli per binary label, or a one-hot categorical."""
    if label_type == "categorical":
        return tfd.OneHotCategorical(logits=logits, dtype=tf.float32, name=name)
    return tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=1, name=name)


def label_accuracy(distribution: tfd.Distribution, y: tf.Tensor, label_type: str) -> tf.Tensor:
    """Per-example accuracy [batch]: argmax for one-hot labels, per-label mean for binary."""
    if label_type == "categorical":
        predicted = tf.argmax(distribution.logits_parameter(), axis=-1)
        return tf.cast(tf.equal(predicted, tf.argmax(y, axis=-1)), tf.float32)
    predicted = tf.cast(distribution.distribution.logits_parameter() > 0, tf.float32)
    return tf.reduce_mean(tf.cast(tf.equal(predicted, tf.round(y)), tf.float32), axis=-1)


class LabelledModel(keras.Model):
    """The base of every model here: data of shape `input_shape` with k labels.

    Subclasses set `TRACKERS` (the names of their `keras.metrics.Mean` trackers, reported by `fit`
    and `evaluate`), `has_adversary` (whether `compile` takes an `adversary_optimizer`) and
    `switching` (which of §4.3's switching functions applies, see csvae_tf.switching), and declare
    what they serve: `serving_signatures()` and `SERVING_DEFAULT` (csvae_tf.serving).

    Args:
      input_shape: [n] for vectors or [H, W, C] for images (float32 in [0, 1]).
      num_labels: k, binary attributes or one-hot classes.
      label_type: "binary" or "categorical" (one-hot).
      seed: the sampling noise's seed.
      label_names: a name per label (default label_0, ...).
      input_mean, input_scale: per-coordinate statistics of vector data ([n] each); encoders see
        (x - mean) / scale and the likelihood maps back to data units.
    """

    TRACKERS: Sequence[str] = ()
    # XLA per replica (`per_replica`): set by csvae_tf.training for jit_compile with several replicas.
    per_replica_jit_compile = False
    has_adversary = False
    switching = ""
    SERVING_DEFAULT = ""

    def _init_labelled(self, input_shape, num_labels, label_type, seed, label_names, input_mean, input_scale):
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}.")
        if label_type not in LABEL_TYPES:
            raise ValueError(f"label_type must be one of {LABEL_TYPES}, got {label_type!r}.")
        if label_type == "categorical" and num_labels < 2:
            raise ValueError("label_type='categorical' needs num_labels >= 2 (one-hot classes).")
        self.data_shape = tuple(int(d) for d in input_shape)
        self.num_labels = int(num_labels)
        self.label_type = label_type
        self.seed = int(seed)
        self.label_names = tuple(label_names) if label_names else tuple(f"label_{i}" for i in range(num_labels))
        if len(self.label_names) != self.num_labels:
            raise ValueError(f"{len(self.label_names)} label_names for {self.num_labels} labels: {self.label_names}.")
        self.input_mean, self.input_scale = self._standardisation(input_mean, input_scale)
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.TRACKERS}

    def _standardisation(self, mean, scale):
        if mean is None and scale is None:
            return None, None
        if mean is None or scale is None or len(self.data_shape) != 1:
            raise ValueError("input_mean and input_scale go together, for vector data only.")
        mean, scale = [float(v) for v in mean], [float(v) for v in scale]
        if len(mean) != self.data_shape[0] or len(scale) != self.data_shape[0] or min(scale) <= 0:
            raise ValueError(
                f"input_mean and input_scale need {self.data_shape[0]} entries each, scales > 0; "
                f"got {mean} and {scale}."
            )
        return mean, scale

    def _make_likelihood(self, kind: str, scale: float) -> likelihoods.DecoderLikelihood:
        return likelihoods.DecoderLikelihood(
            kind, self.data_shape, scale=scale, data_shift=self.input_mean, data_scale=self.input_scale,
            name="likelihood",
        )

    def _encoder_input(self, x) -> tf.Tensor:
        x = tf.cast(x, tf.float32)  # Keras's __call__ casts inputs to a mixed policy's half type
        if self.input_mean is None:
            return x
        return (x - self.input_mean) / self.input_scale

    def _sampling_seed(self, stream: tf.Tensor) -> tf.Tensor:
        """A stateless seed [2] unique to (model seed, step, replica)."""
        index = tf.cast(stream, tf.int32) * num_replicas() + replica_id()
        return tf.stack([tf.constant(self.seed, tf.int32), index])

    def per_replica(self, fn):
        """`fn` as one XLA cluster per replica when `per_replica_jit_compile` is set, else `fn` itself.

        Keras's own `jit_compile=True` compiles the function that calls `strategy.run`, which XLA
        cannot do with several devices (one cluster cannot reach the other replicas' variables).
        With several replicas csvae_tf.training therefore leaves Keras's flag off and sets this
        instead: each replica compiles its forward and backward pass (`fn`, called inside
        `strategy.run` on its own device), and the all-reduce of the gradients, the optimizer's
        update and the batch-norm moving statistics' update (csvae_tf.kernels.batch_norm, whose
        all-reduce cannot run inside a cluster) run outside it, as without XLA.
        """
        if not self.per_replica_jit_compile:
            return fn
        recorded = {}

        def cluster(*args):
            # Batch normalisation's moving statistics need an all-reduce over the replicas, which
            # cannot run inside the cluster: their moments come out of it and are applied here.
            with batch_norm.deferred_moving_statistics() as deferred:
                outputs = fn(*args)
            recorded["layers"] = deferred.layers
            return outputs, deferred.moments

        compiled = tf.function(cluster, jit_compile=True, autograph=False)

        def run(*args):
            outputs, moments = compiled(*args)
            for layer, (mean, variance, count) in zip(recorded["layers"], moments):
                layer.update_moving_statistics(mean, variance, count)
            return outputs

        return run

    def _vae_gradients(self, x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor):
        """(terms, objective [batch], gradients of the replica's scaled loss over `vae_variables`)."""
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, y, seed, training=True)
            objective = self.vae_objective(terms)
            loss = self.optimizer.scale_loss(global_mean(objective))  # identity unless float16 loss scaling
        return terms, objective, tape.gradient(loss, self.vae_variables)

    def _vae_update(self, x: tf.Tensor, y: tf.Tensor):
        """One step of `self.optimizer` on `vae_objective` over `vae_variables` only (an adversary,
        if the model has one, is held fixed). Returns (terms, objective [batch])."""
        seed = self._sampling_seed(self.optimizer.iterations)
        terms, objective, gradients = self.per_replica(self._vae_gradients)(x, y, seed)
        apply_counting_every_step(self.optimizer, gradients, self.vae_variables)
        return terms, objective

    # ------------------------------------------------------------------ serving (csvae_tf.serving)
    def serving_metadata(self) -> dict:
        """The family's own entries of an export's metadata: its switching function and latent sizes."""
        return {"switching": self.switching, "dim_z": self.dim_z}

    def _with_bytes_form(self, signatures: dict) -> dict:
        """`signatures` and, for image models, `switch_attribute_bytes`: switch_attribute taking encoded images."""
        if len(self.data_shape) == 3 and "switch_attribute" in signatures:
            signatures["switch_attribute_bytes"] = signatures["switch_attribute"].with_image_bytes(self.data_shape)
        return signatures

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _report(self, values: dict) -> dict:
        """Adds each tracker's per-example values and returns every tracker's result.

        Args:
          values: {tracker name: float32 [n], one value an example, or (values [n], weights [n])
            where examples count unequally (ss_csvae's accuracies: the fully labelled ones only)}.
            n may be 0: a replica's share of a partial last batch can be empty.

        Each tracker (keras.metrics.Mean) sums the weighted values and the weights, and tf.distribute
        sums those over the replicas when the tracker is read, so `fit` and `evaluate` report the mean
        over every example seen, whatever the batches' sizes and the number of replicas, not a mean of
        batch means (which would weigh a partial last batch's examples more, and read NaN from a replica
        given none). The training step's loss, global_mean, is unchanged: this is reporting only.
        """
        for name, value in values.items():
            value, weights = value if isinstance(value, tuple) else (value, None)
            self._trackers[name].update_state(value, sample_weight=weights)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def _labelled_config(self) -> dict:
        return {
            "input_shape": list(self.data_shape),
            "num_labels": self.num_labels,
            "label_type": self.label_type,
            "seed": self.seed,
            "label_names": list(self.label_names),
            "input_mean": self.input_mean,
            "input_scale": self.input_scale,
        }

    @classmethod
    def upgrade_config(cls, config: dict) -> dict:
        """A model.json config written by an older version in today's form (the run directory's resume
        check compares it with get_config()); a family whose arguments changed overrides this."""
        return dict(config)

    @classmethod
    def from_config(cls, config: dict):
        return cls(**cls.upgrade_config(config))
