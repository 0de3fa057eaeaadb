"""Each loss term of the paper once, per example, in terms of tfp distributions.

Appendix 7.1 weighs the CSVAE objective as

    min_{theta, phi}  beta1 * E_q(z,w|x,y)[-log p(x|w,z)]              reconstruction (M1)
                    + beta2 * KL(q(w|x,y) || p(w|y))                   kl_w           (M1)
                    + beta3 * KL(q(z|x)   || p(z))                     kl_z           (M1)
                    + beta4 * E_q(z|x)[ sum_y q(y|z) log q(y|z) ]      M2 = -entropy
    max_delta         beta5 * E_q(z|x)[ log q(y|z) ]                   N

The -log p(y) term of m1 (eq. 5) is constant in every parameter and is left out.

Every function returns float32 [batch]; callers average over the batch.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def reconstruction(likelihood: tfd.Distribution, x: tf.Tensor) -> tf.Tensor:
    """-log p(x | w, z) at the sampled (w, z): a one-sample estimate of M1's first term (eq. 5)."""
    return -likelihood.log_prob(x)


def kl(posterior: tfd.Distribution, prior: tfd.Distribution) -> tf.Tensor:
    """Analytic KL(q || p) summed over the event (M1's KL terms, eq. 5)."""
    return tfd.kl_divergence(posterior, prior)


def negative_entropy(adversary: tfd.Distribution) -> tf.Tensor:
    """M2's integrand: sum_y q(y|z) log q(y|z) = -H[q(y|z)].

    Minimising it (as the VAE does) pushes q(y|z) toward maximum entropy, i.e. makes z carry
    no information the adversary can use. For independent Bernoulli labels the sum over
    y in {0,1}^k factorises into the sum of the k per-label entropies.
    """
    return -adversary.entropy()


def label_log_likelihood(adversary: tfd.Distribution, labels: tf.Tensor) -> tf.Tensor:
    """N's integrand: log q(y | z) of the true labels, which the adversary maximises."""
    return adversary.log_prob(labels)
