"""Errors of the rerank stage; each message says how to fix it."""

from __future__ import annotations

from ragsearch.retrieval.errors import RagsearchError


class ModelNotFoundError(RagsearchError):
    pass


class FeatureMismatchError(RagsearchError):
    """A model's recorded features differ from what the running code computes."""


class TrainingDataError(RagsearchError):
    pass


class ModelUnavailableError(RagsearchError):
    """A registered model that cannot be served: its file is missing, damaged or fails its digest check."""
