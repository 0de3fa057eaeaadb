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
  * `LabelledModel._encoder_input(x)`: vector data standardised by `input_mean`/`input_scale`;
  * `apply_counting_every_step(optimizer, gradients, variables)`: an update that counts as a step
    even when float16 loss scaling skips it;
  * `LabelledModel._vae_update(x, y)`: one step of the encoders and decoder on `vae_objective`,
    the first half of every alternating `train_step` and the whole of the VAE's;
  * `LabelledModel._adversary_update(z, y)`: the second half, on a model's `adversary_loss`;
  * `LabelledModel.serving_metadata()` and `_with_bytes_form(signatures)`: what every family's
    serving declaration (csvae_tf.serving) shares;
  * `LabelledModel._init_independence(...)` and the methods after it: the mechanisms beyond the
    paper that keep y out of z, shared by CSVAE and CondVAE-info (the two models with an
    adversary): the adversary trained on the posterior means too, several adversary steps per
    VAE step, an ensemble of adversaries re-initialised on a schedule, and a z-y independence
    penalty (csvae_tf.losses: MMD or HSIC). Every one defaults to the paper's behaviour.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import likelihoods, losses, networks, schedules, serving

tfd = tfp.distributions

LABEL_TYPES = ("binary", "categorical")

# The paper's behaviour: one adversary, trained one step per VAE step on samples of q(z|x), no penalty.
INDEPENDENCE_DEFAULTS = {
    "adversary_on_means": False,
    "adversary_steps": 1,
    "num_adversaries": 1,
    "adversary_reset_every_steps": 0,
    "independence_penalty": "none",
    "independence_weight": 0.0,
}


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


