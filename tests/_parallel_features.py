"""Classifier features of 50 images on N fake CPU devices, saved for test_evaluate_parallel.py.

python tests/_parallel_features.py N OUT.npz
"""

import os
import sys

num_devices, out = int(sys.argv[1]), sys.argv[2]
import _fake_devices  # noqa: E402 - the suite's XLA flags plus a device count

os.environ["XLA_FLAGS"] = _fake_devices.xla_flags(num_devices)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.evaluation import classifier  # noqa: E402

assert jax.device_count() == num_devices
clf = classifier.Classifier(params=classifier.init_params(0, 28), image_size=28, batch_size=16)
images = np.random.RandomState(0).uniform(-1, 1, (50, 28, 28, 1)).astype(np.float32)
features, logits = clf.apply(images)
np.savez(out, features=features, logits=logits)
