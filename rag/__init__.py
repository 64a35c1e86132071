"""Local, private retrieval over PDFs: ingestion, storage and search.

Nothing heavy is imported here, so worker processes and the CLI start fast.
"""

__version__ = "0.1.0"
