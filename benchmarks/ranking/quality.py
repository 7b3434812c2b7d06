"""Ranking zoo vs DeepCTR 0.9.4: test AUC, log loss, training throughput and peak memory.

Every ranking model that needs no behaviour history trains on MovieLens-CTR and UCI Adult (see
`benchmarks/ranking/data.py` for the fixed splits) with 3 seeds. Models DeepCTR also implements
train, in the same process and on the same arrays, through DeepCTR with the same embedding size,
MLP, optimizer, batch size and epochs. Targets (issue 3): our AUC >= DeepCTR's - 0.001 and our
throughput >= 1.3x DeepCTR's on every shared model.

    .venv/bin/python -m benchmarks.ranking.quality [--datasets movielens adult] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import tempfile

import numpy as np

import zoo
from benchmarks.ranking.data import load
from benchmarks.ranking.measure import train_and_score
from benchmarks.report import save, saved_results
from zoo.backend import tf
from zoo.features import CATEGORICAL, NUMERIC, SEQUENCE, FeatureSpec

EMBEDDING_DIM, HIDDEN_UNITS = 16, (256, 128)
DEFAULT_CACHE_DIR = str(pathlib.Path(tempfile.gettempdir()) / "zoo-ranking-bench")  # the encoded data sets
TRAINING = {"movielens": dict(batch_size=512, epochs=1, learning_rate=1e-3),
            "adult": dict(batch_size=512, epochs=3, learning_rate=1e-3)}

# Our hyper-parameters: the shared sizes, plus what makes each shared model the same architecture
# as DeepCTR's (no dropout or batch norm in either; DeepCTR's defaults).
OURS = {
    "wide_deep": dict(wide_crosses=()),
    "deepfm": dict(dropout=0.0),
    "dcn": dict(num_cross_layers=3, batch_norm=False),
    "dcn_mix": dict(num_cross_layers=3, projection_dim=32, num_experts=4),
    "autoint_plus": dict(num_layers=3, num_heads=2, attention_dim=8),
    "xdeepfm": dict(cin_layer_sizes=(128, 128), split_half=True),
    "fibinet": dict(reduction_ratio=3, bilinear_type="field_interaction", dropout=0.0),
    "fgcnn": dict(channels=(14, 16, 18, 20), kernel_heights=(7, 7, 7, 7), pooling_sizes=(2, 2, 2, 2),
                  recombined_channels=(3, 3, 3, 3)),
}


def _deepctr_peers():
    from deepctr import models

    common = dict(dnn_hidden_units=HIDDEN_UNITS, seed=0)
    return {
        "wide_deep": ("WDL", lambda lin, dnn: models.WDL(lin, dnn, **common)),
        "deepfm": ("DeepFM", lambda lin, dnn: models.DeepFM(lin, dnn, **common)),
        "dcn": ("DCN", lambda lin, dnn: models.DCN(lin, dnn, cross_num=3, cross_parameterization="vector", **common)),
        "dcn_mix": ("DCNMix", lambda lin, dnn: models.DCNMix(lin, dnn, cross_num=3, low_rank=32, num_experts=4,
                                                             **common)),
        "autoint_plus": ("AutoInt", lambda lin, dnn: models.AutoInt(lin, dnn, att_layer_num=3, att_embedding_size=8,
                                                                    att_head_num=2, att_res=True, **common)),
        "xdeepfm": ("xDeepFM", lambda lin, dnn: models.xDeepFM(lin, dnn, cin_layer_size=(128, 128),
                                                               cin_split_half=True, **common)),
        "fibinet": ("FiBiNET", lambda lin, dnn: models.FiBiNET(lin, dnn, bilinear_type="interaction",
                                                               reduction_ratio=3, **common)),
        "fgcnn": ("FGCNN", lambda lin, dnn: models.FGCNN(lin, dnn, conv_kernel_width=(7, 7, 7, 7),
                                                         conv_filters=(14, 16, 18, 20), new_maps=(3, 3, 3, 3),
                                                         pooling_width=(2, 2, 2, 2), **common)),
    }


def _deepctr_columns(spec: FeatureSpec):
    from deepctr.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

    columns = []
    for f in spec.features:
        if f.kind == CATEGORICAL:
            columns.append(SparseFeat(f.name, f.vocab_size, embedding_dim=EMBEDDING_DIM))
        elif f.kind == SEQUENCE:
            columns.append(VarLenSparseFeat(SparseFeat(f.name, f.vocab_size, embedding_dim=EMBEDDING_DIM),
                                            maxlen=f.max_len, combiner="mean"))
        elif f.kind == NUMERIC:
            columns.append(DenseFeat(f.name, 1))
    return columns


def _deepctr_split(spec: FeatureSpec, split):
    """DeepCTR's DenseFeat inputs are ``[batch, 1]``; everything else is as Transform emits it."""
    numeric = {f.name for f in spec.of_kind(NUMERIC)}
    inputs, labels = split
    return {k: v.reshape(-1, 1) if k in numeric else v for k, v in inputs.items()}, labels


