-- The archive of the log (jobs/archiver.py). Every log message the archiver has taken
-- but not yet written to a Parquet file waits here, written in the same transaction as
-- the archiver's offsets (worker_positions), so a crash neither loses nor repeats one.
-- tenant_id is '_unsequenced' for a message with no tenant and sequence (garbage bytes
-- written around the sequencer): it is archived too, so a replay from the archive
-- quarantines exactly what a replay from Kafka does.
create table archive_buffer (
    log_partition integer     not null,
    log_offset    bigint      not null,
    tenant_id     text        not null,
    day           date        not null,
    sequence      bigint,
    value         bytea,
    buffered_at   timestamptz not null default now(),
    file_key      text,
    primary key (log_partition, log_offset)
);
create index archive_buffer_open on archive_buffer (tenant_id, day) where file_key is null;
create index archive_buffer_file on archive_buffer (file_key) where file_key is not null;

-- One row per archive object. A file is 'sealed' (its name and exact records fixed, in
-- one transaction with the buffer rows it takes) before it is uploaded, and 'stored'
-- once the object is in the bucket and its buffer rows are gone: a crash between the two
-- re-uploads the same records under the same name, so every record is in exactly one file.
create table archive_files (
    key            text        primary key,
    tenant_id      text        not null,
    day            date        not null,
    first_sequence bigint,
    last_sequence  bigint,
    log_partition  integer     not null,
    first_offset   bigint      not null,
    last_offset    bigint      not null,
    records        integer     not null check (records > 0),
    state          text        not null check (state in ('sealed', 'stored')),
    size_bytes     bigint,
    sha256         text,
    sealed_at      timestamptz not null default now(),
    stored_at      timestamptz
);
create index archive_files_tenant on archive_files (tenant_id, day);
create index archive_files_offsets on archive_files (log_partition, last_offset);
