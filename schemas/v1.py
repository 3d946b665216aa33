"""Version 1 of every event type's ``data``. These models are the source of truth:
the JSON Schema files under ``schemas/json`` and the AsyncAPI catalogue are
generated from them (``skillmind schemas publish``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from schemas.types import (
    MAX_SAFE_INTEGER,
    ROLES,
    Day,
    Email,
    EventData,
    Id,
    Int,
    Name,
    Role,
    UtcTime,
    bounded_int,
    text,
)

# -- learner events ---------------------------------------------------------------


class LearnerSignedIn(EventData):
    """A learner signed in to the platform."""

    TYPE = "learner.signed_in"
    KIND = "learner"
    learner_id: Id


class SessionScheduled(EventData):
    """A live session was scheduled for a cohort."""

    TYPE = "session.scheduled"
    KIND = "learner"
    session_id: Id
    cohort_id: Id
    starts_at: UtcTime


class SessionAttended(EventData):
    """A learner attended a session."""

    TYPE = "session.attended"
    KIND = "learner"
    session_id: Id
    learner_id: Id


class PhaseAdvanced(EventData):
    """A learner advanced to a phase of a program; ``final`` marks the last phase."""

    TYPE = "phase.advanced"
    KIND = "learner"
    learner_id: Id
    program_id: Id
    phase: Int = Field(ge=1, le=10_000, description="Phase number, 1 to 10,000.")
    final: StrictBool


class AssignmentDue(EventData):
    """An assignment for a cohort falls due."""

    TYPE = "assignment.due"
    KIND = "learner"
    assignment_id: Id
    cohort_id: Id
    due_at: UtcTime


class SubmissionMade(EventData):
    """A learner submitted an assignment."""

    TYPE = "submission.made"
    KIND = "learner"
    assignment_id: Id
    learner_id: Id


# -- directory mutations ------------------------------------------------------------


class TenantCreated(EventData):
    """A tenant (a customer company) was created; only a platform admin may."""

    TYPE = "tenant.created"
    KIND = "mutation"
    tenant_id: Id
    name: Name


class ProgramCreated(EventData):
    """A learning program was created; learners are expected to advance a phase every ``pace_days``."""

    TYPE = "program.created"
    KIND = "mutation"
    program_id: Id
    name: Name
    owner_id: Id
    pace_days: Int = Field(14, ge=1, le=365)


class CohortCreated(EventData):
    """A cohort of a program was created."""

    TYPE = "cohort.created"
    KIND = "mutation"
    cohort_id: Id
    program_id: Id
    name: Name


class UserRegistered(EventData):
    """A user was registered with their roles in the tenant."""

    TYPE = "user.registered"
    KIND = "mutation"
    user_id: Id
    display_name: Name
    email: Email
    roles: list[Role] = Field(max_length=len(ROLES))


class LearnerEnrolled(EventData):
    """A learner was enrolled in a cohort (a later enrolment replaces an earlier one)."""

    TYPE = "learner.enrolled"
    KIND = "mutation"
    learner_id: Id
    cohort_id: Id


class ManagerAssigned(EventData):
    """A learner now reports to a manager."""

    TYPE = "manager.assigned"
    KIND = "mutation"
    learner_id: Id
    manager_id: Id


class MentorAssigned(EventData):
    """A mentor was assigned to a learner."""

    TYPE = "mentor.assigned"
    KIND = "mutation"
    learner_id: Id
    mentor_id: Id


class ScoreWeights(BaseModel):
    """Relative weights of the score's components (only their ratios matter; not all four 0,
    which ``TenantSettingsChanged`` checks when a record enters the log)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    signin: Int = Field(ge=0, le=1000)
    attendance: Int = Field(ge=0, le=1000)
    progress: Int = Field(ge=0, le=1000)
    submissions: Int = Field(ge=0, le=1000)


