"""The search stage: one SearchConfig and one SearchEngine that runs any configuration."""
