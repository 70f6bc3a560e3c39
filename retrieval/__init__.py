"""First-stage retrieval: the index seam, its backends, embedders, fusion and search modes."""
