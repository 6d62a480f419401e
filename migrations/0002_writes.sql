-- The write API: Datasette's execute-write-sql, create-view and drop-view
-- actions, and audit rows that say which database and table a write touched
-- and how many rows it changed.

insert into actions (name, abbr, level) values
    ('execute-write-sql', 'ews', 'database'),
    ('create-view', 'cv', 'database'),
    ('drop-view', 'dv', 'table');

-- Owners may do everything; editors everything but dropping.
insert into role_actions (role, action) values
    ('owner', 'execute-write-sql'),
    ('owner', 'create-view'),
    ('owner', 'drop-view'),
    ('editor', 'execute-write-sql'),
    ('editor', 'create-view');

alter table audit_log add column database_name text;
alter table audit_log add column table_name text;
alter table audit_log add column rows_affected integer;
