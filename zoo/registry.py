"""The model registry: one ``@register_model`` per variant, looked up by name.

A registered variant is a function ``fn(features, **hparams) -> keras.Model`` for tasks on
schema features, or ``fn(**hparams)`` for tasks on raw tensors (images). Its card (family, task,
paper, needed inputs, defaults, loss and metrics) is declared next to it, so ``zoo.create`` can
check features and hyper-parameters before building anything.
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
from typing import Any, Callable, Mapping

from zoo.features import FeatureSpec


@dataclasses.dataclass(frozen=True)
class Task:
    """What every model of a task outputs and is trained and judged with."""

    outputs: str
    loss: str
    metrics: tuple[str, ...]
    uses_features: bool = True  # built from a FeatureSpec (False: from shapes, e.g. images)


TASKS = {
    "ranking": Task("probabilities: float32 [batch, 1], P(label = 1)",
                    "binary_crossentropy", ("auc", "binary_crossentropy")),
    "multitask": Task("one output per task, named after it: probabilities [batch, 1] or values [batch, 1]",
                      "per-task: binary_crossentropy or mean_squared_error", ("auc per task", "loss per task")),
    "retrieval": Task("top-K item ids and scores; query and candidate embeddings",
                      "sampled softmax over candidates", ("recall@k", "ndcg@k")),
    "image_classification": Task("probabilities: float32 [batch, num_classes] (softmax)",
                                 "sparse_categorical_crossentropy", ("accuracy", "top_5_accuracy"),
                                 uses_features=False),
    "segmentation": Task("probabilities: float32 [batch, height, width, num_classes] (sigmoid or softmax)",
                         "binary_crossentropy + dice", ("mean_iou", "dice", "pixel_accuracy"),
                         uses_features=False),
}


@dataclasses.dataclass(frozen=True)
class Paper:
    """The paper a model implements: its arXiv id, or its venue when it is not on arXiv."""

    title: str
    arxiv_id: str | None = None
    venue: str | None = None

    def __post_init__(self):
        if not (self.arxiv_id or self.venue):
            raise ValueError(f"paper {self.title!r} needs an arXiv id or a venue")

    @property
    def citation(self) -> str:
        """What the model's docstring must contain: ``arXiv:<id>`` or the venue."""
        return f"arXiv:{self.arxiv_id}" if self.arxiv_id else self.venue

    def __str__(self) -> str:
        return f"{self.title} ({self.citation})"


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """What a user needs to know to pick and feed a model, without building it."""

    name: str
    family: str
    task: str
    paper: Paper
    inputs: Mapping[str, str]  # feature kind -> "required" | "optional"
    outputs: str
    defaults: Mapping[str, Any]
    loss: str
    metrics: tuple[str, ...]
    model_class: str

    def to_dict(self) -> dict[str, Any]:
        card = dataclasses.asdict(self)
        card["paper"] = dataclasses.asdict(self.paper)
        return card


@dataclasses.dataclass(frozen=True)
class _Entry:
    card: ModelCard
    build: Callable[..., Any]
    accepted: frozenset[str]


_REGISTRY: dict[str, _Entry] = {}


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def register_model(
    *,
    family: str,
    task: str,
    paper: Paper,
    model_class: type,
    defaults: Mapping[str, Any],
    inputs: Mapping[str, str],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers a variant function under its own name.

    ``defaults`` are the variant's hyper-parameters; overrides given to ``create`` must be
    parameters of ``model_class``'s constructor.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {sorted(TASKS)}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        accepted = frozenset(inspect.signature(model_class.__init__).parameters) - {"self", "features", "kwargs"}
        unknown = set(defaults) - accepted
        if unknown:
            raise ValueError(f"{name}: defaults {sorted(unknown)} are not parameters of {model_class.__name__}")
        spec = TASKS[task]
        card = ModelCard(
            name=name, family=family, task=task, paper=paper, inputs=dict(inputs),
            outputs=spec.outputs, defaults=dict(defaults), loss=spec.loss, metrics=spec.metrics,
            model_class=f"{model_class.__module__}.{model_class.__qualname__}",
        )
        _REGISTRY[name] = _Entry(card=card, build=fn, accepted=accepted | {"name"})
        return fn

    return decorator


def _entry(name: str) -> _Entry:
    _load_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.4)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint}. `zoo models list` shows all.") from None


def create(name: str, features: FeatureSpec | Mapping[str, Any] | None = None, **overrides: Any):
    """Builds the registered model ``name`` with its defaults and ``overrides``.

    Models of feature tasks (ranking, retrieval, multi-task) need ``features``; image models
    take none (their shapes are hyper-parameters, e.g. ``input_shape`` and ``num_classes``).
    """
    entry = _entry(name)
    problem = unknown_hyperparameters(name, overrides)
    if problem:
        raise TypeError(problem)
    params = {**entry.card.defaults, **overrides}
    if not TASKS[entry.card.task].uses_features:
        if features is not None:
            raise TypeError(f"{name} is a {entry.card.task} model and takes no features; "
                            "give its shape hyper-parameters instead")
        return entry.build(**params)
    if features is None:
        raise TypeError(f"{name} is a {entry.card.task} model: pass features=FeatureSpec(...)")
    spec = FeatureSpec.coerce(features)
    spec.require(entry.card.inputs, model_name=name)
    return entry.build(spec, **params)


def unknown_hyperparameters(name: str, hparams) -> str | None:
    """What is wrong with ``hparams`` (names) for the registered model ``name``, or None when it accepts them all."""
    entry = _entry(name)
    unknown = set(hparams) - entry.accepted
    if not unknown:
        return None
    return f"{name}: unknown hyper-parameter(s) {sorted(unknown)}; accepted: {sorted(entry.accepted)}"


def get_card(name: str) -> ModelCard:
    return _entry(name).card


def list_models(pattern: str | None = None, task: str | None = None, family: str | None = None) -> list[str]:
    """Registered names, sorted, filtered by a shell-style ``pattern``, task and family."""
    _load_models()
    return sorted(
        name
        for name, entry in _REGISTRY.items()
        if (pattern is None or fnmatch.fnmatchcase(name, pattern))
        and (task is None or entry.card.task == task)
        and (family is None or entry.card.family == family)
    )


def _load_models() -> None:
    import zoo.models  # noqa: F401  (importing the families registers them)
