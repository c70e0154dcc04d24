//! The study's index: `report.md` and `report.html`, built from the same
//! blocks in report order, and [`crate::io::Markdown`], the text a notebook
//! cell shows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::error::Result;
use crate::figures::Figure;
use crate::io::{escape, text_cells, write_bytes_atomic};

/// A table of the report: its cells as text and the CSV it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TableBlock {
    pub caption: String,
    pub csv: PathBuf,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One element of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(usize, String),
    /// Markdown text (inline emphasis and code only, so HTML can carry it
    /// escaped).
    Text(String),
    /// Preformatted text.
    Code(String),
    Figure(Figure),
    Table(TableBlock),
}

/// The report: blocks in order, with paths relative to its directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub blocks: Vec<Block>,
}

impl Report {
    pub fn heading(&mut self, level: usize, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }

    pub fn text(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Text(text.into()));
    }

    pub fn code(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Code(text.into()));
    }

    pub fn figure(&mut self, figure: &Figure) {
        self.blocks.push(Block::Figure(figure.clone()));
    }

    pub fn table(&mut self, caption: impl Into<String>, csv: &Path, df: &DataFrame) {
        let (header, rows) = text_cells(df);
        self.blocks.push(Block::Table(TableBlock {
            caption: caption.into(),
            csv: csv.to_path_buf(),
            header,
            rows,
        }));
    }

    /// Every file the report links to.
    pub fn linked_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for block in &self.blocks {
            match block {
                Block::Figure(f) => {
                    files.push(f.png.clone());
                    files.extend(f.svg.clone());
                }
                Block::Table(t) => files.push(t.csv.clone()),
                _ => {}
            }
        }
        files
    }

    /// The report as Markdown, with links relative to `dir`.
    pub fn to_markdown(&self, dir: &Path) -> String {
        let mut md = String::new();
        for block in &self.blocks {
            match block {
                Block::Heading(level, text) => {
                    let _ = writeln!(md, "{} {text}\n", "#".repeat(*level));
                }
                Block::Text(text) => {
                    let _ = writeln!(md, "{text}\n");
                }
                Block::Code(text) => {
                    let _ = writeln!(md, "```text\n{text}\n```\n");
                }
                Block::Figure(f) => {
                    let png = relative(&f.png, dir);
                    let _ = write!(md, "![{}]({png})\n\n*{}* ([PNG]({png})", f.title, f.title);
                    if let Some(svg) = &f.svg {
                        let _ = write!(md, ", [SVG]({})", relative(svg, dir));
                    }
                    md.push_str(")\n\n");
                }
                Block::Table(t) => {
                    let _ = writeln!(md, "*{}* ([CSV]({}))\n", t.caption, relative(&t.csv, dir));
                    let _ = writeln!(md, "{}", markdown_row(&t.header));
                    let _ = writeln!(md, "|{}", "---|".repeat(t.header.len()));
                    for row in &t.rows {
                        let _ = writeln!(md, "{}", markdown_row(row));
                    }
                    md.push('\n');
                }
            }
        }
        md
    }

    /// The report as a self-contained HTML page (figures linked, not
    /// embedded), with links relative to `dir`.
    pub fn to_html(&self, dir: &Path, title: &str) -> String {
        let mut html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{}</title>\n<style>body{{font-family:sans-serif;max-width:60em;margin:auto;\
             padding:1em}}img{{max-width:100%}}table{{border-collapse:collapse;font-size:90%}}\
             td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
             td:first-child,th:first-child{{text-align:left}}figure{{margin:1em 0}}\
             pre{{overflow-x:auto;font-size:80%}}</style>\
             </head><body>\n",
            escape(title)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(level, text) => {
                    let _ = writeln!(html, "<h{level}>{}</h{level}>", inline(text));
                }
                Block::Text(text) => {
                    for paragraph in text.split("\n\n") {
                        let items: Option<Vec<&str>> =
                            paragraph.lines().map(|l| l.strip_prefix("- ")).collect();
                        match items {
                            Some(items) if !items.is_empty() => {
                                html.push_str("<ul>");
                                for item in items {
                                    let _ = write!(html, "<li>{}</li>", inline(item));
                                }
                                html.push_str("</ul>\n");
                            }
                            _ => {
                                let _ = writeln!(html, "<p>{}</p>", inline(paragraph));
                            }
                        }
                    }
                }
                Block::Code(text) => {
                    let _ = writeln!(html, "<pre>{}</pre>", escape(text));
                }
                Block::Figure(f) => {
                    let png = escape(&relative(&f.png, dir));
                    let _ = write!(
                        html,
                        "<figure><img src=\"{png}\" alt=\"{t}\"><figcaption>{t} \
                         (<a href=\"{png}\">PNG</a>",
                        t = escape(&f.title)
                    );
                    if let Some(svg) = &f.svg {
                        let _ = write!(
                            html,
                            ", <a href=\"{}\">SVG</a>",
                            escape(&relative(svg, dir))
                        );
                    }
                    html.push_str(")</figcaption></figure>\n");
                }
                Block::Table(t) => {
                    let _ = write!(
                        html,
                        "<table><caption>{} (<a href=\"{}\">CSV</a>)</caption><tr>",
                        escape(&t.caption),
                        escape(&relative(&t.csv, dir))
                    );
                    for h in &t.header {
                        let _ = write!(html, "<th>{}</th>", escape(h));
                    }
                    html.push_str("</tr>\n");
                    for row in &t.rows {
                        html.push_str("<tr>");
                        for c in row {
                            let _ = write!(html, "<td>{}</td>", escape(c));
                        }
                        html.push_str("</tr>\n");
                    }
                    html.push_str("</table>\n");
                }
            }
        }
        html.push_str("</body></html>\n");
        html
    }

    /// Writes `report.md` and `report.html` into `dir`, atomically.
    pub fn write(&self, dir: &Path, title: &str) -> Result<(PathBuf, PathBuf)> {
        let md_path = dir.join("report.md");
        let html_path = dir.join("report.html");
        let md = format!("# {title}\n\n{}", self.to_markdown(dir));
        write_bytes_atomic(&md_path, md.as_bytes())?;
        write_bytes_atomic(&html_path, self.to_html(dir, title).as_bytes())?;
        Ok((md_path, html_path))
    }
}

