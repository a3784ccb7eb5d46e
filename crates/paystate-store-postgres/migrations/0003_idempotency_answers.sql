-- Idempotency keys are claimed and answered inside the transaction of the change they guard, and
-- a replay repeats the headers that matter (paystate-outcome) beside the body: a JSON array of
-- [name, value] pairs, NULL for answers stored before this version.
ALTER TABLE idempotency_keys ADD COLUMN headers JSONB;

-- Finished deliveries are purged after the retention period (events never are): by last change.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(updated_at) WHERE state <> 'pending';
