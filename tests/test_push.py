"""The Pusher's atomic staging: a version appears in the serving directory whole or not at all."""
from __future__ import annotations

import itertools
import pathlib
import types

import pytest
from google.protobuf import json_format
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from pipelines import push


def _artifacts(tmp_path: pathlib.Path, blessed: bool):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    saved_model = tmp_path / "model" / "Format-Serving"
    (saved_model / "variables").mkdir(parents=True, exist_ok=True)
    (saved_model / "saved_model.pb").write_bytes(b"graph")
    (saved_model / "variables" / "variables.index").write_bytes(b"index")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    return {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}


def _push(tmp_path: pathlib.Path, base: pathlib.Path, blessed: bool = True):
    inputs, outputs = _artifacts(tmp_path, blessed)
    destination = tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(base_directory=str(base)))
    push.AtomicPusherExecutor().Do(inputs, outputs, {"push_destination": json_format.MessageToJson(destination)})
    return outputs["pushed_model"][0]


def test_a_version_is_copied_whole_into_staging_then_renamed_and_leftovers_go(tmp_path, monkeypatch):
    base = tmp_path / "serving" / "m"
    leftover = base / f"{push.STAGING_PREFIX}123"  # a push killed during its copy
    leftover.mkdir(parents=True)
    (leftover / "variables.data-00000-of-00001").write_bytes(b"half")
    seen_at_rename = []
    rename = push.fileio.rename

    def recording_rename(source, target, *args):
        seen_at_rename.append((sorted(p.name for p in base.iterdir()),
                               sorted(str(p.relative_to(source)) for p in pathlib.Path(source).rglob("*"))))
        return rename(source, target, *args)

    monkeypatch.setattr(push.fileio, "rename", recording_rename)
    pushed = _push(tmp_path, base)
    version = pushed.get_string_custom_property("pushed_version")
    (before, staged), = seen_at_rename
    assert before == [f"{push.STAGING_PREFIX}{version}"]  # the leftover was cleared; no version folder yet
    assert staged == ["assets.extra", "assets.extra/zoo_pushed_from", "saved_model.pb", "variables",
                      "variables/variables.index"]
    assert [p.name for p in base.iterdir()] == [version]
    assert (base / version / "saved_model.pb").read_bytes() == b"graph"
    assert pushed.get_string_custom_property("pushed_destination") == str(base / version)
    assert pushed.get_int_custom_property("pushed") == 1


def test_the_model_being_served_is_not_pushed_again(tmp_path, monkeypatch):
    """An unchanged re-run with a baseline blesses the cached model again; the Pusher then finds the newest
    version came from that very model and leaves the serving directory alone."""
    clock = itertools.count(1000, 1000)  # the version of each push, in seconds
    monkeypatch.setattr(push, "time", types.SimpleNamespace(time=lambda: float(next(clock))))
    base = tmp_path / "serving" / "m"
    first = _push(tmp_path / "run1", base)
    again = _push(tmp_path / "run1", base)
    other = _push(tmp_path / "run2", base)
    versions = [p.get_string_custom_property("pushed_version") for p in (first, again, other)]
    # Each push reads the clock; the second one's 2000 goes unused.
    assert versions == ["1000", "1000", "3000"] and sorted(p.name for p in base.iterdir()) == ["1000", "3000"]
    assert again.get_int_custom_property("pushed") == 1
    assert (base / "3000" / push.PUSHED_FROM).read_text() == str(tmp_path / "run2" / "model" / "Format-Serving")


def test_an_unblessed_model_is_not_pushed(tmp_path):
    base = tmp_path / "serving" / "m"
    pushed = _push(tmp_path, base, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not base.exists()


def test_only_file_system_destinations_are_supported(tmp_path):
    inputs, outputs = _artifacts(tmp_path, blessed=True)
    with pytest.raises(NotImplementedError, match="file system"):
        push.AtomicPusherExecutor().Do(inputs, outputs, {"push_destination": "{}"})
