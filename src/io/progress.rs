//! Progress of the long steps (training, preprocessing, feature extraction,
//! scoring), shown where the user looks: indicatif's bar on stderr in a
//! terminal, as the CLI always had, and one line on stdout updated in place
//! in a notebook.
//!
//! A notebook shows stderr in red and indicatif hides its bar when stderr
//! is no terminal, so there the display is a line of text on stdout that
//! starts with `\r`. The notebook kernel relays stdout line by line; built
//! with `scripts/evcxr_jupyter/in-place-lines.patch` it sends such a line
//! without its newline, and Jupyter (like nbconvert) renders the next `\r`
//! as a terminal does: the line is overwritten in place.

use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Set by evcxr (the Rust Jupyter kernel) in the process that runs the
/// cells' code.
pub const EVCXR_RUNTIME_ENV: &str = "EVCXR_IS_RUNTIME";

/// How often the notebook line is redrawn, at most; a step shorter than
/// this shows nothing.
const REDRAW: Duration = Duration::from_millis(500);

/// Cells of the notebook line's bar.
const BAR_WIDTH: usize = 20;

/// Whether this process runs notebook cells: evcxr's runtime, writing to
/// the kernel's pipe rather than to a terminal.
pub fn in_notebook() -> bool {
    notebook_detected(
        |name| std::env::var_os(name),
        std::io::stdout().is_terminal(),
    )
}

fn notebook_detected(var: impl Fn(&str) -> Option<OsString>, stdout_is_terminal: bool) -> bool {
    var(EVCXR_RUNTIME_ENV).is_some() && !stdout_is_terminal
}

/// A line about the study's progress (which run was loaded, which trained),
/// shown when `show`: on stdout in a notebook, on stderr elsewhere (the
/// CLI's stdout carries its results).
pub fn status(show: bool, line: &str) {
    match (show, in_notebook()) {
        (false, _) => {}
        (true, true) => println!("{line}"),
        (true, false) => eprintln!("{line}"),
    }
}

/// What a long step counts and how its terminal bar looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// First word of the notebook line: `train`, `features`, ...
    pub name: &'static str,
    /// What is counted: `batches`, `images`.
    pub unit: &'static str,
    /// indicatif's template of the terminal bar.
    pub bar: &'static str,
}

/// indicatif's own default template.
pub const DEFAULT_BAR: &str = "{wide_bar} {pos}/{len}";

/// A progress display: a terminal bar, a notebook line or nothing. Shared
/// by reference across threads (the preprocessing's workers).
#[derive(Debug)]
pub struct Progress {
    output: Output,
}

#[derive(Debug)]
enum Output {
    Hidden,
    Terminal(ProgressBar),
    Notebook(Mutex<NotebookLine>),
}

impl Progress {
    /// A display of `total` units of `step` when `show`: a notebook line in
    /// a notebook, else indicatif's bar (which hides itself when stderr is
    /// no terminal).
    pub fn new(show: bool, step: Step, total: u64) -> Self {
        let output = if !show {
            Output::Hidden
        } else if in_notebook() {
            Output::Notebook(Mutex::new(NotebookLine::new(step, total)))
        } else {
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template(step.bar).expect("valid template"));
            Output::Terminal(bar)
        };
        Self { output }
    }

    /// Starts at `done` units (a resumed step); time left is estimated
    /// from the units done from here on.
    pub fn starting_at(self, done: u64) -> Self {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.set_position(done),
            Output::Notebook(line) => line.lock().expect("progress lock").start_at(done),
        }
        self
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.inc(n),
            Output::Notebook(line) => {
                let update = line
                    .lock()
                    .expect("progress lock")
                    .advance(n, Instant::now());
                if let Some(update) = update {
                    write_stdout(&update);
                }
            }
        }
    }

    /// Text before the bar: where in the step it is (`epoch 3/10`).
    pub fn set_prefix(&self, prefix: String) {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.set_prefix(prefix),
            Output::Notebook(line) => line.lock().expect("progress lock").prefix = prefix,
        }
    }

    /// Text after the count: a running value (`loss 0.01234`).
    pub fn set_message(&self, message: String) {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.set_message(message),
            Output::Notebook(line) => line.lock().expect("progress lock").message = message,
        }
    }

    /// A line that stays (an epoch's losses), printed above the display:
    /// on stderr beside a terminal's bar (also when stderr is no terminal
    /// and the bar hides itself), in place of the notebook's line.
    pub fn println(&self, text: &str) {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.suspend(|| eprintln!("{text}")),
            Output::Notebook(line) => write_stdout(&line.lock().expect("progress lock").keep(text)),
        }
    }

    /// Ends the display: a terminal's bar is cleared, a notebook's line
    /// left with the step's total and duration.
    pub fn finish(&self) {
        match &self.output {
            Output::Hidden => {}
            Output::Terminal(bar) => bar.finish_and_clear(),
            Output::Notebook(line) => {
                let last = line.lock().expect("progress lock").finish();
                if let Some(last) = last {
                    write_stdout(&last);
                }
            }
        }
    }
}

