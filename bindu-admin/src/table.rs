//! Plain-text tables: a header row, columns as wide as their widest cell, long cells cut.

/// The widest a cell is shown in a table; `--json` has them whole.
const MAX_CELL: usize = 60;

/// A table being built.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(cut).collect());
    }

    /// The table, one line per row; `empty` alone when there are no rows.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|header| (*header).to_owned()).collect();
        let mut text = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            text.push_str(cells.join("  ").trim_end());
            text.push('\n');
        }
        text
    }
}

/// One line, at most [`MAX_CELL`] characters.
fn cut(cell: String) -> String {
    let line = cell.replace(['\n', '\r', '\t'], " ");
    if line.chars().count() <= MAX_CELL {
        return line;
    }
    let mut short: String = line.chars().take(MAX_CELL - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_long_cells_are_cut() {
        let mut table = Table::new(&["ID", "ERROR"]);
        table.row(vec!["a".into(), "short".into()]);
        table.row(vec!["bbbb".into(), "x".repeat(100)]);
        let text = table.render("none");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID    ERROR");
        assert_eq!(lines[1], "a     short");
        assert!(lines[2].starts_with("bbbb  xxx") && lines[2].ends_with('…'));
        assert_eq!(lines[2].chars().count(), 6 + MAX_CELL);
        assert_eq!(Table::new(&["ID"]).render("nothing"), "nothing\n");
    }
}
