-- Where each projection runner stands in the log. A runner writes its position in
-- the same transaction as the rows it derives, which is what makes it exactly once.
create table projection_positions (
    projection text    not null,
    topic      text    not null,
    partition  integer not null,
    next_offset bigint not null check (next_offset >= 0),
    updated_at timestamptz not null default now(),
    primary key (projection, topic, partition)
);
