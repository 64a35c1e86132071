"""Streamlit-specific helpers shared by the pages: cached resources and rendering."""
