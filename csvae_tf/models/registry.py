"""One place that maps a model's name to its class, so trainers, export and evaluation take --model=."""

from __future__ import annotations

from typing import Dict, Type

import keras

from csvae_tf.models.condvae import CondVAE
from csvae_tf.models.condvae_info import CondVAEInfo
from csvae_tf.models.csvae import CSVAE
from csvae_tf.models.semi_supervised import SemiSupervisedCSVAE
from csvae_tf.models.vae import VAE

# The paper's four models (§3, §4): CSVAE and its three baselines.
PAPER_MODELS: Dict[str, Type[keras.Model]] = {
    "csvae": CSVAE,
    "vae": VAE,
    "condvae": CondVAE,
    "condvae_info": CondVAEInfo,
}
# Every model a run may name: the paper's, the semi-supervised CSVAE (labels with missing entries,
# the paper's §6 future work) and any `register`ed beside them.
MODELS: Dict[str, Type[keras.Model]] = {**PAPER_MODELS, "ss_csvae": SemiSupervisedCSVAE}


def register(name: str, model_class: Type[keras.Model]) -> None:
    """Make `model_class` trainable, restorable and exportable as `name` (model.json's "model")."""
    if MODELS.get(name, model_class) is not model_class:
        raise ValueError(f"Model name {name!r} is taken by {MODELS[name].__name__}.")
    MODELS[name] = model_class


def get(name: str) -> Type[keras.Model]:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}.") from None


def build(name: str, config: dict) -> keras.Model:
    """Instantiate model `name` from its get_config() dict."""
    return get(name).from_config(config)
