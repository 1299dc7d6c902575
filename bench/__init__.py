"""The coursekit benchmark suite: how fast the solution code trains, against numpy's GEMM
ceiling and PyTorch on the CPU, how soon it reaches the course's accuracy thresholds, and
how long the kit's own commands take.

    python -m bench [--quick | --tiny] [--threads N] [--json out.json] [--only SECTION ...] [--baseline REV] [--profile-baseline DIR]

Sections, in order: gemm, train, threshold, reference, kit, profile, compare (see bench/suite.py).
``profile`` times ``coursekit grade`` fast and full, by stage, side by side with ``--profile-baseline``.
``reference`` trains both reference nets of course.toml on CIFAR-10 (minutes: the README's
reference figures); ``python -m bench --only reference`` runs it alone.
"""
