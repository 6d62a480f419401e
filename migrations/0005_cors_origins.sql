-- Per-space CORS allowlists: a space with rows here answers cross-origin
-- requests only from these origins (normalised scheme://host[:port]), in
-- place of serve --cors. Numbered 5: migrations 3 and 4 come from parallel work.
create table space_cors_origins (
    space_id integer not null references spaces(id) on delete cascade,
    origin text not null,
    primary key (space_id, origin)
) without rowid;
