"""The adversary of CSVAE and CondVAE-info, and the mechanisms beyond the paper that keep y out of z.

CSVAE's q_delta(y|z) (§4.1: N, and M2 for the encoder) and CondVAE-info's r_psi(y|z) (§3.3, eq. 3)
are the same construction: a classifier of y from z, trained by its own optimizer on z held fixed
(tf.stop_gradient), while the encoder plays against it. `AdversarialModel` holds that player for
both models, mixed into their `base.LabelledModel`:

  * `_adversary_update(z, y)`: one step of `adversary_optimizer` on the model's `adversary_loss`
    over the adversaries' variables only, the second half of the alternating `train_step`;
  * `_build_adversary_optimizer`: the adversary's Adam, built inside the caller's strategy scope;
  * the adversary's variations (`csvae_tf.independence.Adversary`; docs/independence.md), each off
    by default: the adversary trained on the posterior means too, several adversary steps per VAE
    step, an ensemble of adversaries re-initialised on a (seed, step) schedule;
  * `regularizer(terms, y)`: the one term beyond the paper a model adds to its VAE objective, by
    default `csvae_tf.independence.Independence`'s weight * penalty on the posterior means (MMD, [16]
    in the paper's §2, HSIC, or one registered), zeros without one. A variant overrides this method;
    the train step never branches on it.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from csvae_tf import losses, networks, schedules
from csvae_tf.independence import Adversary, Independence, nest_flat_arguments
from csvae_tf.kernels import fused_adam
from csvae_tf.models.base import apply_counting_every_step, global_mean, label_accuracy, label_distribution


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


class AdversarialModel:
    """Mixed into a `base.LabelledModel` that has an adversary (CSVAE, CondVAE-info): set
    `has_adversary = True`, call `_init_independence(...)` and `_build_adversaries(units)` in the
    constructor, and `_build_adversary_optimizer` in `compile`."""

    has_adversary = True
    REPORTED_TERMS: Sequence[str] = ()  # the model's terms train_step and test_step report

    @classmethod
    def upgrade_config(cls, config: dict) -> dict:
        """A model.json config in today's form: the six flat arguments of runs written before
        `adversary` and `independence` existed (csvae_tf.independence.FLAT_ARGUMENTS) become those two
        objects, and a config without either gets the paper's defaults."""
        return nest_flat_arguments(super().upgrade_config(config))

    def adversary_posterior(self, z: tf.Tensor):
        """The adversary's q(y | z) (CSVAE's q_delta, CondVAE-info's r_psi): batch [batch], event [k]
        (a Bernoulli per binary label, or a one-hot categorical)."""
        return label_distribution(self.adversary(z), self.label_type, name="adversary")

    def train_step(self, data):
        """The alternation on one batch (appendix 7.1; eq. 3 for CondVAE-info):
          (1) the encoders and decoder descend the model's `vae_objective` (CSVAE: M1 + M2, eq. 5;
              CondVAE-info: eq. 2 and eq. 3's max over phi); the adversaries' weights are not in
              that update's variable list;
          (2) the adversary (or adversaries) descend `adversary_loss` (CSVAE: -N; CondVAE-info:
              eq. 3's min over psi) on the z of step (1) behind tf.stop_gradient, so no gradient
              reaches the encoder.
        """
        x, y = data
        y = tf.cast(y, tf.float32)
        self._reset_adversaries(self.optimizer.iterations)  # only with Adversary.reset_every_steps
        terms, objective = self._vae_update(x, y)  # (1)
        adversary_loss, adversary, labels = self._adversary_updates(terms, y)  # (2)
        return self._report_terms(terms, objective, adversary_loss, adversary, labels)

    def test_step(self, data):
        x, y = data
        y = tf.cast(y, tf.float32)
        terms = self.compute_terms(x, y, self._sampling_seed(tf.constant(-1)), training=False)
        adversary_loss, adversary = self.adversary_loss(terms["z"], y)
        return self._report_terms(terms, self.vae_objective(terms), adversary_loss, adversary, y)

    def _report_terms(self, terms, objective, adversary_loss, adversary, y):
        return self._report({
            **{name: terms[name] for name in (*self.REPORTED_TERMS, "independence") if name in terms},
            "loss": objective,
            "adversary_loss": adversary_loss,
            "adversary_accuracy": label_accuracy(adversary, y, self.label_type),
        })

    def _adversary_update(self, z: tf.Tensor, y: tf.Tensor):
        """One step of `self.adversary_optimizer` on `adversary_loss(z, y)` over the adversary's
        variables, with z behind tf.stop_gradient so no gradient reaches the encoder.
        Returns (adversary_loss [batch], the adversary's distribution)."""
        adversary_loss, adversary, gradients = self.per_replica(self._adversary_gradients)(tf.stop_gradient(z), y)
        apply_counting_every_step(self.adversary_optimizer, gradients, self.adversary_variables)
        return adversary_loss, adversary

    def _adversary_gradients(self, z: tf.Tensor, y: tf.Tensor):
        """(adversary_loss [batch], q(y|z), gradients of the replica's scaled loss over `adversary_variables`)."""
        with tf.GradientTape() as tape:
            adversary_loss, adversary = self.adversary_loss(z, y)
            loss = self.adversary_optimizer.scale_loss(global_mean(adversary_loss))
        return adversary_loss, adversary, tape.gradient(loss, self.adversary_variables)

    def _build_adversary_optimizer(self, optimizer) -> None:
        """Set and build `adversary_optimizer` (default appendix 7.1's Adam) inside the caller's
        strategy scope, after `self.optimizer`; under the "mixed_float16" policy it is wrapped in a
        LossScaleOptimizer, as Keras's compile wraps `self.optimizer`.

        A learning-rate schedule is read at the VAE's step (schedules.LeaderSchedule), so both players
        pass appendix 7.1's milestones at the same epoch whatever `Adversary.steps`. With
        `Adversary.reset_every_steps`, Adam's bias correction counts each member's updates since its
        last re-initialisation (`_member_update_count`), as a fresh Adam would.
        """
        optimizer = optimizer or schedules.paper_adam(name="adversary_adam")
        if self.dtype_policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        schedule = getattr(inner, "_learning_rate", None)
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule) and not isinstance(
                schedule, schedules.LeaderSchedule):
            inner.learning_rate = schedules.LeaderSchedule(schedule, self.optimizer)
        if self.adversary_config.reset_every_steps:
            if not isinstance(inner, fused_adam.FusedAdam) or inner.amsgrad:
                raise ValueError(
                    f"Adversary.reset_every_steps restarts a re-initialised adversary's Adam step count, which "
                    f"needs csvae_tf.schedules.paper_adam's optimizer as adversary_optimizer; got "
                    f"{type(inner).__name__}: pass schedules.paper_adam(learning_rate) or leave it unset.")
            inner.update_count = self._member_update_count
        self.adversary_optimizer = optimizer
        self.adversary_optimizer.build(self.adversary_variables)

    # ------------------------------------------------------------------ keeping y out of z (beyond the paper)
    def _init_independence(self, adversary=None, independence=None) -> None:
        """The adversary's variations and the z-y penalty (`csvae_tf.independence.Adversary` and
        `Independence`, or dicts of their fields; None: the paper's behaviour), as `adversary_config`
        and `independence`. Call after `_init_labelled` (it adds an "independence" tracker when a
        penalty is on)."""
        self.adversary_config = Adversary.of(adversary)
        self.independence = Independence.of(independence)
        self._penalty = self.independence.make_penalty()
        if self._penalty is not None:
            self.TRACKERS = (*type(self).TRACKERS, "independence")
            self._trackers["independence"] = keras.metrics.Mean(name="independence")

    def _independence_config(self) -> dict:
        return {"adversary": self.adversary_config.to_config(), "independence": self.independence.to_config()}

    def regularizer(self, terms: dict, y: tf.Tensor) -> tf.Tensor:
        """The term beyond the paper added to every example's VAE objective, float32 [batch].

        By default weight * penalty(mu_phi(x), y) of `self.independence` (a batch statistic, the same
        for every example), with the unweighted penalty recorded as terms["independence"] for the
        report; zeros without a penalty. `compute_terms` stores it as terms["regularizer"] and
        `vae_objective` adds it, so a variant that keeps y out of z another way overrides this method
        alone.

        Args:
          terms: the batch's terms, with "z" and "z_mean" [batch, dim_z].
          y: float32 [batch, k], the labels (ss_csvae: q(y|x)'s most probable where missing).
        """
        if self._penalty is None:
            return tf.zeros(tf.shape(terms["z_mean"])[:1], tf.float32)
        terms["independence"] = tf.fill(tf.shape(terms["z_mean"])[:1], self._penalty(terms["z_mean"], y))
        return self.independence.weight * terms["independence"]

    def _build_adversaries(self, units: Sequence[int]) -> None:
        """`self.adversary` (the paper's q(y|z) / r(y|z), [batch, dim_z] -> logits [batch, k]) and the
        ensemble's other members m = 1 .. M-1 as attributes `adversary_m` (none by default).

        One attribute a member, not a list: TensorFlow's checkpoint follows a model's attributes that
        are trackable, and Keras's tracked list is not, so members kept in a list were saved only as
        the adversary optimizer's references and `restore_model` (which has no optimizer) missed them.
        """
        self.adversary = networks.classifier(self.dim_z, self.num_labels, hidden_units=units, name="adversary")
        for m in range(1, self.adversary_config.num_adversaries):
            setattr(self, f"adversary_{m}",
                    networks.classifier(self.dim_z, self.num_labels, hidden_units=units, name=f"adversary_{m}"))

    @property
    def extra_adversaries(self) -> list:
        """The ensemble's members after the first, `adversary_1` .. `adversary_{M-1}` (empty by default)."""
        return [getattr(self, f"adversary_{m}") for m in range(1, self.adversary_config.num_adversaries)]

    @property
    def adversaries(self) -> list:
        """Every member of the ensemble, `self.adversary` first."""
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
        inputs = [terms["z"], terms["z_mean"]] if self.adversary_config.on_means else [terms["z"]]
        values = [term(posterior) for z in inputs for posterior in self._adversary_posteriors(z)]
        return tf.add_n(values) / len(values)

    def _ensemble_adversary_loss(self, z: tf.Tensor, y: tf.Tensor, weight: float):
        """-weight * log q_m(y|z) per example [batch], averaged over the members (each member's
        gradient is its own N), and the first member's q(y|z)."""
        posteriors = self._adversary_posteriors(z)
        values = [-weight * losses.label_log_likelihood(posterior, y) for posterior in posteriors]
        return tf.add_n(values) / len(values), posteriors[0]

    def _adversary_updates(self, terms: dict, y: tf.Tensor):
        """`Adversary.steps` adversary updates on the VAE step's z (sample, and mean with
        `Adversary.on_means`). Returns (adversary_loss, the first adversary, the labels it saw)."""
        z, labels = terms["z"], y
        if self.adversary_config.on_means:
            z, labels = tf.concat([terms["z"], terms["z_mean"]], 0), tf.concat([y, y], 0)
        for _ in range(self.adversary_config.steps):
            adversary_loss, adversary = self._adversary_update(z, labels)
        return adversary_loss, adversary, labels

    def _member_update_count(self, index) -> tf.Tensor:
        """Adam's t for the adversary variable at `index` of `adversary_optimizer`: its member's updates
        since that member was last re-initialised, this one included (int64).

        The resets are a function of the VAE step (`_reset_adversaries`), and the adversary takes
        `Adversary.steps` updates per VAE step after it, so the count needs no state of its own (and
        a resumed run counts as an uninterrupted one): member m was last reset at the latest VAE step
        k * every <= the current one with k >= 1 and (k - 1) % M == m, when the adversary had done
        steps * k * every updates.
        """
        optimizer = getattr(self.adversary_optimizer, "inner_optimizer", self.adversary_optimizer)
        done = tf.cast(optimizer.iterations, tf.int64)  # adversary updates before this one
        every, members, steps = (self.adversary_config.reset_every_steps, self.adversary_config.num_adversaries,
                                 self.adversary_config.steps)
        periods = done // steps // every  # resets of any member so far
        member = index // len(self.adversary.trainable_variables)  # members share one architecture
        last = periods - tf.math.floormod(periods - 1 - member, members)  # latest k with (k - 1) % M == m
        reset_at = tf.where(last >= 1, last * every * steps, tf.zeros_like(last))
        return done + 1 - reset_at

    def _reset_adversaries(self, step: tf.Tensor) -> None:
        """At steps s > 0 with s % every == 0 re-initialise adversary (s / every - 1) % M: Keras's Dense
        initialisation (Glorot-uniform kernels, zero biases) from a stateless seed of (seed, s, m,
        variable), and zeroed Adam moments (its step count restarts through `_member_update_count`).
        Written as a select that every step executes, so that it needs no control flow around the
        cross-replica assignment."""
        every = self.adversary_config.reset_every_steps
        if not every:
            return
        step = tf.cast(step, tf.int64)
        due = tf.logical_and(step > 0, tf.equal(step % every, 0))
        member = (step // every - 1) % self.adversary_config.num_adversaries
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
