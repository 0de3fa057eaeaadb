"""Attribute switching (§4.3) over an export's signatures, for every model family that has one.

`Switcher(backend)` reads the export's metadata and answers, for a batch of inputs x
(float32 [b, *input_shape]) and their labels y (float32 [b, k]):

  reconstruct(x, y)          the model's reconstruction (see below)
  switch_one(x, y, i, v)     G_i(x, v): attribute i set to v, every other attribute "off"
  switch_many(x, y, {i: v})  several attributes set at once (Fig. 5's Cartesian combinations)
  w_means(x, y)              CSVAE: the posterior means mu_phi2(x, y) [b, k, dim_w] (Fig. 3d, 11)

v is a point of W_i (float [dim_w]) for CSVAE and a strength p (float) for CondVAE and
CondVAE-info, as the exported `switch_one_attribute` takes them:

  CSVAE        G(x, p) = mu_theta(mu_phi1(x), p) with p_i = v and p_l = 0 for every other l
               (switch_one_attribute); several p_i set: switch_attribute with w = p.
  CondVAE(-info)  G(x, y, p) = mu_theta(mu_phi(x[, y]), p y^1) (switch_one_attribute:
               target_labels = v one_hot(i)); several: switch_attribute with target_labels
               = sum_i v_i one_hot(i). CondVAE's encoder also takes y.
  VAE          no switch signature (its switch needs latent class means of a dataset):
               `can_switch` is False and the switch methods raise SwitchError.

**Reconstruction.** No export has a `reconstruct` signature, and none is needed:
  CSVAE        switch_attribute(x, w = E[q(w|x, y)]) = mu_theta(mu_phi1(x), mu_phi2(x, y)): the
               decoder mean at both posterior means, i.e. G(x, p) with p the input's own point of
               W (the "reconstruction" column of Figs. 5 and 7). q(w|x, y) is conditioned on the
               labels, so the reconstruction needs y: the example's labels, or the ones the user
               ticks. A point of W taken from the prior p(w|y) instead would lose the style that
               W_i holds (which glasses), which is what the figures show is kept.
  CondVAE(-info)  switch_attribute(x, [y], target_labels = y) = mu_theta(mu_phi(x[, y]), y).
  VAE          decode(z = encode(x).z_mean).
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence, Union

import numpy as np

from clients.backends import Backend, BackendError

SUBSPACE, CONDITIONAL, LATENT_ARITHMETIC = "subspace", "conditional", "latent_arithmetic"

Value = Union[float, Sequence[float], np.ndarray]


class SwitchError(ValueError):
    """A switch the export cannot do, or a value of the wrong kind; the message says what to send."""


class Switcher:
    """The §4.3 switch of one export (see the module docstring).

    Attributes:
      backend: where the signatures run.
      kind: "subspace" (CSVAE), "conditional" (CondVAE, CondVAE-info) or "latent_arithmetic" (VAE).
      model: the registry name in the metadata.
      input_shape: the model's input shape, e.g. [64, 64, 3] or [64].
      num_labels: k.
      label_names: k names.
      dim_w: the dimension of each W_i (CSVAE), else None.
      can_switch: whether the export has a switch signature.
      missing_labels: whether its `labels` accept NaN ("unknown", filled from q(y|x) by the
        semi-supervised CSVAE); unknown labels are then NaN, else 0 ("absent").
    """

    def __init__(self, backend: Backend):
        self.backend = backend
        metadata = backend.metadata
        self.kind = metadata.get("switching", SUBSPACE)
        self.model = metadata.get("model", "?")
        self.input_shape = list(metadata["input_shape"])
        self.num_labels = int(metadata["num_labels"])
        self.label_names = list(metadata["label_names"])
        self.label_type = metadata.get("label_type", "binary")
        self.dim_w = int(metadata["dim_w"]) if self.kind == SUBSPACE else None
        self.can_switch = backend.has_signature("switch_one_attribute")
        self.missing_labels = bool(metadata.get("missing_labels", False))

    # -------------------------------------------------------------------- helpers
    def _takes_labels(self, signature: str) -> bool:
        return "labels" in self.backend.signature_inputs(signature)

    def unknown_labels(self, n: int) -> np.ndarray:
        """float32 [n, k] for inputs whose labels nobody gave: NaN (missing) where the export accepts
        it, so it fills them from q(y|x); else 0 (absent), the only value the others take."""
        return np.full([n, self.num_labels], np.nan if self.missing_labels else 0.0, np.float32)

    def _labels(self, x: np.ndarray, labels) -> np.ndarray:
        if labels is None:
            return self.unknown_labels(len(x))
        labels = np.asarray(labels, np.float32).reshape(len(x), -1)
        if labels.shape[1] != self.num_labels:
            raise SwitchError(f"labels must have k={self.num_labels} columns ({', '.join(self.label_names)}), "
                              f"got {labels.shape[1]}.")
        return labels

    def _call(self, signature: str, x: np.ndarray, labels, **inputs) -> np.ndarray:
        if self._takes_labels(signature):
            inputs["labels"] = self._labels(x, labels)
        return self.backend.call(signature, inputs=np.asarray(x, np.float32), **inputs)["outputs"]

    def _check_attribute(self, attribute: int) -> int:
        attribute = int(attribute)
        if not 0 <= attribute < self.num_labels:
            raise SwitchError(f"attribute must be in [0, {self.num_labels}) ({', '.join(self.label_names)}), "
                              f"got {attribute}.")
        return attribute

    def _require_switch(self):
        if not self.can_switch:
            raise SwitchError(
                f"This {self.model} export cannot switch attributes: a VAE's switch is latent arithmetic "
                f"with class means of a dataset (docs/serving.md); it only reconstructs. Export a "
                f"CSVAE, CondVAE or CondVAE-info run to switch.")

    def attribute_index(self, attribute: Union[int, str]) -> int:
        """An attribute given by name (case-insensitive) or index -> its index."""
        if isinstance(attribute, str) and not attribute.isdigit():
            lowered = [name.lower() for name in self.label_names]
            if attribute.lower() not in lowered:
                raise SwitchError(f"Unknown attribute {attribute!r}: this export's are {', '.join(self.label_names)}.")
            return lowered.index(attribute.lower())
        return self._check_attribute(int(attribute))

    def value(self, value: Value) -> Union[float, np.ndarray]:
        """A switch value of the right kind: float [dim_w] for CSVAE, a float strength otherwise."""
        flat = np.asarray(value, np.float32).reshape(-1)
        if self.kind == SUBSPACE:
            if flat.size != self.dim_w:
                raise SwitchError(f"A point of W_i has dim_w={self.dim_w} coordinates, got {flat.size} "
                                  f"({', '.join(f'{v:g}' for v in flat)}).")
            return flat
        if flat.size != 1:
            raise SwitchError(f"{self.model} switches with one strength p (the target label's value, §4.3), "
                              f"got {flat.size} values.")
        return float(flat[0])

    # -------------------------------------------------------------------- the switch
    def reconstruct(self, x: np.ndarray, labels=None) -> np.ndarray:
        """float32 [b, *input_shape]: the reconstruction (module docstring); labels [b, k] or None (unknown_labels)."""
        x = np.asarray(x, np.float32)
        labels = self._labels(x, labels)
        if self.kind == SUBSPACE:
            return self._call("switch_attribute", x, None, w=self.w_means(x, labels))
        if self.kind == CONDITIONAL:
            return self._call("switch_attribute", x, labels, target_labels=labels)
        encode = {"inputs": x}
        if self._takes_labels("encode"):
            encode["labels"] = labels
        z = self.backend.call("encode", **encode)["z_mean"]
        return self.backend.call("decode", z=z)["outputs"]

    def w_means(self, x: np.ndarray, labels=None) -> np.ndarray:
        """CSVAE: mu_phi2(x, y), float32 [b, k, dim_w] (the backend sends a large batch in parts)."""
        return self.w_means_and_labels(x, labels)[0]

    def w_means_and_labels(self, x: np.ndarray, labels=None):
        """CSVAE: (mu_phi2(x, y) float32 [b, k, dim_w], the labels y it used [b, k]): the given ones, with
        missing (NaN) entries filled from q(y|x) where the export fills them (its encode returns `labels`)."""
        if self.kind != SUBSPACE:
            raise SwitchError(f"A {self.model} export has no subspaces W_i: only CSVAE's encode returns w_mean.")
        x = np.asarray(x, np.float32)
        labels = self._labels(x, labels)
        outputs = self.backend.call("encode", inputs=x, labels=labels)
        return outputs["w_mean"], np.asarray(outputs.get("labels", labels), np.float32)

    def switch_one(self, x: np.ndarray, labels, attribute: int, value: Value) -> np.ndarray:
        """G(x, ...) with attribute `attribute` set to `value` (a W point or a strength): [b, *input_shape]."""
        self._require_switch()
        x = np.asarray(x, np.float32)
        attribute = self._check_attribute(attribute)
        value = self.value(value)
        b = len(x)
        attributes = np.full([b], attribute, np.int32)
        if self.kind == SUBSPACE:
            return self._call("switch_one_attribute", x, None, attribute=attributes,
                              point=np.tile(value[None], [b, 1]))
        return self._call("switch_one_attribute", x, labels, attribute=attributes,
                          strength=np.full([b], value, np.float32))

    def switch_many(self, x: np.ndarray, labels, values: Mapping[int, Value]) -> np.ndarray:
        """G(x, ...) with every attribute in `values` set at once, the others "off": [b, *input_shape]."""
        self._require_switch()
        x = np.asarray(x, np.float32)
        b = len(x)
        if self.kind == SUBSPACE:
            w = np.zeros([b, self.num_labels, self.dim_w], np.float32)  # p_l = 0 for l not set (§4.3)
            for attribute, value in values.items():
                w[:, self._check_attribute(attribute)] = self.value(value)
            return self._call("switch_attribute", x, None, w=w)
        target = np.zeros([b, self.num_labels], np.float32)
        for attribute, value in values.items():
            target[:, self._check_attribute(attribute)] = self.value(value)
        return self._call("switch_attribute", x, labels, target_labels=target)

    def prior(self) -> Dict[str, np.ndarray]:
        """CSVAE's p(w_i|y_i) components: present/absent loc and scale, float [dim_w] each."""
        metadata = self.backend.metadata
        return {key: np.asarray(metadata[f"w_prior_{key}"], np.float64)
                for key in ("present_loc", "present_scale", "absent_loc", "absent_scale")}


__all__ = ["Switcher", "SwitchError", "BackendError", "SUBSPACE", "CONDITIONAL", "LATENT_ARITHMETIC"]
