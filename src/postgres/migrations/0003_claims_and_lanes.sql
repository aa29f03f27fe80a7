-- Claims beside the task, and lanes for the queue. Upgrades a schema at version 2 in place:
-- new columns get defaults or NULL, nothing is rewritten but the control operations' lane.

-- A worker's claim on a `working` task: the fencing token of its writes, the run operation it
-- serves, and the end of its lease on the server's clock. All three set or all three NULL; only
-- `working` tasks hold one. Kept out of the task's JSON: clients never see it.
ALTER TABLE tasks
    ADD COLUMN claim_token  uuid,
    ADD COLUMN claim_run    uuid,
    ADD COLUMN lease_until  timestamptz;

-- stuck_tasks reads each kind of stuck task in the order it lists them: waiting tasks by when
-- they entered their state, working ones by when their lease ended (when they entered `working`
-- if they have no claim, as tasks written by an earlier release do).
CREATE INDEX tasks_waiting ON tasks (state_timestamp) WHERE state IN ('submitted', 'resumed');
CREATE INDEX tasks_leases ON tasks ((coalesce(lease_until, state_timestamp))) WHERE state = 'working';

-- Cancel, pause and resume travel in the `control` lane, apart from runs, so that a receiver of
-- control operations gets them while runs wait. Operations queued by an earlier release are
-- sorted into their lane by their payload.
ALTER TABLE operations
    ADD COLUMN lane text NOT NULL DEFAULT 'runs' CHECK (lane IN ('runs', 'control'));
UPDATE operations SET lane = 'control' WHERE payload->>'operation' IN ('cancel', 'pause', 'resume');

-- Receivers take the oldest ready operation of a lane.
DROP INDEX operations_ready;
CREATE INDEX operations_ready ON operations (lane, seq) WHERE state = 'ready';

-- A released delivery is `leased` to nobody (`leased_by` NULL) until `lease_until`, its delay:
-- it becomes claimable again exactly like an expired lease, through operations_leased.