def _our_hparams(name: str) -> dict:
    defaults = zoo.get_card(name).defaults
    shared = {k: v for k, v in (("embedding_dim", EMBEDDING_DIM), ("hidden_units", HIDDEN_UNITS),
                                ("mlp_embedding_dim", EMBEDDING_DIM), ("gmf_embedding_dim", EMBEDDING_DIM))
              if k in defaults}
    if name == "ncf_mlp":
        shared.pop("hidden_units")  # NCF's tower narrows from the pair of embeddings
    return {**shared, **OURS.get(name, {})}


def models_to_run() -> list[str]:
    """Ranking models that train on plain tabular features (behaviour-history models have their own benchmark)."""
    return [n for n in zoo.list_models(task="ranking") if zoo.get_card(n).inputs.get("sequence") != "required"]


def _summary(runs):
    values = {key: [getattr(r, key) for r in runs] for key in ("auc", "log_loss", "examples_per_second",
                                                                "peak_rss_rise_mib")}
    return {key: {"mean": float(np.mean(v)), "std": float(np.std(v))} for key, v in values.items()}


def run(datasets, seeds, cache_dir, only=None, on_model_done=lambda results: None, results=None):
    """Trains every model on every data set; ``on_model_done(results)`` after each (partial saves).

    ``results``: earlier results to add to (their other models' entries are kept as they are)."""
    peers = _deepctr_peers()
    results = results if results is not None else {}
    prepared = {dataset: load(dataset, cache_dir) for dataset in datasets}
    # Models DeepCTR also has come first, so a cut-short run still holds every comparison.
    names = sorted(only or models_to_run(), key=lambda name: name not in peers)
    for name in names:
        for dataset in datasets:
            data = prepared[dataset]
            spec = FeatureSpec.from_config(data["spec"])
            entry = results.setdefault(dataset, {}).setdefault(name, {})
            entry["zoo"] = _seeded_runs(lambda: zoo.create(name, spec, **_our_hparams(name)), data["train"],
                                        data["test"], dataset, name, seeds)
            if name in peers:
                entry["deepctr"] = _run_peer(peers[name], spec, data, dataset, seeds)
            on_model_done(results)
    return results


def _seeded_runs(build, train, test, dataset, label, seeds) -> dict:
    """One training per seed (seeded before ``build()``, so initialization is covered) and their summary."""
    runs = []
    for seed in seeds:
        tf.keras.utils.set_random_seed(seed)
        runs.append(train_and_score(build(), train, test, **TRAINING[dataset]))
        print(dataset, label, seed, dataclasses.asdict(runs[-1]), flush=True)
    return {"runs": [dataclasses.asdict(r) for r in runs], **_summary(runs)}


