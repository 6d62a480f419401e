-- Stored queries (Datasette 1.0a41's name for canned queries): named SQL kept
-- per database. Keyed by the database's id, which `db import --replace`
-- keeps, and removed with the database (or its space) by the cascade.
create table stored_queries (
    id integer primary key,
    database_id integer not null references databases(id) on delete cascade,
    name text not null,
    sql text not null,
    title text,
    description text,
    description_html text,
    hide_sql integer not null default 0 check (hide_sql in (0, 1)),
    fragment text,
    -- the :named parameters, a JSON list in the order the SQL names them
    parameters text not null default '[]',
    is_write integer not null default 0 check (is_write in (0, 1)),
    -- only the owner sees and runs a private query
    is_private integer not null default 1 check (is_private in (0, 1)),
    owner_user_id integer references users(id) on delete set null,
    on_success_message text,
    on_success_redirect text,
    on_error_message text,
    on_error_redirect text,
    created_at integer not null,
    updated_at integer not null,
    unique (database_id, name)
);
create index stored_queries_by_owner on stored_queries(owner_user_id);

insert into actions (name, abbr, level, also_requires) values
    ('update-query', 'uq', 'table', null),
    ('delete-query', 'dq', 'table', null);

-- Owners may change anyone's queries they can see; everyone else only their own
-- (a rule in src/permissions.rs).
insert into role_actions (role, action) values
    ('owner', 'update-query'),
    ('owner', 'delete-query');
