"""The `/system` app: `routes` (every operation, declared once), the endpoints by resource
(`functions`, `traffic`, `scale`, `secret_routes`, `logs`, `stats`, `about`), `operations`
(what an operation and its endpoint are made of), `openapi` (the document, from the
routes), `api` (the factory that assembles them), `auth` and `browsers` (the guards).
Endpoints parse and answer; every change goes through the provider."""
