-- Tasks, contexts, webhook configs and feedback. Lists are ordered by the `seq` identity
-- columns (creation order, no ties), not by timestamps.

CREATE TABLE contexts (
    id          uuid PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    owner       text,
    data        jsonb NOT NULL DEFAULT '{}',
    messages    jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contexts_by_seq ON contexts (seq);
CREATE INDEX contexts_by_owner ON contexts (owner, seq);

CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    context_id       uuid NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
    owner            text,
    state            text NOT NULL,
    state_timestamp  timestamptz NOT NULL,
    status_message   jsonb,
    history          jsonb NOT NULL DEFAULT '[]',
    artifacts        jsonb NOT NULL DEFAULT '[]',
    metadata         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_by_seq ON tasks (seq);
CREATE INDEX tasks_by_owner ON tasks (owner, seq);
CREATE INDEX tasks_by_context ON tasks (context_id, seq);
CREATE INDEX tasks_by_state ON tasks (state);

CREATE TABLE webhook_configs (
    task_id     uuid PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE task_feedback (
    id          uuid PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    feedback    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_feedback_by_task ON task_feedback (task_id, seq);
