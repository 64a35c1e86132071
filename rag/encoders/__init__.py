"""Models that turn text into numbers: embedders (local or Ollama) and the optional cross-encoder."""
