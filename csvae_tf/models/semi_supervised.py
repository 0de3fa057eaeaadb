r"""The semi-supervised CSVAE: labels missing per example and per entry (the paper's §6 future work).

A missing label entry is NaN in y float32 [batch, k] (loaders whose files write -1 convert with
csvae_tf.data.missing_labels.missing_as_nan; mask_labels there hides labels for experiments).
A batch may mix fully labelled, partly labelled and unlabelled examples.
The construction is Kingma et al. 2014's M2 (eqs. 6-9) on top of CSVAE (§4): a label-inference
network q_psi(y|x) ("label_classifier"), the bound marginalised over the missing entries, and a
classification term weighted by alpha on the observed ones.

The bound. Write y = (y_o, y_m): the observed entries o and the missing entries m of one example
(either may be empty). CSVAE's per-example objective (appendix 7.1, eq. 5 and M2) splits into the
terms that read y and those that do not:

    l_y(x, y) = beta1 * E_q(z|x)q(w|x,y)[-log p(x|w,z)] + beta2 * KL(q(w|x,y) || p(w|y))   (eq. 5, M1)
    l_0(x)    = beta3 * KL(q(z|x) || p(z)) + beta4 * E_q(z|x)[sum_y q_delta(y|z) log q_delta(y|z)]
                                                                                     (eq. 5, M1; M2)
(-log p(y) is constant for a uniform p(y) and left out, as CSVAE does). The semi-supervised
CSVAE minimises, per example,

    J(x, y_o) = sum_{y_m} q(y_m | x, y_o) l_y(x, (y_o, y_m))      marginal over the missing entries
              - H[q(y_m | x, y_o)]                                 M2's entropy (Kingma eq. 7, U(x))
              + l_0(x)                                             no labels at all
              + alpha * (-log q_psi(y_o | x)) / s                  classification (Kingma eq. 9)

where q(y_m | x, y_o) is q_psi(y|x) given the observed entries:
  * binary labels (q_psi = prod_i Bernoulli(pi_psi(x)_i)):  prod_{i in m} Bernoulli(y_i | pi_psi(x)_i);
  * one-hot labels (q_psi = Categorical(pi_psi(x))): q_psi(c|x) renormalised over the classes c
    consistent with the observed entries. An observed 1 fixes the class; an observed 0 excludes
    one ("not a 3"). That is what "missing per entry" means for one-hot labels: a partial label
    leaves a set of candidate classes.
and -log q_psi(y_o | x) = -sum_{i in o} log Bernoulli(y_i | pi_psi(x)_i) (binary), or
-log sum_{c consistent} q_psi(c | x) (one-hot); 0 when nothing is observed. s is the share of the
(replica's) batch with at least one observed entry, so the batch mean of the last term is alpha
times the mean over the labelled examples whatever the labelled fraction (unnormalised, alpha would
reach q_psi 100 times weaker at 1 % labels than at 100 %; docs/semi_supervised.md).

A fully labelled example (m empty) gets l_y(x, y) + l_0(x), CSVAE's own objective, plus the
classification term, which reads only psi: the encoders, decoder and adversary then see exactly
CSVAE's loss and gradients (tests/test_semi_supervised.py checks the loss bit for bit, and the
weights after training steps). An unlabelled example gets Kingma's U(x) with CSVAE's l_y, l_0.
The entropy enters with weight 1, the weight of -log p(y) in appendix 7.1's loss: it is the
bound's own term. alpha is the only new weight (Kingma et al. 2014 use 0.1 N on a sum over the
labelled data; here it weighs the mean over the batch's labelled examples, default 20 = beta1).

Which terms see which labels:

    term                          observed entries y_o    missing entries y_m
    beta1 recon, beta2 KL_w       fixed                   marginalised under q(y_m | x, y_o)
    beta3 KL_z, beta4 M2          -                       -          (every example, no labels)
    -H[q(y_m | x, y_o)]           condition q             its entropy
    alpha * classification        -log q_psi(y_o | x)     -
    N (the adversary, max_delta)  log q_delta(y_o | z)    -

Why the adversary learns from observed entries only, and M2 applies to every example. The
adversary q_delta(y|z) stands in for the data's p(y|z) inside M2. With labels missing completely
at random (as the data helpers mask them, and as the bound assumes), the observed entries are an
unbiased sample of p(y_i | z), and the log-likelihood of the observed entries (N restricted to
them) is a consistent estimate of it. Imputed labels from q_psi(y|x) would teach it q_psi's errors
and, since q_psi reads the same x that z encodes, a function of x rather than the label: the
encoder would then be pushed to hide q_psi's mistakes instead of y. M2, in turn, needs no label:
§4.1 defines it as an expectation under q(z|x) D(x), not D(x, y), since the goal I(Y;Z) = 0 is
about the z of every x. Restricted to labelled examples it would leave the z of unlabelled ones
(99 % of the data at 1 % labels) free to carry y. The price: an adversary fitted to few labelled
examples keeps y out of the unlabelled examples' z less well, and the decoder then ignores W; the
independence penalty (beyond the paper; MMD) on the labels q_psi fills in for every example
restores it (docs/semi_supervised.md).

The sum over y_m:
  * enumerated when there are at most 2**max_enumerated_labels configurations (one-hot: the k
    classes, always enumerated; binary: the 2^k label vectors, the inconsistent ones at weight 0):
    the w encoder and decoder run once per configuration on the batch, with one noise draw of w
    and the z sample shared by every configuration (common random numbers), so the marginal is
    exact in y and a one-sample estimate in (z, w), as CSVAE's terms are;
  * otherwise (binary labels with k > max_enumerated_labels) a Monte Carlo estimate: S =
    label_samples draws y_m^s ~ q(y_m | x, y_o); the value (1/S) sum_s l_y(x, y^s) is unbiased; the
    gradient in psi is the score-function (REINFORCE) estimator with the leave-one-out baseline of
    Kool et al. 2019, surrogate (1/S) sum_s stop_gradient(l_s - b_s) log q(y_m^s | x, y_o),
    b_s = mean of the other S - 1 values, added with zero value (surrogate - stop_gradient(surrogate));
    its expectation is the exact gradient. The entropy is analytic.

Which gradient reaches q_psi. In M2 the bound's gradient trains q_psi too: on unlabelled examples
q_psi moves toward the configurations with the lowest l_y. Here l_y is appendix 7.1's weighted
objective (beta1 = 20 times the reconstruction), so that pull is ~20 times stronger than the entropy
that holds it back, and with few labels it can collapse q_psi onto one class
(docs/semi_supervised.md). By default (bound_trains_classifier=False) q_psi
therefore learns from the classification term only and the bound uses its probabilities as fixed
weights (stop_gradient): the bound's value is the same, and the encoders and decoder still learn
from every example. bound_trains_classifier=True is Kingma et al.'s full gradient.

Everything else is CSVAE's: the alternating train_step (csvae_tf.models.adversaries), stateless
sampling seeds from (seed, step, replica) (so resumed runs are exact), tf.distribute. The
enumerated and sampled passes draw their noise from seeds folded from the step's seed. An
independence penalty (beyond the paper) reads the labels with each missing entry filled by q_psi's
most probable value given the observed entries (filled_labels: one-hot, the most probable
consistent class; binary, q_psi(y_i = 1 | x) > 0.5), behind stop_gradient. The alternative, a
class-conditional MMD that weighs each unlabelled example into each class by q_psi(y | x, y_o)
(csvae_tf.losses.class_conditional_mmd accepts such weights), switched worse with few labels
(docs/semi_supervised.md): where q_psi is unsure its weights spread each example over the classes, the weighted groups then look
alike whatever z holds, and the penalty fades exactly where the adversary has the fewest labels.

Batch normalisation (images). Both passes run the w encoder and decoder in training mode, each
normalising with its own batch's statistics: CSVAE's on the batch with each missing entry filled by
q_psi's most probable value (used for the fully labelled examples), the marginal's on the batch
repeated per configuration (a configuration the observed entries exclude runs as the example's most
probable consistent one). Only CSVAE's pass steps the moving statistics that evaluation and exports
use, once per training step, from one row per example holding its label where observed and q_psi's
most probable label elsewhere (never zero-filled "all absent" rows); the marginal's moments are
discarded. The fully labelled model is therefore CSVAE's, moving statistics included.
"""

