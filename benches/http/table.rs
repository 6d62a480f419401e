//! The closing table: each figure with its target and whether it is met.

/// How a row's figure is shown.
#[derive(Clone, Copy)]
pub enum Unit {
    /// A ratio shown as `2.31×`.
    Times,
    /// A ratio shown as `87.5%`.
    Percent,
    /// Megabytes.
    Mb,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Times => format!("{v:.2}×"),
            Unit::Percent => format!("{:.1}%", 100.0 * v),
            Unit::Mb => format!("{v:.0} MB"),
        }
    }
}

/// A row's target: on the median over rounds, and maybe on every round.
#[derive(Clone, Copy)]
pub enum Goal {
    /// Informational: no target.
    None,
    AtLeast {
        median: f64,
        each: Option<f64>,
    },
    AtMost {
        median: f64,
    },
    /// Not measured in this run (say why before the table).
    Pending,
}

pub struct Row {
    pub name: String,
    /// One figure per round.
    pub values: Vec<f64>,
    pub unit: Unit,
    pub goal: Goal,
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

impl Row {
    fn target(&self) -> String {
        let u = self.unit;
        match self.goal {
            Goal::None => "(informational)".into(),
            Goal::Pending => "(not measured here)".into(),
            Goal::AtLeast { median, each } => match each {
                Some(each) => format!("≥ {}, each ≥ {}", u.show(median), u.show(each)),
                None => format!("≥ {}", u.show(median)),
            },
            Goal::AtMost { median } => format!("≤ {}", u.show(median)),
        }
    }

    fn verdict(&self) -> &'static str {
        let (m, lo) = (median(&self.values), min(&self.values));
        let met = match self.goal {
            Goal::None => return "",
            Goal::Pending => return "not measured",
            _ if self.values.is_empty() => return "skipped",
            Goal::AtLeast { median, each } => m >= median && each.is_none_or(|e| lo >= e),
            Goal::AtMost { median } => m <= median,
        };
        if met { "met" } else { "NOT MET" }
    }
}

pub fn print(rows: &[Row], rounds: usize) {
    println!(
        "\n{:<50} {:>9} {:>9} {:>9}  {:<24} result",
        "scenario", "median", "min", "max", "target"
    );
    for row in rows {
        let cell = |f: fn(&[f64]) -> f64| {
            if row.values.is_empty() {
                "-".to_owned()
            } else {
                row.unit.show(f(&row.values))
            }
        };
        println!(
            "{:<50} {:>9} {:>9} {:>9}  {:<24} {}",
            row.name,
            cell(median),
            cell(min),
            cell(max),
            row.target(),
            row.verdict()
        );
    }
    println!(
        "(over {rounds} rounds each, except the cold first visits and RSS, measured once; \
         a ≥ target applies to the median and, where given, to every round; a ≤ target to the median)"
    );
}
