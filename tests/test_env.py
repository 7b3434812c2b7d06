"""Importing zoo selects Keras 2 by itself, and refuses a TensorFlow already bound to Keras 3."""
from __future__ import annotations

import os
import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_importing_zoo_first_selects_keras_2_without_the_user_setting_anything():
    result = _python("import zoo, os; import tensorflow as tf; "
                     "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.__name__)")
    assert result.returncode == 0, result.stderr
    flag, keras_module = result.stdout.split()
    assert flag == "1" and keras_module.startswith("tf_keras")


def test_tensorflow_imported_first_with_keras_3_gives_a_clear_error():
    result = _python("import tensorflow as tf; tf.keras.layers; import pipelines")
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr and "TF_USE_LEGACY_KERAS=1" in result.stderr
