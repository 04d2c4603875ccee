"""The partner API's plumbing, used by every app's `api.py`: key authentication and rate
limits (`authentication`), the one error shape (`errors`), `Idempotency-Key` (`idempotency`),
pagination, body parsing with limits (`parsers`) and query-parameter parsing (`params`)."""
