"""The one exception root of ``projections``; each subclass says what went wrong and what to do."""

from __future__ import annotations


class ProjectionError(Exception):
    """Root of every error raised by the projections package."""


class DatabaseError(ProjectionError):
    """PostgreSQL refused an administrative step (create or drop a database)."""


class MigrationError(ProjectionError):
    """A migration failed, or one already applied was edited since."""


class ReadModelOutdated(ProjectionError):
    """The read-model schema was built from other table definitions than this code's."""


class ReplayBusy(ProjectionError):
    """Another replay holds this database's replay lock."""


class KeyringError(ProjectionError):
    """A subject's data key cannot be used: wrapped under another key-encryption key than
    ``SKILLMIND_PRIVACY__KEK`` (set the KEK the keys were made with), or altered."""


class SubjectErasedError(KeyringError):
    """The subject's data key was destroyed (``subject.erased``): nothing new can be sealed for them."""
