"""Evaluation: QA sets, retrieval metrics, and the answer benchmark."""