from __future__ import annotations

import itertools
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import losses, networks, serving
from csvae_tf.kernels import batch_norm
from csvae_tf.models import base
from csvae_tf.models.csvae import CSVAE

tfd = tfp.distributions


# ---------------------------------------------------------------------------- labels with missing entries
def observed(y: tf.Tensor) -> tf.Tensor:
    """bool [batch, k]: which entries are observed (not NaN)."""
    return tf.logical_not(tf.math.is_nan(y))


def zero_filled(y: tf.Tensor) -> tf.Tensor:
    """y [batch, k] with every missing entry 0 (a value the networks accept; never used as a label)."""
    return tf.where(observed(y), y, tf.zeros_like(y))


def label_configurations(num_labels: int, label_type: str) -> np.ndarray:
    """Every value y can take, float32 [C, k]: the k one-hot rows (C = k), or all 2^k binary vectors
    in lexicographic order (row c is c's binary digits, first label most significant)."""
    if label_type == "categorical":
        return np.eye(num_labels, dtype=np.float32)
    return np.array(list(itertools.product((0.0, 1.0), repeat=num_labels)), np.float32)


def consistent_configurations(y: tf.Tensor, configurations: tf.Tensor) -> tf.Tensor:
    """bool [batch, C]: configuration c agrees with every observed entry of y [batch, k].

    configurations: [C, k] shared by the batch, or [batch, C, k] per example.
    """
    y = tf.cast(y, tf.float32)[:, None, :]
    agree = tf.logical_or(tf.math.is_nan(y), tf.equal(y, configurations))
    return tf.reduce_all(agree, axis=-1)


