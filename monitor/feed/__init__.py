"""Sources of account data with one interface: live (REST + streams), replay, and the recorder."""
