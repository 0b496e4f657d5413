//! `wslp plugin trace [NAME…] [--json]` (SPEC §13): one line per hook call,
//! API call, entry point call and plugin-host crash or timeout of the named
//! plugins (all when none is named), from the service of `$WSLP_ROOT`, until
//! interrupted.
//!
//! The text form is columns: time (UTC), plugin, call, result (named as SPEC
//! §4 names HRESULTs), duration, then the arguments and the PluginError
//! message or crash text. Colour only when stdout is a terminal (and
//! `NO_COLOR` is unset). `--json` writes one object per line with the keys
//! `time`, `plugin`, `call`, `args`, `result`, `duration_us` and, when set,
//! `message`. A tracer that does not keep up gets a line saying how many
//! events it lost (`{"time":…,"dropped":N}` in JSON).

use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::session::{fail, fail_code, paths, send};
use wslp_abi::hresult_name;
use wslp_ipc::protocol::{ProtocolError, Request, ServerMessage};
use wslp_ipc::trace::{TraceEvent, TraceValue, PLUGIN_HOST_CRASHED, PLUGIN_HOST_TIMED_OUT};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Plugins to trace, as registered (all when none is named).
    #[arg(value_name = "NAME")]
    pub plugins: Vec<String>,
    /// One JSON object per line instead of columns.
    #[arg(long)]
    pub json: bool,
}

/// The widest call name (`ExecuteBinaryInDistribution`), so columns line up.
const CALL_WIDTH: usize = 27;
/// Wide enough for most HRESULT names; longer ones push the line right.
const RESULT_WIDTH: usize = 22;

pub fn run(args: Args) -> anyhow::Result<i32> {
    let conn = match send(
        Request::Trace {
            plugins: args.plugins.clone(),
        },
        &[],
    ) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let mut out = Output::new(args.json);
    loop {
        let written = match conn.recv::<ServerMessage>() {
            Ok((ServerMessage::TraceStarted { plugins }, _)) => {
                out.started(&plugins, &args.plugins);
                Ok(())
            }
            Ok((ServerMessage::Trace(e), _)) => out.event(&e),
            Ok((ServerMessage::TraceDropped { count }, _)) => out.dropped(count),
            Ok((ServerMessage::Done, _)) => return Ok(0),
            Ok((ServerMessage::Failed { text, exit_code }, _)) => {
                return Ok(fail(&text, exit_code))
            }
            Ok((other, _)) => {
                return Ok(fail_code(
                    &format!("Unexpected answer from the wslp service: {other:?}"),
                    "Service/E_UNEXPECTED",
                    1,
                ))
            }
            Err(ProtocolError::Closed) => {
                eprintln!("The wslp service stopped; the trace ends.");
                return Ok(0);
            }
            Err(e) => {
                return Ok(fail_code(
                    &format!("Lost the connection to the wslp service: {e}"),
                    "Service/RPC_E_DISCONNECTED",
                    1,
                ))
            }
        };
        // stdout closed (`| head`): the reader is done, and so are we.
        if written.is_err() {
            return Ok(0);
        }
    }
}

struct Output {
    json: bool,
    color: bool,
    plugin_width: usize,
    out: std::io::Stdout,
}

impl Output {
    fn new(json: bool) -> Output {
        let out = std::io::stdout();
        let color = !json && out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Output {
            json,
            color,
            plugin_width: 8,
            out,
        }
    }

    fn started(&mut self, registered: &[String], asked: &[String]) {
        let shown = if asked.is_empty() { registered } else { asked };
        self.plugin_width = shown
            .iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(8)
            .clamp(6, 24);
        let which = match (asked.is_empty(), registered.is_empty()) {
            (true, true) => "No plugin is registered yet; waiting".to_string(),
            (true, false) => format!("Tracing every plugin ({})", registered.join(", ")),
            (false, _) => format!("Tracing {}", asked.join(", ")),
        };
        eprintln!(
            "{which} of the wslp instance at {}. Times are UTC. Press Ctrl-C to stop.",
            paths().root.display()
        );
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn line(&mut self, s: &str) -> std::io::Result<()> {
        let mut o = self.out.lock();
        writeln!(o, "{s}")?;
        o.flush()
    }

    fn event(&mut self, e: &TraceEvent) -> std::io::Result<()> {
        let line = if self.json {
            event_json(e)
        } else {
            self.event_text(e)
        };
        self.line(&line)
    }

    fn dropped(&mut self, count: u64) -> std::io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let line = if self.json {
            format!("{{\"time\":\"{}\",\"dropped\":{count}}}", rfc3339(now))
        } else {
            let text = format!(
                "-- {count} event{} dropped here: this tracer did not keep up --",
                if count == 1 { "" } else { "s" }
            );
            format!(
                "{}  {}",
                self.paint("2", &clock(now)),
                self.paint("33", &text)
            )
        };
        self.line(&line)
    }

