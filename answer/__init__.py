"""Answers: the LLM client seam, prompting, citation checks and the cited, streaming answerer."""
