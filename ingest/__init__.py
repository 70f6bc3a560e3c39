"""Ingestion: read sources into passages, embed them and write them to an index."""
