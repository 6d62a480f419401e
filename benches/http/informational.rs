//! The informational rows, without targets: other reads against the
//! trivial endpoint, one small space, and what each request's log line
//! costs.

use std::net::SocketAddr;

use crate::TOKEN_10;
use crate::bench::{Bench, Side, side};
use crate::fixture::Server;
use crate::load::Urls;
use crate::table::{Goal, Unit};

/// Runs them on the server at `libsette`; `single` names the row of one
/// small space when there are any, `logging` starts a second server on the
/// same folder logging at `info` (the default).
pub fn rows(
    b: &mut Bench,
    libsette: SocketAddr,
    trivial: Side,
    tok: &str,
    single: Option<&str>,
    logging: impl FnOnce() -> Server,
) {
    let others = [
        (
            "filtered and sorted",
            "/bench/fixtures/facetable.json?state=CA&score__gt=100&_sort_desc=score&_size=20",
            true,
        ),
        (
            "facet state",
            "/bench/fixtures/facetable.json?_facet=state&_size=0",
            true,
        ),
        (
            "query with :params",
            "/bench/fixtures/-/query.json?sql=select+*+from+facetable+where+state+%3D+%3As+limit+10&s=MI",
            true,
        ),
    ];
    for (name, path, token) in others {
        let urls = Urls::one(path);
        let subject = side(libsette, &urls, token.then_some(tok));
        b.paired(
            &format!("{name} ÷ /-/health"),
            trivial,
            subject,
            Unit::Percent,
            Goal::None,
        );
    }
    if let Some(name) = single {
        let t0 = Urls::one("/t0/d/t.json");
        let subject = side(libsette, &t0, None);
        b.paired(name, trivial, subject, Unit::Percent, Goal::None);
    }
    // The same reads from the second server, its log read through a pipe.
    let (cached, uncached) = (Urls::one(TOKEN_10), Urls::Unique(TOKEN_10.into()));
    let logged = [
        ("cached token _size=10, each request logged ÷ not", &cached),
        (
            "uncached token _size=10, each request logged ÷ not",
            &uncached,
        ),
    ];
    if logged.iter().any(|(name, _)| b.wants(name)) {
        let server = logging();
        for (name, urls) in logged {
            let (base, subject) = (
                side(libsette, urls, Some(tok)),
                side(server.addr, urls, Some(tok)),
            );
            b.paired(name, base, subject, Unit::Percent, Goal::None);
        }
    }
}
