-- Log workers (jobs/logworker.py): where each stands in the log, written in the same
-- transaction as its own state and outbox rows, so a crash never handles a record twice.
create table worker_positions (
    worker      text    not null,
    topic       text    not null,
    partition   integer not null,
    next_offset bigint  not null check (next_offset >= 0),
    primary key (worker, topic, partition)
);

-- Records a worker could not handle, set aside so it goes on (the same rules as the
-- read models' quarantine); deterministic, so a replay sets aside the same records.
create table worker_quarantine (
    worker        text    not null,
    log_partition integer not null,
    log_offset    bigint  not null,
    tenant_id     text,
    sequence      bigint,
    record_id     text,
    type          text,
    rule          text    not null,
    reason        text    not null,
    primary key (worker, log_partition, log_offset)
);

-- Effects that leave the system (run an export, send an e-mail, call a webhook, append to
-- the log), written by a worker in its transaction and carried out after it, with retries
-- and back-off. (kind, key) is the idempotency key: a record handled twice enqueues once,
-- and the effect itself is idempotent by the key (e-mail Message-ID, webhook-id, event id).
create table outbox (
    id              bigserial   primary key,
    kind            text        not null,
    key             text        not null,
    tenant_id       text,
    recipient       text,
    payload         jsonb       not null,
    state           text        not null default 'pending' check (state in ('pending', 'done', 'dead')),
    attempts        integer     not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    last_status     integer,
    created_at      timestamptz not null default now(),
    done_at         timestamptz,
    unique (kind, key)
);
create index outbox_due on outbox (next_attempt_at) where state = 'pending';
create index outbox_recipient on outbox (tenant_id, kind, recipient);

-- Webhook signing secrets: shown once to the subscriber, never written to the log.
create table webhook_secrets (
    tenant_id  text not null,
    webhook_id text not null,
    secret     text not null,
    primary key (tenant_id, webhook_id)
);
