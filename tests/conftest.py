"""Shared test settings: headless plotting, few threads (CI has 2 cores)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MEERSIM_NTHREADS", "2")
