"""Read-only reports over the store and the engine: metrics, the benchmark."""
