-- Tokens minted by a token remember it: revoking a token revokes its
-- descendants, and a child never outlives its parent (checked at lookup too).
alter table tokens add column parent_id integer references tokens(id);
create index tokens_by_parent on tokens(parent_id) where parent_id is not null;

-- Managing tokens is an action of its own, so a token may hold it only when
-- it was given it explicitly (`token create … -a create-token`). Datasette has
-- no such action: there no token may create tokens at all.
insert into actions (name, abbr, level, also_requires)
    values ('create-token', 'ctk', 'instance', null);
insert into role_actions (role, action)
    values ('owner', 'create-token'), ('editor', 'create-token'), ('viewer', 'create-token');
