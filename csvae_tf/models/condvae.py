"""The conditional VAE baseline, CondVAE (paper §3.2, eq. 2; Kingma et al. 2014, Sohn et al. 2015).

    q_phi(z | x, y), p_theta(x | z, y), p(z) = N(0, I)

    eq. (2):  log p(x | y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z))

weighted as the VAE (csvae_tf.models.vae): beta1 * reconstruction + beta3 * KL. Switching an
attribute (§4.3) encodes with the original label and decodes with p * y^1, the switched one-hot
label scaled by p: `switch_attribute(x, y, p * y1)`.
"""

from __future__ import annotations

from typing import Dict, Optional

import tensorflow as tf

from csvae_tf import serving
from csvae_tf.models.vae import BaselineVAE


class CondVAE(BaselineVAE):
    """CondVAE: the encoder and the decoder both see y (float32 [batch, k], binary or one-hot).

    Args: as `csvae_tf.models.vae.BaselineVAE`.
    """

    encoder_conditioned = True
    decoder_conditioned = True
    switching = "conditional"
    SERVING_DEFAULT = "switch_attribute"

    def __init__(self, *args, name: str = "condvae", **kwargs):
        super().__init__(*args, name=name, **kwargs)

    def switch_attribute(self, x: tf.Tensor, y: Optional[tf.Tensor], labels: tf.Tensor) -> tf.Tensor:
        """§4.3's G_ij(x, y, p) = mu_theta(mu_phi(x, y), p * y^1).

        Args:
          x: [batch, *input_shape].
          y: the original labels [batch, k] (the encoder's condition; CondVAE-info ignores them).
          labels: the decoder's label vector p * y^1, [batch, k] or [k] (the same for every example);
            csvae_tf.switching.scaled_one_hot builds it.

        Returns:
          [batch, *input_shape].
        """
        z = self.z_posterior(x, y if self.encoder_conditioned else None).mean()
        labels = tf.broadcast_to(tf.cast(labels, z.dtype), [tf.shape(z)[0], self.num_labels])
        return self.decode(z, labels)

    def serving_signatures(self) -> Dict[str, serving.Signature]:
        """encode, switch_attribute (target_labels = p * y^1), switch_one_attribute (attribute,
        strength) and, for images, switch_attribute_bytes (docs/serving.md). `labels`, the
        examples' own, is an input where the encoder is conditioned on y (CondVAE, not CondVAE-info)."""
        signatures = super().serving_signatures()
        k, source = self.num_labels, self._source_inputs()
        outputs = {"outputs": serving.Shape.data(self.data_shape)}
        target = serving.labels_input(self.label_names, name="target_labels",
                                      meaning="the label vector p * y^1 given to the decoder", binary=False)
        attribute = serving.index_input("attribute", k, "the label switched on")
        strength = serving.Input("strength", serving.Shape(), "p, the value of the switched label given to the decoder")

        def switch_attribute(inputs, target_labels, labels=None):
            return {"outputs": self.switch_attribute(inputs, labels, target_labels)}  # mu_theta(mu_phi(x[, y]), p y^1)

        def switch_one_attribute(inputs, attribute, strength, labels=None):
            # p * y^1: y^1 one-hot on `attribute`, every other label 0 (§4.3)
            return switch_attribute(inputs, strength[:, None] * tf.one_hot(attribute, k, dtype=tf.float32), labels)

        signatures["switch_attribute"] = serving.Signature(
            [*source, target], outputs, switch_attribute,
            f"G(x, y, p) = mu_theta(mu_phi({self._source()}), p * y^1) of §4.3")
        signatures["switch_one_attribute"] = serving.Signature(
            [*source, attribute, strength], outputs, switch_one_attribute,
            "target_labels = strength * one_hot(attribute), every other label 0 (§4.3)")
        return self._with_bytes_form(signatures)
