-- Scores waiting to be published to skillmind.engagement-scores.v1. Written in the
-- same transaction as the scores themselves; deleted once Kafka acknowledged them.
create table score_outbox (
    id           bigserial primary key,
    record_id    text  not null,
    tenant_id    text  not null,
    payload      jsonb not null
);

-- One row per (tenant, day) whose recompute tick the scheduler has appended. The tick's
-- event id is derived from the same pair, so even a race appends one tick per day.
create table recompute_ticks (
    tenant_id   text not null,
    day         date not null,
    appended_at timestamptz not null default now(),
    primary key (tenant_id, day)
);

-- Positions now live in the read-model schema itself (readmodel.positions), so a
-- rebuild swaps rows and positions in one rename.
drop table projection_positions;
