"""TF Serving warm-up records: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays the PredictionLog records of this TFRecord file when it loads a version, so
every signature is traced and its kernels initialised before the first real request.

We build the PredictRequest protos with `tensorflow-serving-api` (pinned in requirements.txt at
TensorFlow's version, protobuf unchanged) rather than hand-writing protobuf messages: the request
format is TF Serving's own and its package is the one place that defines it. It is imported only
when records are written, so loading an export never needs it.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping

import numpy as np
import tensorflow as tf

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def _serving_api():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as error:  # pragma: no cover - the package is in requirements.txt
        raise ImportError(
            "Writing TF Serving warm-up records needs tensorflow-serving-api "
            "(pip install tensorflow-serving-api==2.21.0), or export with --nowarmup."
        ) from error
    return predict_pb2, prediction_log_pb2


def write_warmup_requests(
    saved_model_dir: str, model_name: str, requests: Mapping[str, Dict[str, np.ndarray]]
) -> str:
    """Write one PredictRequest record per signature into `saved_model_dir`/assets.extra/.

    Args:
      saved_model_dir: a SavedModel version directory (EXPORT/<version>).
      model_name: the name TF Serving serves the model under (models.config `name`).
      requests: {signature name: {input name: numpy array with the batch dimension}}.

    Returns:
      The path of the records file.
    """
    predict_pb2, prediction_log_pb2 = _serving_api()
    os.makedirs(os.path.join(saved_model_dir, WARMUP_DIR), exist_ok=True)
    path = os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests.items():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            for input_name, value in inputs.items():
                request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path: str) -> Dict[str, Dict[str, np.ndarray]]:
    """The records of `write_warmup_requests` back as {signature name: {input: array}}.

    Raises:
      tf.errors.DataLossError: the file is truncated or not a TFRecord file.
      google.protobuf.message.DecodeError: a record is not a PredictionLog.
      ValueError: a record is a PredictionLog of another kind than a PredictLog (TF Serving replays these).
    """
    _, prediction_log_pb2 = _serving_api()
    requests = {}
    for index, record in enumerate(tf.data.TFRecordDataset(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if not log.HasField("predict_log"):
            raise ValueError(f"record {index} is not a PredictLog (it holds {log.WhichOneof('log_type') or 'nothing'})")
        request = log.predict_log.request
        requests[request.model_spec.signature_name] = {
            name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()
        }
    return requests
