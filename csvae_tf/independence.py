"""How y is kept out of z beyond the paper's adversary: the adversary's variations and the z-y penalties.

The paper keeps the labels y out of z with one adversary q(y|z) trained one step per VAE step on
samples of q(z|x) (§4.1, appendix 7.1). Two configuration objects describe what a model adds to
that, each defaulting to the paper's behaviour (docs/independence.md):

  * `Adversary`: the adversary also trained on the posterior means, several adversary steps per VAE
    step, an ensemble of adversaries, re-initialised on a schedule
    (csvae_tf.models.adversaries.AdversarialModel carries them out);
  * `Independence`: a penalty name and a weight; the model adds weight * penalty(mu_phi(x), y) to
    every example's objective (`AdversarialModel.regularizer`).

A penalty is a `Penalty` subclass, a function of the batch's posterior means z [batch, dim_z] and
labels y [batch, k] to a scalar, registered by name in `PENALTIES` ("mmd": [16]'s class-conditional
MMD, which the paper's §2 names but leaves untried; "hsic": Gretton et al. 2005's HSIC). Adding one
is a class and a `register` line; the models and the trainers' flags read the registry.

This module imports no TensorFlow (the penalties import csvae_tf.losses when called), so the
trainers' flags read the registered names before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict, Mapping, Optional, Type, Union

NONE = "none"  # no penalty: the paper's objective


class Penalty:
    """A z-y dependence penalty: `penalty(z_mean, y)` -> a scalar float32 tensor, 0 (in expectation)
    when z is independent of y.

    Args of `__call__`:
      z_mean: float32 [batch, dim_z], the posterior means mu_phi(x) (what switching decodes and a
        probe reads).
      y: float32 [batch, k], binary or one-hot labels (ss_csvae: q(y|x)'s most probable labels where
        entries are missing).

    Subclasses take no constructor arguments (a run records only the name and the weight).
    """

    def __call__(self, z_mean, y):
        raise NotImplementedError


class ClassConditionalMMD(Penalty):
    """Sum over labels of MMD^2_u(q(z | y_i = 1), q(z | y_i = 0)) with a Gaussian kernel of median
    bandwidth: the Variational Fair Autoencoder's penalty ([16], eq. 9); csvae_tf.losses.class_conditional_mmd."""

    def __call__(self, z_mean, y):
        from csvae_tf import losses  # noqa: PLC0415 - TensorFlow loads with the model, not with the flags

        return losses.class_conditional_mmd(z_mean, y)


class HSIC(Penalty):
    """The biased HSIC estimator (Gretton et al. 2005) with a Gaussian kernel of median bandwidth on z
    and a linear kernel on y; csvae_tf.losses.hsic."""

    def __call__(self, z_mean, y):
        from csvae_tf import losses  # noqa: PLC0415 - TensorFlow loads with the model, not with the flags

        return losses.hsic(z_mean, y, x_kernel="gaussian", y_kernel="linear")


# name -> Penalty class: what `Independence(penalty=name)` and --independence_penalty accept (with "none").
PENALTIES: Dict[str, Type[Penalty]] = {
    "hsic": HSIC,
    "mmd": ClassConditionalMMD,
}


def register(name: str, penalty_class: Type[Penalty]) -> None:
    """Make `penalty_class` available as `Independence(penalty=name)` (model.json's "independence")."""
    if not (isinstance(penalty_class, type) and issubclass(penalty_class, Penalty)):
        raise TypeError(f"register({name!r}, ...) needs a subclass of csvae_tf.independence.Penalty, got "
                        f"{penalty_class!r}.")
    if name == NONE or PENALTIES.get(name, penalty_class) is not penalty_class:
        taken = "the paper's objective" if name == NONE else PENALTIES[name].__name__
        raise ValueError(f"Penalty name {name!r} is taken by {taken}.")
    PENALTIES[name] = penalty_class


def penalty_names() -> tuple:
    """Every name `Independence.penalty` accepts: "none", then the registered penalties, sorted."""
    return (NONE, *sorted(PENALTIES))


@dataclasses.dataclass(frozen=True)
class Independence:
    """A z-y independence penalty added to the VAE objective; the default is none (the paper's objective).

    Attributes:
      penalty: a name of `PENALTIES` ("mmd", "hsic", or one `register`ed), or "none".
      weight: its weight, >= 0 and finite: weight * penalty is added to every example's objective
        (a scalar per batch). A penalty with weight 0 is off.
    """

    penalty: str = NONE
    weight: float = 0.0

    def __post_init__(self):
        if self.penalty not in penalty_names():
            raise ValueError(f"Unknown independence penalty {self.penalty!r}; choose one of "
                             f"{list(penalty_names())} (csvae_tf.independence.register adds others).")
        try:
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise ValueError(f"The independence weight must be a number, got {self.weight!r}.") from None
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"The independence weight must be finite and >= 0, got {self.weight!r}.")
        object.__setattr__(self, "weight", weight)

    @property
    def active(self) -> bool:
        """Whether the objective has the term: a penalty named, with a positive weight."""
        return self.penalty != NONE and self.weight > 0

    def make_penalty(self) -> Optional[Penalty]:
        """The penalty function, or None when inactive."""
        return PENALTIES[self.penalty]() if self.active else None

    def to_config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, value: Union["Independence", Mapping, None]) -> "Independence":
        """An Independence from itself, a dict of its fields (model.json), or None (the default)."""
        return _of(cls, value, "independence")