def configuration_log_probs(logits: tf.Tensor, configurations: tf.Tensor, label_type: str) -> tf.Tensor:
    """log q(y = configuration c | .) for label logits [batch, k]: float32 [batch, C].

    One-hot: log softmax(logits)_c. Binary: sum_i log Bernoulli(c_i | sigmoid(logits_i)).
    configurations: [C, k] or [batch, C, k].
    """
    logits = tf.cast(logits, tf.float32)
    if label_type == "categorical":
        log_q = tf.nn.log_softmax(logits)  # [b, k]
        if configurations.shape.rank == 2:
            return tf.matmul(log_q, configurations, transpose_b=True)
        return tf.reduce_sum(configurations * log_q[:, None, :], axis=-1)
    log_on, log_off = tf.math.log_sigmoid(logits), tf.math.log_sigmoid(-logits)  # [b, k]
    if configurations.shape.rank == 2:
        return (tf.matmul(log_on, configurations, transpose_b=True)
                + tf.matmul(log_off, 1.0 - configurations, transpose_b=True))
    return tf.reduce_sum(configurations * log_on[:, None, :] + (1.0 - configurations) * log_off[:, None, :], -1)


class MissingLabelPosterior:
    """q(y_m | x, y_o) over configurations: q(configuration | .) renormalised over the consistent ones.

    Attributes:
      consistent: bool [batch, C].
      log_weights: float32 [batch, C], log q(configuration c | x, y_o); 0 (not -inf) where inconsistent.
      weights: float32 [batch, C], q(configuration c | x, y_o); exactly 0 where inconsistent.
      log_observed: float32 [batch], log q(y_o | x) = log of the consistent configurations' mass.
      entropy: float32 [batch], H[q(y_m | x, y_o)] (0 when every entry is observed).
    """

    def __init__(self, log_probs: tf.Tensor, consistent: tf.Tensor):
        # Inconsistent entries are masked before every exp or product, so neither their values nor
        # their (zero) gradients involve -inf * 0.
        self.consistent = consistent
        masked = tf.where(consistent, log_probs, tf.fill(tf.shape(log_probs), -np.inf))
        self.log_observed = tf.reduce_logsumexp(masked, axis=-1)
        self.log_weights = tf.where(consistent, log_probs - self.log_observed[:, None], tf.zeros_like(log_probs))
        self.weights = tf.where(consistent, tf.exp(self.log_weights), tf.zeros_like(log_probs))
        self.entropy = -tf.reduce_sum(self.weights * self.log_weights, axis=-1)


