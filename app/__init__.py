"""How people use ragsearch: settings, wiring, use cases, and the front doors (CLI, JSON API, UI)."""
