-- The `sub` of the principal that created each pending approval: ResolveApproval refuses a
-- decision by the same `sub` unless the resolver holds `api:approve` (an agent cannot approve
-- its own tool calls). NULL for approvals created before this column existed; those keep the
-- old rule (any principal who may see the session resolves them).
ALTER TABLE pending_approvals ADD COLUMN requested_by VARCHAR(255);