impl Drop for Progress {
    /// A step that stopped early (an error) leaves its notebook line as it
    /// was, ended, so that later output starts on a line of its own.
    fn drop(&mut self) {
        if let Output::Notebook(line) = &self.output
            && let Some(end) = line.lock().ok().and_then(|mut line| line.close())
        {
            write_stdout(&end);
        }
    }
}

/// The state of the notebook's progress line.
#[derive(Debug)]
struct NotebookLine {
    step: Step,
    total: u64,
    position: u64,
    /// Where this process started (resumed steps start above 0).
    started_at: u64,
    started: Instant,
    prefix: String,
    message: String,
    last_drawn: Option<Instant>,
    /// Characters of the text on the open line, which a shorter update
    /// must cover with spaces.
    open_width: Option<usize>,
}

impl NotebookLine {
    fn new(step: Step, total: u64) -> Self {
        Self {
            step,
            total,
            position: 0,
            started_at: 0,
            started: Instant::now(),
            prefix: String::new(),
            message: String::new(),
            last_drawn: None,
            open_width: None,
        }
    }

    fn start_at(&mut self, done: u64) {
        self.position = done;
        self.started_at = done;
    }

    /// The update to write, when one is due at `now`.
    fn advance(&mut self, n: u64, now: Instant) -> Option<String> {
        self.position += n;
        let since = self.last_drawn.unwrap_or(self.started);
        if now.saturating_duration_since(since) < REDRAW {
            return None;
        }
        self.last_drawn = Some(now);
        let text = self.snapshot().to_string();
        Some(self.rewrite(&text, false))
    }

    fn snapshot(&self) -> Snapshot<'_> {
        let elapsed = self.started.elapsed();
        Snapshot {
            step: self.step,
            prefix: &self.prefix,
            message: &self.message,
            position: self.position,
            total: self.total,
            elapsed,
            left: time_left(
                self.position - self.started_at,
                self.total.saturating_sub(self.position),
                elapsed,
            ),
        }
    }

    /// The output of a line that stays: over the open line, if any.
    fn keep(&mut self, text: &str) -> String {
        match self.open_width {
            Some(_) => self.rewrite(text, true),
            None => format!("{text}\n"),
        }
    }

    /// The open line's last text: the step's total and duration.
    fn finish(&mut self) -> Option<String> {
        self.open_width?;
        let done = format!(
            "{}: {} {} in {}",
            self.step.name,
            self.position,
            self.step.unit,
            clock(self.started.elapsed())
        );
        Some(self.rewrite(&done, true))
    }

    /// The open line's end, as it stands.
    fn close(&mut self) -> Option<String> {
        self.open_width.take().map(|_| "\n".to_string())
    }

    /// The output that writes `text` over the open line (padded to cover
    /// it) and, when `end`, ends it with an empty line, whose newline the
    /// kernel sends as such.
    fn rewrite(&mut self, text: &str, end: bool) -> String {
        let width = self.open_width.unwrap_or(0);
        self.open_width = (!end).then(|| text.chars().count());
        format!("\r{text:<width$}\n{}", if end { "\n" } else { "" })
    }
}

fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A display that cannot be written is no reason to stop the step.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// What the notebook line shows at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot<'a> {
    pub step: Step,
    pub prefix: &'a str,
    pub message: &'a str,
    pub position: u64,
    pub total: u64,
    pub elapsed: Duration,
    /// `None` until a unit is done.
    pub left: Option<Duration>,
}

impl fmt::Display for Snapshot<'_> {
    /// `train epoch 3/10 ██████░░░░ 372/1240 batches · loss 0.01234 · 2:05
    /// elapsed, 4:52 left`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.step.name)?;
        if !self.prefix.is_empty() {
            write!(f, " {}", self.prefix)?;
        }
        write!(
            f,
            " {} {}/{} {}",
            bar(self.position, self.total),
            self.position,
            self.total,
            self.step.unit
        )?;
        if !self.message.is_empty() {
            write!(f, " · {}", self.message)?;
        }
        write!(f, " · {} elapsed, ", clock(self.elapsed))?;
        match self.left {
            Some(left) => write!(f, "{} left", clock(left)),
            None => f.write_str("time left unknown yet"),
        }
    }
}

