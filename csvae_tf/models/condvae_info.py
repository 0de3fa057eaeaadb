"""The conditional VAE with information factorisation, CondVAE-info (paper §3.3, eq. 3; Creswell et al. 2017).

    q_phi(z | x)        encoder: does NOT see y (eq. 2 with q(z|x,y) replaced by q(z|x))
    p_theta(x | z, y)   decoder + likelihood
    r_psi(y | z)        adversary: one Bernoulli per binary label, or a one-hot categorical

    eq. (3):  max_phi min_psi  L(r_psi(q_phi(z|x)), y),   L the cross-entropy -log r_psi(y|z)

`train_step` (csvae_tf.models.adversaries) alternates two updates on every batch, like CSVAE's:
  1. encoder + decoder minimise  beta1 * recon + beta3 * KL_z - beta4 * L      (eq. 2 and eq. 3's max)
     i.e. the term they descend is beta4 * log r(y|z) ("negative_cross_entropy"); the
     adversary's weights are not in this update's variable list;
  2. the adversary minimises  beta5 * L  on the z sampled in step 1 behind tf.stop_gradient,
     with its own optimizer (`compile(optimizer=..., adversary_optimizer=...)`).
beta4 = 10 and beta5 = 1 by default: CSVAE's weights on its own adversarial pair (M2, N).

Its adversary has CSVAE's weakness (trained on samples, it misses what the means keep), so it
takes the same mechanisms beyond the paper (`adversary` and `independence`, csvae_tf.independence;
all off by default), the penalty through `regularizer(terms, y)`.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from csvae_tf import losses
from csvae_tf.independence import Adversary, Independence, refuse_flat_arguments
from csvae_tf.models import adversaries
from csvae_tf.models.condvae import CondVAE


class CondVAEInfo(adversaries.AdversarialModel, CondVAE):
    """CondVAE-info: q(z|x), p(x|z,y) and an adversary r(y|z) the encoder plays against.

    Args: as `csvae_tf.models.vae.BaselineVAE`, and
      beta4: weight of the encoder's adversarial term -L (eq. 3's max over phi), default 10.
      beta5: weight of the adversary's cross-entropy L (eq. 3's min over psi), default 1.
      adversary_units: dense sizes of the adversary MLP r_psi(z).
      adversary, independence: the mechanisms beyond the paper, as CSVAE's (csvae_tf.independence.Adversary
        and Independence, or dicts of their fields; defaults: the paper's behaviour).
    """

    TRACKERS = ("loss", "reconstruction", "kl_z", "negative_cross_entropy", "adversary_loss", "adversary_accuracy")
    REPORTED_TERMS = ("reconstruction", "kl_z", "negative_cross_entropy")  # train_step: models.adversaries
    encoder_conditioned = False
    decoder_conditioned = True

    def __init__(self, *args, beta4: float = 10.0, beta5: float = 1.0, adversary_units: Sequence[int] = (64, 64),
                 adversary: Adversary = Adversary(), independence: Independence = Independence(),
                 name: str = "condvae_info", **kwargs):
        refuse_flat_arguments(kwargs)
        super().__init__(*args, name=name, **kwargs)
        self.beta4, self.beta5 = float(beta4), float(beta5)
        self.adversary_units = tuple(int(u) for u in adversary_units)
        self._init_independence(adversary, independence)
        self._build_adversaries(self.adversary_units)
        self.adversary_optimizer = None

    def compile(self, optimizer=None, adversary_optimizer=None, **kwargs):
        """Two optimizers, both built here inside the caller's strategy scope (see CSVAE.compile)."""
        super().compile(optimizer=optimizer, **kwargs)
        self._build_adversary_optimizer(adversary_optimizer)

    def compute_terms(self, x, y, seed, training):
        """Eq. (2)'s terms and eq. (3)'s -L = log r(y|z) per example [batch] (averaged over the
        adversaries, and over sample and mean with `Adversary.on_means`), "regularizer" (and
        "independence" when a penalty is on; see CSVAE.compute_terms), and the sample "z" and mean "z_mean"."""
        terms = super().compute_terms(x, y, seed, training)
        y = tf.cast(y, tf.float32)
        terms["negative_cross_entropy"] = self._adversarial_term(  # -L, eq. (3)
            lambda adversary: losses.label_log_likelihood(adversary, y), terms)
        terms["regularizer"] = self.regularizer(terms, y)  # beyond the paper; zeros by default
        return terms

    def vae_objective(self, terms: dict) -> tf.Tensor:
        """beta1 * recon + beta3 * KL_z + beta4 * log r(y|z): descending it ascends the adversary's L (eq. 3);
        plus terms["regularizer"] (zeros unless a term beyond the paper is on)."""
        return (super().vae_objective(terms) + self.beta4 * terms["negative_cross_entropy"]) + terms["regularizer"]

    def adversary_loss(self, z: tf.Tensor, y: tf.Tensor):
        """beta5 * L(r(z), y) per example [batch] (eq. 3's min over psi), and the adversary
        (with an ensemble: the members' mean, and the first member)."""
        return self._ensemble_adversary_loss(z, y, self.beta5)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta4": self.beta4,
            "beta5": self.beta5,
            "adversary_units": list(self.adversary_units),
            **self._independence_config(),
        }
