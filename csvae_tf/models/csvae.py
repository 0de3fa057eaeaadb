"""The Conditional Subspace VAE (Klys, Snell & Zemel 2018, §4) as a subclassed Keras model.

Latent space H = Z x W, W = W_1 x ... x W_k, one subspace of dimension dim_w per label.

    q_phi1(z | x)    = N(mu_phi1(x), sigma_phi1(x))           z encoder          (§4.2)
    q_phi2(w | x, y) = N(mu_phi2(x, y), sigma_phi2(x, y))     w encoder          (§4.2)
    p_theta(x | w, z)                                          decoder + likelihood
    q_delta(y | z)   = prod_i Bernoulli(y_i | pi_delta(z)_i)   adversary (binary labels)
                       or Categorical(y | pi_delta(z))         (one-hot labels, §4.2's Cat)
    p(z) = N(0, I),  p(w | y) = prod_i p(w_i | y_i)            priors (csvae_tf.priors)

`train_step` (csvae_tf.models.adversaries) alternates two updates on every batch (appendix 7.1):
  1. encoders + decoder minimise  beta1*recon + beta2*KL_w + beta3*KL_z + beta4*M2   (eq. 5, M2);
     the adversary's weights are held fixed (they are not in this update's variable list);
  2. the adversary maximises  beta5 * log q(y | z)  (N) on the z sampled in step 1, passed
     through tf.stop_gradient so no gradient reaches the encoder.
Each player has its own optimizer (`compile(optimizer=..., adversary_optimizer=...)`).

Beyond the paper (csvae_tf.independence; all off by default): `adversary=Adversary(...)`, the
adversary on the posterior means too, several adversary steps, an ensemble of adversaries
re-initialised on a schedule; and `independence=Independence(...)`, a penalty between z's posterior
means and y (MMD, HSIC, or one registered) that step 1 adds through `regularizer(terms, y)`.

Sampling is seeded from (seed, optimizer step, replica id) with stateless tfp samplers, so a run
restored from a checkpoint draws exactly the noise the uninterrupted run would have drawn.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import likelihoods, losses, networks, priors, schedules, serving
from csvae_tf.independence import Adversary, Independence, refuse_flat_arguments
from csvae_tf.models import adversaries, base
from csvae_tf.models.base import LABEL_TYPES, Encoding  # noqa: F401 - re-exported

tfd = tfp.distributions


class CSVAE(adversaries.AdversarialModel, base.LabelledModel):
    """Conditional Subspace VAE.

    Args:
      input_shape: shape of one example: [n] for vectors (MLP networks) or [H, W, C] for images
        (Larsen conv networks, H and W multiples of 8). Images are float32 in [0, 1].
      num_labels: k, the number of label subspaces (binary attributes or one-hot classes).
      dim_z: dimension of Z.
      dim_w: dimension of each W_i (the paper uses 2).
      label_type: "binary" (y in {0,1}^k, a Bernoulli adversary per label) or "categorical"
        (one-hot y, a categorical adversary, e.g. TFD's seven expressions).
      likelihood: "gaussian" (fixed scale, the MSE reading), "gaussian_learned" or "bernoulli";
        see csvae_tf.likelihoods.
      likelihood_scale: the Gaussian's fixed (or initial) standard deviation, default 1/sqrt(2)
        so -log p(x|w,z) = sum of squared errors + const.
      beta1..beta5: the loss weights of appendix 7.1 (defaults 20, 1, 0.2, 10, 1).
      w_prior_present_loc, w_prior_present_scale, w_prior_absent_loc, w_prior_absent_scale:
        p(w_i|y_i=1) and p(w_i|y_i=0), see csvae_tf.priors (defaults (3,3),1 and (0,0),0.1).
      hidden_units: dense sizes of the MLP encoders (the decoder mirrors them); the conv
        networks for images use Larsen's fixed layers instead.
      adversary_units: dense sizes of the adversary MLP q(y|z).
      adversary: how q(y|z) is trained beyond the paper: a csvae_tf.independence.Adversary (on the
        posterior means too, steps per VAE step, an ensemble, its re-initialisation), or a dict of
        its fields; default the paper's one adversary, one step, on samples.
      independence: a z-y penalty added to the objective: a csvae_tf.independence.Independence
        (penalty name, weight), or a dict of its fields; default none, the paper's objective.
      seed: integer seed of the model's sampling noise.
      label_names: a name per label (metadata for figures and exports); default label_0, ...
      input_mean, input_scale: per-coordinate statistics of vector data ([n] each, e.g. the
        training split's mean and standard deviation). The encoders see (x - mean) / scale and
        the likelihood is the standardised model's, mapped back to data units (see
        csvae_tf.likelihoods), so encode/decode/switch_attribute all speak data units.
    """

    TRACKERS = ("loss", "reconstruction", "kl_w", "kl_z", "m2", "adversary_loss", "adversary_accuracy")
    REPORTED_TERMS = ("reconstruction", "kl_w", "kl_z", "m2")  # train_step: csvae_tf.models.adversaries
    switching = "subspace"
    SERVING_DEFAULT = "switch_attribute"  # G(x, p) of §4.3: the model's purpose, and label-free

    def __init__(
        self,
        input_shape: Sequence[int],
        num_labels: int,
        dim_z: int = 2,
        dim_w: int = 2,
        label_type: str = "binary",
        likelihood: str = "gaussian",
        likelihood_scale: float = likelihoods.DEFAULT_SCALE,
        beta1: float = 20.0,
        beta2: float = 1.0,
        beta3: float = 0.2,
        beta4: float = 10.0,
        beta5: float = 1.0,
        w_prior_present_loc=3.0,
        w_prior_present_scale=1.0,
        w_prior_absent_loc=0.0,
        w_prior_absent_scale=0.1,
        hidden_units: Sequence[int] = (64, 64),
        adversary_units: Sequence[int] = (64, 64),
        adversary: Adversary = Adversary(),
        independence: Independence = Independence(),
        seed: int = 0,
        label_names: Optional[Sequence[str]] = None,
        input_mean: Optional[Sequence[float]] = None,
        input_scale: Optional[Sequence[float]] = None,
        name: str = "csvae",
        **kwargs,
    ):
        refuse_flat_arguments(kwargs)
        super().__init__(name=name, **kwargs)
        self._init_labelled(input_shape, num_labels, label_type, seed, label_names, input_mean, input_scale)
        if dim_z < 1 or dim_w < 1:
            raise ValueError(f"dim_z and dim_w must be >= 1, got dim_z={dim_z}, dim_w={dim_w}.")
        self.dim_z = int(dim_z)
        self.dim_w = int(dim_w)
        self.betas = tuple(float(b) for b in (beta1, beta2, beta3, beta4, beta5))
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.adversary_units = tuple(int(u) for u in adversary_units)
        self._init_independence(adversary, independence)

        self.z_prior = priors.standard_normal_prior(self.dim_z)
        self.w_prior = priors.WPrior(
            self.dim_w,
            present_loc=w_prior_present_loc,
            present_scale=w_prior_present_scale,
            absent_loc=w_prior_absent_loc,
            absent_scale=w_prior_absent_scale,
        )
        self.z_encoder = networks.gaussian_encoder(
            self.data_shape, self.dim_z, hidden_units=self.hidden_units, name="z_encoder"
        )
        self.w_encoder = networks.gaussian_encoder(
            self.data_shape,
            self.num_labels * self.dim_w,
            condition_dim=self.num_labels,
            hidden_units=self.hidden_units,
            name="w_encoder",
        )
        self.decoder = networks.decoder(
            self.dim_z + self.num_labels * self.dim_w,
            self.data_shape,
            hidden_units=self.hidden_units,
            name="decoder",
        )
        self.likelihood = self._make_likelihood(likelihood, likelihood_scale)
        self._build_adversaries(self.adversary_units)
        self.adversary_optimizer = None
        self.built = True

    # ------------------------------------------------------------------ distributions
    def z_posterior(self, x: tf.Tensor, training: bool = False) -> tfd.Distribution:
        """q(z | x): batch [batch], event [dim_z]."""
        mean, stddev = self.z_encoder(self._encoder_input(x), training=training)
        return base.gaussian_posterior(mean, stddev, name="z_posterior")

    def w_posterior(self, x: tf.Tensor, y: tf.Tensor, training: bool = False) -> tfd.Distribution:
        """q(w | x, y): batch [batch], event [k, dim_w]."""
        mean, stddev = self.w_encoder([self._encoder_input(x), tf.cast(y, tf.float32)], training=training)
        return base.gaussian_posterior(mean, stddev, [self.num_labels, self.dim_w], name="w_posterior")

    def _decoder_raw(self, z: tf.Tensor, w: tf.Tensor, training: bool) -> tf.Tensor:
        w_flat = tf.reshape(w, [-1, self.num_labels * self.dim_w])
        return self.decoder(tf.concat([z, w_flat], axis=-1), training=training)

    def likelihood_distribution(self, z: tf.Tensor, w: tf.Tensor, training: bool = False) -> tfd.Distribution:
        """p(x | w, z): batch [batch], event [*input_shape]."""
        return self.likelihood.distribution(self._decoder_raw(z, w, training))

    # ------------------------------------------------------------------ user methods
    def encode(self, x: tf.Tensor, y: Optional[tf.Tensor] = None, training: bool = False) -> Encoding:
        """Posteriors q(z|x) and, given labels, q(w|x,y)."""
        return Encoding(
            z=self.z_posterior(x, training),
            w=None if y is None else self.w_posterior(x, y, training),
        )

    def decode(self, z: tf.Tensor, w: tf.Tensor, training: bool = False) -> tf.Tensor:
        """mu_theta(w, z): z [batch, dim_z], w [batch, k, dim_w] -> [batch, *input_shape]."""
        return self.likelihood.mean(self._decoder_raw(z, w, training))

    def switch_attribute(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        """G(x, p) = mu_theta(mu_phi1(x), p) of §4.3.

        Args:
          x: [batch, *input_shape].
          w: the target point p of W, [batch, k, dim_w] or [k, dim_w] (the same for every
            example). Several subspaces may be non-zero at once (the Cartesian-product figure);
            csvae_tf.switching.attribute_point builds §4.3's p with p_l = 0 for l != j.

        Returns:
          [batch, *input_shape]: the decoded images/vectors. z is mu_phi1(x), labels are unused.
        """
        z = self.z_posterior(x).mean()
        w = tf.cast(w, z.dtype)
        w = tf.broadcast_to(w, [tf.shape(z)[0], self.num_labels, self.dim_w])
        return self.decode(z, w)

    def call(self, inputs, training: bool = False):
        """Reconstruction mu_theta(mu_phi2(x, y), mu_phi1(x)) of inputs = (x, y)."""
        x, y = inputs
        encoding = self.encode(x, y, training=training)
        return self.decode(encoding.z.mean(), encoding.w.mean(), training=training)

    # ------------------------------------------------------------------ training
    @property
    def vae_variables(self) -> list:
        """Encoders', decoder's and likelihood's trainable variables: theta, phi (not delta)."""
        return (
            self.z_encoder.trainable_variables
            + self.w_encoder.trainable_variables
            + self.decoder.trainable_variables
            + self.likelihood.trainable_variables
        )

    def compile(self, optimizer=None, adversary_optimizer=None, **kwargs):
        """Two optimizers: `optimizer` for the VAE, `adversary_optimizer` for q(y|z).

        Both default to appendix 7.1's Adam at a constant 5e-4; csvae_tf.training passes the
        MultiStepLR schedule. Both are built here, inside the caller's strategy scope: with two
        or more replicas Keras' fit builds only `self.optimizer` before the first step, and an
        adversary optimizer built lazily inside the first distributed step fails there.
        """
        optimizer = optimizer or schedules.paper_adam(name="vae_adam")
        super().compile(optimizer=optimizer, **kwargs)
        self.optimizer.build(self.vae_variables)
        self._build_adversary_optimizer(adversary_optimizer)

    def adversary_loss(self, z: tf.Tensor, y: tf.Tensor):
        """-beta5 * log q(y|z) per example [batch] (N, which the adversary maximises), and q(y|z)
        (with an ensemble: the members' mean, and the first member's q(y|z))."""
        return self._ensemble_adversary_loss(z, y, self.betas[4])

    def compute_terms(self, x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor, training: bool) -> dict:
        """Every per-example term of the objective for one batch, from one sample of (z, w).

        Returns a dict of float32 [batch] tensors: reconstruction, kl_w, kl_z, m2 (averaged over
        the adversaries, and over sample and mean with `Adversary.on_means`), "regularizer"
        (`regularizer(terms, y)`; and "independence", the unweighted penalty, when one is on), and
        the sample "z" and mean "z_mean" [batch, dim_z] the adversary update reuses.
        """
        y = tf.cast(y, tf.float32)
        z_seed, w_seed = tfp.random.split_seed(seed, n=2)
        encoding = self.encode(x, y, training=training)
        z = encoding.z.sample(seed=z_seed)
        w = encoding.w.sample(seed=w_seed)
        likelihood = self.likelihood_distribution(z, w, training=training)
        terms = {
            "reconstruction": losses.reconstruction(likelihood, x),  # eq. (5), M1
            "kl_w": losses.kl(encoding.w, self.w_prior(y)),  # eq. (5), M1
            "kl_z": losses.kl(encoding.z, self.z_prior),  # eq. (5), M1
            "z": z,
            "z_mean": encoding.z.mean(),
        }
        terms["m2"] = self._adversarial_term(losses.negative_entropy, terms)  # M2
        terms["regularizer"] = self.regularizer(terms, y)  # beyond the paper; zeros by default
        return terms

    def vae_objective(self, terms: dict) -> tf.Tensor:
        """beta1*recon + beta2*KL_w + beta3*KL_z + beta4*M2 per example [batch] (appendix 7.1), plus
        terms["regularizer"] (zeros unless a term beyond the paper is on)."""
        beta1, beta2, beta3, beta4, _ = self.betas
        return (
            beta1 * terms["reconstruction"]
            + beta2 * terms["kl_w"]
            + beta3 * terms["kl_z"]
            + beta4 * terms["m2"]
        ) + terms["regularizer"]

    # ------------------------------------------------------------------ serving
    def serving_metadata(self) -> dict:
        """dim_z, dim_w and p(w_i | y_i) of §4.2: "present" (y_i = 1) and "absent" (y_i = 0, the origin by default)."""
        prior = self.w_prior.get_config()

        def vector(value) -> list:  # a scalar or [dim_w] prior parameter as dim_w floats
            return [float(v) for v in np.broadcast_to(np.asarray(value, np.float32), [self.dim_w])]

        return {
            **super().serving_metadata(),
            "dim_w": self.dim_w,
            **{f"w_prior_{key}": vector(prior[key])
               for key in ("present_loc", "present_scale", "absent_loc", "absent_scale")},
        }

    def serving_signatures(self) -> Dict[str, serving.Signature]:
        """encode, switch_attribute (G(x, p), no labels), switch_one_attribute and, for images,
        switch_attribute_bytes (docs/serving.md; exported by export.saved_model)."""
        k, dim_w = self.num_labels, self.dim_w
        data = serving.Shape.data(self.data_shape)
        inputs = serving.DataInput(self.data_shape)
        w = serving.Input("w", serving.Shape(("k", k), ("dim_w", dim_w)),
                          "the target point of W: one point of each subspace W_i", sample_scale=3.0)
        point = serving.Input("point", serving.Shape(("dim_w", dim_w)), "a point of W_attribute", sample_scale=3.0)
        attribute = serving.index_input("attribute", k, "the label whose subspace gets `point`")

        def encode(inputs, labels):
            z, w = self.z_posterior(inputs), self.w_posterior(inputs, labels)
            return {"z_mean": z.mean(), "z_stddev": z.stddev(), "w_mean": w.mean(), "w_stddev": w.stddev()}

        def switch_attribute(inputs, w):
            return {"outputs": self.switch_attribute(inputs, w)}  # G(x, p), §4.3

        def switch_one_attribute(inputs, attribute, point):
            # p_attribute = point, p_l = 0 for l != attribute (§4.3)
            return switch_attribute(inputs, tf.one_hot(attribute, k, dtype=tf.float32)[:, :, None] * point[:, None, :])

        z_shape, w_shape = serving.Shape(("dim_z", self.dim_z)), w.shape
        return self._with_bytes_form({
            "encode": serving.Signature(
                [inputs, serving.labels_input(self.label_names)],
                {"z_mean": z_shape, "z_stddev": z_shape, "w_mean": w_shape, "w_stddev": w_shape},
                encode, "q(z|x) and q(w|x,y) (the W posterior needs the labels)"),
            "switch_attribute": serving.Signature(
                [inputs, w], {"outputs": data}, switch_attribute, "G(x, p) = mu_theta(mu_phi1(x), p) of §4.3"),
            "switch_one_attribute": serving.Signature(
                [inputs, attribute, point], {"outputs": data}, switch_one_attribute,
                "W_attribute = point, every other W_l at the origin (§4.3)"),
        })

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Every constructor argument, JSON-serialisable: enough to rebuild the model."""
        prior = self.w_prior.get_config()
        labelled = self._labelled_config()
        return {
            "input_shape": labelled["input_shape"],
            "num_labels": self.num_labels,
            "dim_z": self.dim_z,
            "dim_w": self.dim_w,
            "label_type": self.label_type,
            "likelihood": self.likelihood.kind,
            "likelihood_scale": self.likelihood.scale,
            **{f"beta{i + 1}": b for i, b in enumerate(self.betas)},
            "w_prior_present_loc": prior["present_loc"],
            "w_prior_present_scale": prior["present_scale"],
            "w_prior_absent_loc": prior["absent_loc"],
            "w_prior_absent_scale": prior["absent_scale"],
            "hidden_units": list(self.hidden_units),
            "adversary_units": list(self.adversary_units),
            **self._independence_config(),
            "seed": self.seed,
            "label_names": labelled["label_names"],
            "input_mean": self.input_mean,
            "input_scale": self.input_scale,
            "name": self.name,
        }
