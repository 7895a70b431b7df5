"""One process of a multi-process streamed run (tests/test_stream.py starts them).

  python tests/_stream_process.py PORT NUM_PROCESSES PROCESS_ID WORKDIR TOTAL_STEPS

The TFDS pipeline is test_stream's 40 in-memory digits; the process joins the cluster
through gan_jax's own start-up (gloo collectives between the processes).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
  port, count, index, workdir, steps = sys.argv[1:]
  from gan_jax import parallel, train
  from gan_jax.data import images

  parallel.initialize_distributed(f"127.0.0.1:{port}", int(count), int(index), timeout_s=120)
  import test_stream

  images._tfds_pipeline = test_stream._in_memory_pipeline
  config = test_stream.stream_config()
  config.total_steps = int(steps)
  train.train_and_evaluate(config, workdir)
