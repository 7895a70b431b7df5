"""gan_jax: GANs in JAX/Flax with pure, jitted, data-parallel update functions."""
