//! Where a redirect may lead when its target comes from the request (the
//! login form's `next=`, Datasette's `//name` redirect): only a plain
//! absolute path of this server, as a browser's URL parser would read it.

use percent_encoding::percent_decode_str;

/// Times a target is percent-decoded to look for a hidden `//` or `\`.
const DECODINGS: usize = 3;

/// `target` when no browser can read it as leading off this server.
///
/// Browsers (the WHATWG URL parser) drop tabs and newlines anywhere, strip
/// leading C0 controls and spaces, and read `\` as `/`, so `/\t/evil` or
/// `/\evil` become `//evil`, another host. Rather than normalise, refuse:
/// a target must be printable ASCII without `\`, start with one `/` (not
/// `//`), and stay so when percent-decoded, for servers that decode again.
pub fn same_origin_path(target: &str) -> Option<&str> {
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut text = target.to_owned();
    for _ in 0..DECODINGS {
        let plain = text.starts_with('/')
            && !text.starts_with("//")
            && !text.contains('\\')
            && !text.bytes().any(|b| b.is_ascii_control());
        if !plain {
            return None;
        }
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == text {
            return Some(target);
        }
        text = decoded;
    }
    // Still changing after several decodings: nobody writes paths like that.
    None
}

/// The login form's `next`: a same-origin path, else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(same_origin_path).unwrap_or("/").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_of_this_server() {
        let good = [
            "/",
            "/demo/",
            "/demo/fixtures/facetable?_sort=pk&state=CA#rows",
            "/demo/db/t~2Fx",
            "/demo/db/t%20x",
            "/demo/?next=//evil.example",
            "/./x",
        ];
        for target in good {
            assert_eq!(same_origin_path(target), Some(target), "{target:?}");
        }
        let nasty = [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "\u{0}/evil",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0d%0aSet-Cookie:x=1",
            "/%5cevil.example",
            "/%5Cevil.example",
            "/%2f%2fevil.example",
            "/%2F/evil.example",
            "/%252f%252fevil.example",
            "/%25252f%25252fevil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "evil.example",
            "./x",
            "/ x",
            "/caf\u{e9}",
            "/\u{7f}",
            "/x\ny",
        ];
        for target in nasty {
            assert_eq!(same_origin_path(target), None, "{target:?}");
            assert_eq!(safe_next(Some(target)), "/", "{target:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
