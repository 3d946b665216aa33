-- Per-subject data keys for personal fields in the log (issue 12 §3, projections/keyring.py).
-- wrapped_key is the AES-256 data key wrapped under the key-encryption key from the settings
-- (AES key wrap, RFC 3394); kek_id names that KEK (first 16 hex of its SHA-256), so a wrong
-- KEK is reported, not mistaken for an erasure. Erasure sets wrapped_key to null and
-- destroyed_at: the key is gone, every sealed field about the subject reads as erased.
-- Not a read model: a replay never drops or rebuilds this table.
create table subject_keys (
    tenant_id    text        not null,
    subject_id   text        not null,
    kid          text        not null unique,
    kek_id       text        not null,
    wrapped_key  bytea,
    created_at   timestamptz not null default now(),
    destroyed_at timestamptz,
    check ((wrapped_key is null) = (destroyed_at is not null)),
    primary key (tenant_id, subject_id)
);
