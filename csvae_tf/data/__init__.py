"""Datasets: each module returns in-memory arrays or a tf.data pipeline of (x, y) batches."""