/// `position` of `total` as [`BAR_WIDTH`] cells, full ones first.
fn bar(position: u64, total: u64) -> String {
    let full = if total == 0 {
        BAR_WIDTH
    } else {
        (position.min(total) as f64 / total as f64 * BAR_WIDTH as f64).round() as usize
    };
    format!("{}{}", "█".repeat(full), "░".repeat(BAR_WIDTH - full))
}

/// The time the `remaining` units take at the rate `done` units took
/// `elapsed`; `None` before the first.
fn time_left(done: u64, remaining: u64, elapsed: Duration) -> Option<Duration> {
    (done > 0).then(|| elapsed.mul_f64(remaining as f64 / done as f64))
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRAIN: Step = Step {
        name: "train",
        unit: "batches",
        bar: DEFAULT_BAR,
    };

    #[test]
    fn a_notebook_is_evcxrs_runtime_writing_to_a_pipe() {
        let evcxr = |name: &str| (name == EVCXR_RUNTIME_ENV).then(|| OsString::from("1"));
        let plain = |_: &str| None;
        assert!(notebook_detected(evcxr, false));
        assert!(
            !notebook_detected(evcxr, true),
            "evcxr's REPL on a terminal"
        );
        assert!(!notebook_detected(plain, false), "the CLI piped to a file");
        assert!(!notebook_detected(plain, true));
        // cargo test runs outside evcxr.
        assert!(!in_notebook());
    }

    #[test]
    fn the_line_shows_the_epoch_the_loss_and_the_time_left() {
        let snapshot = Snapshot {
            step: TRAIN,
            prefix: "epoch 3/10",
            message: "loss 0.01234",
            position: 372,
            total: 1240,
            elapsed: Duration::from_secs(125),
            left: time_left(248, 868, Duration::from_secs(125)),
        };
        assert_eq!(
            snapshot.to_string(),
            "train epoch 3/10 ██████░░░░░░░░░░░░░░ 372/1240 batches · loss 0.01234 · 2:05 \
             elapsed, 7:17 left"
        );
        let first = Snapshot {
            prefix: "",
            message: "",
            position: 0,
            left: None,
            ..snapshot
        };
        assert_eq!(
            first.to_string(),
            "train ░░░░░░░░░░░░░░░░░░░░ 0/1240 batches · 2:05 elapsed, time left unknown yet"
        );
    }

    #[test]
    fn time_left_counts_only_the_units_done_here() {
        assert_eq!(time_left(0, 10, Duration::from_secs(5)), None);
        assert_eq!(
            time_left(10, 30, Duration::from_secs(5)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(clock(Duration::from_secs(59)), "0:59");
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 62)), "3:01:02");
        assert_eq!(bar(5, 0), "█".repeat(BAR_WIDTH));
        assert_eq!(bar(1, 2), format!("{}{}", "█".repeat(10), "░".repeat(10)));
    }

    #[test]
    fn a_notebook_line_is_rewritten_in_place_then_kept() {
        let mut line = NotebookLine::new(TRAIN, 4);
        line.start_at(1);
        assert_eq!(line.snapshot().left, None, "nothing done here yet");
        assert_eq!(line.keep("before"), "before\n", "no line open yet");
        let t0 = line.started;
        assert_eq!(line.advance(1, t0 + REDRAW / 2), None, "too soon to draw");
        let first = line.advance(1, t0 + REDRAW).expect("due");
        assert!(
            first.starts_with("\rtrain ") && first.ends_with(" left\n"),
            "{first:?}"
        );
        assert!(first.contains(" 3/4 batches"), "{first:?}");
        assert_eq!(line.advance(1, t0 + REDRAW + REDRAW / 2), None);
        // A shorter text covers the longer one before it.
        let width = first.chars().count() - 2;
        assert_eq!(
            line.keep("epoch 1/1: loss 0.5"),
            format!("\r{:<width$}\n\n", "epoch 1/1: loss 0.5")
        );
        assert_eq!(line.finish(), None, "the line was kept: nothing open");
        assert_eq!(line.close(), None);
        line.rewrite("train 4/4", false);
        assert_eq!(line.close().as_deref(), Some("\n"));
    }
}
