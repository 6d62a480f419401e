//! The `_extra=` names Datasette 1.0a41 knows for tables and rows, with the
//! descriptions `_extra=extras` lists; parsing and checking a request's extras.

use std::collections::BTreeSet;

use serde_json::{Value as Json, json};

use crate::error::AppError;
use crate::read::args::Args;
use crate::read::links::{with_added, with_removed};

/// Where an extra can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Table,
    Row,
}

struct Extra {
    name: &'static str,
    table: bool,
    row: bool,
    description: &'static str,
}

impl Extra {
    fn in_scope(&self, scope: Scope) -> bool {
        match scope {
            Scope::Table => self.table,
            Scope::Row => self.row,
        }
    }
}

/// Every public extra, in Datasette's order.
const EXTRAS: &[Extra] = &[
    Extra {
        name: "count",
        table: true,
        row: false,
        description: "Total count of rows matching these filters",
    },
    Extra {
        name: "count_truncated",
        table: true,
        row: false,
        description: "True if the count hit Datasette's counting limit, meaning the real number of matching rows is at least the reported count.",
    },
    Extra {
        name: "count_sql",
        table: true,
        row: false,
        description: "SQL query string used to calculate the total count for the current table view, including active filters.",
    },
    Extra {
        name: "facet_results",
        table: true,
        row: false,
        description: "Results of facets calculated against this data. A dictionary with ``results`` and ``timed_out`` keys: ``results`` maps facet names to facet dictionaries with ``name``, ``type``, ``results`` and URL keys, and each facet result item includes ``value``, ``label``, ``count`` and ``toggle_url``.",
    },
    Extra {
        name: "facets_timed_out",
        table: true,
        row: false,
        description: "List of names of facet calculations that exceeded the facet time limit.",
    },
    Extra {
        name: "suggested_facets",
        table: true,
        row: false,
        description: "Suggestions for facets that might return interesting results. Each item is a dictionary with ``name`` and ``toggle_url`` keys, and may include extra keys such as ``type`` or ``label`` depending on the facet class.",
    },
    Extra {
        name: "human_description_en",
        table: true,
        row: false,
        description: "Human-readable description of the filters",
    },
    Extra {
        name: "columns",
        table: true,
        row: true,
        description: "List of column names returned by this table, row or query.",
    },
    Extra {
        name: "all_columns",
        table: true,
        row: false,
        description: "List of all column names in the table, regardless of ``_col=`` or ``_nocol=`` filtering.",
    },
    Extra {
        name: "primary_keys",
        table: true,
        row: true,
        description: "List of primary key column names for this table, or an empty list if the table has no explicit primary key.",
    },
    Extra {
        name: "column_details",
        table: true,
        row: true,
        description: "SQLite schema details for columns in this table. The dictionary maps column names to objects describing the schema for each column.",
    },
    Extra {
        name: "display_columns",
        table: true,
        row: false,
        description: "Column metadata used by the HTML table display. Each item includes ``name``, ``sortable``, ``is_pk``, ``type``, ``notnull``, ``description``, ``column_type`` and ``column_type_config`` keys.",
    },
    Extra {
        name: "render_cell",
        table: true,
        row: true,
        description: "Rendered HTML for each cell using the render_cell plugin hook",
    },
    Extra {
        name: "debug",
        table: true,
        row: true,
        description: "Extra debug information dictionary. This is intended for development only and its shape is not part of the stable template contract.",
    },
    Extra {
        name: "request",
        table: true,
        row: true,
        description: "Dictionary with request details: ``url``, ``path``, ``full_path``, ``host`` and ``args`` where ``args`` maps query string parameter names to their values.",
    },
    Extra {
        name: "query",
        table: true,
        row: true,
        description: "Details of the underlying SQL query as a dictionary with ``sql`` and ``params`` keys.",
    },
    Extra {
        name: "column_types",
        table: true,
        row: true,
        description: "Column type assignments for this table. A dictionary mapping column names to ``{\"type\": type_name, \"config\": config}`` dictionaries.",
    },
    Extra {
        name: "set_column_type_ui",
        table: true,
        row: false,
        description: "Information needed to build an interface for assigning column types, or ``None`` if unavailable. When present it has ``path`` and ``columns`` keys; ``columns`` maps column names to ``current`` and ``options`` values.",
    },
    Extra {
        name: "metadata",
        table: true,
        row: true,
        description: "Metadata dictionary for the table, database or stored query. Table and row metadata include a ``columns`` dictionary mapping column names to descriptions; stored query metadata returns the stored query configuration.",
    },
    Extra {
        name: "extras",
        table: true,
        row: true,
        description: "List of ``?_extra=`` blocks that can be used on this page. Each item has ``name``, ``description``, ``toggle_url`` and ``selected`` keys.",
    },
    Extra {
        name: "database",
        table: true,
        row: true,
        description: "Database name",
    },
    Extra {
        name: "table",
        table: true,
        row: true,
        description: "Table name",
    },
    Extra {
        name: "database_color",
        table: true,
        row: true,
        description: "Color assigned to the database",
    },
    Extra {
        name: "renderers",
        table: true,
        row: false,
        description: "Dictionary mapping output format names such as ``json`` or plugin-provided renderer names to URLs for this data in that format.",
    },
    Extra {
        name: "custom_table_templates",
        table: true,
        row: false,
        description: "List of custom template names considered for rendering table rows, in lookup order.",
    },
    Extra {
        name: "sorted_facet_results",
        table: true,
        row: false,
        description: "Facet result dictionaries sorted for display. Each item has the same shape as an entry from ``facet_results['results']``.",
    },
    Extra {
        name: "table_definition",
        table: true,
        row: false,
        description: "SQL definition for this table",
    },
    Extra {
        name: "view_definition",
        table: true,
        row: false,
        description: "SQL definition for this view",
    },
    Extra {
        name: "is_view",
        table: true,
        row: false,
        description: "Whether this resource is a view instead of a table",
    },
    Extra {
        name: "private",
        table: true,
        row: true,
        description: "Whether this resource is private to the current actor",
    },
    Extra {
        name: "expandable_columns",
        table: true,
        row: false,
        description: "List of foreign key columns that can be expanded with labels. Each item is a ``(foreign_key, label_column)`` pair where ``foreign_key`` is the SQLite foreign key dictionary and ``label_column`` is the label column in the referenced table, or ``None``.",
    },
    Extra {
        name: "foreign_key_tables",
        table: false,
        row: true,
        description: "List of tables that link to this row using foreign keys. Each item includes the foreign key fields plus ``count`` for matching rows and ``link`` for the filtered table URL.",
    },
    Extra {
        name: "form_hidden_args",
        table: true,
        row: false,
        description: "List of ``(name, value)`` pairs for hidden form fields used by the HTML table interface to preserve current query string options.",
    },
];