def observed_log_likelihood(logits: tf.Tensor, y: tf.Tensor, label_type: str) -> tf.Tensor:
    """log q(y_o | .) of the observed entries of y [batch, k] under label logits [batch, k]: [batch].

    Binary: sum over observed i of log Bernoulli(y_i | sigmoid(logits_i)). One-hot: log of the mass
    of the classes consistent with the observed entries. 0 for an example with nothing observed.
    """
    logits, y = tf.cast(logits, tf.float32), tf.cast(y, tf.float32)
    seen = observed(y)
    if label_type == "categorical":
        classes = tf.eye(tf.shape(logits)[-1], dtype=tf.float32)
        return MissingLabelPosterior(configuration_log_probs(logits, classes, label_type),
                                     consistent_configurations(y, classes)).log_observed
    y0 = zero_filled(y)
    per_entry = y0 * tf.math.log_sigmoid(logits) + (1.0 - y0) * tf.math.log_sigmoid(-logits)
    return tf.reduce_sum(tf.where(seen, per_entry, tf.zeros_like(per_entry)), axis=-1)


def filled_labels(logits: tf.Tensor, y: tf.Tensor, label_type: str):
    """(the most probable labels given the observed entries, q(y_i = 1 | x, y_o)), each float32 [batch, k].

    Observed entries are kept. Binary: a missing entry is 1 where sigmoid(logit) > 0.5. One-hot: the
    most probable class among those consistent with the observed entries.
    """
    logits, y = tf.cast(logits, tf.float32), tf.cast(y, tf.float32)
    seen = observed(y)
    if label_type == "categorical":
        classes = tf.eye(tf.shape(logits)[-1], dtype=tf.float32)
        posterior = MissingLabelPosterior(configuration_log_probs(logits, classes, label_type),
                                          consistent_configurations(y, classes))
        masked = tf.where(posterior.consistent, logits, tf.fill(tf.shape(logits), -np.inf))
        most_probable = tf.one_hot(tf.argmax(masked, axis=-1), tf.shape(logits)[-1], dtype=tf.float32)
        return most_probable, posterior.weights
    probabilities = tf.sigmoid(logits)
    return (tf.where(seen, y, tf.cast(probabilities > 0.5, tf.float32)), tf.where(seen, y, probabilities))


