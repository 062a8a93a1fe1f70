"""Reading workspaces and CRM exports into the store, and the demo workspace generator."""
