"""SRResNet and the SRGAN discriminator: pixel shuffle against its definition, and shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import srresnet


def test_pixel_shuffle_equals_its_definition():
  r, n, h, w, c = 2, 2, 3, 4, 5
  x = np.random.default_rng(0).normal(size=(n, h, w, c * r * r)).astype(np.float32)
  out = np.asarray(srresnet.pixel_shuffle(jnp.asarray(x), r))
  assert out.shape == (n, h * r, w * r, c)
  expected = np.empty_like(out)
  for hh in range(h):
    for ww in range(w):
      for i in range(r):
        for j in range(r):
          for cc in range(c):
            expected[:, hh * r + i, ww * r + j, cc] = x[:, hh, ww, cc * r * r + i * r + j]
  np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("r", [2, 3])
def test_pixel_shuffle_inverts_space_to_depth(r):
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3 * r, 2 * r, 4)), jnp.float32)
  np.testing.assert_array_equal(srresnet.pixel_shuffle(srresnet.space_to_depth(x, r), r), x)
  y = srresnet.space_to_depth(x, r)
  np.testing.assert_array_equal(srresnet.space_to_depth(srresnet.pixel_shuffle(y, r), r), y)


@pytest.mark.slow  # over 20 s
def test_generator_upscales_by_four_and_discriminator_gives_one_logit():
  g = srresnet.SRResNet(num_blocks=2, width=8)
  d = srresnet.Discriminator(width=4, dense=16)
  lr = jnp.zeros((2, 6, 5, 3))
  g_vars = g.init(jax.random.PRNGKey(0), lr)
  sr, _ = g.apply(g_vars, lr, train=True, mutable=["batch_stats"])
  assert sr.shape == (2, 24, 20, 3)
  d_vars = d.init(jax.random.PRNGKey(1), sr)
  assert d.apply(d_vars, sr).shape == (2,)
  # B residual blocks, each conv-BN-PReLU-conv-BN; 9x9 convs at both ends.
  params = g_vars["params"]
  assert {k for k in params if k.startswith("ResidualBlock")} == {
    "ResidualBlock_0",
    "ResidualBlock_1",
  }
  assert params["Conv_0"]["kernel"].shape == (9, 9, 3, 8)
  assert params["Conv_4"]["kernel"].shape == (9, 9, 8, 3)
  assert sum(1 for k in d_vars["params"] if k.startswith("Conv")) == 8


def test_the_bicubic_skip_starts_at_matlab_bicubic():
  from gan_jax.data import imresize  # noqa: PLC0415

  g = srresnet.SRResNet(num_blocks=1, width=8, bicubic_skip=True)
  lr = np.random.default_rng(2).uniform(-1, 1, (2, 6, 5, 3)).astype(np.float32)
  sr = g.apply(g.init(jax.random.PRNGKey(0), lr), lr)
  np.testing.assert_allclose(sr, imresize.upsample(lr, 4), atol=1e-5)
