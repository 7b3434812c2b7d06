"""Multi-task models: shared-bottom, MMoE, PLE and ESMM, one output per task.

``tasks`` describes the heads, in order: ``({"name": "income", "type": "binary", "weight": 1.0},
{"name": "never_married", "type": "binary"}, ...)``. ``type`` is "binary" (sigmoid probability,
log loss, AUC) or "regression" (a value, squared error, RMSE); ``weight`` (default 1) scales the
task's loss. A model outputs a dict keyed by task name, each ``[batch, 1]``; ``compile_multitask``
compiles it with the per-task losses, weights and metrics, so ``fit`` logs ``<task>_loss`` and
``<task>_auc`` / ``<task>_rmse``.
"""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.moe import ExpertMLPs, MoE
from zoo.layers.multitask import GatedMixture
from zoo.models.base import TABULAR_INPUTS, ZooModel, flat_fields
from zoo.registry import Paper, register_model

TASK_TYPES = {  # type -> (output activation, loss, metric factory)
    "binary": ("sigmoid", "binary_crossentropy", lambda: keras.metrics.AUC(name="auc")),
    "regression": ("linear", "mean_squared_error", lambda: keras.metrics.RootMeanSquaredError(name="rmse")),
}


def parse_tasks(tasks, types=tuple(TASK_TYPES), label=None):
    """``tasks`` with every key filled in (type "binary", weight 1.0), as a tuple of plain dicts.

    ``tasks=None`` is one binary task named after the feature spec's ``label`` (or "label").
    """
    if tasks is None:
        tasks = [{"name": label or "label"}]
    parsed = []
    for task in tasks:
        task = dict(task)
        unknown = set(task) - {"name", "type", "weight"}
        if "name" not in task or unknown:
            raise ValueError(f"a task is {{'name', 'type', 'weight'}}; got {task}")
        parsed.append({"name": str(task["name"]), "type": task.get("type", "binary"),
                       "weight": float(task.get("weight", 1.0))})
        if parsed[-1]["type"] not in types:
            raise ValueError(f"task {parsed[-1]['name']!r}: type must be one of {types}, got {parsed[-1]['type']!r}")
    names = [t["name"] for t in parsed]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"tasks need distinct names, got {names}")
    return tuple(parsed)


def compile_multitask(model, optimizer="adam", **compile_kwargs):
    """Compiles ``model`` with each task's loss, loss weight and metric, keyed by task name."""
    tasks = model.tasks
    model.compile(
        optimizer=optimizer,
        loss={t["name"]: TASK_TYPES[t["type"]][1] for t in tasks},
        loss_weights={t["name"]: t["weight"] for t in tasks},
        metrics={t["name"]: [TASK_TYPES[t["type"]][2]()] for t in tasks},
        **compile_kwargs,
    )
    return model


def _embedded(features, embedding_dim, l2):
    """The model inputs and ``x_0``: flattened field embeddings next to the dense numeric block."""
    inputs = feature_inputs(features)
    fields, dense = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")(inputs)
    return inputs, flat_fields(fields, dense)


def _task_heads(tasks, representations, tower_units, activation, dropout, l2):
    """One tower per task on its representation: ``MLP -> Dense(1) -> activation``, named by the task."""
    outputs = {}
    for task, x in zip(tasks, representations):
        name = task["name"]
        tower = MLP(tower_units, activation=activation, dropout=dropout, l2=l2, name=f"{name}_tower")(x)
        logit = keras.layers.Dense(1, name=f"{name}_logit")(tower)
        outputs[name] = keras.layers.Activation(TASK_TYPES[task["type"]][0], name=name)(logit)
    return outputs


class MultiTaskModel(ZooModel):
    """A functional model with one output per task; stores its constructor arguments."""

    def _store(self, **config):
        for key, value in config.items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)

    def get_config(self):
        config = super().get_config()
        # Keras wraps dict attributes in trackable wrappers, which JSON cannot encode.
        config["tasks"] = [dict(task) for task in self.tasks]
        if config.get("moe") is not None:
            config["moe"] = dict(self.moe)
        return config


