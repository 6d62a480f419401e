//! The command line. Every command works while a server runs on the same
//! data folder: they meet only in the catalog and the tenant files.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::catalog::tokens::{self, NewToken, Restrictions};
use crate::catalog::{Catalog, DataDir, databases, migrate, spaces, users};
use crate::names::{DbName, SpaceName};
use crate::server::{self, ServeArgs};
use crate::{import, settings};

#[derive(Parser, Debug)]
#[command(
    name = "libsette",
    version,
    about = "A multi-tenant, Datasette-compatible data server on libSQL"
)]
pub struct Cli {
    /// The data folder: catalog.db and spaces/.
    #[arg(
        long,
        global = true,
        env = "LIBSETTE_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub primary: crate::replica::options::PrimaryArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve every space over HTTP.
    Serve(ServeArgs),
    /// Apply pending catalog migrations.
    Migrate,
    /// Create, list, delete and configure spaces.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Create, import and list a space's databases.
    #[command(subcommand)]
    Db(DbCommand),
    /// Create users and set their passwords.
    #[command(subcommand)]
    User(UserCommand),
    /// Mint, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show a space's audit log (writes and token events), newest first.
    Audit(AuditArgs),
    /// Ask a running server's /-/health; exit 0 when it answers 200.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Copy the catalog and every space's databases (or one space) into a
    /// new folder, consistently, while a server runs and writes go on.
    Backup(crate::backup::BackupArgs),
    /// Lay a backup into an empty data folder, or import a one-space
    /// backup as a new space (--space NAME); checksums are checked first.
    Restore(crate::backup::RestoreArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    pub space: String,
    /// Only events on this database.
    #[arg(long)]
    pub database: Option<String>,
    /// Only events on this table.
    #[arg(long)]
    pub table: Option<String>,
    /// Only events by this actor.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events of this kind (insert-rows, token-created, …).
    #[arg(long)]
    pub event: Option<String>,
    /// How many events to show.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum SpaceCommand {
    /// Create a space.
    Create {
        name: String,
        /// Its owner (created, without a password, if missing).
        #[arg(long, env = "LIBSETTE_OWNER", default_value = "root")]
        owner: String,
        /// Anyone, anonymous included, may view it and run read-only SQL.
        #[arg(long)]
        public: bool,
    },
    /// List spaces.
    List,
    /// Delete a space with its databases and tokens.
    Delete { name: String },
    /// Change a space's visibility or settings.
    Set {
        name: String,
        #[arg(long, conflicts_with = "private")]
        public: bool,
        #[arg(long)]
        private: bool,
        /// A Datasette setting for this space only.
        #[arg(long = "setting", num_args = 2, value_names = ["NAME", "VALUE"])]
        settings: Vec<String>,
        /// Let pages on ORIGIN (scheme://host[:port]) call this space's API
        /// from a browser, in place of serve --cors (repeatable; adds).
        #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = crate::origin::Origin::parse)]
        cors_origins: Vec<crate::origin::Origin>,
        /// Empty the space's CORS list (before adding any --cors-origin):
        /// serve --cors applies to it again.
        #[arg(long)]
        no_cors_origins: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Create an empty database.
    Create { space: String, db: String },
    /// Copy an SQLite/libSQL file into a space, after an integrity check.
    Import {
        space: String,
        file: PathBuf,
        /// The database's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// Swap an existing database's content atomically.
        #[arg(long)]
        replace: bool,
        /// Serve it read-only under hashed URLs with long cache lifetimes.
        #[arg(long)]
        immutable: bool,
    },
    /// Change how a database is served.
    Set {
        space: String,
        db: String,
        /// Read-only, counted once, hashed URLs (`/{space}/{db}-{hash}/…`).
        #[arg(long, conflicts_with = "mutable", required_unless_present = "mutable")]
        immutable: bool,
        /// Writable again.
        #[arg(long)]
        mutable: bool,
    },
    /// List a space's databases.
    List { space: String },
    /// Delete a database: its file and everything the catalog holds for it
    /// (schema mirror, stored queries).
    Delete { space: String, db: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (without a password unless --password-stdin).
    Create {
        name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (prompted, or read from a non-terminal stdin).
    Passwd { name: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Mint a token for ACTOR in SPACE; prints only the token.
    Create {
        space: String,
        actor: String,
        /// Seconds until the token expires.
        #[arg(long)]
        expires_after: Option<i64>,
        /// Allow ACTION on everything (repeatable).
        #[arg(short = 'a', long = "all", value_name = "ACTION")]
        all: Vec<String>,
        /// Allow ACTION on database DB (repeatable).
        #[arg(short = 'd', long = "database", num_args = 2, value_names = ["DB", "ACTION"])]
        database: Vec<String>,
        /// Allow ACTION on RESOURCE of DB (repeatable).
        #[arg(short = 'r', long = "resource", num_args = 3, value_names = ["DB", "RESOURCE", "ACTION"])]
        resource: Vec<String>,
        /// A name to recognise the token by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List a space's tokens.
    List { space: String },
    /// Revoke a token by its id (from `token list`) or by the token itself.
    Revoke { space: String, id: String },
}

/// Runs the command line and turns errors into a message and exit status 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::sqlite::configure_process();
    if let Command::Healthcheck(args) = cli.command {
        return crate::healthcheck::run(args);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// (NAME, VALUE) pairs from a flat list, validated.
fn setting_pairs(flat: &[String]) -> Result<Vec<(String, String)>> {
    flat.chunks(2)
        .map(|pair| {
            let value = settings::validate(&pair[0], &pair[1]).map_err(anyhow::Error::msg)?;
            Ok((pair[0].clone(), value))
        })
        .collect()
}

pub fn run(cli: Cli) -> Result<()> {
    let data = match cli.primary.replication()? {
        Some(replication) => DataDir::replicated(cli.data_dir, replication),
        None => DataDir::new(cli.data_dir),
    };
    if let Command::Serve(args) = cli.command {
        return server::run(data, args);
    }
    // A replicated node's commands write through to the primary: they need
    // a runtime for the network (local files need none).
    let runtime = match data.replication() {
        Some(_) => Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?,
        ),
        None => None,
    };
    let _entered = runtime.as_ref().map(|r| r.enter());
    match cli.command {
        Command::Serve(_) => unreachable!("served above"),
        Command::Healthcheck(args) => {
            println!("{}", crate::healthcheck::check(&args)?);
            return Ok(());
        }
        // Neither creates nor migrates the catalog of the folder first.
        Command::Backup(_) | Command::Restore(_) if data.replication().is_some() => {
            anyhow::bail!(
                "backup and restore work on a local data folder; back up the primary's namespaces with sqld's own tools"
            )
        }
        Command::Backup(args) => return crate::backup::backup(&data, args),
        Command::Restore(args) => return crate::backup::restore(&data, args),
        _ => {}
    }
    let catalog = Catalog::open(&data)?;
    let conn = catalog.conn()?;
    match cli.command {
        Command::Serve(_) | Command::Healthcheck(_) | Command::Backup(_) | Command::Restore(_) => {
            unreachable!("handled above")
        }
        Command::Migrate => {
            println!(
                "catalog at version {} ({} migrations applied)",
                migrate::current(&conn)?,
                catalog.migrations_applied
            );
        }
        Command::Space(command) => space(&conn, &data, command)?,
        Command::Db(command) => db(&conn, &data, command)?,
        Command::User(command) => user(&conn, command)?,
        Command::Token(command) => token(&conn, command)?,
        Command::Audit(args) => audit_log(&conn, args)?,
    }
    Ok(())
}

fn space(conn: &libsql::Connection, data: &DataDir, command: SpaceCommand) -> Result<()> {
    match command {
        SpaceCommand::Create {
            name,
            owner,
            public,
        } => {
            let name = SpaceName::parse(&name).map_err(anyhow::Error::msg)?;
            spaces::create(conn, &name, &owner, public)?;
            std::fs::create_dir_all(data.space_dir(name.as_str()))?;
            println!(
                "created space {name} (owner {owner}, {})",
                if public { "public" } else { "private" }
            );
        }
        SpaceCommand::List => {
            for space in spaces::list(conn)? {
                let dbs = databases::list(conn, space.id)?.len();
                let visibility = if space.public { "public" } else { "private" };
                let origins = spaces::cors_origins(conn, space.id)?;
                let cors = if origins.is_empty() {
                    String::new()
                } else {
                    format!("\tcors {}", origins.join(" "))
                };
                println!("{}\t{visibility}\t{dbs} databases{cors}", space.name);
            }
        }
        SpaceCommand::Delete { name } => {
            let space = spaces::require(conn, &name)?;
            spaces::delete(conn, &space)?;
            let dir = data.space_dir(&space.name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
            println!("deleted space {name}");
        }
        SpaceCommand::Set {
            name,
            public,
            private,
            settings,
            cors_origins,
            no_cors_origins,
        } => {
            let space = spaces::require(conn, &name)?;
            let pairs = setting_pairs(&settings)?;
            let cors_changes = no_cors_origins || !cors_origins.is_empty();
            if !public && !private && pairs.is_empty() && !cors_changes {
                bail!(
                    "nothing to change: give --public, --private, --setting NAME VALUE, --cors-origin ORIGIN or --no-cors-origins"
                );
            }
            if public || private {
                spaces::set_public(conn, &space, public)?;
            }
            for (setting, value) in pairs {
                spaces::set_setting(conn, space.id, &setting, &value)?;
            }
            println!("updated space {name}");
            if cors_changes {
                let origins: Vec<String> = cors_origins.iter().map(|o| o.to_string()).collect();
                spaces::change_cors_origins(conn, space.id, no_cors_origins, &origins)?;
                let now = spaces::cors_origins(conn, space.id)?;
                if now.is_empty() {
                    println!("CORS origins: none (serve --cors applies)");
                } else {
                    println!("CORS origins: {}", now.join(" "));
                }
            }
        }
    }
    Ok(())
}

fn db(conn: &libsql::Connection, data: &DataDir, command: DbCommand) -> Result<()> {
    match command {
        DbCommand::Create { space, db } => {
            let db = DbName::parse(&db).map_err(anyhow::Error::msg)?;
            import::create(conn, data, &space, &db)?;
            println!("created database {db} in space {space}");
        }
        DbCommand::Import {
            space,
            file,
            name,
            replace,
            immutable,
        } => {
            let db = import::import(conn, data, &space, &file, name.as_deref(), replace)?;
            println!(
                "imported {} as database {db} in space {space}",
                file.display()
            );
            if immutable {
                let hash = import::set_immutable(conn, data, &space, db.as_str(), true)?;
                println!(
                    "{db} is immutable, served at /{space}/{db}-{}/",
                    hash.unwrap_or_default()
                );
            }
        }
        DbCommand::Set {
            space,
            db,
            immutable,
            ..
        } => match import::set_immutable(conn, data, &space, &db, immutable)? {
            Some(hash) => println!("{db} is immutable, served at /{space}/{db}-{hash}/"),
            None => println!("{db} is mutable"),
        },
        DbCommand::Delete { space, db } => {
            import::delete(conn, data, &space, &db)?;
            println!("deleted database {db} from space {space}");
        }
        DbCommand::List { space } => {
            let space = spaces::require(conn, &space)?;
            for db in databases::list(conn, space.id)? {
                let size = std::fs::metadata(data.database_file(&space.name, &db.name))
                    .map(|m| m.len())
                    .unwrap_or(0);
                println!("{}\t{size} bytes", db.name);
            }
        }
    }
    Ok(())
}

fn audit_log(conn: &libsql::Connection, args: AuditArgs) -> Result<()> {
    let space = spaces::require(conn, &args.space)?;
    let filter = crate::catalog::audit::Filter {
        database: args.database,
        table: args.table,
        actor: args.actor,
        event: args.event,
        before: None,
        limit: args.limit,
    };
    let (events, _) = crate::catalog::audit::list(conn, space.id, &filter)?;
    if !args.json {
        println!("id\tat\tevent\tactor\ttoken\tdatabase\ttable\trows");
    }
    let field = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for e in events {
        if args.json {
            println!("{e}");
        } else {
            let cols: Vec<String> = [
                "id",
                "at",
                "event",
                "actor",
                "token_id",
                "database",
                "table",
                "rows_affected",
            ]
            .iter()
            .map(|k| field(&e[*k]))
            .collect();
            println!("{}", cols.join("\t"));
        }
    }
    Ok(())
}

/// A password from standard input: a prompt on a terminal, else the first line.
fn read_password(prompt: bool) -> Result<String> {
    let password = if prompt && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        text.lines().next().unwrap_or_default().to_owned()
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

fn user(conn: &libsql::Connection, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create {
            name,
            password_stdin,
        } => {
            let password = if password_stdin {
                Some(read_password(false)?)
            } else {
                None
            };
            users::create(conn, &name, password.as_deref())?;
            println!("created user {name}");
        }
        UserCommand::Passwd { name } => {
            if users::find_id(conn, &name)?.is_none() {
                bail!("no user named '{name}'");
            }
            users::set_password(conn, &name, &read_password(true)?)?;
            println!("password set for {name}");
        }
    }
    Ok(())
}

fn token(conn: &libsql::Connection, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create {
            space,
            actor,
            expires_after,
            all,
            database,
            resource,
            name,
        } => {
            let space = spaces::require(conn, &space)?;
            let mut restrictions = Restrictions::default();
            for action in &all {
                restrictions.allow_all(conn, action)?;
            }
            for pair in database.chunks(2) {
                restrictions.allow_database(conn, &pair[0], &pair[1])?;
            }
            for triple in resource.chunks(3) {
                restrictions.allow_resource(conn, &triple[0], &triple[1], &triple[2])?;
            }
            let (_, secret) = tokens::create(
                conn,
                NewToken {
                    space_id: space.id,
                    actor: &actor,
                    name: name.as_deref(),
                    restrictions: Some(restrictions),
                    expires_after,
                    parent_id: None,
                },
            )?;
            println!("{}", secret.expose());
        }
        TokenCommand::List { space } => {
            let space = spaces::require(conn, &space)?;
            println!("id\tname\tactor\trestrictions\tcreated\tlast_used\texpires\trevoked");
            let when = |t: Option<i64>| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
            for t in tokens::list(conn, space.id)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.name.as_deref().unwrap_or("-"),
                    t.actor,
                    t.restrictions
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                    t.created_at,
                    when(t.last_used_at),
                    when(t.expires_at),
                    when(t.revoked_at),
                );
            }
        }
        TokenCommand::Revoke { space, id } => {
            let space = spaces::require(conn, &space)?;
            let id = tokens::revoke(conn, space.id, &id)?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
