//! Versions of a user's data set: the same name with other content (another content hash).
//!
//! Accuracies on two versions do not rank against each other, so every reader (the CLI's tables
//! and the dashboard) keeps them apart under one label, `NAME@HASH8`, made here.

use crate::JobSpec;
use std::collections::{BTreeMap, BTreeSet};

/// `NAME@HASH8`: a user's data set name with the first 8 hex digits of its content hash (as
/// `tune data list --grid` shows it).
pub fn versioned_name(name: &str, sha256: &str) -> String {
    format!("{name}@{}", &sha256[..8.min(sha256.len())])
}

/// The user's data sets that appear with more than one content hash among `specs`: name to its
/// hashes (full, lowercase hex), in order.
pub fn data_versions<'a>(
    specs: impl IntoIterator<Item = &'a JobSpec>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut hashes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in specs {
        if let Some(d) = &s.train.data {
            hashes
                .entry(s.train.dataset.clone())
                .or_default()
                .insert(d.sha256.clone());
        }
    }
    hashes.retain(|_, h| h.len() > 1);
    hashes
}

/// Renames, in every spec, each user's data set that appears with more than one content hash
/// among them to `NAME@HASH8` ([`versioned_name`]); a name with one hash keeps its name. Returns
/// the renamed data sets, as [`data_versions`] finds them.
pub fn name_data_versions<'a>(
    specs: impl IntoIterator<Item = &'a mut JobSpec>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut specs: Vec<&mut JobSpec> = specs.into_iter().collect();
    let versions = data_versions(specs.iter().map(|s| &**s));
    for s in &mut specs {
        if let Some(d) = &s.train.data
            && versions.contains_key(&s.train.dataset)
        {
            s.train.dataset = versioned_name(&s.train.dataset, &d.sha256);
        }
    }
    versions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InputShape, UserData};

    fn spec(name: &str, sha: Option<&str>) -> JobSpec {
        let mut s = JobSpec {
            model: crate::ModelSpec::ann(),
            train: crate::TrainSpec::default(),
        };
        s.train.dataset = name.to_string();
        s.train.data = sha.map(|sha| {
            Box::new(UserData {
                sha256: sha.to_string(),
                input: InputShape::BUILT_IN,
                classes: vec![],
                source: None,
            })
        });
        s
    }

    #[test]
    fn only_names_with_several_hashes_are_renamed() {
        let mut specs = [
            spec("a", Some("0123456789abcdef")),
            spec("a", Some("fedcba9876543210")),
            spec("b", Some("1111111111111111")),
            spec("b", Some("1111111111111111")),
            spec("mnist", None),
        ];
        let v = name_data_versions(specs.iter_mut());
        assert_eq!(v.len(), 1);
        let names: Vec<&str> = specs.iter().map(|s| s.train.dataset.as_str()).collect();
        assert_eq!(names, ["a@01234567", "a@fedcba98", "b", "b", "mnist"]);
    }
}
