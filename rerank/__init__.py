"""Reranking: features from logged candidates, LambdaMART training, the model registry and serving."""
