"""Settings, rule vocabulary, roles and the names of states, reasons and sources: declared once."""
