-- The catalog: spaces, their databases, users, roles, grants, API tokens,
-- settings, the audit log and a mirror of each tenant database's schema.
-- Times are unix seconds.

create table spaces (
    id integer primary key,
    name text not null unique,
    public integer not null default 0 check (public in (0, 1)),
    created_at integer not null
);

-- Per-space overrides of serve --setting values.
create table space_settings (
    space_id integer not null references spaces(id) on delete cascade,
    name text not null,
    value text not null,
    primary key (space_id, name)
);

create table users (
    id integer primary key,
    name text not null unique,
    -- argon2id PHC string; null means the user cannot log in with a password
    password_hash text,
    is_admin integer not null default 0 check (is_admin in (0, 1)),
    created_at integer not null
);

-- Datasette's actions, with the abbreviations tokens use in their "_r" restrictions.
-- level says what a resource of this action is: the space itself, a database, or a table.
-- also_requires names an action that must be allowed on the same resource too.
create table actions (
    name text primary key,
    abbr text not null unique,
    level text not null check (level in ('instance', 'database', 'table')),
    also_requires text references actions(name)
);

insert into actions (name, abbr, level, also_requires) values
    ('view-instance', 'vi', 'instance', null),
    ('permissions-debug', 'pd', 'instance', null),
    ('debug-menu', 'dm', 'instance', null),
    ('view-database', 'vd', 'database', null),
    ('view-database-download', 'vdd', 'database', 'view-database'),
    ('execute-sql', 'es', 'database', 'view-database'),
    ('execute-write-sql', 'ews', 'database', 'view-database'),
    ('create-table', 'ct', 'database', null),
    ('create-view', 'cv', 'database', null),
    ('store-query', 'sq', 'database', 'execute-sql'),
    ('view-table', 'vt', 'table', null),
    ('view-query', 'vq', 'table', null),
    ('insert-row', 'ir', 'table', null),
    ('delete-row', 'dr', 'table', null),
    ('update-row', 'ur', 'table', null),
    ('alter-table', 'at', 'table', null),
    ('set-column-type', 'sct', 'table', null),
    ('drop-table', 'dt', 'table', null),
    ('drop-view', 'dv', 'table', null);

-- Holding `action` on a resource implies holding `implied` on its parents
-- (Datasette: a table you may view implies its database and the instance).
create table action_implies (
    action text not null references actions(name),
    implied text not null references actions(name),
    primary key (action, implied)
);

insert into action_implies (action, implied) values
    ('view-table', 'view-database'),
    ('view-table', 'view-instance'),
    ('view-query', 'view-database'),
    ('view-query', 'view-instance'),
    ('view-database', 'view-instance');

-- What each role may do anywhere in its space. The role 'public' is what
-- every actor, anonymous included, gets in a space marked public.
create table role_actions (
    role text not null check (role in ('owner', 'editor', 'viewer', 'public')),
    action text not null references actions(name),
    primary key (role, action)
);

insert into role_actions (role, action)
    select 'owner', name from actions;
insert into role_actions (role, action)
    select 'editor', name from actions
    where name not in ('permissions-debug', 'debug-menu', 'drop-table', 'drop-view');
insert into role_actions (role, action)
    select r.role, a.name from actions a, (select 'viewer' as role union all select 'public') r
    where a.name in ('view-instance', 'view-database', 'view-database-download',
                     'view-table', 'view-query', 'execute-sql');

create table memberships (
    space_id integer not null references spaces(id) on delete cascade,
    user_id integer not null references users(id) on delete cascade,
    role text not null check (role in ('owner', 'editor', 'viewer')),
    primary key (space_id, user_id)
);

-- Explicit rules beside roles. user_id null means every actor (anonymous too);
-- database_name/table_name null mean the whole space/database. allow = 0 is a
-- deny, and a deny wins over every allow.
create table grants (
    id integer primary key,
    space_id integer not null references spaces(id) on delete cascade,
    user_id integer references users(id) on delete cascade,
    database_name text,
    table_name text,
    action text not null references actions(name),
    allow integer not null check (allow in (0, 1)),
    reason text not null default 'grant',
    check (table_name is null or database_name is not null)
);
create index grants_by_space on grants(space_id, action);

create table databases (
    -- never reused: caches key schemas by database id
    id integer primary key autoincrement,
    space_id integer not null references spaces(id) on delete cascade,
    name text not null,
    created_at integer not null,
    -- PRAGMA schema_version of the tenant file when the mirror below was taken
    schema_version integer,
    -- an immutable database is opened read-only and served under /{db}-{hash}/
    immutable integer not null default 0 check (immutable in (0, 1)),
    -- SHA-256 prefix of an immutable file's bytes
    content_hash text,
    unique (space_id, name)
);

-- Mirror of each tenant database's schema, so permission listings are one query.
create table mirror_tables (
    id integer primary key,
    database_id integer not null references databases(id) on delete cascade,
    name text not null,
    -- 'shadow': a table backing a virtual table (FTS data), hidden from listings
    kind text not null check (kind in ('table', 'view', 'shadow')),
    hidden integer not null default 0,
    -- the FTS table indexing this table, or the FTS table itself
    fts_table text,
    sql text,
    -- counted once for immutable databases (like datasette inspect)
    row_count integer,
    unique (database_id, name)
);

create table mirror_columns (
    table_id integer not null references mirror_tables(id) on delete cascade,
    cid integer not null,
    name text not null,
    type text not null,
    "notnull" integer not null,
    -- position in the primary key, 0 when not part of it
    pk integer not null,
    hidden integer not null default 0,
    primary key (table_id, cid)
);

create table mirror_foreign_keys (
    table_id integer not null references mirror_tables(id) on delete cascade,
    column_name text not null,
    other_table text not null,
    other_column text not null
);
create index mirror_foreign_keys_by_table on mirror_foreign_keys(table_id);

create table tokens (
    id integer primary key,
    space_id integer not null references spaces(id) on delete cascade,
    user_id integer not null references users(id) on delete cascade,
    name text,
    -- SHA-256 of the whole secret; the secret itself is never stored
    secret_hash blob not null unique,
    -- Datasette's "_r" object with abbreviated actions, or null when unrestricted
    restrictions text,
    created_at integer not null,
    expires_at integer,
    revoked_at integer,
    last_used_at integer
);
create index tokens_by_space on tokens(space_id);

create table audit_log (
    id integer primary key,
    at integer not null,
    space_id integer references spaces(id) on delete set null,
    actor text,
    token_id integer,
    event text not null,
    -- what a write touched and how many rows it changed
    database_name text,
    table_name text,
    rows_affected integer,
    detail text
);
create index audit_log_by_space on audit_log(space_id, id);

-- Instance-wide key/value state (the session secret lives in the data folder, not here).
create table instance_settings (
    name text primary key,
    value text not null
);