def _assign_on_every_replica(updates) -> None:
    """variable.assign(value) for (Keras variable, value) pairs, from a replica context or none.

    Under tf.distribute a mirrored variable cannot be assigned from the replica context directly;
    as optimizers do, the assignment goes through merge_call and strategy.extended.update, each
    replica's copy taking that replica's value (here the same on every replica)."""
    def assign(strategy, *values):
        for (variable, _), value in zip(updates, values):
            target = variable.value if isinstance(variable, keras.Variable) else variable
            strategy.extended.update(target, lambda v, t: v.assign(t), args=(value,), group=False)

    context = tf.distribute.get_replica_context()
    values = tuple(value for _, value in updates)
    if context is None:
        assign(tf.distribute.get_strategy(), *values)
    else:
        context.merge_call(assign, args=values)


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

    def _vae_update(self, x: tf.Tensor, y: tf.Tensor):
        """One step of `self.optimizer` on `vae_objective` over `vae_variables` only (an adversary,
        if the model has one, is held fixed). Returns (terms, objective [batch])."""
        with tf.GradientTape() as tape:
            terms = self.compute_terms(x, y, self._sampling_seed(self.optimizer.iterations), training=True)
            objective = self.vae_objective(terms)
            loss = self.optimizer.scale_loss(global_mean(objective))  # identity unless float16 loss scaling
        variables = self.vae_variables
        apply_counting_every_step(self.optimizer, tape.gradient(loss, variables), variables)
        return terms, objective

    def _adversary_update(self, z: tf.Tensor, y: tf.Tensor):
        """One step of `self.adversary_optimizer` on `adversary_loss(z, y)` over the adversary's
        variables, with z behind tf.stop_gradient so no gradient reaches the encoder.
        Returns (adversary_loss [batch], the adversary's distribution)."""
        z = tf.stop_gradient(z)
        with tf.GradientTape() as tape:
            adversary_loss, adversary = self.adversary_loss(z, y)
            loss = self.adversary_optimizer.scale_loss(global_mean(adversary_loss))
        variables = self.adversary_variables
        apply_counting_every_step(self.adversary_optimizer, tape.gradient(loss, variables), variables)
        return adversary_loss, adversary

    def _build_adversary_optimizer(self, optimizer) -> None:
        """Set and build `adversary_optimizer` (default appendix 7.1's Adam) inside the caller's
        strategy scope; under the "mixed_float16" policy it is wrapped in a LossScaleOptimizer, as
        Keras's compile wraps `self.optimizer`."""
        optimizer = optimizer or schedules.paper_adam(name="adversary_adam")
        if self.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.adversary_optimizer = optimizer
        self.adversary_optimizer.build(self.adversary_variables)

    # ------------------------------------------------------------------ keeping y out of z (beyond the paper)
    def _init_independence(self, adversary_on_means: bool = False, adversary_steps: int = 1,
                           num_adversaries: int = 1, adversary_reset_every_steps: int = 0,
                           independence_penalty: str = "none", independence_weight: float = 0.0) -> None:
        """Settings of the mechanisms that keep y out of z; the defaults are the paper's behaviour.

        Call after `_init_labelled` (it adds an "independence" tracker when a penalty is on).

        Args:
          adversary_on_means: also train the adversary on the posterior means mu_phi(x), and let the
            encoder's adversarial term (CSVAE's M2, CondVAE-info's -L) average over samples and means.
            Switching (§4.3) decodes the means, and a probe reads them; an adversary that only ever
            sees noisy samples of q(z|x) does not see what the means keep (README, "Leakage").
          adversary_steps: adversary updates per VAE update, on the same batch (as in GAN practice,
            Goodfellow et al. 2014, Alg. 1's k steps of the discriminator).
          num_adversaries: an ensemble of this many adversaries, each trained on N; the encoder's
            adversarial term is their mean.
          adversary_reset_every_steps: every this many VAE steps re-initialise one adversary of the
            ensemble (round robin) with fresh weights and zeroed Adam moments, so the encoder keeps
            facing a probe that has not co-adapted with it; 0: never. The fresh weights are a
            stateless function of (seed, step), so resumed runs reset exactly as uninterrupted ones.
          independence_penalty: "none", "hsic" or "mmd": a kernel estimate of the dependence between
            the posterior means of z and y (csvae_tf.losses.independence_penalty), added to the VAE
            objective with weight `independence_weight` — [16]'s MMD, which the paper's §2 leaves
            untried, or HSIC (Gretton et al. 2005).
          independence_weight: its weight (a scalar per batch, added to every example's objective).
        """
        if adversary_steps < 1 or num_adversaries < 1 or adversary_reset_every_steps < 0:
            raise ValueError(
                f"adversary_steps and num_adversaries must be >= 1 and adversary_reset_every_steps >= 0, got "
                f"{adversary_steps}, {num_adversaries} and {adversary_reset_every_steps}."
            )
        if independence_penalty not in losses.INDEPENDENCE_PENALTIES:
            raise ValueError(f"independence_penalty must be one of {losses.INDEPENDENCE_PENALTIES}, "
                             f"got {independence_penalty!r}.")
        if independence_weight < 0:
            raise ValueError(f"independence_weight must be >= 0, got {independence_weight}.")
        self.adversary_on_means = bool(adversary_on_means)
        self.adversary_steps = int(adversary_steps)
        self.num_adversaries = int(num_adversaries)
        self.adversary_reset_every_steps = int(adversary_reset_every_steps)
        self.independence_penalty = independence_penalty
        self.independence_weight = float(independence_weight)
        if self.penalises_dependence:
            self.TRACKERS = (*type(self).TRACKERS, "independence")
            self._trackers["independence"] = keras.metrics.Mean(name="independence")

    @property
    def penalises_dependence(self) -> bool:
        return self.independence_penalty != "none" and self.independence_weight > 0

    def _independence_config(self) -> dict:
        return {name: getattr(self, name) for name in INDEPENDENCE_DEFAULTS}

    def _build_adversaries(self, units: Sequence[int]) -> None:
        """`self.adversary` (the paper's q(y|z) / r(y|z), [batch, dim_z] -> logits [batch, k]) and the
        ensemble's other members, `self.extra_adversaries` (empty by default)."""
        self.adversary = networks.classifier(self.dim_z, self.num_labels, hidden_units=units, name="adversary")
        self.extra_adversaries = [
            networks.classifier(self.dim_z, self.num_labels, hidden_units=units, name=f"adversary_{m}")
            for m in range(1, self.num_adversaries)
        ]

    @property
    def adversaries(self) -> list:
        return [self.adversary, *self.extra_adversaries]

    @property
    def adversary_variables(self) -> list:
        """Every adversary's trainable variables (delta / psi): what `adversary_optimizer` updates."""
        return [v for network in self.adversaries for v in network.trainable_variables]

    def _adversary_posteriors(self, z: tf.Tensor) -> list:
        """q_m(y | z) of every adversary m: batch [batch], event [k]."""
        return [label_distribution(network(z), self.label_type, name="adversary") for network in self.adversaries]

    def _adversarial_term(self, term, terms: dict) -> tf.Tensor:
        """The encoder's adversarial term [batch]: `term(q_m(y|z))` averaged over the ensemble's members
        m and over z = the sample (and, with `adversary_on_means`, the posterior mean)."""
        inputs = [terms["z"], terms["z_mean"]] if self.adversary_on_means else [terms["z"]]
        values = [term(posterior) for z in inputs for posterior in self._adversary_posteriors(z)]
        return tf.add_n(values) / len(values)

    def _ensemble_adversary_loss(self, z: tf.Tensor, y: tf.Tensor, weight: float):
        """-weight * log q_m(y|z) per example [batch], averaged over the members (each member's
        gradient is its own N), and the first member's q(y|z)."""
        posteriors = self._adversary_posteriors(z)
        values = [-weight * losses.label_log_likelihood(posterior, y) for posterior in posteriors]
        return tf.add_n(values) / len(values), posteriors[0]

    def _independence_terms(self, terms: dict, y: tf.Tensor) -> dict:
        """Adds "independence" (the penalty on the posterior means, repeated per example [batch]) when on."""
        if self.penalises_dependence:
            penalty = losses.independence_penalty(self.independence_penalty, terms["z_mean"], y)
            terms["independence"] = tf.fill(tf.shape(terms["z_mean"])[:1], penalty)
        return terms

    def _with_independence(self, objective: tf.Tensor, terms: dict) -> tf.Tensor:
        if self.penalises_dependence:
            return objective + self.independence_weight * terms["independence"]
        return objective

    def _adversary_updates(self, terms: dict, y: tf.Tensor):
        """`adversary_steps` adversary updates on the VAE step's z (sample, and mean with
        `adversary_on_means`). Returns (adversary_loss, the first adversary, the labels it saw)."""
        z, labels = terms["z"], y
        if self.adversary_on_means:
            z, labels = tf.concat([terms["z"], terms["z_mean"]], 0), tf.concat([y, y], 0)
        for _ in range(self.adversary_steps):
            adversary_loss, adversary = self._adversary_update(z, labels)
        return adversary_loss, adversary, labels

    def _reset_adversaries(self, step: tf.Tensor) -> None:
        """At steps s > 0 with s % every == 0 re-initialise adversary (s / every - 1) % M: Keras's Dense
        initialisation (Glorot-uniform kernels, zero biases) from a stateless seed of (seed, s, m,
        variable), and zeroed Adam moments. Written as a select that every step executes, so that it
        needs no control flow around the cross-replica assignment."""
        every = self.adversary_reset_every_steps
        if not every:
            return
        step = tf.cast(step, tf.int64)
        due = tf.logical_and(step > 0, tf.equal(step % every, 0))
        member = (step // every - 1) % self.num_adversaries
        seed = tf.random.experimental.stateless_fold_in(tf.constant([self.seed, 0], tf.int64), 0x5EED)
        seed = tf.random.experimental.stateless_fold_in(seed, step)
        optimizer = getattr(self.adversary_optimizer, "inner_optimizer", self.adversary_optimizer)
        updates = []
        for m, network in enumerate(self.adversaries):
            reset = tf.logical_and(due, tf.equal(member, m))
            for index, variable in enumerate(network.trainable_variables):
                if len(variable.shape) == 2:
                    fan_in, fan_out = variable.shape
                    limit = (6.0 / (fan_in + fan_out)) ** 0.5
                    fresh = tf.random.stateless_uniform(
                        variable.shape, tf.random.experimental.stateless_fold_in(seed, 1000 * m + index),
                        -limit, limit, dtype=variable.dtype)
                else:
                    fresh = tf.zeros(variable.shape, variable.dtype)
                updates.append((variable, tf.where(reset, fresh, variable)))
                slot = optimizer._get_variable_index(variable)
                for moments in (optimizer._momentums, optimizer._velocities):
                    updates.append((moments[slot], tf.where(reset, tf.zeros_like(moments[slot]), moments[slot])))
        _assign_on_every_replica(updates)

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
        """Updates each tracker with the batch mean of its [batch] values; returns every result."""
        for name, value in values.items():
            self._trackers[name].update_state(tf.reduce_mean(value))
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
    def from_config(cls, config: dict):
        return cls(**config)
