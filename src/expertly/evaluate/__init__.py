"""Measuring expertly: retrieval quality on BEIR-layout datasets or a user's labelled
questions (``expertly eval retrieval``).

This layer sits above the workspace (it builds a dedicated workspace for each evaluated
corpus) and below the CLI. Metrics come from ranx (the ``eval`` extra), imported only when
an evaluation runs, so ``import expertly`` stays light.
"""

from expertly.corpora import BeirDataset, EvalSet, load_beir, load_questions
from expertly.evaluate.configurations import (
    CONFIGURATIONS,
    Configuration,
    register_configuration,
)
from expertly.evaluate.retrieval import METRICS, ConfigResult, EvalReport, run_beir, run_questions

__all__ = [
    "CONFIGURATIONS",
    "METRICS",
    "BeirDataset",
    "ConfigResult",
    "Configuration",
    "EvalReport",
    "EvalSet",
    "load_beir",
    "load_questions",
    "register_configuration",
    "run_beir",
    "run_questions",
]