# ---------------------------------------------------------------------------- the model
class SemiSupervisedCSVAE(CSVAE):
    """CSVAE trained on labels with missing entries (NaN); see the module docstring for the bound.

    Args (beyond CSVAE's, which all apply):
      alpha: weight of the classification term -log q_psi(y_o | x) (Kingma et al. 2014's alpha).
      classifier_units: dense sizes of q_psi(y|x) for vectors (default: hidden_units); images use
        the encoders' Larsen trunk.
      max_enumerated_labels: binary labels: enumerate the 2^k configurations when k is at most this,
        else the sampled estimator (module docstring). One-hot labels are always enumerated.
      label_samples: S, the samples of y_m per example of the sampled estimator (>= 2).
      entropy_weight: the weight of -H[q(y_m | x, y_o)] (1: the bound's own; see the module docstring).
      bound_trains_classifier: whether the bound's gradient reaches q_psi (M2; True) or q_psi learns
        from the classification term only, the bound using its probabilities as fixed weights.
    """

    TRACKERS = (*CSVAE.TRACKERS, "classification", "label_entropy", "classifier_accuracy", "observed_entries")
    REPORTED_TERMS = (*CSVAE.REPORTED_TERMS, "classification", "label_entropy")
    SERVING_DEFAULT = "switch_attribute"

    def __init__(self, *args, alpha: float = 20.0, classifier_units: Optional[Sequence[int]] = None,
                 max_enumerated_labels: int = 6, label_samples: int = 8, entropy_weight: float = 1.0,
                 bound_trains_classifier: bool = False, name: str = "ss_csvae", **kwargs):
        super().__init__(*args, name=name, **kwargs)
        if alpha < 0:
            raise ValueError(f"alpha (the classification weight) must be >= 0, got {alpha}.")
        if max_enumerated_labels < 0 or label_samples < 2:
            raise ValueError(f"max_enumerated_labels must be >= 0 and label_samples >= 2 (the leave-one-out "
                             f"baseline needs two samples), got {max_enumerated_labels} and {label_samples}.")
        if entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight}.")
        self.alpha = float(alpha)
        self.entropy_weight = float(entropy_weight)
        self.bound_trains_classifier = bool(bound_trains_classifier)
        self.classifier_units = tuple(int(u) for u in (classifier_units or self.hidden_units))
        self.max_enumerated_labels = int(max_enumerated_labels)
        self.label_samples = int(label_samples)
        # Built after CSVAE's networks, so those draw the initial weights a CSVAE would.
        self.label_classifier = networks.data_classifier(
            self.data_shape, self.num_labels, hidden_units=self.classifier_units, name="label_classifier")
        self.enumerates = self.label_type == "categorical" or self.num_labels <= self.max_enumerated_labels
        self._configurations = (
            tf.constant(label_configurations(self.num_labels, self.label_type)) if self.enumerates else None)

    # ------------------------------------------------------------------ q_psi(y | x)
    def label_logits(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The logits of q_psi(y | x): float32 [batch, k]."""
        return tf.cast(self.label_classifier(self._encoder_input(x), training=training), tf.float32)

    def label_posterior(self, x: tf.Tensor, training: bool = False) -> tfd.Distribution:
        """q_psi(y | x): batch [batch], event [k] (Bernoulli per binary label, or one-hot categorical)."""
        return base.label_distribution(self.label_logits(x, training), self.label_type, name="label_posterior")

    def fill_labels(self, x: tf.Tensor, y: tf.Tensor):
        """(labels with each missing (NaN) entry filled by q_psi(y | x, y_o)'s most probable value,
        q(y_i = 1 | x, y_o)), float32 [batch, k] each; see filled_labels."""
        return filled_labels(self.label_logits(x), tf.cast(y, tf.float32), self.label_type)

    def encode(self, x: tf.Tensor, y: Optional[tf.Tensor] = None, training: bool = False) -> base.Encoding:
        """q(z|x) and, given labels, q(w|x,y); missing (NaN) label entries are filled first (fill_labels)."""
        if y is not None:
            y = tf.cast(y, tf.float32)
            y = tf.cond(tf.reduce_all(observed(y)), lambda: y, lambda: self.fill_labels(x, y)[0])
        return super().encode(x, y, training)

    # ------------------------------------------------------------------ training
    @property
    def vae_variables(self) -> list:
        """CSVAE's theta and phi, then psi (q_psi(y|x)): what the VAE optimizer updates."""
        return super().vae_variables + self.label_classifier.trainable_variables

    def compute_terms(self, x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor, training: bool) -> dict:
        """Every per-example term of J for one batch whose labels y [batch, k] may hold NaN.

        Returns CSVAE's terms (reconstruction and kl_w are the expectations over the missing
        entries for examples that have any; CSVAE's own values for fully labelled ones) and
        "classification" (-log q_psi(y_o|x)), "label_entropy" (H[q(y_m|x,y_o)]), "label_logits",
        and "score_function" (zero-valued, the sampled estimator's gradient) when sampling.
        """
        y = tf.cast(y, tf.float32)
        fully_labelled = tf.reduce_all(observed(y), axis=-1)
        logits = self.label_logits(x, training)
        # CSVAE's terms, exactly, where labelled. Its values for the others are not used, but its batch
        # normalisation steps the moving statistics: missing entries take q's most probable values.
        filled = tf.where(observed(y), y, filled_labels(tf.stop_gradient(logits), y, self.label_type)[0])
        terms = super().compute_terms(x, filled, seed, training)
        terms["label_logits"] = logits
        terms["classification"] = -observed_log_likelihood(logits, y, self.label_type)
        labelled = tf.cast(tf.reduce_any(observed(y), axis=-1), tf.float32)
        share = tf.maximum(tf.reduce_mean(labelled), 1.0 / tf.cast(tf.shape(labelled)[0], tf.float32))
        terms["labelled_share"] = tf.fill(tf.shape(labelled), share)
        weights_logits = logits if self.bound_trains_classifier else tf.stop_gradient(logits)
        with batch_norm.deferred_moving_statistics():  # one moving-statistics step a batch: CSVAE's pass's
            marginal = (self._enumerated_terms if self.enumerates else self._sampled_terms)(
                x, y, weights_logits, terms["z"], seed, training)
        for name in ("reconstruction", "kl_w"):
            terms[name] = tf.where(fully_labelled, terms[name], marginal[name])
        terms["label_entropy"] = tf.where(fully_labelled, tf.zeros_like(marginal["entropy"]), marginal["entropy"])
        if "score_function" in marginal:
            terms["score_function"] = tf.where(fully_labelled, tf.zeros_like(marginal["score_function"]),
                                               marginal["score_function"])
        return terms  # CSVAE's regularizer read `filled`: q's most probable labels where missing

    def _configuration_terms(self, x, configurations, z, seed, training):
        """beta1 * recon and beta2 * KL_w's parts for each example and configuration: (recon, kl_w), each
        float32 [batch, C], from configurations [C, k] or [batch, C, k], one noise draw of w per example
        shared by every configuration, and the z sample z [batch, dim_z]."""
        batch = tf.shape(z)[0]
        count = configurations.shape[-2]
        if configurations.shape.rank == 2:
            labels = tf.tile(configurations, [batch, 1])  # [b*C, k], example-major
        else:
            labels = tf.reshape(configurations, [-1, self.num_labels])
        inputs = tf.repeat(x, count, axis=0)
        w_posterior = self.w_posterior(inputs, labels, training)
        noise = tf.random.stateless_normal([batch, 1, self.num_labels, self.dim_w],
                                           tf.random.experimental.stateless_fold_in(seed, 1))
        noise = tf.reshape(tf.broadcast_to(noise, [batch, count, self.num_labels, self.dim_w]),
                           [-1, self.num_labels, self.dim_w])
        w = w_posterior.mean() + w_posterior.stddev() * noise  # reparameterised
        likelihood = self.likelihood_distribution(tf.repeat(z, count, axis=0), w, training=training)
        recon = tf.reshape(losses.reconstruction(likelihood, inputs), [batch, count])  # eq. (5), M1
        kl_w = tf.reshape(losses.kl(w_posterior, self.w_prior(labels)), [batch, count])  # eq. (5), M1
        return recon, kl_w

    def _enumerated_terms(self, x, y, logits, z, seed, training) -> dict:
        configurations = self._configurations
        posterior = MissingLabelPosterior(configuration_log_probs(logits, configurations, self.label_type),
                                          consistent_configurations(y, configurations))
        # A configuration the observed entries exclude (weight 0) runs as the example's most probable
        # consistent one (a fully labelled example's: its own label), so every row is a label the
        # example may have: batch normalisation's statistics see no impossible rows.
        fallback = filled_labels(logits, y, self.label_type)[0]
        rows = tf.where(posterior.consistent[:, :, None], configurations[None], fallback[:, None, :])
        recon, kl_w = self._configuration_terms(x, rows, z, seed, training)
        return {
            "reconstruction": tf.reduce_sum(posterior.weights * recon, axis=-1),
            "kl_w": tf.reduce_sum(posterior.weights * kl_w, axis=-1),
            "entropy": posterior.entropy,
        }

    def _sampled_terms(self, x, y, logits, z, seed, training) -> dict:
        """Binary labels, k > max_enumerated_labels: S samples of y_m, the score-function gradient with a
        leave-one-out baseline (module docstring)."""
        samples = self.label_samples
        batch = tf.shape(z)[0]
        seen = observed(y)
        probabilities = tf.sigmoid(logits)
        uniform = tf.random.stateless_uniform([batch, samples, self.num_labels],
                                              tf.random.experimental.stateless_fold_in(seed, 2))
        drawn = tf.cast(uniform < tf.stop_gradient(probabilities)[:, None, :], tf.float32)
        configurations = tf.where(seen[:, None, :], zero_filled(y)[:, None, :], drawn)  # [b, S, k]
        log_on, log_off = tf.math.log_sigmoid(logits)[:, None, :], tf.math.log_sigmoid(-logits)[:, None, :]
        per_entry = configurations * log_on + (1.0 - configurations) * log_off
        log_q = tf.reduce_sum(tf.where(seen[:, None, :], tf.zeros_like(per_entry), per_entry), -1)  # [b, S]
        recon, kl_w = self._configuration_terms(x, configurations, z, seed, training)
        beta1, beta2 = self.betas[0], self.betas[1]
        values = tf.stop_gradient(beta1 * recon + beta2 * kl_w)
        baseline = (tf.reduce_sum(values, -1, keepdims=True) - values) / (samples - 1.0)
        surrogate = tf.reduce_mean((values - baseline) * log_q, axis=-1)
        bernoulli_entropy = tfd.Bernoulli(logits=logits).entropy()
        return {
            "reconstruction": tf.reduce_mean(recon, axis=-1),
            "kl_w": tf.reduce_mean(kl_w, axis=-1),
            "entropy": tf.reduce_sum(tf.where(seen, tf.zeros_like(bernoulli_entropy), bernoulli_entropy), -1),
            "score_function": surrogate - tf.stop_gradient(surrogate),
        }

    def bound(self, terms: dict) -> tf.Tensor:
        """The bound part of J per example [batch]: CSVAE's objective with the missing entries
        marginalised, minus the entropy of q(y_m | x, y_o) (plus the zero-valued score-function
        surrogate when sampling). CSVAE's vae_objective, bit for bit, on fully labelled examples."""
        objective = super().vae_objective(terms) - self.entropy_weight * terms["label_entropy"]
        if "score_function" in terms:
            objective = objective + terms["score_function"]
        return objective

    def vae_objective(self, terms: dict) -> tf.Tensor:
        """J per example [batch]: the bound + alpha * (-log q_psi(y_o | x)) / (share of the batch with an
        observed entry), so that the batch mean holds alpha times the mean over the labelled examples."""
        return self.bound(terms) + self.alpha * terms["classification"] / terms["labelled_share"]

    def adversary_loss(self, z: tf.Tensor, y: tf.Tensor):
        """-beta5 * log q_delta(y_o | z) per example [batch], on the observed entries only (0 for an
        unlabelled example; CSVAE's value where every entry is observed), averaged over the ensemble;
        and the first adversary's q(y|z)."""
        y = tf.cast(y, tf.float32)
        fully_labelled = tf.reduce_all(observed(y), axis=-1)
        y0 = zero_filled(y)
        values, posteriors = [], []
        for network in self.adversaries:
            logits = network(z)
            posterior = base.label_distribution(logits, self.label_type, name="adversary")
            log_likelihood = tf.where(fully_labelled, losses.label_log_likelihood(posterior, y0),
                                      observed_log_likelihood(logits, y, self.label_type))
            values.append(-self.betas[4] * log_likelihood)
            posteriors.append(posterior)
        return tf.add_n(values) / len(values), posteriors[0]

    def _report_terms(self, terms, objective, adversary_loss, adversary, y):
        """CSVAE's report, accuracies over the fully labelled examples only, and the share of observed
        entries. y matches the adversary's batch (twice the batch with Adversary.on_means)."""

        def labelled_mean(distribution, labels):  # (accuracy [n], weights [n]): the fully labelled examples count
            fully_labelled = tf.cast(tf.reduce_all(observed(labels), axis=-1), tf.float32)
            return base.label_accuracy(distribution, zero_filled(labels), self.label_type), fully_labelled

        y = tf.cast(y, tf.float32)
        batch_labels = y[: tf.shape(terms["label_logits"])[0]]
        classifier = base.label_distribution(terms["label_logits"], self.label_type, name="label_posterior")
        return self._report({
            **{name: terms[name] for name in (*self.REPORTED_TERMS, "independence") if name in terms},
            "loss": objective,
            "adversary_loss": adversary_loss,
            "adversary_accuracy": labelled_mean(adversary, y),
            "classifier_accuracy": labelled_mean(classifier, batch_labels),
            "observed_entries": tf.cast(observed(batch_labels), tf.float32),  # [n, k]: the share of entries
        })

    # ------------------------------------------------------------------ serving
    def serving_signatures(self) -> Dict[str, serving.Signature]:
        """CSVAE's signatures, with `encode` accepting missing (NaN) label entries, filled from
        q_psi(y|x, y_o) and returned as `labels` (and q(y_i = 1 | x, y_o) as `label_probabilities`),
        and `classify`: q_psi(y | x)."""
        signatures = super().serving_signatures()
        k = self.num_labels
        inputs = serving.DataInput(self.data_shape)
        labels = serving.labels_input(self.label_names, missing_allowed=True,
                                      consistent_one_hot=self.label_type == "categorical")
        z_shape, w_shape = serving.Shape(("dim_z", self.dim_z)), serving.Shape(("k", k), ("dim_w", self.dim_w))
        label_shape = serving.Shape(("k", k))

        def encode(inputs, labels):
            filled, probabilities = self.fill_labels(inputs, labels)
            z, w = self.z_posterior(inputs), self.w_posterior(inputs, filled)
            return {"z_mean": z.mean(), "z_stddev": z.stddev(), "w_mean": w.mean(), "w_stddev": w.stddev(),
                    "labels": filled, "label_probabilities": probabilities}

        def classify(inputs):
            logits = self.label_logits(inputs)
            probabilities = tf.nn.softmax(logits) if self.label_type == "categorical" else tf.sigmoid(logits)
            return {"probabilities": probabilities}

        signatures["encode"] = serving.Signature(
            [inputs, labels],
            {"z_mean": z_shape, "z_stddev": z_shape, "w_mean": w_shape, "w_stddev": w_shape,
             "labels": label_shape, "label_probabilities": label_shape},
            encode, "q(z|x) and q(w|x,y); missing (NaN) label entries filled from q(y|x) and returned")
        signatures["classify"] = serving.Signature(
            [inputs], {"probabilities": label_shape}, classify,
            "q(y|x): P(y_i = 1) per binary label, or the class probabilities (one-hot)")
        return self._with_bytes_form(signatures)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "classifier_units": list(self.classifier_units),
            "max_enumerated_labels": self.max_enumerated_labels,
            "label_samples": self.label_samples,
            "entropy_weight": self.entropy_weight,
            "bound_trains_classifier": self.bound_trains_classifier,
        }
