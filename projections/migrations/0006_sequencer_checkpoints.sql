-- The sequencer's checkpoints (issue 14; events/checkpoints.py): per log partition, the state
-- after every record before log_offset, so recovery on assignment reads only what follows.
-- topic_id is Kafka's id of the topic: a checkpoint of a deleted and re-created topic of the
-- same name is never used. Written only after the Kafka transaction it covers committed; a
-- checkpoint may lag the log, never lead it.
create table sequencer_checkpoints (
    topic       text        not null,
    partition   integer     not null,
    topic_id    text        not null,
    log_offset  bigint      not null,
    saved_at    timestamptz not null default now(),
    primary key (topic, partition)
);
create table sequencer_heads (
    topic       text        not null,
    partition   integer     not null,
    tenant_id   text        not null,
    sequence    bigint      not null,
    hash        text        not null,
    appended_at timestamptz not null,
    primary key (topic, partition, tenant_id)
);
create table sequencer_recent_ids (
    topic       text        not null,
    partition   integer     not null,
    tenant_id   text        not null,
    event_id    text        not null,
    appended_at timestamptz not null,
    primary key (topic, partition, tenant_id, event_id)
);
create index sequencer_recent_ids_age on sequencer_recent_ids (topic, partition, appended_at);
