"""Structured logs: one JSON object per line with the objects a message is about."""

from __future__ import annotations

import json
import logging

from dralloc.kube.logs import JsonFormatter, TextFormatter


def _record(**extra: str) -> logging.LogRecord:
    record = logging.LogRecord(
        "dralloc.kube.live", logging.ERROR, __file__, 1, "binding failed: %s", ("forbidden",), None
    )
    record.__dict__.update(extra)
    return record


def test_a_json_line_names_the_pod_and_node_as_fields() -> None:
    line = JsonFormatter().format(_record(pod="default/train-0", node="gpu-3"))
    parsed = json.loads(line)
    assert parsed["msg"] == "binding failed: forbidden"
    assert (parsed["level"], parsed["logger"]) == ("error", "dralloc.kube.live")
    assert (parsed["pod"], parsed["node"]) == ("default/train-0", "gpu-3")
    assert parsed["ts"].endswith("Z") and "claim" not in parsed


def test_a_text_line_appends_the_references() -> None:
    line = TextFormatter().format(_record(claim="default/gpu"))
    assert line.endswith("binding failed: forbidden claim=default/gpu")
