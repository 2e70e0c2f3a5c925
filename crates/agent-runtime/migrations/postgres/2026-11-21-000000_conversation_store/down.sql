DROP TABLE pending_approvals;
DROP TABLE agent_switches;
DROP TABLE agent_contexts;
DROP TABLE messages;
DROP TABLE sessions;
