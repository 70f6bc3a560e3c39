"""How people use ragsearch: settings, wiring, the CLI (and later the JSON API and the UI)."""