def _run_peer(peer, spec, data, dataset, seeds) -> dict:
    label, build = peer
    columns = _deepctr_columns(spec)
    try:
        return {"model": label, **_seeded_runs(lambda: build(columns, columns), _deepctr_split(spec, data["train"]),
                                               _deepctr_split(spec, data["test"]), dataset, label, seeds)}
    except Exception as error:  # a peer that cannot take these features is reported, not hidden
        print(dataset, label, "failed:", error, flush=True)
        return {"model": label, "error": f"{type(error).__name__}: {error}"[:300]}


def _fmt(stat, digits=4):
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _table(results):
    rows = [["data", "model", "AUC", "log loss", "train ex/s", "peak RSS rise MiB", "DeepCTR", "DeepCTR AUC",
             "AUC diff", "throughput ratio", "targets"]]
    for dataset, models in results.items():
        for name, entry in models.items():
            ours = entry["zoo"]
            row = [dataset, name, _fmt(ours["auc"]), _fmt(ours["log_loss"]),
                   f"{ours['examples_per_second']['mean']:.0f}", f"{ours['peak_rss_rise_mib']['mean']:.0f}"]
            peer = entry.get("deepctr")
            if peer is None:
                row += ["-", "-", "-", "-", "-"]
            elif "error" in peer:
                row += [peer["model"], "failed: " + peer["error"][:60], "-", "-", "-"]
            else:
                diff = ours["auc"]["mean"] - peer["auc"]["mean"]
                ratio = ours["examples_per_second"]["mean"] / peer["examples_per_second"]["mean"]
                met = ("AUC ok" if diff >= -0.001 else "AUC missed") + ", " + ("speed ok" if ratio >= 1.3 else
                                                                                 "speed missed")
                row += [peer["model"], _fmt(peer["auc"]), f"{diff:+.4f}", f"{ratio:.2f}x", met]
            rows.append(row)
    return rows


def _fixed_notes(seeds) -> list[str]:
    return [
        "splits: MovieLens latest-small ratings, seeded random 80/20 (numpy seed 2024); Adult: adult.data / "
        "adult.test. Features from the project's Transform fitted on the training split; both libraries "
        "get the same arrays (genres as a mean-pooled multi-hot sequence, numerics z-scored).",
        f"shared settings: embedding {EMBEDDING_DIM}, MLP {list(HIDDEN_UNITS)}, Adam lr 1e-3, "
        f"batch 512, epochs MovieLens 1 / Adult 3, seeds {seeds}.",
        "throughput: training examples/s over every step after the first 10 (tracing excluded); peak RSS "
        "rise: the process RSS peak during fit minus RSS at its start, sampled every 50 ms.",
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["movielens", "adult"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=None, help="default: every tabular ranking model")
    parser.add_argument("--cache_dir", default=DEFAULT_CACHE_DIR)
    parser.add_argument("--notes", nargs="*", default=[], help="extra notes for the results (e.g. machine load)")
    parser.add_argument("--merge", action="store_true",
                        help="add to the saved results (and their notes) instead of starting afresh")
    args = parser.parse_args()
    earlier = saved_results("ranking_quality") if args.merge else {}
    base_notes = earlier.get("notes", [])[len(_fixed_notes(args.seeds)):]  # the earlier run's own notes
    def save_results(results):
        save("ranking_quality", {
            "title": "Ranking zoo vs DeepCTR 0.9.4 (MovieLens-CTR, UCI Adult; mean ± std over seeds)",
            "command": ".venv/bin/python -m benchmarks.ranking.quality",
            "notes": [*_fixed_notes(args.seeds), *base_notes, *args.notes],
            "table": _table(results),
            "results": results,
            "settings": {"training": TRAINING, "embedding_dim": EMBEDDING_DIM, "hidden_units": HIDDEN_UNITS,
                         "ours": {n: _our_hparams(n) for n in models_to_run()}},
        })

    results = run(args.datasets, args.seeds, args.cache_dir, args.models, on_model_done=save_results,
                  results=earlier.get("results"))
    print(json.dumps(_table(results), indent=1))


if __name__ == "__main__":
    main()
