"""The decoder's likelihood p(x | w, z) (paper §4.2), turning raw decoder outputs into a distribution.

Three choices:
  * "gaussian" (default): N(x | mu_theta(w, z), sigma) with a *fixed* standard deviation sigma,
    default 1/sqrt(2). Then -log p(x|w,z) = ||x - mu||^2 + const: the sum of squared errors,
    which is the "MSE" reading of §4.2's Gaussian that CSVAE implementations train with
    (beta1 * summed MSE). §4.2 writes sigma_theta(w, z); a fixed sigma is the usual choice
    for images because a learned per-pixel variance tends to collapse onto sharp pixels.
  * "gaussian_learned": the same Gaussian with a learned standard deviation per output dimension
    (one free parameter each, shared over the data, initialised to `scale`).
  * "bernoulli": Bernoulli(x | logits = decoder output), for data in [0, 1].

For images the Gaussian's mean is sigmoid(raw) so it stays in [0, 1]; for vectors it is raw.
Every distribution has batch shape [batch] and the data's shape as its event shape.

Vector data may be modelled in standardised units: with `data_shift` m and `data_scale` s, the
Gaussian's mean is m + s * raw and its standard deviation s * sigma. -log p(x) is then the
standardised model's -log p((x - m) / s) plus the constant sum(log s): the same gradients.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

LIKELIHOODS = ("gaussian", "gaussian_learned", "bernoulli")
DEFAULT_SCALE = 1.0 / math.sqrt(2.0)


class DecoderLikelihood(keras.layers.Layer):
    """Maps raw decoder outputs [batch, *event_shape] to p(x | w, z).

    Use `distribution(raw)`; the layer only exists to own the learned scale's weight.
    """

    def __init__(
        self,
        kind: str,
        event_shape: Sequence[int],
        scale: float = DEFAULT_SCALE,
        data_shift: Optional[Sequence[float]] = None,
        data_scale: Optional[Sequence[float]] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {kind!r}.")
        if scale <= 0:
            raise ValueError(f"The likelihood's scale must be positive, got {scale}.")
        self.kind = kind
        self.event_shape = tuple(int(d) for d in event_shape)
        self.scale = float(scale)
        self.bounded_mean = len(self.event_shape) == 3
        self.data_shift = None if data_shift is None else tf.constant(data_shift, tf.float32)
        self.data_scale = None if data_scale is None else tf.constant(data_scale, tf.float32)
        if (data_shift is None) != (data_scale is None):
            raise ValueError("data_shift and data_scale go together: give both or neither.")
        if self.data_scale is not None and kind == "bernoulli":
            raise ValueError("A Bernoulli likelihood models data in [0, 1] as it is; it takes no data_shift/data_scale.")
        if kind == "gaussian_learned":
            # softplus^-1(scale), so the learned stddev starts at `scale`.
            raw_init = math.log(math.expm1(self.scale))
            self.scale_raw = self.add_weight(
                shape=self.event_shape,
                initializer=keras.initializers.Constant(raw_init),
                name="scale_raw",
            )
        self.built = True

    def mean(self, raw: tf.Tensor) -> tf.Tensor:
        """mu_theta(w, z): the likelihood's mean, [batch, *event_shape]."""
        if self.kind == "bernoulli" or self.bounded_mean:
            mean = tf.sigmoid(raw)
        else:
            mean = raw
        if self.data_scale is not None:
            mean = self.data_shift + self.data_scale * mean
        return mean

    def distribution(self, raw: tf.Tensor) -> tfd.Distribution:
        ndims = len(self.event_shape)
        if self.kind == "bernoulli":
            base = tfd.Bernoulli(logits=raw, dtype=tf.float32)
        else:
            if self.kind == "gaussian":
                scale = tf.constant(self.scale, dtype=raw.dtype)
            else:
                scale = tf.math.softplus(tf.cast(self.scale_raw, raw.dtype)) + 1e-4
            if self.data_scale is not None:
                scale = scale * self.data_scale
            base = tfd.Normal(loc=self.mean(raw), scale=scale)
        return tfd.Independent(base, reinterpreted_batch_ndims=ndims, name="likelihood")
