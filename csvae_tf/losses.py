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


# ---------------------------------------------------------------------------- independence of z and y
# Beyond the paper: §2 names [16]'s MMD as an untried way to make Z independent of Y. Both
# estimators below are batch statistics; csvae_tf.independence registers them as the models' penalties. Under tf.distribute each replica computes them on its own
# share of the global batch, so what the optimizer sums is the mean of per-replica estimates (with
# the variance of a batch of global_batch / replicas examples), not the estimate on the global batch.


def pairwise_squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """||a_i - b_j||^2 for a [n, d], b [m, d] -> [n, m] (clipped at 0 against rounding)."""
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    squared = (
        tf.reduce_sum(a * a, axis=-1)[:, None]
        + tf.reduce_sum(b * b, axis=-1)[None, :]
        - 2.0 * tf.matmul(a, b, transpose_b=True)
    )
    return tf.maximum(squared, 0.0)


def median_bandwidth(x: tf.Tensor) -> tf.Tensor:
    """The median heuristic (Gretton et al. 2012, §8): the median distance between distinct points of
    x [n, d], as a scalar, behind tf.stop_gradient (the kernel's width is a setting, not a parameter
    the encoder may grow to shrink the penalty). Floored at 1e-3 so a collapsed batch stays finite."""
    squared = tf.stop_gradient(pairwise_squared_distances(x, x))
    n = tf.shape(squared)[0]
    off_diagonal = tf.boolean_mask(squared, ~tf.eye(n, dtype=tf.bool))
    # The lower median of the n(n-1) off-diagonal entries (each pair twice), by sorting.
    ordered = tf.sort(off_diagonal)
    median = ordered[(tf.size(ordered) - 1) // 2]
    return tf.maximum(tf.sqrt(median), 1e-3)


def gaussian_kernel(a: tf.Tensor, b: tf.Tensor, bandwidth) -> tf.Tensor:
    """k(a_i, b_j) = exp(-||a_i - b_j||^2 / (2 bandwidth^2)) for a [n, d], b [m, d] -> [n, m]."""
    return tf.exp(-pairwise_squared_distances(a, b) / (2.0 * tf.square(tf.cast(bandwidth, tf.float32))))


def label_groups(labels: tf.Tensor) -> tf.Tensor:
    """How much each example belongs to the groups an independence penalty compares: float32
    [batch, k], column i the probability that y_i = 1 (a binary label present, or one-hot class i):
    1 or 0 for an observed label, q(y_i = 1 | x) for one a label posterior fills in (clipped to [0, 1])."""
    return tf.clip_by_value(tf.cast(labels, tf.float32), 0.0, 1.0)


def class_conditional_mmd(z: tf.Tensor, labels: tf.Tensor, bandwidth=None) -> tf.Tensor:
    """Sum over labels i of MMD^2(q(z | y_i = 1), q(z | y_i = 0)): a scalar, 0 iff z is independent
    of every label (for a characteristic kernel, in the population).

    The penalty of the Variational Fair Autoencoder (Louizos et al. 2016, [16] of the paper, eq. 9),
    which compares the aggregate posteriors of z of the two values of a nuisance variable, applied
    to each of the k labels: binary labels compare y_i = 1 with y_i = 0; one-hot classes compare
    class i with all other classes (z independent of a class variable iff q(z | y = i) = q(z) for
    every i, iff each class's q(z | y = i) equals the rest's).

    Each MMD^2 is the unbiased estimator MMD^2_u of Gretton et al. 2012 (eq. 3), the U-statistic
    without the i = j terms: it can be slightly negative, and its expectation is the population
    MMD^2 (the biased V-statistic adds a positive O(1/n) term that depends on the group sizes,
    which would push the encoder to change z for no reason).

    Labels may be probabilities (a label posterior's for examples without a label): example n then
    belongs to y_i = 1 with weight p_n = labels[n, i] and to y_i = 0 with weight 1 - p_n, and each
    of the three means of MMD^2_u is a weighted mean over pairs of distinct examples,

        mean_{a,b} = sum_{n != m} a_n b_m k(z_n, z_m) / sum_{n != m} a_n b_m,

    the estimate whose numerator and denominator are the expectations, over labels drawn from those
    probabilities, of the hard-label U-statistic's. Every example counts by how likely each side is
    (thresholding at 0.5 would drop an uncertain example from every class); with 0/1 labels this is
    MMD^2_u itself. A label whose expected count on either side (sum of p_n, or of 1 - p_n) is below
    two contributes 0 (with hard labels: fewer than two examples on a side).

    Args:
      z: float32 [batch, dim_z] (e.g. the posterior means mu_phi1(x), or samples of q(z|x)).
      labels: float32 [batch, k], binary or one-hot, or their probabilities.
      bandwidth: the Gaussian kernel's width; None for the median heuristic on z (stop_gradient).
    """
    z = tf.cast(z, tf.float32)
    if bandwidth is None:
        bandwidth = median_bandwidth(z)
    off_diagonal = gaussian_kernel(z, z, bandwidth) * (1.0 - tf.eye(tf.shape(z)[0]))  # [b, b]
    present = label_groups(labels)  # [b, k]
    absent = 1.0 - present
    n_present, n_absent = tf.reduce_sum(present, 0), tf.reduce_sum(absent, 0)  # [k], expected counts

    def pair_mean(a, b):  # sum_{n != m} a_n b_m k_nm / sum_{n != m} a_n b_m, per label [k]
        pairs = tf.reduce_sum(a, 0) * tf.reduce_sum(b, 0) - tf.reduce_sum(a * b, 0)
        return tf.reduce_sum(a * tf.matmul(off_diagonal, b), 0) / tf.maximum(pairs, 1.0)

    mmd = pair_mean(present, present) + pair_mean(absent, absent) - 2.0 * pair_mean(present, absent)
    defined = tf.logical_and(n_present >= 2.0, n_absent >= 2.0)  # then every pair weight is >= 2
    return tf.reduce_sum(tf.where(defined, mmd, 0.0))


def hsic(x: tf.Tensor, y: tf.Tensor, x_kernel: str = "gaussian", y_kernel: str = "linear",
         x_bandwidth=None, y_bandwidth=None) -> tf.Tensor:
    """The biased HSIC estimator of Gretton et al. 2005 (Lemma 1), tr(K H L H) / n^2: a scalar >= 0.

    K = k(x_i, x_j), L = l(y_i, y_j), H = I - 11^T / n centres them. In the population HSIC is 0
    iff x and y are independent (for characteristic kernels). A linear kernel on one-hot labels is
    the delta kernel on classes, which is characteristic for a discrete y; with linear kernels on
    both sides HSIC is ||C_xy||_F^2, the squared Frobenius norm of the (1/n) cross-covariance.
    The estimator's bias is O(1/n) (Gretton et al. 2005, Theorem 1).

    Args:
      x: float32 [n, d_x] (e.g. the posterior means of z).
      y: float32 [n, d_y] (e.g. the labels, binary or one-hot).
      x_kernel, y_kernel: "gaussian" (exp(-||a - b||^2 / (2 s^2))) or "linear" (a . b).
      x_bandwidth, y_bandwidth: the Gaussian widths s; None for the median heuristic (stop_gradient).
    """

    def gram(v, kind, bandwidth):
        v = tf.cast(v, tf.float32)
        if kind == "linear":
            return tf.matmul(v, v, transpose_b=True)
        if kind == "gaussian":
            return gaussian_kernel(v, v, median_bandwidth(v) if bandwidth is None else bandwidth)
        raise ValueError(f"kernel must be 'gaussian' or 'linear', got {kind!r}.")

    k, l = gram(x, x_kernel, x_bandwidth), gram(y, y_kernel, y_bandwidth)
    n = tf.cast(tf.shape(k)[0], tf.float32)
    k_centred = k - tf.reduce_mean(k, 0, keepdims=True) - tf.reduce_mean(k, 1, keepdims=True) + tf.reduce_mean(k)
    # tr(K H L H) = sum_ij (HKH)_ij L_ij, with H K H the doubly centred K.
    return tf.reduce_sum(k_centred * l) / tf.square(n)

