"""Model back-ends behind the model-based metrics (imported lazily: they need torch)."""
