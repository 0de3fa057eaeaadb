"""The conditional VAE baseline, CondVAE (paper §3.2, eq. 2; Kingma et al. 2014, Sohn et al. 2015).

    q_phi(z | x, y), p_theta(x | z, y), p(z) = N(0, I)

    eq. (2):  log p(x | y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || p(z))

weighted as the VAE (csvae_tf.models.vae): beta1 * reconstruction + beta3 * KL. Switching an
attribute (§4.3) encodes with the original label and decodes with p * y^1, the switched one-hot
label scaled by p: `switch_attribute(x, y, p * y1)`.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from csvae_tf.models.vae import BaselineVAE


class CondVAE(BaselineVAE):
    """CondVAE: the encoder and the decoder both see y (float32 [batch, k], binary or one-hot).

    Args: as `csvae_tf.models.vae.BaselineVAE`.
    """

    encoder_conditioned = True
    decoder_conditioned = True
    switching = "conditional"

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
