"""Stable cell ids: a notebook cell without an ``id`` gets one derived from its grade id or position.

nbformat invents a random id for every id-less cell of a v4.5 notebook each time it reads
one, so a build would never equal the last.  :func:`read_with_stable_ids` fills the
missing ids *before* nbformat sees the notebook: the cell's nbgrader ``grade_id`` (cut to
nbformat's id alphabet and length), else ``cell-<index>``; a clash gets ``-<index>``
appended.  Ids already present are never changed.
"""
from __future__ import annotations

import json
import re

import nbformat

ID_ALPHABET = re.compile(r"[^A-Za-z0-9_-]")  # nbformat's cell id pattern is ^[a-zA-Z0-9-_]+$
MAX_ID_LENGTH = 64


def read_with_stable_ids(text: str):
    """``text`` (a notebook's JSON) as an nbformat v4 node; id-less cells get stable ids."""
    raw = json.loads(text)
    if isinstance(raw, dict) and _has_ids(raw):
        fill_missing_ids(raw.get("cells", []))
    return nbformat.reads(json.dumps(raw), as_version=4)


def fill_missing_ids(cells: list[dict]) -> None:
    """Give every cell of ``cells`` (plain dicts) without an ``id`` a stable one, in place."""
    taken = {cell["id"] for cell in cells if isinstance(cell, dict) and cell.get("id")}
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("id"):
            continue
        candidate = stable_id(cell, index)
        if candidate in taken:
            candidate = f"{candidate[:MAX_ID_LENGTH - 8]}-{index}"
        cell["id"] = candidate
        taken.add(candidate)


def stable_id(cell: dict, index: int) -> str:
    """The id a cell gets from its nbgrader grade_id, or from its position."""
    grade_id = (cell.get("metadata") or {}).get("nbgrader", {}).get("grade_id")
    cleaned = ID_ALPHABET.sub("-", str(grade_id))[:MAX_ID_LENGTH] if grade_id else ""
    return cleaned or f"cell-{index}"


def _has_ids(raw: dict) -> bool:
    """Do cells of this notebook's format carry ids (nbformat 4.5 and later)?"""
    return (raw.get("nbformat"), raw.get("nbformat_minor", 0)) >= (4, 5)