class TenantSettingsChanged(EventData):
    """A company admin changed the tenant's score settings; omitted fields keep their value."""

    TYPE = "tenant.settings_changed"
    KIND = "mutation"
    window_days: bounded_int(7, 182) | None = None  # type: ignore[valid-type]
    weights: ScoreWeights | None = None
    at_risk_below: bounded_int(0, 100) | None = None  # type: ignore[valid-type]
    target: bounded_int(0, 100) | None = None  # type: ignore[valid-type]

    def admission_problems(self) -> list[tuple[str, str, str]]:
        """Weights may be 0 one by one, never all four: the score divides by their sum, so
        all-zero weights would make every score 0 and every learner at risk."""
        if self.weights is not None and not any(self.weights.model_dump().values()):
            return [("data.weights", "weights_all_zero", "at least one weight must be above 0 (only ratios matter)")]
        return []


CAPABILITIES = ("exports.csv", "exports.pdf", "exports.bulk", "audit.export")
Capability = Literal["exports.csv", "exports.pdf", "exports.bulk", "audit.export"]


class TenantCapabilitiesChanged(EventData):
    """A company admin switched export capabilities on or off; flags not named keep their value."""

    TYPE = "tenant.capabilities_changed"
    KIND = "mutation"
    flags: dict[Capability, StrictBool] = Field(min_length=1)


class RoleGranted(EventData):
    """A user was granted a role in the tenant."""

    TYPE = "role.granted"
    KIND = "mutation"
    user_id: Id
    role: Role


class RoleRevoked(EventData):
    """A role was taken from a user."""

    TYPE = "role.revoked"
    KIND = "mutation"
    user_id: Id
    role: Role


# -- exports and notifications (issue 10) -----------------------------------------------

ExportFormat = Literal["csv", "pdf", "parquet"]
GroupByName = Literal["learner", "cohort", "program", "tenant"]


class ExportParams(BaseModel):
    """The reports endpoint's own parameters, as the export will run them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    day: Day | None = None
    group_by: GroupByName = "learner"
    program_id: Id | None = None
    cohort_id: Id | None = None
    weeks: bounded_int(1, 52) = 8  # type: ignore[valid-type]


class ExportRequested(EventData):
    """Someone asked for a background export; ``roles`` is the requester's scope at the request."""

    TYPE = "export.requested"
    KIND = "mutation"
    export_id: Id
    format: ExportFormat
    params: ExportParams
    requested_by: Id
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES))


class AuditRange(BaseModel):
    """Which part of a tenant's log an audit export holds: bounds by sequence or by append time
    (open when absent), and the types kept whole (the others become stubs so the chain links)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    from_sequence: bounded_int(1, MAX_SAFE_INTEGER) | None = None  # type: ignore[valid-type]
    to_sequence: bounded_int(1, MAX_SAFE_INTEGER) | None = None  # type: ignore[valid-type]
    from_time: UtcTime | None = None
    to_time: UtcTime | None = None
    types: list[text(128)] | None = Field(None, min_length=1, max_length=100)  # type: ignore[valid-type]


class AuditExportRequested(EventData):
    """An auditor asked for an audit export (CSV + signed manifest) of a range of the log."""

    TYPE = "audit.export_requested"
    KIND = "mutation"
    export_id: Id
    range: AuditRange
    requested_by: Id
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES))


class ExportStarted(EventData):
    """The export worker took the export up."""

    TYPE = "export.started"
    KIND = "system"
    export_id: Id


class ExportCompleted(EventData):
    """The file is in the bucket: where, how big, how many rows, its SHA-256, until when it is kept."""

    TYPE = "export.completed"
    KIND = "system"
    export_id: Id
    requested_by: Id
    object_key: text(512)  # type: ignore[valid-type]
    content_type: text(128)  # type: ignore[valid-type]
    size_bytes: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]
    rows: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    expires_at: UtcTime
    manifest_key: text(512) | None = None  # type: ignore[valid-type]
    legal_hold: StrictBool = False
    hold_ids: list[Id] = Field(default_factory=list, max_length=1000)


class ExportFailed(EventData):
    """The export could not be made (capability switched off, a failure it will not retry)."""

    TYPE = "export.failed"
    KIND = "system"
    export_id: Id
    requested_by: Id
    reason: text(1000)  # type: ignore[valid-type]


class ExportLinkIssued(EventData):
    """A presigned download link was minted (downloads are audited)."""

    TYPE = "export.link_issued"
    KIND = "mutation"
    export_id: Id
    expires_at: UtcTime


class ExportExpired(EventData):
    """The export's object was deleted after its time to live (or found missing)."""

    TYPE = "export.expired"
    KIND = "system"
    export_id: Id
    reason: text(200) = "ttl"  # type: ignore[valid-type]


