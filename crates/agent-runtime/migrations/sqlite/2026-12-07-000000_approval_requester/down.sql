ALTER TABLE pending_approvals DROP COLUMN requested_by;
