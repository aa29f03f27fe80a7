-- Long conversations: a task's messages and artifacts become rows keyed by (task, position), so
-- that appending writes what it appends and reading the last n messages reads n rows. The ids
-- stay the idempotency keys (unique per task). `message_count` / `artifact_count` are the next
-- positions, kept beside the task under its row lock. Existing histories are moved in order.

CREATE TABLE task_messages (
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    message_id  uuid NOT NULL,
    body        jsonb NOT NULL,
    PRIMARY KEY (task_id, position),
    UNIQUE (task_id, message_id)
);

CREATE TABLE task_artifacts (
    task_id      uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    artifact_id  uuid NOT NULL,
    body         jsonb NOT NULL,
    PRIMARY KEY (task_id, position),
    UNIQUE (task_id, artifact_id)
);

-- Earlier releases wrote camelCase ids; snake_case is accepted too, as the decoder does. A
-- repeated id (which those releases never stored) keeps its first occurrence.
INSERT INTO task_messages (task_id, position, message_id, body)
SELECT t.id, (m.ordinality - 1)::integer,
       coalesce(m.body ->> 'messageId', m.body ->> 'message_id')::uuid, m.body
FROM tasks t, jsonb_array_elements(t.history) WITH ORDINALITY AS m (body, ordinality)
ORDER BY t.id, m.ordinality
ON CONFLICT DO NOTHING;

INSERT INTO task_artifacts (task_id, position, artifact_id, body)
SELECT t.id, (a.ordinality - 1)::integer,
       coalesce(a.body ->> 'artifactId', a.body ->> 'artifact_id')::uuid, a.body
FROM tasks t, jsonb_array_elements(t.artifacts) WITH ORDINALITY AS a (body, ordinality)
ORDER BY t.id, a.ordinality
ON CONFLICT DO NOTHING;

ALTER TABLE tasks
    ADD COLUMN message_count integer NOT NULL DEFAULT 0,
    ADD COLUMN artifact_count integer NOT NULL DEFAULT 0;

UPDATE tasks t SET
    message_count = coalesce((SELECT max(position) + 1 FROM task_messages m WHERE m.task_id = t.id), 0),
    artifact_count = coalesce((SELECT max(position) + 1 FROM task_artifacts a WHERE a.task_id = t.id), 0)
WHERE jsonb_array_length(t.history) > 0 OR jsonb_array_length(t.artifacts) > 0;

ALTER TABLE tasks DROP COLUMN history, DROP COLUMN artifacts;
