//! Log lines the way runc writes them, because engines read them:
//! containerd's shim parses `--log-format json` lines `{"level","msg","time"}`
//! from the file given with `--log`; the text form is logrus' `time=… level=… msg=…`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

struct RuncLayer {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    max: Level,
}

#[derive(Default)]
struct Message {
    msg: String,
    fields: Vec<(String, String)>,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.fields.push((field.name().to_string(), format!("{value:?}")));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.fields.push((field.name().to_string(), value.to_string()));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl RuncLayer {
    fn write(&self, level: &Level, msg: String) {
        let level = level_name(level);
        let time = runtime::time::rfc3339(SystemTime::now());
        let line = match self.format {
            LogFormat::Json => {
                let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
                format!("{v}\n")
            }
            LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}\n"),
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// When a phase span (`load_config`, `spawn_init`, `init_setup` …) began.
struct Started(Instant);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for RuncLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() > self.max {
            return;
        }
        let mut m = Message::default();
        event.record(&mut m);
        let mut msg = m.msg;
        for (k, v) in &m.fields {
            msg.push_str(&format!(" {k}={v}"));
        }
        self.write(event.metadata().level(), msg);
    }

    // With --debug, each phase of create/start reports how long it took.
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.max >= Level::DEBUG {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(Started(Instant::now()));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let micros = started.elapsed().as_micros();
        self.write(
            &Level::DEBUG,
            format!("phase {} took {}.{:03} ms", span.name(), micros / 1000, micros % 1000),
        );
    }
}

/// Install the logger: to `--log FILE` (appended) or stderr.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let out: Box<dyn Write + Send> = match log {
        Some(path) => Box::new(File::options().create(true).append(true).open(path)?),
        None => Box::new(std::io::stderr()),
    };
    let layer = RuncLayer {
        out: Mutex::new(out),
        format,
        max: if debug { Level::DEBUG } else { Level::INFO },
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}