@dataclasses.dataclass(frozen=True)
class Adversary:
    """How the adversary q(y|z) is trained beyond the paper; the default is the paper's (one adversary,
    one step per VAE step, on samples of q(z|x)).

    Attributes:
      on_means: also train the adversary on the posterior means mu_phi(x), and let the encoder's
        adversarial term (CSVAE's M2, CondVAE-info's -L) average over samples and means: switching
        decodes the means and a probe reads them, and an adversary that only sees noisy samples
        misses what the means keep.
      steps: adversary updates per VAE update, on the same batch (>= 1; Goodfellow et al. 2014,
        Alg. 1's k discriminator steps).
      num_adversaries: an ensemble of this many adversaries, each trained on N; the encoder's
        adversarial term is their mean (>= 1).
      reset_every_steps: every this many VAE steps re-initialise one member of the ensemble (round
        robin) with fresh weights and a fresh Adam, so the encoder keeps facing a probe that has not
        co-adapted with it; 0: never. The fresh weights are a stateless function of (seed, step), so
        a resumed run resets exactly as an uninterrupted one.
    """

    on_means: bool = False
    steps: int = 1
    num_adversaries: int = 1
    reset_every_steps: int = 0

    def __post_init__(self):
        for name in ("steps", "num_adversaries", "reset_every_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not float(value).is_integer():
                raise ValueError(f"Adversary {name} must be an integer, got {value!r}.")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "on_means", bool(self.on_means))
        if self.steps < 1 or self.num_adversaries < 1 or self.reset_every_steps < 0:
            raise ValueError(
                f"Adversary steps and num_adversaries must be >= 1 and reset_every_steps >= 0, got "
                f"{self.steps}, {self.num_adversaries} and {self.reset_every_steps}.")

    def to_config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, value: Union["Adversary", Mapping, None]) -> "Adversary":
        """An Adversary from itself, a dict of its fields (model.json), or None (the default)."""
        return _of(cls, value, "adversary")


def _of(cls, value, argument: str):
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        fields = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(f"{argument}: unknown field(s) {unknown}; {cls.__name__} has {sorted(fields)}.")
        return cls(**value)
    raise TypeError(f"{argument} must be a csvae_tf.independence.{cls.__name__} or a dict of its fields, "
                    f"got {type(value).__name__}.")


# The six flat constructor arguments that model.json files written before these objects held, and
# where each one lives now.
FLAT_ARGUMENTS = {
    "adversary_on_means": ("adversary", "on_means"),
    "adversary_steps": ("adversary", "steps"),
    "num_adversaries": ("adversary", "num_adversaries"),
    "adversary_reset_every_steps": ("adversary", "reset_every_steps"),
    "independence_penalty": ("independence", "penalty"),
    "independence_weight": ("independence", "weight"),
}


def refuse_flat_arguments(kwargs: Mapping) -> None:
    """A constructor's check: the six flat arguments are model.json's former spelling, not arguments."""
    flat = sorted(name for name in kwargs if name in FLAT_ARGUMENTS)
    if flat:
        classes = {"adversary": "Adversary", "independence": "Independence"}
        instead = ", ".join(f"{name} -> {FLAT_ARGUMENTS[name][0]}={classes[FLAT_ARGUMENTS[name][0]]}"
                            f"({FLAT_ARGUMENTS[name][1]}=...)" for name in flat)
        raise TypeError(f"Not constructor arguments: {', '.join(flat)} (model.json's former keys); pass "
                        f"csvae_tf.independence's objects, or dicts of their fields: {instead}.")


def nest_flat_arguments(config: Mapping) -> dict:
    """A model config with the six flat arguments (FLAT_ARGUMENTS) replaced by "adversary" and
    "independence" dicts, each complete (a missing field takes the paper's default); a config that
    already has them keeps them. Refuses a config that gives a setting both ways."""
    config = dict(config)
    nested = {"adversary": Adversary().to_config(), "independence": Independence().to_config()}
    flat = {name: config.pop(name) for name in FLAT_ARGUMENTS if name in config}
    for group in nested:
        given = config.get(group)
        if isinstance(given, (Adversary, Independence)):
            given = given.to_config()
        if given is not None:
            clash = sorted(name for name in flat if FLAT_ARGUMENTS[name][0] == group)
            if clash:
                raise ValueError(f"{clash} and {group!r} both given; pass only {group!r}.")
            nested[group].update(given)
    for name, value in flat.items():
        group, field = FLAT_ARGUMENTS[name]
        nested[group][field] = value
    return {**config, **nested}
