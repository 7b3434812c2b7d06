"""Classify and Regress on signatures that read serialized tf.Examples, with TF Serving's conventions.

A usable signature takes exactly one DT_STRING input (the batch of serialized Examples). Classify
reads the ``scores`` (float) and/or ``classes`` (string) outputs, each ``[batch, num_classes]``;
Regress reads the ``outputs`` output, or the only output, shaped ``[batch]`` or ``[batch, 1]``.
Besides signatures exported with the classify/regress method names, plain predict signatures
that follow these conventions are accepted, since TF2 exports only write predict signatures.
"""
from typing import Sequence

import numpy as np

from serving.errors import InvalidArgument
from serving.signature import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, Signature
from zoo.backend import tf

REGRESSION_OUTPUT = "outputs"
CLASSES_OUTPUT = "classes"
SCORES_OUTPUT = "scores"


def regress(signature: Signature, examples: Sequence[bytes]) -> np.ndarray:
    """One float per example."""
    _check_method(signature, REGRESS_METHOD)
    inputs = _example_inputs(signature, examples)
    output = _regression_output(signature)
    values = signature.run(inputs)[output]
    if values.shape not in ((len(examples),), (len(examples), 1)):
        raise InvalidArgument(
            f"output {output!r} has shape {list(values.shape)}; regression needs [batch_size] or [batch_size, 1]"
        )
    return values.reshape(len(examples))


def classify(signature: Signature, examples: Sequence[bytes]) -> tuple[list[list[str]], np.ndarray]:
    """Per example, the class labels ("" when the signature has no ``classes``) and their scores.

    Scores are 0 when the signature has no ``scores`` output, as in TF Serving.
    """
    _check_method(signature, CLASSIFY_METHOD)
    inputs = _example_inputs(signature, examples)
    _check_classification_outputs(signature)
    outputs = signature.run(inputs)
    present = {name: outputs[name] for name in (CLASSES_OUTPUT, SCORES_OUTPUT) if name in outputs}
    shapes = {array.shape for array in present.values()}
    shape = next(iter(shapes))
    if len(shapes) > 1 or len(shape) != 2 or shape[0] != len(examples):
        got = {name: list(array.shape) for name, array in present.items()}
        raise InvalidArgument(
            f"classification outputs must be [batch_size, num_classes] with batch_size {len(examples)}, got {got}"
        )
    if CLASSES_OUTPUT in present:
        labels = [[label.decode("utf-8", "backslashreplace") for label in row] for row in present[CLASSES_OUTPUT]]
    else:
        labels = [[""] * shape[1] for _ in range(shape[0])]
    scores = present.get(SCORES_OUTPUT, np.zeros(shape, np.float32))
    return labels, scores


def _check_method(signature: Signature, method: str) -> None:
    if signature.method_name not in (method, PREDICT_METHOD):
        raise InvalidArgument(
            f"signature {signature.name!r} has method_name {signature.method_name!r}, expected {method!r}"
        )


def _example_inputs(signature: Signature, examples: Sequence[bytes]) -> dict[str, np.ndarray]:
    if len(signature.inputs) != 1 or next(iter(signature.inputs.values())).dtype != tf.string:
        raise InvalidArgument(
            f"signature {signature.name!r} does not take a single DT_STRING input of serialized tf.Examples"
        )
    return {next(iter(signature.inputs)): np.array(examples, dtype=object)}


def _regression_output(signature: Signature) -> str:
    if REGRESSION_OUTPUT in signature.outputs:
        name = REGRESSION_OUTPUT
    elif len(signature.outputs) == 1:
        name = next(iter(signature.outputs))
    else:
        raise InvalidArgument(
            f"signature {signature.name!r} has several outputs and none named {REGRESSION_OUTPUT!r}"
        )
    if not signature.outputs[name].dtype.is_floating:
        raise InvalidArgument(f"regression output {name!r} of signature {signature.name!r} is not a float tensor")
    return name


def _check_classification_outputs(signature: Signature) -> None:
    outputs = signature.outputs
    if CLASSES_OUTPUT not in outputs and SCORES_OUTPUT not in outputs:
        raise InvalidArgument(
            f"signature {signature.name!r} has neither a {CLASSES_OUTPUT!r} nor a {SCORES_OUTPUT!r} output"
        )
    if CLASSES_OUTPUT in outputs and outputs[CLASSES_OUTPUT].dtype != tf.string:
        raise InvalidArgument(f"output {CLASSES_OUTPUT!r} of signature {signature.name!r} is not a string tensor")
    if SCORES_OUTPUT in outputs and not outputs[SCORES_OUTPUT].dtype.is_floating:
        raise InvalidArgument(f"output {SCORES_OUTPUT!r} of signature {signature.name!r} is not a float tensor")
