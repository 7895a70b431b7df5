"""SR data: the jitted draw's LR is MATLAB-style imresize of its HR crop; the split is fixed."""

import jax
import numpy as np
import pytest

from gan_jax import errors
from gan_jax.data import imresize
from gan_jax.data import sr as sr_data


def coded_photos():
  """Photos whose pixels say where they are: (photo, row % 256, column % 256)."""
  photos = []
  for i, (h, w) in enumerate(((40, 52), (64, 33), (33, 33))):
    rows, cols = np.indices((h, w))
    photos.append(np.stack([np.full((h, w), 50 * i), rows, cols], -1).astype(np.uint8))
  return photos


def test_pairs_are_crops_of_training_photos_and_their_bicubic_downsampling():
  photos = coded_photos()
  arrays = sr_data.training_arrays(photos, 32)
  batch = jax.jit(lambda k: sr_data.sample_pairs(arrays, k, 16, 32))(jax.random.PRNGKey(0))
  hr = np.round((np.asarray(batch["hr"]) + 1) * 127.5).astype(np.uint8)
  lr = np.round((np.asarray(batch["lr"]) + 1) * 127.5).astype(np.uint8)
  assert hr.shape == (16, 32, 32, 3) and lr.shape == (16, 8, 8, 3)
  seen = set()
  for crop in hr:
    i, top, left = crop[0, 0, 0] // 50, crop[0, 0, 1], crop[0, 0, 2]
    np.testing.assert_array_equal(crop, photos[i][top : top + 32, left : left + 32])
    seen.add(int(i))
  assert {0, 1} <= seen <= {0, 1, 2}
  # The same numbers as imresize on the host (float32 in the draw: at most 1 apart, rarely).
  expected = imresize.downsample(hr, 4)
  diff = np.abs(lr.astype(int) - expected.astype(int))
  assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def test_photos_are_drawn_in_proportion_to_their_crop_positions():
  arrays = sr_data.training_arrays(coded_photos(), 32)
  # (40 - 31)(52 - 31) = 189, (64 - 31)(33 - 31) = 66, 2 * 2 = 4 start positions
  np.testing.assert_allclose(arrays["probs"], np.array([189, 66, 4]) / 259, rtol=1e-6)
  with pytest.raises(ValueError, match="smaller"):
    sr_data.training_arrays(coded_photos(), 34)


def test_held_out_crops_are_fixed_and_inside_the_photos():
  photos = coded_photos()[:2]
  crops = sr_data.held_out_crops(photos, 32, 2)
  assert crops.shape == (4, 32, 32, 3)
  # At 0.1 and 0.9 of the diagonal, rounded: (40 - 32, 52 - 32) = (8, 20) free rows and
  # columns in photo 0 give tops 1, 7 and lefts 2, 18; (32, 1) in photo 1 give 3, 29 and 0, 1.
  # The coded pixels name (photo, row, column) of each crop's top left corner.
  starts = [(0, 1, 2), (0, 7, 18), (1, 3, 0), (1, 29, 1)]
  for crop, (i, top, left) in zip(crops, starts, strict=True):
    np.testing.assert_array_equal(crop, photos[i][top : top + 32, left : left + 32])
  np.testing.assert_array_equal(crops[:, 0, 0], [[50 * i, t, s] for i, t, s in starts])
  centre = sr_data.held_out_crops(photos[:1], 32, 1)[0]
  np.testing.assert_array_equal(centre, photos[0][4:36, 10:42])


def test_the_package_split_is_disjoint_and_loads():
  train = {n for _, n in sr_data.PACKAGE_PHOTOS["train"]}
  test = {n for _, n in sr_data.PACKAGE_PHOTOS["test"]}
  assert not train & test and not set(sr_data.MATE_PHOTOS["train"]) & set(
    sr_data.MATE_PHOTOS["test"]
  )
  data = sr_data.load_sr_data("packages", crop=24, eval_crop=32, eval_crops_per_photo=2)
  assert data.photos == "packages" and data.test_hr.shape == (6, 32, 32, 3)
  np.testing.assert_array_equal(data.test_lr, imresize.downsample(data.test_hr, 4))
  assert data.info()["dataset_test_photos"] == "chelsea.png,flower.jpg,grace_hopper.jpg"


def test_mate_photos_not_prepared_is_one_line(tmp_path, monkeypatch):
  monkeypatch.setenv("GAN_JAX_CACHE", str(tmp_path))
  assert sr_data.resolve_photos("auto") == "packages"
  with pytest.raises(errors.DataUnavailableError, match="prepare mate_backgrounds") as e:
    sr_data.resolve_photos("packages+mate")
  assert "\n" not in str(e.value)


def _mock_div2k(sizes):
  """tfds.testing.mock_data for DIV2K: coded photos of the given (H, W) per split."""
  import tensorflow as tf
  import tensorflow_datasets as tfds

  def as_dataset(self, split, *args, **kwargs):
    photos = [
      np.stack([np.full((h, w), i), *np.indices((h, w))], -1).astype(np.uint8)
      for i, (h, w) in enumerate(sizes[str(split)])
    ]
    return tf.data.Dataset.from_generator(
      lambda: ({"hr": p, "lr": p[::4, ::4]} for p in photos),
      output_signature={k: tf.TensorSpec((None, None, 3), tf.uint8) for k in ("hr", "lr")},
    )

  return tfds.testing.mock_data(as_dataset_fn=as_dataset)


@pytest.mark.slow  # over 10 s
@pytest.mark.usefixtures("temporary_files_in_tmp_path")  # TFDS's leftovers of mock_data
def test_div2k_from_tfds_mock_data(monkeypatch):
  monkeypatch.setattr(sr_data, "div2k_prepared", lambda: True)
  assert sr_data.resolve_photos("auto") == "div2k"
  sizes = {"train": [(80, 96), (20, 20), (64, 64)], "validation": [(48, 56), (40, 40)]}
  with _mock_div2k(sizes):
    data = sr_data.load_sr_data("div2k", crop=16, eval_crop=32, eval_crops_per_photo=2)
  assert data.photos == "div2k" and data.info()["dataset_source"] == "div2k"
  # The 20-px photo is smaller than a 32-px tile: two photos give 16 tiles each.
  assert data.names["train"] == ["div2k_train_0000", "div2k_train_0002"]
  assert data.train["photos"].shape[0] == 32 and data.train["photos"].shape[1:3] == (32, 32)
  assert data.names["test"] == ["div2k_validation_0000", "div2k_validation_0001"]
  assert data.test_hr.shape == (4, 32, 32, 3) and data.test_lr.shape == (4, 8, 8, 3)
  np.testing.assert_array_equal(data.test_lr, imresize.downsample(data.test_hr, 4))
  # The grid spans the photo, corners included: the last tile ends at the bottom right.
  tiles = sr_data.grid_tiles(np.zeros((80, 96, 3), np.uint8) + np.arange(96)[:, None], 32, 16)
  assert len(tiles) == 16 and tiles[-1][0, -1, 0] == 95 and tiles[0][0, 0, 0] == 0


def test_div2k_not_prepared_is_one_line(monkeypatch):
  monkeypatch.setattr(sr_data, "div2k_prepared", lambda: False)
  with pytest.raises(errors.DataUnavailableError, match="tfds build div2k/bicubic_x4"):
    sr_data.resolve_photos("div2k")
  assert sr_data.resolve_photos("auto") in ("packages", "packages+mate")
