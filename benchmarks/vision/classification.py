"""Image classification: DenseNet-BC and the backbones trained on real digits; ImageNet-size
parameters and inference throughput next to ``tf.keras.applications.DenseNet121``.

Part 1, training: scikit-learn's handwritten digits (1,797 real 8x8 images, 10 classes, shipped
with scikit-learn) upsampled to ``--size`` (pixel repetition), stratified 80/20 split, Adam 1e-3,
``--epochs`` epochs, batch-norm momentum 0.9 (``--bn_momentum``; Keras' 0.99 has not settled
after a few epochs of 23 steps); held-out accuracy and wall-clock training time. The ImageNet-configured
backbones (stride 32) are trained as registered, only ``num_classes`` and ``input_shape`` changed.

Part 2, throughput: every ImageNet-size model at 224x224x3 with 1000 classes, images/s of
``predict`` on ``--batch`` random images (median of ``--repeats`` runs after a warm-up), and
the ratio to ``tf.keras.applications.DenseNet121`` (weights=None) measured in the same process.

    .venv/bin/python -m benchmarks.vision.classification [--size 32] [--epochs 3] [--batch 8]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import zoo
from zoo.batch_norm import set_batch_norm_momentum
from benchmarks.report import save, saved_results
from zoo.backend import keras
from zoo.data import digits

NAME = "vision_classification"
TRAINED = ["densenet_bc_100", "densenet121", "res2net50", "dpn68", "dpn92", "hardnet68", "vovnet39"]
IMAGENET = ["densenet121", "densenet169", "densenet201", "densenet264", "res2net50", "dpn68", "dpn92", "hardnet68",
            "vovnet39"]


def images_per_second(model, batch, repeats):
    images = np.random.default_rng(0).random((batch, 224, 224, 3), dtype=np.float32)
    model.predict(images, batch_size=batch, verbose=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(images, batch_size=batch, verbose=0)
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def train_on_digits(args) -> list[dict]:
    (x_train, y_train), (x_test, y_test) = digits.load(args.size, seed=args.seed)
    training = []
    for name in args.models:
        keras.utils.set_random_seed(args.seed)
        model = zoo.create(name, input_shape=(args.size, args.size, 1), num_classes=10)
        set_batch_norm_momentum(model, args.bn_momentum)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        training.append({"model": name, "params": model.count_params(), "accuracy": accuracy,
                         "train_seconds": seconds, "epochs": args.epochs})
        print(training[-1], flush=True)
    return training


def measure_throughput(args) -> list[dict]:
    """The reference is measured again after every model, and each model's ratio is to the mean of the
    reference measurements just before and after it, so that a machine whose speed drifts during the
    run (load, clock) moves both sides of a ratio alike. The reference's row is the median of its runs."""
    reference = keras.applications.DenseNet121(weights=None)
    reference_speeds = [images_per_second(reference, args.batch, args.repeats)]
    rows = []
    for name in args.throughput_models:
        model = zoo.create(name)
        speed = images_per_second(model, args.batch, args.repeats)
        reference_speeds.append(images_per_second(reference, args.batch, args.repeats))
        rows.append({"model": name, "params": model.count_params(), "images_per_second": speed,
                     "ratio": speed / np.mean(reference_speeds[-2:])})
        print(rows[-1], flush=True)
    return [{"model": "tf.keras.applications.DenseNet121", "params": reference.count_params(),
             "images_per_second": float(np.median(reference_speeds)), "ratio": 1.0}, *rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="throughput batch at 224x224")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bn_momentum", type=float, default=0.9,
                        help="batch-norm moving-average momentum (zoo.batch_norm.set_batch_norm_momentum)")
    parser.add_argument("--seed", type=int, default=0)
    # Either part can be rerun alone; the other's rows, notes and command are kept from the saved results.
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--skip_throughput", action="store_true")
    parser.add_argument("--models", nargs="+", default=TRAINED, choices=TRAINED,
                        help="models to train; the saved rows of the others are kept")
    parser.add_argument("--throughput_models", nargs="+", default=IMAGENET, choices=IMAGENET,
                        help="models to measure at 224x224, each against the reference measured in the same "
                             "process; the saved rows of the others are kept")
    parser.add_argument("--notes", nargs="*", default=[],
                        help="notes on this run (e.g. machine load), added to the saved ones: the training part's, "
                             "or with --skip_training the throughput part's")
    args = parser.parse_args()
    earlier = saved_results(NAME)
    command = (".venv/bin/python -m benchmarks.vision.classification "
               + " ".join(f"--{k} {v}" for k, v in vars(args).items()
                          if k not in ("skip_training", "skip_throughput", "models", "throughput_models", "notes"))
               + " --models " + " ".join(args.models) + " --throughput_models " + " ".join(args.throughput_models))
    parts = {}  # part -> (rows, notes, command)
    earlier_training = earlier.get("parts", {}).get("training", ([], [], ""))
    if args.skip_training:
        parts["training"] = earlier_training
    else:
        rows = {row["model"]: row for row in earlier_training[0] if row["model"] not in args.models}
        rows.update((row["model"], row) for row in train_on_digits(args))
        parts["training"] = ([rows[name] for name in TRAINED if name in rows], [
            f"digits: sklearn load_digits upsampled 8 -> {args.size} px, 1 channel, stratified 80/20 split "
            f"(seed {args.seed}), batch {args.batch_size}, Adam 1e-3, batch-norm momentum {args.bn_momentum}; "
            "each model's epochs are in its row", *earlier_training[1][1:], *args.notes],
            command + " --skip_throughput")
    earlier_throughput = earlier.get("parts", {}).get("throughput", ([], [], ""))
    if args.skip_throughput:
        parts["throughput"] = earlier_throughput
    else:
        reference, *measured = measure_throughput(args)
        partial = set(args.throughput_models) != set(IMAGENET) and bool(earlier_throughput[0])
        some = [f"{', '.join(args.throughput_models)} re-measured alone, each ratio against the reference measured "
                f"in that run ({reference['images_per_second']:.1f} images/s); the reference row is the earlier "
                "run's"] if partial else []
        # A partial run keeps the saved rows, the reference's included, and replaces only what it measured.
        rows = {row["model"]: row for row in [reference, *(earlier_throughput[0] if partial else [])]}
        rows.update((row["model"], row) for row in measured)
        parts["throughput"] = ([rows[name] for name in [reference["model"], *IMAGENET] if name in rows], [
            f"throughput: 224x224x3, 1000 classes, batch {args.batch}, median of {args.repeats} predict calls "
            "after a warm-up, float32 on CPU; ratio = images/s / the mean images/s of "
            "tf.keras.applications.DenseNet121 measured just before and just after the model in the same process "
            "(its row: the median of those runs); target >= 1.0 for the DenseNet variants that mirror it",
            *(earlier_throughput[1][1:] if partial else []), *some, *(args.notes if args.skip_training else [])],
            command + " --skip_training")
    training, throughput = parts["training"][0], parts["throughput"][0]
    table = [["model", "params", "224x224 images/s", "ratio to keras DenseNet121", "digits accuracy",
              "digits epochs", "digits train s"]]
    trained = {row["model"]: row for row in training}

    def digits_cells(name):
        fit = trained.get(name)
        if fit is None:
            return ["", "", ""]
        # Rows saved before epochs were recorded per row all trained 3 epochs.
        return [f"{fit['accuracy']:.4f}", str(fit.get("epochs", 3)), f"{fit['train_seconds']:.0f}"]

    table += [[name, trained[name]["params"], "", "", *digits_cells(name)]
              for name in TRAINED if name in trained and name not in IMAGENET]
    for row in throughput:
        table.append([row["model"], row["params"], f"{row['images_per_second']:.1f}", f"{row['ratio']:.2f}",
                      *digits_cells(row["model"])])
    save(NAME, {
        "title": "Image classification: digits accuracy, ImageNet-size parameters and throughput",
        "command": " ; ".join(part[2] for part in parts.values() if part[2]),
        "notes": [note for part in parts.values() for note in part[1]],
        "table": table, "training": training, "throughput": throughput, "parts": parts,
    })


if __name__ == "__main__":
    main()