/// The extras a request names (`_extra=a,b&_extra=c`), rejecting names this
/// scope does not know with Datasette's 400.
pub fn requested(args: &Args, scope: Scope) -> Result<BTreeSet<String>, AppError> {
    let names: BTreeSet<String> = args
        .get_all("_extra")
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !EXTRAS.iter().any(|e| e.name == *n && e.in_scope(scope)))
        .collect();
    if unknown.is_empty() {
        Ok(names)
    } else {
        Err(AppError::BadRequest(format!(
            "Unknown _extra: {}",
            unknown.join(", ")
        )))
    }
}

/// `_extra=extras`: each extra of the scope with a link toggling it.
/// `path` is the page's path; `origin` its `scheme://host`.
pub fn listing(
    scope: Scope,
    selected: &BTreeSet<String>,
    path: &str,
    args: &Args,
    origin: &str,
) -> Json {
    let items: Vec<Json> = EXTRAS
        .iter()
        .filter(|e| e.in_scope(scope))
        .map(|e| {
            let on = selected.contains(e.name);
            let link = if on {
                with_removed(path, args, &[("_extra", e.name)])
            } else {
                with_added(path, args, &[("_extra", e.name)])
            };
            json!({
                "name": e.name,
                "description": e.description,
                "toggle_url": format!("{origin}{link}"),
                "selected": on,
            })
        })
        .collect();
    Json::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_unknown_names() {
        let args = Args::parse(Some("_extra=count,columns&_extra=&_extra=count"));
        let names = requested(&args, Scope::Table).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["columns", "count"]);
        let err = requested(&Args::parse(Some("_extra=zz,count,aa")), Scope::Table).unwrap_err();
        assert_eq!(err.to_string(), "Unknown _extra: aa, zz");
        assert!(
            requested(
                &Args::parse(Some("_extra=foreign_key_tables")),
                Scope::Table
            )
            .is_err()
        );
        assert!(requested(&Args::parse(Some("_extra=foreign_key_tables")), Scope::Row).is_ok());
    }
}
