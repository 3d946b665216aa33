"""Scheduled and background work (APScheduler): recompute ticks, exports, expiry, retention, fan-out."""
