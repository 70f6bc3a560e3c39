"""Offline evaluation: judged queries, TREC runs, ir-measures metrics and significance tests."""
