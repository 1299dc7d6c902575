"""The physical reference: how many GFLOP/s numpy's matmul reaches on this machine.

With PyTorch installed, the same products in torch follow (its CPU build carries its own
BLAS): the share of a numpy/torch training ratio that is the BLAS's, not the solution's.
"""
from __future__ import annotations

import numpy as np

from .common import Mode, Row, best_seconds, blas_threads, skipped

SECTION = "gemm"
SQUARE = (2048, 2048, 2048)  # (M, K, N): a large square product, the ceiling
# The products one training step of the nets makes, as (M, K, N) for (M, K) @ (K, N).
NET_SHAPES = {
    "two-layer fwd (200,3072)x(3072,500)": (200, 3072, 500),
    "two-layer dW1 (3072,200)x(200,500)": (3072, 200, 500),
    "wide fwd (200,3072)x(3072,512)": (200, 3072, 512),
    "deep fwd (200,3072)x(3072,100)": (200, 3072, 100),
    "deep hidden (200,100)x(100,100)": (200, 100, 100),
}


def threads_note() -> str:
    return f"{blas_threads()} BLAS thread{'s' if blas_threads() != 1 else ''}"


def gflops(shape: tuple[int, int, int], dtype, budget: float, torch=None) -> float:
    """numpy's a @ b, or with ``torch`` the module, the same product of torch tensors."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float64).astype(dtype)
    b = rng.standard_normal((k, n), dtype=np.float64).astype(dtype)
    if torch is not None:
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    seconds = best_seconds(lambda: a @ b, budget)
    return 2 * m * k * n / seconds / 1e9


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(blas_threads())
    return torch


def run(mode: Mode) -> list[Row]:
    """Each shape per dtype, then the ceiling: the fastest of them.

    On a machine shared with other jobs a long call (the 2048 square takes ~0.5 s) rarely
    runs undisturbed, so the square alone can come out slower than the nets' shapes; the
    fastest rate any shape reached is the better estimate of what the hardware can do.
    """
    rows = []
    shapes = {f"square {'x'.join(map(str, SQUARE))}": SQUARE, **NET_SHAPES}
    for dtype in (np.float32, np.float64):
        kind = np.dtype(dtype).name
        measured = []
        for label, shape in shapes.items():
            if mode.tiny:
                shape = tuple(min(s, 64) for s in shape)
            value = gflops(shape, dtype, mode.gemm_seconds)
            measured.append(Row(SECTION, f"{kind} {label}", value, "GFLOP/s", note="best of repeated calls",
                                data={"dtype": kind, "shape": shape}))
        ceiling = max(row.value for row in measured)
        for row in measured:
            row.detail = f"{100 * row.value / ceiling:.0f}% of ceiling"
            row.data["fraction_of_ceiling"] = row.value / ceiling
        rows += measured
        rows.append(Row(SECTION, f"ceiling {kind}", ceiling, "GFLOP/s",
                        detail=f"{threads_note()}", note="the fastest of the shapes above",
                        data={"dtype": kind, "ceiling": True}))
        rows += _torch_rows(shapes, dtype, kind, ceiling, mode)
    return rows


def _torch_rows(shapes: dict, dtype, kind: str, ceiling: float, mode: Mode) -> list[Row]:
    torch = _torch()
    rows = []
    for label, shape in shapes.items():
        name = f"torch {kind} {label}"
        if torch is None:
            rows.append(skipped(SECTION, name, "GFLOP/s", "torch is not installed (pip install -c constraints.txt -e '.[bench]')"))
            continue
        if mode.tiny:
            shape = tuple(min(s, 64) for s in shape)
        value = gflops(shape, dtype, mode.gemm_seconds, torch)
        rows.append(Row(SECTION, name, value, "GFLOP/s", detail=f"{100 * value / ceiling:.0f}% of numpy's ceiling",
                        note="torch's own BLAS, same threads", data={"dtype": kind, "shape": shape,
                        "framework": "torch", "fraction_of_numpy_ceiling": value / ceiling}))
    return rows


def ceilings(rows: list[Row]) -> dict[str, float]:
    """dtype name -> the ceiling measured in this run (empty when gemm did not run)."""
    return {row.data["dtype"]: row.value for row in rows
            if row.section == SECTION and row.data.get("ceiling")}
