-- What operators need: failed push notifications kept for redelivery, and an index to prune
-- finished tasks by when they finished.

-- One row per notification that was not delivered (its id is the Idempotency-Key), in the order
-- first recorded; the record is the FailedNotification's JSON. It goes with its task.
CREATE TABLE failed_notifications (
    id          uuid PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    task_id     uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    record      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failed_notifications_by_seq ON failed_notifications (seq);
-- The cascade from tasks looks rows up by task.
CREATE INDEX failed_notifications_by_task ON failed_notifications (task_id);

-- prune_tasks reads terminal tasks, the longest finished first.
CREATE INDEX tasks_finished ON tasks (state_timestamp) WHERE state IN ('completed', 'failed', 'canceled', 'rejected');
