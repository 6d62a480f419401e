-- Server-side login sessions. A session cookie names one row here (the
-- catalog keeps only a SHA-256 of the cookie's random id), so logging out,
-- changing the password or "log out everywhere" ends it on every node
-- within a second, whatever the cookie's own expiry says.
create table sessions (
    id_hash blob primary key,
    user_id integer not null references users(id) on delete cascade,
    created_at integer not null,
    expires_at integer not null,
    revoked_at integer
);
create index sessions_by_user on sessions (user_id);

-- A member added by name before that user exists is an invitation: a user
-- row without a password (who cannot log in) until an admin creates the
-- user, so the members form answers alike for known and unknown names.
alter table users add column invited_at integer;
