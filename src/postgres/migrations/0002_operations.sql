-- The queue of PostgresScheduler. An operation is `ready` until claimed, then `leased` to one
-- consumer until `lease_until`; an expired lease makes it claimable again. Acknowledged
-- operations stay `done` for a while so that a replayed enqueue of the same id is ignored;
-- operations delivered too often, or rejected, are `dead`.

CREATE TABLE operations (
    id           uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    task_id      uuid NOT NULL,
    payload      jsonb NOT NULL,
    state        text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'leased', 'done', 'dead')),
    deliveries   integer NOT NULL DEFAULT 0,
    leased_by    text,
    lease_until  timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operations_ready ON operations (seq) WHERE state = 'ready';
CREATE INDEX operations_leased ON operations (lease_until) WHERE state = 'leased';
CREATE INDEX operations_finished ON operations (updated_at) WHERE state IN ('done', 'dead');
