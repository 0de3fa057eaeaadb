"""SavedModel export of trained runs for TF Serving and tf.data users (see README, "Serving")."""
