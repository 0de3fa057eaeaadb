"""Speed kernels: Keras's own variables and arithmetic on faster TensorFlow ops, each tested against
the Keras original (docs/performance.md).

  fused_adam   Adam as TensorFlow's fused `ResourceApplyAdam` (one pass over memory);
  dense        a Dense layer whose gradients use `BatchMatMulV2` (TF's transposed `MatMul` is
               ~3x slower on CPU);
  batch_norm   BatchNormalization with a `FusedBatchNormV3` training pass.

Nothing here is part of the paper's model: the networks (csvae_tf.networks) and the optimizers
(csvae_tf.schedules) use these in place of the Keras layers they match.
"""
