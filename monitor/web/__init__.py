"""The web dashboard on the daemon's HTTP server: pages, live updates (SSE) and what-if shocks.

`model.Dashboard` keeps per account a bounded risk history and alert log and pushes the
accounts' figures to subscribers; `routes.WebRoutes` serves the pages, `/events`,
`/api/history` and `/api/whatif`; `whatif` applies price shocks to a copy of an account's
state (pure, shared with `marginwatch whatif` and the replay report's risk map).
"""
