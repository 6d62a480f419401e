//! The house rules a newcomer relies on: the README's code map names every
//! module and folder of `src/` and `src/http/` and nothing that is gone; no
//! source file passes 20 KB; `src/http/` keeps few files of its own; the
//! error type knows nothing of the HTTP layer above it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The entries the README's code map names, as paths under the root
/// (`src/http/table/`, `src/cli.rs`).
fn mapped() -> BTreeSet<String> {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme
        .split("\n## Code map\n")
        .nth(1)
        .expect("README has a Code map section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the code map is a code block");
    let mut names = BTreeSet::new();
    for line in block.lines() {
        // A line starts with names (`a.rs, b/`); a line indented by two
        // spaces names entries of `src/http/`, a deeper one continues the
        // line above.
        let indent = line.len() - line.trim_start().len();
        let dir = match indent {
            0 => "src/",
            2 => "src/http/",
            _ => continue,
        };
        for token in line.split_whitespace() {
            let name = token.trim_end_matches(',');
            let name = name.strip_prefix("src/").unwrap_or(name);
            let is_name = (name.ends_with(".rs") || name.ends_with('/'))
                && name[..name.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
            if !is_name {
                break;
            }
            names.insert(format!("{dir}{name}"));
            if !token.ends_with(',') {
                break;
            }
        }
    }
    names
}

/// The entries of a folder: `name.rs` files and `name/` folders.
fn listed(dir: &str) -> BTreeSet<String> {
    fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                format!("{dir}{name}/")
            } else {
                format!("{dir}{name}")
            }
        })
        .collect()
}

#[test]
fn the_code_map_matches_the_tree() {
    let mapped = mapped();
    for name in &mapped {
        assert!(
            Path::new(ROOT).join(name).exists(),
            "the code map names {name}, which is not in the tree"
        );
    }
    let mut tree = listed("src/");
    tree.extend(listed("src/http/"));
    tree.remove("src/lib.rs"); // the guided tour the map points to
    for entry in tree {
        assert!(
            mapped.contains(&entry),
            "{entry} is missing from the README's code map"
        );
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_passes_20_kb() {
    let mut files = Vec::new();
    sources(&Path::new(ROOT).join("src"), &mut files);
    assert!(files.len() > 50, "the walk found the sources");
    for file in files {
        let size = fs::metadata(&file).unwrap().len();
        assert!(size <= 20 * 1024, "{} is {size} bytes", file.display());
    }
}

#[test]
fn the_http_folder_holds_rooms_not_files() {
    let files = listed("src/http/")
        .into_iter()
        .filter(|e| !e.ends_with('/'))
        .count();
    assert!(files <= 12, "src/http/ holds {files} files directly");
}

#[test]
fn the_error_type_knows_nothing_of_http() {
    let error = fs::read_to_string(Path::new(ROOT).join("src/error.rs")).unwrap();
    assert!(
        !error.contains("crate::http"),
        "src/error.rs uses crate::http"
    );
    assert!(!error.contains("askama"), "src/error.rs renders pages");
}
