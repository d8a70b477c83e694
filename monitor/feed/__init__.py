"""Sources of account data with one interface (recording lines): live (REST + streams), the
recording format and the recorder. What consumes the lines is the account core (`monitor/core/`)."""