@keras.saving.register_keras_serializable(package="zoo")
class SharedBottom(MultiTaskModel):
    """Shared-bottom multi-task learning (Caruana, "Multitask Learning", Machine Learning 28, 1997).

    All tasks share one bottom network on the field embeddings; each task has its own tower:
    ``y_k = h_k(f(x))``. This is the baseline of MMoE (KDD 2018) and PLE (RecSys 2020). With one
    task it is a plain MLP, the single-task baseline.

    ``moe`` (a dict of ``MoE`` arguments, e.g. ``{"num_experts": 8, "top_k": 2, "balance": "bias"}``)
    replaces the bottom MLP by a mixture-of-experts block of the same widths (DeepSeek-V3,
    arXiv:2412.19437), whose per-expert load shows in ``fit``'s logs as ``bottom_load_<i>``.

    Args:
      features: the ``FeatureSpec`` (or its config).
      tasks: the heads (see the module docstring); ``None`` is one binary task named after the label.
      embedding_dim: size of every categorical embedding.
      bottom_units: the shared bottom's widths.
      tower_units, activation, dropout: each task tower (and the bottom's activation and dropout).
      moe: ``None`` for an MLP bottom, or ``MoE`` arguments.
      l2: L2 penalty on embeddings and kernels.
    """

    def __init__(self, features, tasks=None, embedding_dim=8, bottom_units=(128, 64), tower_units=(32,),
                 activation="relu", dropout=0.0, moe=None, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        tasks = parse_tasks(tasks, label=features.label)
        moe = None if moe is None else dict(moe)
        inputs, x0 = _embedded(features, embedding_dim, l2)
        if moe is None:
            bottom = MLP(bottom_units, activation=activation, dropout=dropout, l2=l2, name="bottom")
        else:
            bottom = MoE(hidden_units=bottom_units, activation=activation, l2=l2, name="bottom", **moe)
        shared = bottom(x0)
        outputs = _task_heads(tasks, [shared] * len(tasks), tower_units, activation, dropout, l2)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._store(features=features, tasks=tasks, embedding_dim=embedding_dim, bottom_units=bottom_units,
                    tower_units=tower_units, activation=activation, dropout=dropout, moe=moe, l2=l2)


@keras.saving.register_keras_serializable(package="zoo")
class MMoE(MultiTaskModel):
    """Modeling Task Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts
    (Ma et al., KDD 2018).

    ``n`` expert MLPs ``f_i`` share the input; task ``k`` mixes them with its own softmax gate
    and feeds its tower: ``y_k = h_k(sum_i g^k(x)_i f_i(x))``, ``g^k(x) = softmax(W_gk x)``.

    Args:
      features, tasks, embedding_dim, tower_units, activation, dropout, l2: as ``SharedBottom``.
      num_experts: ``n``.
      expert_units: each expert's widths.
    """

    def __init__(self, features, tasks=None, embedding_dim=8, num_experts=8, expert_units=(64,), tower_units=(32,),
                 activation="relu", dropout=0.0, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        tasks = parse_tasks(tasks, label=features.label)
        inputs, x0 = _embedded(features, embedding_dim, l2)
        experts = ExpertMLPs(num_experts, expert_units, activation, l2, name="experts")(x0)
        mixed = [GatedMixture(l2, name=f"{t['name']}_gate")([x0, experts]) for t in tasks]
        outputs = _task_heads(tasks, mixed, tower_units, activation, dropout, l2)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._store(features=features, tasks=tasks, embedding_dim=embedding_dim, num_experts=num_experts,
                    expert_units=expert_units, tower_units=tower_units, activation=activation, dropout=dropout,
                    l2=l2)


@keras.saving.register_keras_serializable(package="zoo")
class PLE(MultiTaskModel):
    """Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for
    Personalized Recommendations (Tang et al., RecSys 2020).

    ``num_levels`` stacked Customized Gate Control (CGC) levels. At level ``j`` task ``k`` has
    ``num_specific_experts`` experts on its own input ``x_k^{j-1}`` and all tasks share
    ``num_shared_experts`` experts on the shared input ``x_s^{j-1}`` (``x^0`` is the embedding
    for all). Task ``k``'s gate, on ``x_k^{j-1}``, mixes its own and the shared experts into
    ``x_k^j``; below the top level a shared gate, on ``x_s^{j-1}``, mixes every expert into
    ``x_s^j``. Task towers sit on the top level's ``x_k``. One level is CGC.

    Args:
      features, tasks, embedding_dim, tower_units, activation, dropout, l2: as ``SharedBottom``.
      num_levels: extraction levels (1 = CGC).
      num_specific_experts, num_shared_experts: experts per task and shared experts, per level.
      expert_units: each expert's widths.
    """

    def __init__(self, features, tasks=None, embedding_dim=8, num_levels=2, num_specific_experts=2,
                 num_shared_experts=2, expert_units=(64,), tower_units=(32,), activation="relu", dropout=0.0,
                 l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        tasks = parse_tasks(tasks, label=features.label)
        if num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {num_levels}")
        inputs, x0 = _embedded(features, embedding_dim, l2)
        task_inputs, shared_input = [x0] * len(tasks), x0
        for level in range(num_levels):
            specific = [ExpertMLPs(num_specific_experts, expert_units, activation, l2,
                                   name=f"level{level}_{t['name']}_experts")(x) for t, x in zip(tasks, task_inputs)]
            shared = ExpertMLPs(num_shared_experts, expert_units, activation, l2,
                                name=f"level{level}_shared_experts")(shared_input)
            mixed = [
                GatedMixture(l2, name=f"level{level}_{t['name']}_gate")(
                    [x, keras.layers.Concatenate(axis=1, name=f"level{level}_{t['name']}_and_shared")([own, shared])])
                for t, x, own in zip(tasks, task_inputs, specific)
            ]
            if level < num_levels - 1:
                everything = keras.layers.Concatenate(axis=1, name=f"level{level}_all_experts")(specific + [shared])
                shared_input = GatedMixture(l2, name=f"level{level}_shared_gate")([shared_input, everything])
            task_inputs = mixed
        outputs = _task_heads(tasks, task_inputs, tower_units, activation, dropout, l2)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._store(features=features, tasks=tasks, embedding_dim=embedding_dim, num_levels=num_levels,
                    num_specific_experts=num_specific_experts, num_shared_experts=num_shared_experts,
                    expert_units=expert_units, tower_units=tower_units, activation=activation, dropout=dropout,
                    l2=l2)


@keras.saving.register_keras_serializable(package="zoo")
class ESMM(MultiTaskModel):
    """Entire Space Multi-Task Model: An Effective Approach for Estimating Post-Click Conversion
    Rate (Ma et al., SIGIR 2018, arXiv:1804.07931).

    Two towers share the embeddings. One predicts ``pCTR = p(click | impression)``, the other
    ``pCVR = p(conversion | click, impression)``; the model is trained on every impression
    through ``pCTCVR = pCTR * pCVR``, so CVR is learned on the entire space without sample
    selection bias. ``tasks`` names the two supervised outputs, in order: the CTR task (label:
    clicked) and the CTCVR task (label: clicked and converted), both binary. The unsupervised
    ``pCVR`` is a third output named ``cvr_output``, with no loss.

    Args:
      features, embedding_dim, tower_units, activation, dropout, l2: as ``SharedBottom``.
      tasks: ``(ctr task, ctcvr task)``.
      cvr_output: the name of the ``pCVR`` output.
    """

    def __init__(self, features, tasks=({"name": "ctr"}, {"name": "ctcvr"}), embedding_dim=8,
                 tower_units=(64, 32), activation="relu", dropout=0.0, cvr_output="cvr", l2=0.0, **kwargs):
        features, tasks = FeatureSpec.coerce(features), parse_tasks(tasks, types=("binary",))
        if len(tasks) != 2 or cvr_output in {t["name"] for t in tasks}:
            raise ValueError(f"ESMM has two tasks (CTR, CTCVR) and a distinct cvr_output; got {tasks}, {cvr_output!r}")
        ctr_task, ctcvr_task = tasks
        inputs, x0 = _embedded(features, embedding_dim, l2)
        towers = _task_heads([ctr_task, {"name": cvr_output, "type": "binary"}], [x0, x0],
                             tower_units, activation, dropout, l2)
        ctcvr = keras.layers.Multiply(name=ctcvr_task["name"])([towers[ctr_task["name"]], towers[cvr_output]])
        super().__init__(inputs=inputs, outputs={**towers, ctcvr_task["name"]: ctcvr}, **kwargs)
        self._store(features=features, tasks=tasks, embedding_dim=embedding_dim, tower_units=tower_units,
                    activation=activation, dropout=dropout, cvr_output=cvr_output, l2=l2)


MMOE_PAPER = Paper("Modeling Task Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts",
                   venue="KDD 2018")


@register_model(
    family="multitask", task="multitask", model_class=SharedBottom, inputs=TABULAR_INPUTS,
    paper=Paper("Multitask Learning", venue="Machine Learning 28, 1997"),
    defaults=dict(embedding_dim=8, bottom_units=(128, 64), tower_units=(32,)),
)
def shared_bottom(features, **hparams):
    return SharedBottom(features, **hparams)


@register_model(
    family="multitask", task="multitask", model_class=SharedBottom, inputs=TABULAR_INPUTS,
    paper=Paper("DeepSeek-V3 Technical Report", "2412.19437"),
    defaults=dict(embedding_dim=8, bottom_units=(32,), tower_units=(32,),
                  moe={"num_experts": 16, "top_k": 4, "num_shared_experts": 1, "balance": "bias"}),
)
def shared_bottom_moe(features, **hparams):
    return SharedBottom(features, **hparams)


@register_model(
    family="multitask", task="multitask", model_class=MMoE, inputs=TABULAR_INPUTS, paper=MMOE_PAPER,
    defaults=dict(embedding_dim=8, num_experts=8, expert_units=(64,), tower_units=(32,)),
)
def mmoe(features, **hparams):
    return MMoE(features, **hparams)


@register_model(
    family="multitask", task="multitask", model_class=PLE, inputs=TABULAR_INPUTS,
    paper=Paper("Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model for "
                "Personalized Recommendations", venue="RecSys 2020"),
    defaults=dict(embedding_dim=8, num_levels=2, num_specific_experts=2, num_shared_experts=2,
                  expert_units=(64,), tower_units=(32,)),
)
def ple(features, **hparams):
    return PLE(features, **hparams)


@register_model(
    family="multitask", task="multitask", model_class=ESMM, inputs=TABULAR_INPUTS,
    paper=Paper("Entire Space Multi-Task Model: An Effective Approach for Estimating Post-Click Conversion Rate",
                "1804.07931"),
    defaults=dict(embedding_dim=8, tower_units=(64, 32), cvr_output="cvr"),
)
def esmm(features, **hparams):
    return ESMM(features, **hparams)
