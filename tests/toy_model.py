"""A model family for the test suite only, registered as "toy_scaled_vae".

It shows that a new model needs its own file and one registry line, nothing else: the export
(export.saved_model), the generic export tests (tests/test_export_declared.py) and the shared model
tests (tests/test_models.py) take it from the registry. It is the VAE with a signature of its own,
`reconstruct(inputs, scale)` = mu_theta(scale * mu_phi(x)), served by default, with an input
(`scale`, bounded to [0, 4]) that no paper model has.
"""

from typing import Dict

from csvae_tf import serving
from csvae_tf.models import registry
from csvae_tf.models.vae import VAE


class ToyScaledVAE(VAE):
    """VAE + `reconstruct(inputs [b, *shape], scale [b] in [0, 4]) -> outputs [b, *shape]`."""

    SERVING_DEFAULT = "reconstruct"

    def __init__(self, *args, name: str = "toy_scaled_vae", **kwargs):
        super().__init__(*args, name=name, **kwargs)

    def serving_signatures(self) -> Dict[str, serving.Signature]:
        signatures = super().serving_signatures()
        scale = serving.Input("scale", serving.Shape(), "the factor on the posterior mean of z",
                              minimum=0.0, maximum=4.0, example_value=1.0)

        def reconstruct(inputs, scale):
            return {"outputs": self.decode(scale[:, None] * self.z_posterior(inputs).mean())}

        signatures["reconstruct"] = serving.Signature(
            [serving.DataInput(self.data_shape), scale], {"outputs": serving.Shape.data(self.data_shape)},
            reconstruct, "mu_theta(scale * mu_phi(x))")
        return signatures


registry.register("toy_scaled_vae", ToyScaledVAE)