fn markdown_row(cells: &[String]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |", cells.join(" | "))
}

/// `path` relative to `dir` when below it, with `/` separators.
fn relative(path: &Path, dir: &Path) -> String {
    let p = path.strip_prefix(dir).unwrap_or(path);
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A Markdown link `[text](href)` at the start of `text`: its parts and
/// its length.
fn link(text: &str) -> Option<(&str, &str, usize)> {
    let rest = text.strip_prefix('[')?;
    let close = rest.find("](")?;
    let end = rest[close + 2..].find(')')?;
    let label = &rest[..close];
    let href = &rest[close + 2..close + 2 + end];
    (!label.contains('[') && !href.contains(' ')).then_some((label, href, close + end + 4))
}

/// Escaped text with Markdown's `**bold**`, `*emphasis*`, `` `code` `` and
/// `[links](href)`.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut open = [false; 3];
    let escaped = escape(text);
    let mut rest = escaped.as_str();
    while !rest.is_empty() {
        if let Some((text, href, len)) = link(rest) {
            let _ = write!(out, "<a href=\"{href}\">{text}</a>");
            rest = &rest[len..];
            continue;
        }
        let (tag, marker_len, slot) = if rest.starts_with("**") {
            ("strong", 2, 0)
        } else if rest.starts_with('*') {
            ("em", 1, 1)
        } else if rest.starts_with('`') {
            ("code", 1, 2)
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        let _ = write!(out, "<{}{tag}>", if open[slot] { "/" } else { "" });
        open[slot] = !open[slot];
        rest = &rest[marker_len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    #[test]
    fn markdown_and_html_link_every_file() {
        let dir = Path::new("/out");
        let mut report = Report::default();
        report.heading(2, "4. Loading");
        report.text(
            "The test set holds **42** images of `ant` & co.\n\n- one\n- *two*\n\nSee \
             [the CSV](tables/a.csv).",
        );
        report.code("a < b");
        report.figure(&Figure {
            title: "ROC <curve>".into(),
            png: dir.join("figures/roc.png"),
            svg: Some(dir.join("figures/roc.svg")),
        });
        let df = DataFrame::new_infer_height(vec![Column::new("a|b".into(), [1.5f64])]).unwrap();
        report.table("Counts", &dir.join("tables/counts.csv"), &df);

        let md = report.to_markdown(dir);
        assert!(md.contains("## 4. Loading"));
        assert!(md.contains("![ROC <curve>](figures/roc.png)"));
        assert!(md.contains("[SVG](figures/roc.svg)"));
        assert!(md.contains("[CSV](tables/counts.csv)"));
        assert!(md.contains("| a\\|b |"));

        let html = report.to_html(dir, "T");
        assert!(html.contains("<strong>42</strong>"));
        assert!(html.contains("<code>ant</code> &amp; co."));
        assert!(html.contains("<ul><li>one</li><li><em>two</em></li></ul>"));
        assert!(html.contains("<pre>a &lt; b</pre>"));
        assert!(html.contains("See <a href=\"tables/a.csv\">the CSV</a>."));
        assert!(md.contains("```text\na < b\n```"));
        assert!(html.contains("<img src=\"figures/roc.png\" alt=\"ROC &lt;curve&gt;\">"));
        assert!(html.contains("<td>1.50000</td>"));
        assert_eq!(
            report.linked_files(),
            [
                dir.join("figures/roc.png"),
                dir.join("figures/roc.svg"),
                dir.join("tables/counts.csv")
            ]
        );
    }
}
