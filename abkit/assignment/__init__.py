"""Holdout and arm assignment: a pure, stable function of (salt, unit)."""

from abkit.assignment.config import ExperimentConfig, load_experiments, standing_experiment
from abkit.assignment.hashing import assign_arm, bucket_of, unit_fraction

__all__ = [
    "ExperimentConfig",
    "assign_arm",
    "bucket_of",
    "load_experiments",
    "standing_experiment",
    "unit_fraction",
]
