"""U-Net vs UNet++ on the ISBI 2012 EM membranes (the U-Net paper's data), several seeds.

Fixed split: slices 0-23 train, 24-29 test (``zoo.data.isbi.split``). Images are downsampled to
``--size`` (area averaging; masks nearest) so that a CPU run stays short; training uses random
flips, Adam 1e-3, the BCE + Dice loss, and batch-norm momentum 0.9 (``--bn_momentum``: Keras'
0.99 leaves the moving statistics unsettled after this run's 120 steps). Metrics on the test slices at threshold 0.5, for the
membrane class: Dice, IoU and pixel accuracy; inference is the median ms per image over repeated
batched predictions. UNet++ with deep supervision is also evaluated pruned to each shallower level.

    .venv/bin/python -m benchmarks.vision.isbi_segmentation [--size 128] [--epochs 20] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import zoo
from zoo.batch_norm import set_batch_norm_momentum
from benchmarks.report import save
from zoo.backend import keras, tf
from zoo.data import isbi
from zoo.losses import BCEDiceLoss

VARIANTS = {  # name -> (registered model, overrides); the same depth and base width for all
    "U-Net": ("unet", {}),
    "UNet++ (deep supervision)": ("unet_plus_plus", {"deep_supervision": True}),
    "UNet++ (no deep supervision)": ("unet_plus_plus", {"deep_supervision": False}),
}


def scores(masks, probabilities):
    predicted = probabilities > 0.5
    truth = masks > 0.5
    intersection = np.logical_and(predicted, truth).sum()
    return {"dice": 2 * intersection / (predicted.sum() + truth.sum()),
            "iou": intersection / np.logical_or(predicted, truth).sum(),
            "pixel_accuracy": float((predicted == truth).mean())}


def inference_ms(model, images, repeats=5):
    model.predict(images, verbose=0)  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(images, batch_size=len(images), verbose=0)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / len(images)


def augmented(images, masks, batch_size, seed):
    def flip(image, mask):
        both = tf.concat([image, mask], axis=-1)
        both = tf.image.random_flip_up_down(tf.image.random_flip_left_right(both))
        return both[..., :1], both[..., 1:]

    return (tf.data.Dataset.from_tensor_slices((images, masks)).shuffle(len(images), seed=seed)
            .map(flip).batch(batch_size))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--base_filters", type=int, default=8)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--bn_momentum", type=float, default=0.9,
                        help="batch-norm moving-average momentum (zoo.batch_norm.set_batch_norm_momentum)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data_dir", default="../shared/data/isbi2012-em-membranes")
    args = parser.parse_args()
    images, masks = isbi.load(args.data_dir, size=args.size)
    (x_train, y_train), (x_test, y_test) = isbi.split(images, masks)
    runs = []
    for seed in args.seeds:
        for variant, (name, overrides) in VARIANTS.items():
            keras.utils.set_random_seed(seed)
            tf.random.set_seed(seed)
            model = zoo.create(name, depth=args.depth, base_filters=args.base_filters, **overrides)
            set_batch_norm_momentum(model, args.bn_momentum)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=BCEDiceLoss())
            start = time.perf_counter()
            model.fit(augmented(x_train, y_train, args.batch_size, seed), epochs=args.epochs, verbose=0)
            train_seconds = time.perf_counter() - start
            evaluated = [(variant, model)]
            if overrides.get("deep_supervision"):
                evaluated += [(f"UNet++ pruned L{level}", model.pruned(level)) for level in range(1, args.depth)]
            for label, net in evaluated:
                run = {"variant": label, "seed": seed, "params": net.count_params(), "train_seconds": train_seconds,
                       **scores(y_test, net.predict(x_test, verbose=0)), "ms_per_image": inference_ms(net, x_test)}
                print(run, flush=True)
                runs.append(run)
    table = [["model", "params", "Dice (mean ± sd)", "IoU", "pixel acc.", "inference ms/image", "train s/seed"]]
    for label in dict.fromkeys(r["variant"] for r in runs):
        rows = [r for r in runs if r["variant"] == label]

        def stat(key, fmt="{:.4f}"):
            values = np.array([r[key] for r in rows])
            return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}"

        table.append([label, rows[0]["params"], stat("dice"), stat("iou"), stat("pixel_accuracy"),
                      stat("ms_per_image", "{:.1f}"), stat("train_seconds", "{:.0f}")])
    save("vision_isbi_segmentation", {
        "title": "ISBI 2012 EM membranes: U-Net vs UNet++ (Dice/IoU/pixel accuracy of the membrane class)",
        "command": ".venv/bin/python -m benchmarks.vision.isbi_segmentation "
                   + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k not in ("seeds", "data_dir"))
                   + " --seeds " + " ".join(map(str, args.seeds)),
        "notes": [f"fixed split: slices 0-23 train, 24-29 test; images downsampled 512 -> {args.size}; "
                  f"depth {args.depth}, base filters {args.base_filters} for every model; {args.epochs} epochs, "
                  f"batch {args.batch_size}, Adam 1e-3, BCE + Dice, random flips, batch-norm momentum {args.bn_momentum}; "
                  f"seeds {args.seeds}",
                  "pruned rows reuse the deep-supervision model's weights (no retraining); their train time is "
                  "that model's",
                  "CPU run on the 2-core machine, nothing else running (the load average is under machine); "
                  "mean ± standard deviation over seeds"],
        "table": table, "runs": runs,
    })


if __name__ == "__main__":
    main()