class NotificationPreferencesChanged(EventData):
    """A user opted in or out of e-mail notifications."""

    TYPE = "notification.preferences_changed"
    KIND = "mutation"
    user_id: Id
    email: StrictBool


class NotificationRead(EventData):
    """A user read an in-app notification."""

    TYPE = "notification.read"
    KIND = "mutation"
    user_id: Id
    notification_id: Id


# An http(s) URL with a host name or an IP literal, an optional port and path (no spaces or
# controls): explicit classes only, so the pattern means the same to every regex engine.
WEBHOOK_URL = (
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])"
    r"(:[0-9]{1,5})?(/[^\x00-\x20\x7f-\x9f]*)?$"
)


class WebhookSubscribed(EventData):
    """A tenant subscribed an HTTPS endpoint to event types (the signing secret is kept apart)."""

    TYPE = "webhook.subscribed"
    KIND = "mutation"
    webhook_id: Id
    url: str = Field(min_length=8, max_length=2048, pattern=WEBHOOK_URL)
    event_types: list[Literal["export.completed", "export.failed"]] = Field(min_length=1, max_length=8)


class WebhookUnsubscribed(EventData):
    """A webhook subscription was removed."""

    TYPE = "webhook.unsubscribed"
    KIND = "mutation"
    webhook_id: Id


class WebhookDisabled(EventData):
    """A webhook endpoint kept failing for a day and was switched off."""

    TYPE = "webhook.disabled"
    KIND = "system"
    webhook_id: Id
    reason: text(1000)  # type: ignore[valid-type]


# -- retention (issue 12) ------------------------------------------------------------------

# What a tenant that never set a policy gets (README "Retention"); the minimums below make a
# zero-day purge impossible.
RETENTION_DEFAULTS: dict[str, Any] = {
    "learner_events_days": 730,
    "mutations_days": 2555,
    "exports_days": 30,
    "cadence": "weekly",
    "hour": 3,
}
Cadence = Literal["daily", "weekly", "monthly"]
MAX_PURGE_RANGES = 5000  # per receipt; a purge with more ranges appends several receipts


class RetentionPolicySet(EventData):
    """How long the tenant's data is kept, and when its purge runs (UTC ``hour``; weekly on
    Mondays, monthly on the 1st). Minimums: learner events 30 days, mutations 365, exports 1."""

    TYPE = "retention.policy_set"
    KIND = "mutation"
    learner_events_days: bounded_int(30, 36_500)  # type: ignore[valid-type]
    mutations_days: bounded_int(365, 36_500)  # type: ignore[valid-type]
    exports_days: bounded_int(1, 3650)  # type: ignore[valid-type]
    cadence: Cadence
    hour: bounded_int(0, 23)  # type: ignore[valid-type]


class PurgeCounts(BaseModel):
    """What one purge removed, per kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    learner_events: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]
    mutations: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]
    read_model_rows: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]
    export_objects: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]


class RetentionPurged(EventData):
    """The receipt of a purge: records of ``sequence_ranges`` (inclusive ``[first, last]``)
    are stubs in the archive from now on; ``skipped_on_hold`` expired records were kept
    because a legal hold covers them. Appended before any archive file is rewritten."""

    TYPE = "retention.purged"
    KIND = "system"
    tenant_id: Id
    learner_events_before: Day
    mutations_before: Day
    exports_before: Day
    counts: PurgeCounts
    sequence_ranges: list[tuple[bounded_int(1, MAX_SAFE_INTEGER), bounded_int(1, MAX_SAFE_INTEGER)]] = Field(  # type: ignore[valid-type]
        max_length=MAX_PURGE_RANGES
    )
    skipped_on_hold: bounded_int(0, MAX_SAFE_INTEGER)  # type: ignore[valid-type]


# -- system ticks ------------------------------------------------------------------------


class RecomputeRequested(EventData):
    """Compute every enrolled learner's score for ``day`` from the events appended before this."""

    TYPE = "engagement.recompute_requested"
    KIND = "system"
    day: Day


# -- audit: legal holds and chain checkpoints (issue 11) ------------------------------------

