//! The `demo` space a new data folder starts with: one public database of
//! books and authors, with a foreign key, a view and an FTS table.

use anyhow::Result;
use libsql::Connection;

use crate::catalog::{DataDir, databases, mirror, spaces};
use crate::names::SpaceName;
use crate::sqlite;
use crate::tenant;

pub const SPACE: &str = "demo";
pub const DATABASE: &str = "library";
/// The demo space's owner, who may mint tokens for it.
pub const OWNER: &str = "root";

const SAMPLE: &str = "
create table authors (
    id integer primary key,
    name text not null,
    country text
);
create table books (
    id integer primary key,
    title text not null,
    author_id integer references authors(id),
    year integer,
    genre text
);
create view books_by_author as
    select authors.name as author, count(*) as books
    from books join authors on authors.id = books.author_id
    group by authors.name;
create virtual table books_fts using fts5(title, genre, content='books', content_rowid='id');
insert into authors (id, name, country) values
    (1, 'Ursula K. Le Guin', 'United States'),
    (2, 'Chinua Achebe', 'Nigeria'),
    (3, 'Italo Calvino', 'Italy'),
    (4, 'Octavia E. Butler', 'United States'),
    (5, 'Stanisław Lem', 'Poland');
insert into books (id, title, author_id, year, genre) values
    (1, 'A Wizard of Earthsea', 1, 1968, 'fantasy'),
    (2, 'The Dispossessed', 1, 1974, 'science fiction'),
    (3, 'The Left Hand of Darkness', 1, 1969, 'science fiction'),
    (4, 'Things Fall Apart', 2, 1958, 'literary fiction'),
    (5, 'Arrow of God', 2, 1964, 'literary fiction'),
    (6, 'Invisible Cities', 3, 1972, 'literary fiction'),
    (7, 'If on a winter''s night a traveler', 3, 1979, 'literary fiction'),
    (8, 'Kindred', 4, 1979, 'science fiction'),
    (9, 'Parable of the Sower', 4, 1993, 'science fiction'),
    (10, 'Solaris', 5, 1961, 'science fiction'),
    (11, 'The Cyberiad', 5, 1965, 'science fiction');
insert into books_fts (rowid, title, genre) select id, title, genre from books;
";

/// Creates the demo space (public, owned by `root`) and its database.
pub fn create(catalog: &Connection, data: &DataDir) -> Result<()> {
    let name = SpaceName::parse(SPACE).map_err(anyhow::Error::msg)?;
    let space = spaces::create(catalog, &name, OWNER, true)?;
    tenant::create_file(data, SPACE, DATABASE)?;
    let db = sqlite::open_file(&data.database_file(SPACE, DATABASE))?;
    let conn = sqlite::connect(&db)?;
    sqlite::write_transaction(&conn, |conn| sqlite::execute_batch(conn, SAMPLE))?;
    let row = databases::register(catalog, space.id, DATABASE)?;
    mirror::refresh(catalog, row.id, &conn)?;
    Ok(())
}
