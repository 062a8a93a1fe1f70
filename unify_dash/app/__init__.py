"""The Streamlit dashboard: shared helpers (ui) and thin pages."""
