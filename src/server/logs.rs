//! The server's log: `LIBSETTE_LOG` filters it, `--log-format` picks text
//! or JSON lines on stderr, and every request writes one line
//! (`http::edge::observe`), so writing a line must cost little: lines are
//! gathered and written in batches, warnings and errors at once.

use std::fmt;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;

use super::LogFormat;

/// Sets up the log; dropping what it gives back writes out every line
/// still gathered (the server's last lines, or those before an error).
pub fn init(format: LogFormat) -> Flushed {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIBSETTE_LOG")
        // libsql's replication logs every sync's handshake (info) and each
        // failed one while the primary is away (warn; libsette says it once),
        // tower_http every refused connection to a primary that is away.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "info,libsql=error,libsql_replication=error,tower_http=off",
            )
        });
    let colours = colours_wanted();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Batched)
        .with_ansi(colours);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text if colours => builder.try_init(),
        LogFormat::Text => builder.fmt_fields(PlainFields).try_init(),
    };
    let _ = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(|| {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flush();
            }
        });
    Flushed
}

/// Lines gathered wait at most this long for the next batch: one `write`
/// for many lines rather than one each.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Lines gathered past this many bytes are written by whoever added the last.
const FLUSH_AT: usize = 32 << 10;

static GATHERED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Writes out the lines gathered so far.
fn flush() {
    write_out(&mut GATHERED.lock().unwrap_or_else(|e| e.into_inner()));
}

fn write_out(lines: &mut Vec<u8>) {
    if !lines.is_empty() {
        // Nowhere to report a failure to write the log; the lines go.
        let _ = std::io::stderr().write_all(lines);
        lines.clear();
    }
}

/// Flushes the log when dropped.
pub struct Flushed;

impl Drop for Flushed {
    fn drop(&mut self) {
        flush();
    }
}

/// The log's writer: a line joins the batch, and a warning or an error
/// writes the batch out at once, itself included, so it is never held back
/// (nor reordered against the lines before it).
struct Batched;

struct Line {
    urgent: bool,
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line {
        Line {
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

impl std::io::Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = GATHERED.lock().unwrap_or_else(|e| e.into_inner());
        lines.extend_from_slice(buf);
        if self.urgent || lines.len() >= FLUSH_AT {
            write_out(&mut lines);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Colours for a person at a terminal only: a pipe, a file or `docker
/// logs` gets plain lines (no escape codes for log shippers to strip), as
/// does anyone with `NO_COLOR`.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Fields written as the default formatter writes them without colours
/// (the message bare and first, then `name=value`, text quoted), but
/// straight to the line: the default passes every name and value through
/// its styling even when there are no colours, over a quarter of what a
/// request's line cost.
struct PlainFields;

impl<'w> FormatFields<'w> for PlainFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut message = Plain {
            writer: &mut writer,
            message: true,
            written: false,
            result: Ok(()),
        };
        fields.record(&mut message);
        let written = message.written;
        message.result?;
        let mut rest = Plain {
            writer: &mut writer,
            message: false,
            written,
            result: Ok(()),
        };
        fields.record(&mut rest);
        rest.result
    }
}

/// Writes either only the message or every other field (two passes, so the
/// message comes first wherever the macro put it).
struct Plain<'a, 'w> {
    writer: &'a mut Writer<'w>,
    message: bool,
    /// Something is on the line already (a space goes before the next).
    written: bool,
    result: fmt::Result,
}

impl Plain<'_, '_> {
    /// Writes what goes before `field`'s value (a space, and its name
    /// unless it is the message); false when this pass skips it.
    fn begin(&mut self, field: &Field) -> bool {
        let name = field.name();
        let is_message = name == "message";
        // A `log` record's own fields (its target, file, line) are shown
        // as the event's, as the default does.
        if self.result.is_err() || is_message != self.message || name.starts_with("log.") {
            return false;
        }
        let written = std::mem::replace(&mut self.written, true);
        self.result = (|| {
            if written {
                self.writer.write_char(' ')?;
            }
            if !is_message {
                self.writer
                    .write_str(name.strip_prefix("r#").unwrap_or(name))?;
                self.writer.write_char('=')?;
            }
            Ok(())
        })();
        self.result.is_ok()
    }
}

impl Visit for Plain<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.begin(field) {
            self.result = match self.message {
                true => self.writer.write_str(value),
                false => write!(self.writer, "{value:?}"),
            };
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.begin(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.begin(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.begin(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.begin(field) {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// The same line as the default formatter's without colours.
    #[test]
    fn plain_fields_write_what_the_default_writes_without_colours() {
        let line = |plain: bool| {
            let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = out.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(move || Sink(sink.clone()));
            let run = || {
                let span = tracing::info_span!("request", id = 7u64, space = "de\"mo");
                tracing::info!(parent: &span, route = "/{space}", status = 200u16, ms = 0.5, "served");
                tracing::warn!(parent: &span, error = %"bad\tthing", r#type = "x", "refused: {}", 3);
                tracing::info!(answer = true, n = -3i64, big = u64::MAX, f = 1e-7);
            };
            match plain {
                true => tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer.fmt_fields(PlainFields)),
                    run,
                ),
                false => tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer),
                    run,
                ),
            }
            String::from_utf8(out.lock().unwrap().clone()).unwrap()
        };
        let plain = line(true);
        assert!(
            plain.contains("served route=\"/{space}\" status=200 ms=0.5"),
            "{plain}"
        );
        assert_eq!(plain, line(false));
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
