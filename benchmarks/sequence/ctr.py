"""Behaviour-sequence CTR models vs no-history baselines and DeepCTR on MovieLens latest-small.

    .venv/bin/python -m benchmarks.sequence.ctr [--epochs 1] [--seeds 0 1 2] [--max_len 20] [--models ...]

Data and split: ``benchmarks.sequence.data`` (per-user time-ordered, last 20% of each user's
ratings are the test set; histories strictly before each impression). Every model gets the same
embedding size (16), top MLP (200-80), Adam 1e-3, batch 1024 and epochs; the history models and
DeepCTR's DIN/DIEN see the same features (DeepCTR pools the aligned history side features and
genres by mean, as ``FeatureEmbedding`` does). Metrics on the test set: AUC, gAUC (per-user AUC
weighted by the user's impressions, over users with both classes) and log loss, mean and std
over the seeds; throughput is training examples per second (wall time of ``fit``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

import zoo
from benchmarks.ranking.initialization import DEEPCTR_STDDEV
from benchmarks.report import save, saved_results
from benchmarks.sequence import data as data_lib
from zoo.backend import keras
from zoo.batch_norm import set_batch_norm_momentum

EMBEDDING, HIDDEN, BATCH = 16, (200, 80), 1024
DEEPCTR_INIT = {"class_name": "RandomNormal", "config": {"stddev": DEEPCTR_STDDEV}}  # DeepCTR's embedding start
OURS = {
    "deepfm": ("baseline", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, dropout=0.0)),
    "dcn_v2": ("baseline", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, dropout=0.0)),
    "din": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN)),
    "dien": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN)),
    "bst": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, num_heads=4)),
    "tin": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN)),
    "sdim": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN)),
    # DeepCTR's DIN uses ReLU in its top MLP (Dice only in the attention unit): is Dice the gap?
    "din_relu": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, activation="relu")),
    # Dice standardizes with a batch norm: with Keras' momentum of 0.99, one epoch's 79 steps leave its moving
    # statistics (those used at inference) about half at their initial values. Is that the gap?
    "din_bn09": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN)),
    # DeepCTR starts its embedding tables from N(0, 1e-4), Keras from U(-0.05, 0.05); that was the whole
    # MovieLens gap of four ranking models (ranking_initialization.json). Is it DIN's too?
    "din_init": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, embeddings_initializer=DEEPCTR_INIT)),
    "din_init_bn09": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, embeddings_initializer=DEEPCTR_INIT)),
    # The paper's BST concatenates the Transformer's outputs at every position; it trails the no-history
    # baselines. For lack of training (3 epochs), or for what it feeds the MLP (bst: the candidate's output)?
    "bst_flatten": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, num_heads=4,
                                    sequence_output="flatten")),
    "bst_flatten_3_epochs": ("history", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, num_heads=4,
                                             sequence_output="flatten")),
    "deepfm_3_epochs": ("baseline", dict(embedding_dim=EMBEDDING, hidden_units=HIDDEN, dropout=0.0)),  # its peer
}
EPOCHS = {"bst_flatten_3_epochs": 3, "deepfm_3_epochs": 3}  # rows trained for other than --epochs epochs
BATCH_NORM_MOMENTUM = {"din_bn09": 0.9, "din_init_bn09": 0.9}  # rows trained with another batch-norm momentum
# Rows that are a registered model with other settings.
ZOO_NAMES = {"din_relu": "din", "din_bn09": "din", "din_init": "din", "din_init_bn09": "din",
             "bst_flatten": "bst", "bst_flatten_3_epochs": "bst", "deepfm_3_epochs": "deepfm"}

# The pairs the issue compares come first, so a partial run (results are saved after each model) has them.
MODEL_ORDER = ["din", "deepctr_din", "din_relu", "din_bn09", "din_init", "din_init_bn09", "deepfm", "dcn_v2", "tin",
               "sdim", "bst", "bst_flatten", "bst_flatten_3_epochs", "deepfm_3_epochs", "dien", "deepctr_dien",
               "mean_past_rating"]


def gauc(users, labels, scores) -> float:
    """Per-user AUC weighted by the user's impressions, over users whose labels are not all equal."""
    total, weight = 0.0, 0
    order = np.argsort(users, kind="stable")
    users, labels, scores = users[order], labels[order], scores[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    for y, s in zip(np.split(labels, bounds), np.split(scores, bounds)):
        if 0 < y.sum() < len(y):
            total += roc_auc_score(y, s) * len(y)
            weight += len(y)
    return total / weight


def deepctr_model(name: str, split: data_lib.Split):
    """DeepCTR 0.9.4's DIN or DIEN on the same features (history attention on movie ids)."""
    from deepctr.feature_column import SparseFeat, VarLenSparseFeat
    from deepctr.models import DIEN, DIN

    sizes = {f.name: f.vocab_size for f in split.spec.features}
    max_len = split.spec.features[-1].max_len
    columns = [SparseFeat(n, sizes[n], embedding_dim=EMBEDDING) for n in data_lib.CATEGORICAL]
    columns.append(VarLenSparseFeat(SparseFeat("genres", sizes["genres"], embedding_dim=EMBEDDING),
                                    maxlen=data_lib.GENRES_LEN, combiner="mean", length_name="genres_length"))
    columns += [VarLenSparseFeat(SparseFeat(n, sizes[n], embedding_dim=EMBEDDING), maxlen=max_len, combiner="mean",
                                 length_name="seq_length") for n in data_lib.HISTORY[1:]]
    history = VarLenSparseFeat(SparseFeat("hist_movie_id", sizes["movie_id"], embedding_dim=EMBEDDING,
                                          embedding_name="movie_id"), maxlen=max_len, length_name="seq_length")
    if name == "deepctr_din":
        return DIN(columns + [history], ["movie_id"], dnn_hidden_units=HIDDEN, att_hidden_size=(80, 40))
    negative = VarLenSparseFeat(SparseFeat("neg_hist_movie_id", sizes["movie_id"], embedding_dim=EMBEDDING,
                                           embedding_name="movie_id"), maxlen=max_len, length_name="seq_length")
    return DIEN(columns + [history, negative], ["movie_id"], gru_type="AUGRU", use_negsampling=True,
                dnn_hidden_units=HIDDEN)


def deepctr_inputs(arrays: dict) -> dict:
    inputs = {k: v for k, v in arrays.items() if k != "hist_movie_ids"}
    history = arrays["hist_movie_ids"]
    inputs["hist_movie_id"] = history
    inputs["seq_length"] = (history != 0).sum(axis=1)
    inputs["genres_length"] = (arrays["genres"] != 0).sum(axis=1)
    # DIEN's negatives: other rows' behaviours at the same positions (as our InterestExtractor does).
    inputs["neg_hist_movie_id"] = np.roll(history, 1, axis=0) * (history != 0)
    return inputs


def mean_past_rating(split: data_lib.Split) -> np.ndarray:
    """A score with no learning: the mean of the ratings in each test impression's history (the training
    ratings' mean when the history is empty). It can only tell generous raters, and a user's current
    mood, from harsh ones; it knows nothing of the candidate movie, so it cannot rank one user's
    impressions. If it alone lifts AUC but not gAUC, that is what the history adds over the baselines."""
    test = split.frame[split.frame["is_test"]]
    fallback = float(np.mean([r for h in split.frame.loc[~split.frame["is_test"], "hist_ratings"] for r in h]))
    return np.array([np.mean(h) if len(h) else fallback for h in test["hist_ratings"]])


def score(split: data_lib.Split, scores: np.ndarray) -> dict:
    return {"auc": roc_auc_score(split.y_test, scores), "gauc": gauc(split.test_users, split.y_test, scores)}


def run_one(name: str, split: data_lib.Split, seed: int, epochs: int) -> dict:
    epochs = EPOCHS.get(name, epochs)
    if name == "mean_past_rating":  # no training: the same value for every seed
        rated = mean_past_rating(split) / 10.0  # ratings are stored times two, 1..10
        return {**score(split, rated), "logloss": log_loss(split.y_test, np.clip(rated, 1e-7, 1 - 1e-7)),
                "train_examples_per_s": None}
    keras.utils.set_random_seed(seed)
    if name.startswith("deepctr"):
        model = deepctr_model(name, split)
        train, test = deepctr_inputs(split.train), deepctr_inputs(split.test)
    else:
        kind, hparams = OURS[name]
        spec = split.spec if kind == "history" else split.baseline_spec
        model = zoo.create(ZOO_NAMES.get(name, name), spec, **hparams)
        if name in BATCH_NORM_MOMENTUM:
            set_batch_norm_momentum(model, BATCH_NORM_MOMENTUM[name])
        train = {n: split.train[n] for n in spec.names}
        test = {n: split.test[n] for n in spec.names}
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    start = time.perf_counter()
    model.fit(train, split.y_train, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    fit_seconds = time.perf_counter() - start
    scores = model.predict(test, batch_size=4096, verbose=0).reshape(-1)
    scores = np.clip(scores, 1e-7, 1 - 1e-7)
    return {**score(split, scores), "logloss": log_loss(split.y_test, scores),
            "train_examples_per_s": epochs * len(split.y_train) / fit_seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max_len", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=MODEL_ORDER)
    parser.add_argument("--notes", nargs="*", default=[], help="extra notes for the results (e.g. machine load)")
    parser.add_argument("--merge", action="store_true",
                        help="add to the saved runs (and their extra notes) instead of starting afresh")
    args = parser.parse_args()
    split = data_lib.load(args.max_len)
    earlier = saved_results("sequence_ctr") if args.merge else {}
    runs = earlier.get("runs", {})
    args.notes = earlier.get("args", {}).get("notes", []) + args.notes
    failures = {k: v for k, v in earlier.get("failures", {}).items() if k not in args.models}
    for name in args.models:
        runs[name] = []
        try:
            for seed in args.seeds:
                runs[name].append(run_one(name, split, seed, args.epochs))
                print(name, seed, runs[name][-1], flush=True)
        except Exception as error:  # a peer that cannot run in this stack is reported, not fatal
            del runs[name]
            # Keras wraps the cause in a long message; its innermost "...Error: ..." line names it.
            causes = [line.strip() for line in str(error).splitlines() if "Error: " in line]
            failures[name] = (causes[-1] if causes else f"{type(error).__name__}: {error}")[:300]
            print(name, "failed:", failures[name], flush=True)
        report(runs, failures, split, args)


def report(runs: dict, failures: dict, split: data_lib.Split, args) -> None:
    def cell(name, key, digits=4):
        values = [r[key] for r in runs[name]]
        return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"

    table = [["model", "history", "AUC", "gAUC", "log loss", "train examples/s"]]
    runs = {name: runs[name] for name in MODEL_ORDER if name in runs}
    for name in runs:
        history = "no" if OURS.get(name, ("history",))[0] == "baseline" else "yes"
        history = "ratings only, no model" if name == "mean_past_rating" else history
        table.append([name, history, cell(name, "auc"), cell(name, "gauc"), cell(name, "logloss"),
                      "—" if name == "mean_past_rating" else
                      f"{np.mean([r['train_examples_per_s'] for r in runs[name]]):.0f}"])
    missing = [m for m in MODEL_ORDER if m not in runs and m not in failures]
    notes = [
        f"MovieLens latest-small, per-user time-ordered split: {len(split.y_train)} train / {len(split.y_test)} test "
        "impressions (each user's last 20% by time are test); clicked = rating >= 4",
        f"histories: up to {args.max_len} ratings strictly before the impression (movie, first genre, rating, "
        "log-hour gap); baselines (deepfm, dcn_v2) see the same features without the history",
        f"seeds {args.seeds}, {args.epochs} epoch(s), batch {BATCH}, Adam 1e-3, embedding {EMBEDDING}, MLP {HIDDEN}",
        *args.notes,
        *([f"not run yet (the run was cut short): {', '.join(missing)}"] if missing else []),
        *(f"{name} failed: {message}" for name, message in failures.items()),
    ]
    for theirs, ours in (*(("deepctr_din", name) for name in ["din", *ZOO_NAMES] if name.startswith("din")),
                         ("deepctr_dien", "dien")):
        if theirs in runs and ours in runs:
            gap = np.mean([r["auc"] for r in runs[ours]]) - np.mean([r["auc"] for r in runs[theirs]])
            ratio = (np.mean([r["train_examples_per_s"] for r in runs[ours]])
                     / np.mean([r["train_examples_per_s"] for r in runs[theirs]]))
            notes.append(f"{ours} vs DeepCTR {theirs.removeprefix('deepctr_').upper()}: AUC difference {gap:+.4f} (target >= -0.001: "
                         f"{'met' if gap >= -0.001 else 'NOT met'}), training throughput ratio {ratio:.2f}x")
    save("sequence_ctr", {"title": "Behaviour-sequence CTR models on MovieLens latest-small (time-ordered split)",
                          "command": ".venv/bin/python -m benchmarks.sequence.ctr", "notes": notes, "table": table,
                          "runs": runs, "failures": failures, "args": vars(args)})


if __name__ == "__main__":
    main()
