"""The UI's state without Streamlit: chat message dicts, highlighting, ingest jobs, uploads."""
