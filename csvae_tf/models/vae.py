"""The VAE baseline (paper §3.1, eq. 1), and the single-latent family the conditional baselines extend.

    q_phi(z | x)     = N(mu_phi(x), sigma_phi(x))       encoder
    p_theta(x | z)                                       decoder + likelihood (csvae_tf.likelihoods)
    p(z) = N(0, I)

    eq. (1):  log p(x) >= E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

As in CSVAE (appendix 7.1, "the same architectures and hyperparameters in all our experiments")
the reconstruction term is weighted by beta1 (default 20) and the KL by beta3 (default 0.2), the
weights CSVAE puts on the same two terms: minimised is beta1 * (-log p(x|z)) + beta3 * KL.

`BaselineVAE` is parameterised by whether the encoder and the decoder see the labels; the VAE
uses neither, CondVAE (csvae_tf.models.condvae) both, CondVAE-info (condvae_info) the decoder
only. The labels are still part of the model's contract (`num_labels`, `label_names`): the
data is labelled, the VAE just ignores y while training and uses class means of its latent
space to switch attributes (§4.3, csvae_tf.switching).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import likelihoods, losses, networks, priors, schedules, serving
from csvae_tf.models import base
from csvae_tf.models.base import Encoding

tfd = tfp.distributions


class BaselineVAE(base.LabelledModel):
    """A VAE with one latent z, optionally conditioned on y in the encoder and/or the decoder.

    Subclasses set `encoder_conditioned` and `decoder_conditioned`.

    Args:
      input_shape: [n] (MLP networks) or [H, W, C] (Larsen conv networks), as CSVAE.
      num_labels: k (binary attributes or one-hot classes).
      dim_z: dimension of Z (give it CSVAE's dim_z + k * dim_w for the same latent size).
      label_type: "binary" or "categorical".
      likelihood, likelihood_scale: p(x|z[,y]), as CSVAE (csvae_tf.likelihoods).
      beta1: weight of the reconstruction term (default 20, CSVAE's).
      beta3: weight of KL(q(z|.) || p(z)) (default 0.2, CSVAE's).
      hidden_units: dense sizes of the MLP encoder (the decoder mirrors them).
      seed, label_names, input_mean, input_scale: as CSVAE (csvae_tf.models.base).
    """

    TRACKERS = ("loss", "reconstruction", "kl_z")
    encoder_conditioned = False
    decoder_conditioned = False
    switching = "latent_arithmetic"
    SERVING_DEFAULT = "encode"

    def __init__(
        self,
        input_shape: Sequence[int],
        num_labels: int,
        dim_z: int = 2,
        label_type: str = "binary",
        likelihood: str = "gaussian",
        likelihood_scale: float = likelihoods.DEFAULT_SCALE,
        beta1: float = 20.0,
        beta3: float = 0.2,
        hidden_units: Sequence[int] = (64, 64),
        seed: int = 0,
        label_names: Optional[Sequence[str]] = None,
        input_mean: Optional[Sequence[float]] = None,
        input_scale: Optional[Sequence[float]] = None,
        name: str = "vae",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self._init_labelled(input_shape, num_labels, label_type, seed, label_names, input_mean, input_scale)
        if dim_z < 1:
            raise ValueError(f"dim_z must be >= 1, got {dim_z}.")
        self.dim_z = int(dim_z)
        self.beta1, self.beta3 = float(beta1), float(beta3)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.z_prior = priors.standard_normal_prior(self.dim_z)
        self.z_encoder = networks.gaussian_encoder(
            self.data_shape,
            self.dim_z,
            condition_dim=self.num_labels if self.encoder_conditioned else 0,
            hidden_units=self.hidden_units,
            name="z_encoder",
        )
        self.decoder = networks.decoder(
            self.dim_z + (self.num_labels if self.decoder_conditioned else 0),
            self.data_shape,
            hidden_units=self.hidden_units,
            name="decoder",
        )
        self.likelihood = self._make_likelihood(likelihood, likelihood_scale)
        self.built = True

    # ------------------------------------------------------------------ distributions
    def _labels(self, y, needed: bool, who: str) -> Optional[tf.Tensor]:
        if not needed:
            return None
        if y is None:
            raise ValueError(f"{type(self).__name__}'s {who} is conditioned on the labels: pass y [batch, k].")
        return tf.cast(y, tf.float32)

    def z_posterior(self, x: tf.Tensor, y: Optional[tf.Tensor] = None, training: bool = False) -> tfd.Distribution:
        """q(z | x) (VAE, CondVAE-info) or q(z | x, y) (CondVAE): batch [batch], event [dim_z]."""
        inputs = self._encoder_input(x)
        y = self._labels(y, self.encoder_conditioned, "encoder")
        mean, stddev = self.z_encoder([inputs, y] if y is not None else inputs, training=training)
        return base.gaussian_posterior(mean, stddev, name="z_posterior")

    def _decoder_raw(self, z: tf.Tensor, y: Optional[tf.Tensor], training: bool) -> tf.Tensor:
        y = self._labels(y, self.decoder_conditioned, "decoder")
        latent = tf.concat([z, y], axis=-1) if y is not None else z
        return self.decoder(latent, training=training)

    def likelihood_distribution(self, z: tf.Tensor, y: Optional[tf.Tensor] = None,
                                training: bool = False) -> tfd.Distribution:
        """p(x | z) or p(x | z, y): batch [batch], event [*input_shape]."""
        return self.likelihood.distribution(self._decoder_raw(z, y, training))

    # ------------------------------------------------------------------ user methods
    def encode(self, x: tf.Tensor, y: Optional[tf.Tensor] = None, training: bool = False) -> Encoding:
        """The posterior of z as `Encoding(z=..., w=None)`; y is needed by CondVAE only."""
        return Encoding(z=self.z_posterior(x, y, training), w=None)

    def decode(self, z: tf.Tensor, y: Optional[tf.Tensor] = None, training: bool = False) -> tf.Tensor:
        """mu_theta(z[, y]): z [batch, dim_z], y [batch, k] (conditional decoders) -> [batch, *input_shape]."""
        return self.likelihood.mean(self._decoder_raw(z, y, training))

    def switch_attribute(self, x: tf.Tensor, source_mean: tf.Tensor, target_mean: tf.Tensor) -> tf.Tensor:
        """§4.3's VAE switch G_ij(x) = mu_theta(mu_phi(x) - m_i + m_j).

        Args:
          x: [batch, *input_shape].
          source_mean, target_mean: m_i and m_j, latent class means [dim_z] or [batch, dim_z]
            (csvae_tf.switching.latent_class_means computes them on a dataset).

        Returns:
          [batch, *input_shape].
        """
        z = self.z_posterior(x).mean()
        return self.decode(z - tf.cast(source_mean, z.dtype) + tf.cast(target_mean, z.dtype))

    def call(self, inputs, training: bool = False):
        """Reconstruction mu_theta(mu_phi(x[, y])[, y]) of inputs = (x, y)."""
        x, y = inputs
        z = self.encode(x, y, training=training).z.mean()
        return self.decode(z, y, training=training)

    # ------------------------------------------------------------------ training
    @property
    def vae_variables(self) -> list:
        """Encoder's, decoder's and likelihood's trainable variables (theta, phi)."""
        return (
            self.z_encoder.trainable_variables
            + self.decoder.trainable_variables
            + self.likelihood.trainable_variables
        )

    def compile(self, optimizer=None, **kwargs):
        """One optimizer (default appendix 7.1's Adam), built here inside the caller's strategy scope."""
        super().compile(optimizer=optimizer or schedules.paper_adam(name="vae_adam"), **kwargs)
        self.optimizer.build(self.vae_variables)

    def compute_terms(self, x: tf.Tensor, y: tf.Tensor, seed: tf.Tensor, training: bool) -> dict:
        """Per-example terms [batch] of eq. (1)/(2) from one sample z, the sample "z" and the mean "z_mean" [batch, dim_z]."""
        y = tf.cast(y, tf.float32)
        posterior = self.z_posterior(x, y if self.encoder_conditioned else None, training)
        z = posterior.sample(seed=seed)
        likelihood = self.likelihood_distribution(z, y if self.decoder_conditioned else None, training)
        return {
            "reconstruction": losses.reconstruction(likelihood, x),  # eq. (1)/(2), -E[log p(x|z[,y])]
            "kl_z": losses.kl(posterior, self.z_prior),  # eq. (1)/(2), KL(q(z|.) || p(z))
            "z": z,
            "z_mean": posterior.mean(),
        }

    def vae_objective(self, terms: dict) -> tf.Tensor:
        """beta1 * recon + beta3 * KL_z per example [batch]: the negative (weighted) ELBO."""
        return self.beta1 * terms["reconstruction"] + self.beta3 * terms["kl_z"]

    def train_step(self, data):
        x, y = data
        terms, objective = self._vae_update(x, y)
        return self._report({"loss": objective, "reconstruction": terms["reconstruction"], "kl_z": terms["kl_z"]})

    def test_step(self, data):
        x, y = data
        terms = self.compute_terms(x, y, self._sampling_seed(tf.constant(-1)), training=False)
        return self._report({
            "loss": self.vae_objective(terms), "reconstruction": terms["reconstruction"], "kl_z": terms["kl_z"]
        })

    # ------------------------------------------------------------------ serving
    def serving_metadata(self) -> dict:
        return {
            **super().serving_metadata(),
            "encoder_conditioned": bool(self.encoder_conditioned),
            "decoder_conditioned": bool(self.decoder_conditioned),
        }

    def _source_inputs(self) -> list:
        """The inputs the encoder reads: `inputs`, and `labels` (the examples' own) where it is conditioned on y."""
        inputs = [serving.DataInput(self.data_shape)]
        if self.encoder_conditioned:
            inputs.append(serving.labels_input(self.label_names, meaning="the labels of the examples"))
        return inputs

    def _source(self) -> str:
        """What the encoder reads, as the docs write it: "x,y" or "x"."""
        return "x,y" if self.encoder_conditioned else "x"

    def serving_signatures(self) -> Dict[str, serving.Signature]:
        """encode: q(z|x[,y]) (docs/serving.md; exported by export.saved_model)."""
        z_shape = serving.Shape(("dim_z", self.dim_z))

        def encode(inputs, labels=None):
            z = self.z_posterior(inputs, labels)
            return {"z_mean": z.mean(), "z_stddev": z.stddev()}

        return {"encode": serving.Signature(self._source_inputs(), {"z_mean": z_shape, "z_stddev": z_shape}, encode,
                                            f"q(z|{self._source()})")}

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Every constructor argument, JSON-serialisable: enough to rebuild the model."""
        return {
            **self._labelled_config(),
            "dim_z": self.dim_z,
            "likelihood": self.likelihood.kind,
            "likelihood_scale": self.likelihood.scale,
            "beta1": self.beta1,
            "beta3": self.beta3,
            "hidden_units": list(self.hidden_units),
            "name": self.name,
        }


class VAE(BaselineVAE):
    """The plain VAE of §3.1 (eq. 1): q(z|x), p(x|z); the labels are not used in training."""

    def serving_signatures(self) -> Dict[str, serving.Signature]:
        """encode and decode: the VAE's switch G_ij(x) = mu_theta(mu_phi(x) - m_i + m_j) needs class
        means m_i of a dataset, which a client computes with encode (docs/serving.md)."""
        signatures = super().serving_signatures()
        z = serving.Input("z", serving.Shape(("dim_z", self.dim_z)), "a point of the latent space")
        signatures["decode"] = serving.Signature(
            [z], {"outputs": serving.Shape.data(self.data_shape)}, lambda z: {"outputs": self.decode(z)},
            "mu_theta(z)")
        return signatures
