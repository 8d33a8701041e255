"""The shape of support cases: interactions per case, selections per interaction (vectorised).

A case is handled by one advocate, sometimes transferred to a second one; each
advocate-case interaction (the randomisation unit) has one or more template selections,
which is what makes selections cluster within units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CaseShape:
    """Index arrays describing ``n_cases`` cases.

    Attributes:
        n_cases: number of cases.
        interaction_case: case index of each interaction, cases in order.
        interaction_number: 0 for the first advocate of a case, 1 after a transfer.
        selection_interaction: interaction index of each selection, interactions in order.
        selection_case: case index of each selection.
        selection_number: 0-based position of the selection within its case.
    """

    n_cases: int
    interaction_case: np.ndarray
    interaction_number: np.ndarray
    selection_interaction: np.ndarray
    selection_case: np.ndarray
    selection_number: np.ndarray

    @property
    def n_interactions(self) -> int:
        return len(self.interaction_case)

    @property
    def n_selections(self) -> int:
        return len(self.selection_interaction)


def _position_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted ``group`` array."""
    if group.size == 0:
        return group.copy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, group.size])
    return np.arange(group.size) - np.repeat(starts, lengths)


def sample_case_shape(
    rng: np.random.Generator,
    n_cases: int,
    *,
    transfer_probability: float,
    extra_selections_mean: float,
) -> CaseShape:
    """Draw how many interactions and selections each of ``n_cases`` cases has.

    Interactions per case are ``1 + Bernoulli(transfer_probability)``; selections per
    interaction are ``1 + Poisson(extra_selections_mean)``.
    """
    if n_cases < 0:
        raise ValueError(f"n_cases: must be >= 0, got {n_cases}")
    interactions_per_case = 1 + (rng.random(n_cases) < transfer_probability)
    interaction_case = np.repeat(np.arange(n_cases), interactions_per_case)
    selections_per_interaction = 1 + rng.poisson(extra_selections_mean, size=interaction_case.size)
    selection_interaction = np.repeat(np.arange(interaction_case.size), selections_per_interaction)
    selection_case = interaction_case[selection_interaction]
    return CaseShape(
        n_cases=n_cases,
        interaction_case=interaction_case,
        interaction_number=_position_in_group(interaction_case),
        selection_interaction=selection_interaction,
        selection_case=selection_case,
        selection_number=_position_in_group(selection_case),
    )