    fn event_text(&self, e: &TraceEvent) -> String {
        let lost = e.call == PLUGIN_HOST_CRASHED || e.call == PLUGIN_HOST_TIMED_OUT;
        let result = hresult_name(e.result);
        let result_color = if lost || e.result < 0 { "31" } else { "32" };
        let call_color = if lost { "1;31" } else { "1" };
        let mut s = format!(
            "{}  {}  {}  {}  {}  {}",
            self.paint("2", &clock(e.time_us)),
            self.paint("36", &pad(&e.plugin, self.plugin_width)),
            self.paint(call_color, &pad(&e.call, CALL_WIDTH)),
            self.paint(result_color, &pad(&result, RESULT_WIDTH)),
            format_args!("{:>9} µs", e.duration_us),
            args_text(&e.args),
        );
        if let Some(m) = &e.message {
            s.push_str("  ");
            s.push_str(&self.paint("33", &format!("message={}", quote(m))));
        }
        s.trim_end().to_string()
    }
}

fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

/// `key=value …`: strings bare unless they need quotes, lists in brackets.
fn args_text(args: &[(String, TraceValue)]) -> String {
    args.iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn value_text(v: &TraceValue) -> String {
    match v {
        TraceValue::Null => "NULL".into(),
        TraceValue::Bool(b) => b.to_string(),
        TraceValue::Int(i) => i.to_string(),
        TraceValue::Str(s) => quote(s),
        TraceValue::List(l) => format!(
            "[{}]",
            l.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// As is when it reads unambiguously, else Rust's (C-like) quoted form.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"\"'[],=\\".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

fn json_value(v: &TraceValue) -> serde_json::Value {
    match v {
        TraceValue::Null => serde_json::Value::Null,
        TraceValue::Bool(b) => (*b).into(),
        TraceValue::Int(i) => (*i).into(),
        TraceValue::Str(s) => s.as_str().into(),
        TraceValue::List(l) => l.clone().into(),
    }
}

/// One object, keys in the documented order.
fn event_json(e: &TraceEvent) -> String {
    let str_ = |s: &str| serde_json::Value::from(s).to_string();
    let args = e
        .args
        .iter()
        .map(|(k, v)| format!("{}:{}", str_(k), json_value(v)))
        .collect::<Vec<_>>()
        .join(",");
    let mut s = format!(
        "{{\"time\":{},\"plugin\":{},\"call\":{},\"args\":{{{args}}},\"result\":{},\"duration_us\":{}",
        str_(&rfc3339(e.time_us)),
        str_(&e.plugin),
        str_(&e.call),
        str_(&hresult_name(e.result)),
        e.duration_us
    );
    if let Some(m) = &e.message {
        s.push_str(&format!(",\"message\":{}", str_(m)));
    }
    s.push('}');
    s
}

/// Year, month, day of a count of days since 1970-01-01 (the proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn split(us: u64) -> (i64, u64, u64) {
    let secs = us / 1_000_000;
    ((secs / 86_400) as i64, secs % 86_400, us % 1_000_000)
}

/// `2026-12-01T14:03:07.512344Z`.
fn rfc3339(us: u64) -> String {
    let (days, sod, frac) = split(us);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `14:03:07.512344Z`: the text form's time of day.
fn clock(us: u64) -> String {
    let (_, sod, frac) = split(us);
    format!(
        "{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TraceEvent {
        TraceEvent {
            time_us: 1_796_133_787_512_344,
            plugin: "Sample".into(),
            call: "ExecuteBinary".into(),
            args: vec![
                ("session".into(), TraceValue::Int(1)),
                ("path".into(), TraceValue::Str("/bin/cat".into())),
                (
                    "argv".into(),
                    TraceValue::List(vec!["/bin/cat".into(), "a b".into()]),
                ),
                ("name".into(), TraceValue::Null),
            ],
            result: -2147024894,
            duration_us: 180,
            message: Some("it \"broke\"".into()),
        }
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.000001.
        assert_eq!(rfc3339(951_827_696_000_001), "2000-02-29T12:34:56.000001Z");
        assert_eq!(
            rfc3339(4_102_444_799_999_999),
            "2099-12-31T23:59:59.999999Z"
        );
        assert_eq!(clock(1_796_133_787_512_344), "14:03:07.512344Z");
    }

    #[test]
    fn json_has_the_documented_keys_in_order() {
        let j = event_json(&sample());
        assert_eq!(
            j,
            r#"{"time":"2026-12-01T14:03:07.512344Z","plugin":"Sample","call":"ExecuteBinary","args":{"session":1,"path":"/bin/cat","argv":["/bin/cat","a b"],"name":null},"result":"ERROR_FILE_NOT_FOUND","duration_us":180,"message":"it \"broke\""}"#
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["result"], "ERROR_FILE_NOT_FOUND");
        let mut no_message = sample();
        no_message.message = None;
        let v: serde_json::Value = serde_json::from_str(&event_json(&no_message)).unwrap();
        assert!(v.get("message").is_none());
    }

    #[test]
    fn text_is_aligned_columns_then_arguments() {
        let out = Output {
            json: false,
            color: false,
            plugin_width: 8,
            out: std::io::stdout(),
        };
        let line = out.event_text(&sample());
        assert_eq!(
            line,
            "14:03:07.512344Z  Sample    ExecuteBinary                ERROR_FILE_NOT_FOUND          180 µs  \
             session=1 path=/bin/cat argv=[/bin/cat, \"a b\"] name=NULL  message=\"it \\\"broke\\\"\""
        );
        let mut short = sample();
        short.call = "PluginError".into();
        short.result = 0;
        let other = out.event_text(&short);
        // The result column starts at the same place whatever the call.
        assert_eq!(line.find("ERROR_FILE"), other.find("S_OK"));
    }
}
