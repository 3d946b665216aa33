"""The FastAPI service: reports, exports, notifications, audit, legal holds, retention."""
