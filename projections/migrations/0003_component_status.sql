-- One row per running component instance (sequencer, projections, scheduler, ...), written
-- by its supervisor every few seconds. Readiness (GET /readyz, `skillmind health`) reads it:
-- a row whose heartbeat is old belongs to a process that died; a state other than
-- 'running' names the failure; progressed_at tells a stalled component from an idle one.
create table component_status (
    component     text        not null,
    instance      text        not null,
    state         text        not null check (state in ('starting', 'running', 'restarting', 'stopped')),
    restarts      integer     not null default 0,
    last_error    text,
    started_at    timestamptz not null,
    progressed_at timestamptz,
    beat_at       timestamptz not null,
    primary key (component, instance)
);
