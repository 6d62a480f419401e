-- One-time login links (`serve` prints one for the instance admin on a new
-- data folder, as `datasette --root` does). Only a SHA-256 of the code is
-- stored; a code works once, before it expires.
create table login_codes (
    code_hash blob primary key,
    user_id integer not null references users(id) on delete cascade,
    created_at integer not null,
    expires_at integer not null,
    used_at integer
);