HoldScope = Literal["tenant", "learner", "program", "cohort", "event_type"]
HOLD_SCOPES: tuple[str, ...] = ("tenant", "learner", "program", "cohort", "event_type")
HexHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex characters.")]


class LegalHoldPlaced(EventData):
    """A legal hold was placed: the tenant's records in its scope and time range must be kept.

    ``scope_id`` names the learner, program, cohort or event type held (absent for
    ``tenant``); ``from_time``/``to_time`` bound the records' ``time`` (inclusive, open
    when absent). Which records a hold covers is decided in one place:
    ``projections/holds.py``."""

    TYPE = "legal_hold.placed"
    KIND = "mutation"
    hold_id: Id
    scope: HoldScope
    scope_id: Id | None = None
    from_time: UtcTime | None = None
    to_time: UtcTime | None = None
    case_reference: text(128, description="The case this hold is for, 1 to 128 characters.")  # type: ignore[valid-type]
    reason: text(2000, description="Why the records are held, 1 to 2,000 characters.")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _scope_and_range(self) -> LegalHoldPlaced:
        # A tenant-wide hold names nothing; every other scope must say what it holds.
        if (self.scope == "tenant") != (self.scope_id is None):
            raise ValueError(
                "scope_id is required for a learner, program, cohort or event_type hold, "
                "and must be absent for a tenant hold"
            )
        if self.from_time and self.to_time and self.from_time > self.to_time:
            raise ValueError("from_time must not be after to_time")
        return self


class LegalHoldReleased(EventData):
    """A legal hold was released: its records may again be purged by retention."""

    TYPE = "legal_hold.released"
    KIND = "mutation"
    hold_id: Id
    reason: text(2000, description="Why the hold ends, 1 to 2,000 characters.")  # type: ignore[valid-type]


class SubjectErased(EventData):
    """A person's data was erased (crypto-shredding, issue 12 §3): their data key is destroyed,
    so every sealed field about them reads as erased, and the read models blank them.

    ``unsealed_sequences`` lists this tenant's records about the subject written before
    encryption existed (plaintext in the log until ``skillmind archive trim``); the archive
    rewrite stubs their data."""

    TYPE = "subject.erased"
    KIND = "mutation"
    subject_id: Id
    unsealed_sequences: list[Annotated[Int, Field(ge=1, le=MAX_SAFE_INTEGER)]] = Field(
        default_factory=list, max_length=5000
    )


class AuditCheckpoint(EventData):
    """A signed statement of a tenant's chain head: record ``sequence`` has hash ``head_hash``.

    ``signature`` is the Ed25519 signature (base64) over the RFC 8785 canonical JSON of
    ``{"format": "skillmind-audit-checkpoint/1", "tenant": ..., "sequence": ..., "hash": ...}``
    by the key whose fingerprint is ``key_id``; a truncated tail or a rewritten suffix no
    longer matches a signed head."""

    TYPE = "audit.checkpoint"
    KIND = "system"
    tenant_id: Id
    sequence: Int = Field(ge=1, le=MAX_SAFE_INTEGER)
    head_hash: HexHash
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="First 16 hex characters of SHA-256(public key).")
    signature: str = Field(pattern=r"^[A-Za-z0-9+/]{86}==$", description="Ed25519 signature, base64 (64 bytes).")


MODELS: tuple[type[EventData], ...] = (
    LearnerSignedIn,
    SessionScheduled,
    SessionAttended,
    PhaseAdvanced,
    AssignmentDue,
    SubmissionMade,
    TenantCreated,
    ProgramCreated,
    CohortCreated,
    UserRegistered,
    LearnerEnrolled,
    ManagerAssigned,
    MentorAssigned,
    TenantSettingsChanged,
    RecomputeRequested,
    TenantCapabilitiesChanged,
    RoleGranted,
    RoleRevoked,
    ExportRequested,
    AuditExportRequested,
    ExportStarted,
    ExportCompleted,
    ExportFailed,
    ExportLinkIssued,
    ExportExpired,
    NotificationPreferencesChanged,
    NotificationRead,
    WebhookSubscribed,
    WebhookUnsubscribed,
    WebhookDisabled,
    RetentionPolicySet,
    RetentionPurged,
    LegalHoldPlaced,
    LegalHoldReleased,
    AuditCheckpoint,
    SubjectErased,
)
