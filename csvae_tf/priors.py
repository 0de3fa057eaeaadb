"""Priors of the CSVAE latent space Z × W (paper §4.2), as tensorflow-probability distributions.

p(z) is a standard normal on Z = R^dim_z.

p(w | y) factorises over the k label subspaces, p(w | y) = prod_i p(w_i | y_i), each factor a
fixed diagonal Gaussian chosen by the value of y_i:

    p(w_i | y_i = 1) = N(present_loc, present_scale)     (attribute present)
    p(w_i | y_i = 0) = N(absent_loc,  absent_scale)      (attribute absent)

Which label value sits at the origin: §4.2 first writes mu_1 = (0, 0) for y_i = 1, then says
"points x with y_i = 1 will be encoded away from the origin in W_i and at 0 in W_j for all
j != i", and §4.3 switches attribute j on by choosing p with p_l = 0 for l != j. The last two
only hold if *present* is away from the origin, so that is our default:
present = N((3, 3), sigma=(1, 1)), absent = N((0, 0), sigma=(0.1, 0.1)), sigma a standard
deviation. Both components are constructor arguments for anyone who wants the other reading.

Labels may be binary attributes (y in {0, 1}^k, several may be 1) or one-hot classes (exactly
one is 1, e.g. TFD's seven expressions); the prior treats both the same way, one subspace each.
"""

from __future__ import annotations

from typing import Sequence, Union

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

FloatOrSequence = Union[float, Sequence[float]]


def standard_normal_prior(dim: int) -> tfd.Distribution:
    """p(z) = N(0, I) on R^dim: batch shape [], event shape [dim]."""
    return tfd.Independent(
        tfd.Normal(loc=tf.zeros([dim]), scale=tf.ones([dim])),
        reinterpreted_batch_ndims=1,
        name="z_prior",
    )


class WPrior:
    """The fixed label-conditional prior p(w | y) of §4.2.

    Attributes:
      dim_w: dimension of each subspace W_i.
      present_loc, present_scale: float32 [dim_w], mean and standard deviation of p(w_i | y_i=1).
      absent_loc, absent_scale: float32 [dim_w], the same for p(w_i | y_i=0).
    """

    def __init__(
        self,
        dim_w: int,
        present_loc: FloatOrSequence = 3.0,
        present_scale: FloatOrSequence = 1.0,
        absent_loc: FloatOrSequence = 0.0,
        absent_scale: FloatOrSequence = 0.1,
    ):
        if dim_w < 1:
            raise ValueError(f"dim_w must be >= 1, got {dim_w}.")
        self.dim_w = dim_w
        self.present_loc = self._as_vector(present_loc, "present_loc")
        self.present_scale = self._as_vector(present_scale, "present_scale")
        self.absent_loc = self._as_vector(absent_loc, "absent_loc")
        self.absent_scale = self._as_vector(absent_scale, "absent_scale")
        for name, scale in (("present_scale", self.present_scale), ("absent_scale", self.absent_scale)):
            if not all(s > 0 for s in scale):
                raise ValueError(f"{name} must be positive standard deviations, got {scale}.")

    def _as_vector(self, value: FloatOrSequence, name: str) -> tuple:
        values = (float(value),) * self.dim_w if isinstance(value, (int, float)) else tuple(map(float, value))
        if len(values) != self.dim_w:
            raise ValueError(f"{name} must be a scalar or have dim_w={self.dim_w} entries, got {values}.")
        return values

    def __call__(self, labels: tf.Tensor) -> tfd.Distribution:
        """p(w | y) for a batch of labels.

        Args:
          labels: float32 [batch, k], each entry 0 or 1 (binary attributes or one-hot classes).

        Returns:
          A distribution with batch shape [batch] and event shape [k, dim_w].
        """
        present = tf.cast(labels, tf.float32)[..., tf.newaxis]  # [batch, k, 1]
        loc = present * self.present_loc + (1.0 - present) * self.absent_loc
        scale = present * self.present_scale + (1.0 - present) * self.absent_scale
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=2, name="w_prior")

    def get_config(self) -> dict:
        return {
            "present_loc": list(self.present_loc),
            "present_scale": list(self.present_scale),
            "absent_loc": list(self.absent_loc),
            "absent_scale": list(self.absent_scale),
        }
