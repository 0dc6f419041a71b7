"""The versioned JSON output of every verb (detect, video, serve): its version and its JSON Schema.

``resources/output.schema.json`` is the contract that docs/output.md explains; the tests validate
every verb's output against it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from facepoints.resources import resource_path

__all__ = ["SCHEMA_VERSION", "schema_path", "output_schema"]

#: The ``schema`` field of every record; bumped on any incompatible change of the output.
SCHEMA_VERSION = 1


def schema_path() -> Path:
    """The JSON Schema file shipped in the package."""
    return resource_path("output.schema.json")


@cache
def output_schema() -> dict:
    """The JSON Schema (draft 2020-12) of one output record: an image, an image error or a video frame."""
    return json.loads(schema_path().read_text())
