//! A read's rows as consecutive parts: the tables of the segments read, in time order, kept apart
//! so that encoding an answer copies each row once (merging them into one table would copy every
//! column once more, and a 10M-row read spends more on those copies and their fresh pages than on
//! decoding).

use crate::merge::table::Table;

/// Normalized tables, each holding only timestamps after those of the one before it: together,
/// the normalized table of all their rows.
#[derive(Debug, Default)]
pub struct Parts(Vec<Table>);

impl Parts {
    /// One table (normalized) as parts.
    pub fn one(table: Table) -> Parts {
        Parts(vec![table])
    }

    /// `tables` (each normalized, no timestamp in two of them) as parts: as they are when each
    /// starts after the one before ends, else merged into one.
    pub fn of(tables: Vec<Table>) -> Parts {
        let mut tables: Vec<Table> = tables.into_iter().filter(|t| !t.is_empty()).collect();
        let first = |t: &Table| t.timestamps().first().copied().unwrap_or(f64::NAN);
        tables.sort_by(|a, b| first(a).total_cmp(&first(b)));
        let ordered = tables.windows(2).all(|pair| {
            let (last, first) = (pair[0].timestamps().last(), pair[1].timestamps().first());
            last.zip(first).is_none_or(|(last, first)| last < first)
        });
        match ordered {
            true => Parts(tables),
            false => {
                let mut table = Parts(tables).merged();
                table.normalize();
                Parts::one(table)
            }
        }
    }

    /// Adds `newer` rows: a part of their own when they all come after ours, else everything is
    /// merged into one table (newer writes winning on shared timestamps).
    pub fn absorb(self, newer: Table) -> Parts {
        let last = self.0.last().and_then(|t| t.timestamps().last().copied());
        match (last, newer.timestamps().first()) {
            (_, None) => self,
            (Some(last), Some(first)) if last >= *first => {
                let mut table = self.merged();
                table.absorb(newer);
                table.normalize();
                Parts::one(table)
            }
            _ => {
                let mut tables = self.0;
                tables.push(newer);
                Parts(tables)
            }
        }
    }

    pub fn tables(&self) -> &[Table] {
        &self.0
    }

    /// The number of rows of all parts.
    pub fn len(&self) -> usize {
        self.0.iter().map(Table::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps only the named columns in every part.
    pub fn project(&mut self, names: &[String]) {
        for table in &mut self.0 {
            table.project(names);
        }
    }

    /// All rows as one normalized table.
    pub fn merged(self) -> Table {
        let mut tables = self.0.into_iter();
        let mut table = tables.next().unwrap_or_default();
        for part in tables {
            table.absorb(part);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::rows::{encode_columns, encode_entries};
    use crate::merge::table::ColumnName;
    use crate::value::Value;

    /// Seeded random tables cut into random parts (consecutive, some missing a column; or
    /// interleaved in time, then merged into one) encode exactly as their merge into one table,
    /// in both wire formats, and that merge holds the cells of the table built whole.
    #[test]
    fn parts_encode_as_the_whole_table() {
        let names: Vec<ColumnName> = ["x", "y", "label"].into_iter().map(ColumnName::from).collect();
        let mut seed = 0x5eed_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..300 {
            let rows = 1 + next(40) as usize;
            let mut tables: Vec<Table> = Vec::new();
            let mut whole = Table::new();
            let mut cut = 0;
            let interleaved = case % 3 == 0;
            if interleaved {
                tables.resize_with(1 + next(4) as usize, Table::new);
            }
            for row in 0..rows {
                if !interleaved && (tables.is_empty() || next(5) == 0) {
                    tables.push(Table::new());
                    cut = next(3);
                }
                let mut fields = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    // In some parts a column is absent altogether; elsewhere cells are random.
                    if i as u64 == cut || next(4) == 0 {
                        continue;
                    }
                    let value = match (i, next(10)) {
                        (2, _) => Value::Str(format!("r{row}").into()),
                        (_, 0) => Value::Null,
                        (_, 1) => Value::Str("s".into()),
                        _ => Value::F64(row as f64 * 0.5),
                    };
                    fields.push((name, value));
                }
                let timestamp = row as f64;
                whole.push(timestamp, fields.clone());
                let part = match interleaved {
                    true => next(tables.len() as u64) as usize,
                    false => tables.len() - 1,
                };
                if let Some(table) = tables.get_mut(part) {
                    table.push(timestamp, fields);
                }
            }
            whole.normalize();
            let tables: Vec<Table> = (tables.into_iter())
                .map(|mut t| {
                    t.normalize();
                    t
                })
                .collect();
            let parts = Parts::of(tables);
            // What merging the parts into one table gives (as reads did before parts)...
            let merged = parts.tables().to_vec();
            let one = Parts::one(Parts::of(merged).merged());
            assert_eq!(encode_columns(&parts), encode_columns(&one), "case {case}");
            assert_eq!(encode_entries(&parts), encode_entries(&one), "case {case}");
            // ...holds every row as the table built whole.
            let one = &one.tables()[0];
            assert_eq!(one.timestamps(), whole.timestamps(), "case {case}");
            assert_eq!(one.columns().len(), whole.columns().len(), "case {case}");
            for column in whole.columns() {
                let other = one.column(&column.name).map(|c| c.cells().to_vec());
                let same = other.is_some_and(|cells| {
                    (cells.iter().zip(column.cells().iter())).all(|(a, b)| match (a, b) {
                        (Some(a), Some(b)) => a.identical(b),
                        (a, b) => a.is_none() && b.is_none(),
                    })
                });
                assert!(same, "case {case}, column {}", column.name);
            }
        }
    }
}
