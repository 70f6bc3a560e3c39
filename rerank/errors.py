"""Errors of the rerank stage; each message says how to fix it."""

from __future__ import annotations

from retrieval.errors import RagsearchError


class ModelNotFoundError(RagsearchError):
    pass


class FeatureMismatchError(RagsearchError):
    """A model's recorded features differ from what the running code computes."""


class TrainingDataError(RagsearchError):
    pass
