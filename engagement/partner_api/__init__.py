"""The partner API's plumbing, used by every app's `api.py`: key authentication and rate
limits (`authentication`), the one error shape (`errors`), `Idempotency-Key` (`idempotency`),
pagination, body parsing with limits (`parsers`), query-parameter parsing (`params`) and
shared input fields (`fields`), the guard on paths, queries and headers (`middleware`) and
the schema's error responses (`schema`). Domain errors themselves live in engagement.errors."""
