"""The requirement options shared by ``dhr assess`` and ``dhr select``.

``@requirement_options`` adds ``-r/--requirement`` (repeatable), ``--requirement-codes``
and ``-w/--weight`` (parameters ``requirements``, ``requirement_codes``, ``weights``);
:func:`resolve_requirement` checks the either/or rule and loads the requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from dhr_sdk.assessment.requirement import Requirement, load_requirement, load_requirement_codes

F = TypeVar("F", bound=Callable[..., Any])


def requirement_options(f: F) -> F:
    """Add ``-r/--requirement``, ``--requirement-codes`` and ``-w/--weight`` to a command."""
    for option in reversed([
        click.option("-r", "--requirement", "requirements", multiple=True,
                     type=click.Path(path_type=Path),
                     help="Requirement image file or folder of images (repeatable)."),
        click.option("--requirement-codes", "requirement_codes", default=None,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="Instead of images: requirement hash codes (.npy/.npz as for "
                          "'dhr import-codes'), for stores of imported codes that have no "
                          "model."),
        click.option("-w", "--weight", "weights", multiple=True, type=float,
                     help="Weight of each --requirement (or of each code), in order "
                          "(default: equal); a folder's weight is shared equally by its "
                          "images."),
    ]):
        f = option(f)
    return f


@dataclass
class RequirementInput:
    """A loaded requirement and how it was given on the command line."""

    requirement: Requirement
    as_codes: bool
    weights: list[float]

    @property
    def weighted_codes(self) -> bool:
        """Codes with one ``-w`` per code: each code then weighs on its own."""
        return self.as_codes and bool(self.weights)


def resolve_requirement(requirements: Sequence[Path], requirement_codes: Path | None,
                        weights: Sequence[float]) -> RequirementInput:
    """Load the requirement from the options; images and codes together is a usage error."""
    if bool(requirements) == (requirement_codes is not None):
        raise click.UsageError("give the requirement as images (-r PATH ...) or as codes "
                               "(--requirement-codes FILE), not both")
    if requirement_codes is not None:
        req = load_requirement_codes(requirement_codes, list(weights) or None)
        return RequirementInput(req, True, list(weights))
    req = load_requirement(list(requirements), list(weights) or None)
    return RequirementInput(req, False, list(weights))
