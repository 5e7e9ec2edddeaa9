"""Seeds, op determinism and thread limits for TensorFlow training runs."""
from __future__ import annotations

import keras
import tensorflow as tf

_DETERMINISM_ON = False


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) and turn on op determinism.

    Op determinism is process-wide and stays on: TensorFlow then picks deterministic kernels,
    so the same seed gives the same weights on the CPU.
    """
    global _DETERMINISM_ON
    keras.utils.set_random_seed(int(seed))
    if not _DETERMINISM_ON:
        tf.config.experimental.enable_op_determinism()
        _DETERMINISM_ON = True


def limit_threads(n: int = 2) -> bool:
    """Ask TensorFlow for ``n`` intra-op and ``n`` inter-op threads; True when it took effect.

    Inter-op threads run independent ops at the same time: the image tower's convolutions
    beside the text tower's small GRU steps, which use one core each. With one inter-op thread
    the two towers took turns and a training step was about 1.2x slower on 2 cores. Every op is
    still deterministic (op determinism), and so is the result.
    TensorFlow accepts this only before its runtime starts (the first op); afterwards the
    setting is fixed and this returns False (the course machine has 2 cores either way).
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(int(n))
        return True
    except RuntimeError:
        return False
