"""DenseNet training memory with and without ``memory_efficient`` (recomputed concatenation and batch
norm, Pleiss et al., arXiv:1707.06990).

Each (model, mode) trains in a process of its own, so one's memory never counts against another's:
the peak RSS rise over the built model during a traced warm-up step and ``--steps`` SGD steps
(sampled every 50 ms), and the median seconds per step after the warm-up. Random images and labels; the numbers are the
same for any data.

    .venv/bin/python -m benchmarks.vision.densenet_memory [--steps 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from benchmarks.report import save

# (model, input size, batch): the ImageNet DenseNets at 224 and the paper's CIFAR network at 32.
CASES = [("densenet121", 224, 8), ("densenet264", 224, 8), ("densenet_bc_100", 32, 64)]


def measure(name: str, size: int, batch: int, memory_efficient: bool, steps: int) -> dict:
    """One training run in this process: peak RSS rise (MiB) and median seconds per step."""
    import numpy as np

    import zoo
    from benchmarks.ranking.measure import PeakRss
    from zoo.backend import keras, tf

    keras.utils.set_random_seed(0)
    model = zoo.create(name, input_shape=(size, size, 3), num_classes=10, memory_efficient=memory_efficient)
    optimizer = keras.optimizers.SGD(0.01)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    labels = tf.constant(rng.integers(0, 10, batch))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, model(images, training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    seconds = []
    with PeakRss() as rss:  # from the built model: the allocator keeps what a step took, so a later start sees none
        step()  # traced and run once, not timed
        for _ in range(steps):
            start = time.perf_counter()
            step().numpy()
            seconds.append(time.perf_counter() - start)
    return {"model": name, "size": size, "batch": batch, "memory_efficient": memory_efficient,
            "params": model.count_params(), "peak_rss_rise_mib": (rss.peak - rss.start) / 2**20,
            "seconds_per_step": float(np.median(seconds))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # "name,size,batch,efficient": measure in this process
    args = parser.parse_args()
    if args.one:
        name, size, batch, efficient = args.one.split(",")
        print(json.dumps(measure(name, int(size), int(batch), efficient == "1", args.steps)))
        return
    runs = []
    for name, size, batch in CASES:
        for efficient in (False, True):
            done = subprocess.run([sys.executable, "-m", "benchmarks.vision.densenet_memory", "--steps", str(args.steps),
                                   "--one", f"{name},{size},{batch},{int(efficient)}"],
                                  check=True, capture_output=True, text=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    table = [["model", "input", "batch", "params", "training memory, plain (MiB)", "memory-efficient (MiB)",
              "saving", "s/step plain", "s/step memory-efficient"]]
    for plain, efficient in zip(runs[::2], runs[1::2]):
        table.append([plain["model"], f"{plain['size']}x{plain['size']}", plain["batch"], plain["params"],
                      f"{plain['peak_rss_rise_mib']:.0f}", f"{efficient['peak_rss_rise_mib']:.0f}",
                      f"{1 - efficient['peak_rss_rise_mib'] / plain['peak_rss_rise_mib']:.0%}",
                      f"{plain['seconds_per_step']:.2f}", f"{efficient['seconds_per_step']:.2f}"])
    save("vision_densenet_memory", {
        "title": "DenseNet training memory: plain vs memory_efficient (recomputed concatenation and batch norm)",
        "command": f".venv/bin/python -m benchmarks.vision.densenet_memory --steps {args.steps}",
        "notes": ["training memory = peak RSS rise over the built model during one traced warm-up step and the "
                  f"{args.steps} timed SGD steps, sampled every 50 ms; one process per model and mode; random data, "
                  "10 classes",
                  "CPU, float32; both modes have the same parameters and compute the same function "
                  "(tests/test_vision_models.py checks outputs, gradients and moving statistics)"],
        "table": table, "runs": runs,
    })


if __name__ == "__main__":
    main()
