//! Sharing a backfill between the tasks of a batch engine, with no coordinator of ours.
//!
//! Each (product, date, run) is an independent task. A task knows its index and the task
//! count from flags or from the variables the engines set: Cloud Run Jobs
//! (`CLOUD_RUN_TASK_INDEX`, `CLOUD_RUN_TASK_COUNT`), Kubernetes indexed Jobs
//! (`JOB_COMPLETION_INDEX`; pass the count with `--task-count`) and AWS Batch array jobs
//! (`AWS_BATCH_JOB_ARRAY_INDEX`; count with `--task-count`). Task `i` of `n` builds the runs
//! whose position `p` satisfies `p % n == i`.

use std::fmt;

use anyhow::{bail, Result};

/// This task's share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskShare {
    /// 0-based index.
    pub index: usize,
    /// Number of tasks.
    pub count: usize,
}

impl fmt::Display for TaskShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl TaskShare {
    /// From flags, else the environment, else the whole backfill (0 of 1).
    pub fn from_args_or_env(index: Option<usize>, count: Option<usize>) -> Result<Self> {
        Self::resolve(index, count, |k| std::env::var(k).ok())
    }

    fn resolve(
        index: Option<usize>,
        count: Option<usize>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let from_env = |keys: &[&str]| -> Result<Option<usize>> {
            for k in keys {
                if let Some(v) = env(k) {
                    return match v.trim().parse() {
                        Ok(n) => Ok(Some(n)),
                        Err(_) => bail!("{k}={v:?} is not a task number"),
                    };
                }
            }
            Ok(None)
        };
        let index = match index {
            Some(i) => Some(i),
            None => from_env(&[
                "CLOUD_RUN_TASK_INDEX",
                "JOB_COMPLETION_INDEX",
                "AWS_BATCH_JOB_ARRAY_INDEX",
            ])?,
        };
        let count = match count {
            Some(c) => Some(c),
            None => from_env(&["CLOUD_RUN_TASK_COUNT", "GIK_TASK_COUNT"])?,
        };
        let share = match (index, count) {
            (None, None) => Self { index: 0, count: 1 },
            (Some(_), None) => bail!("a task index needs a task count (--task-count)"),
            (None, Some(count)) => Self { index: 0, count },
            (Some(index), Some(count)) => Self { index, count },
        };
        if share.count == 0 || share.index >= share.count {
            bail!(
                "task index {} is not below task count {}",
                share.index,
                share.count
            );
        }
        Ok(share)
    }

    /// This task's items.
    pub fn select<T: Clone>(&self, items: &[T]) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(p, _)| p % self.count == self.index)
            .map(|(_, t)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_partition_the_backfill() {
        let runs: Vec<u32> = (0..10).collect();
        let mut all: Vec<u32> = (0..3)
            .flat_map(|i| TaskShare { index: i, count: 3 }.select(&runs))
            .collect();
        all.sort();
        assert_eq!(all, runs);
        assert_eq!(TaskShare { index: 1, count: 3 }.select(&runs), [1, 4, 7]);
    }

    #[test]
    fn engines_variables_are_read() {
        let env = |k: &str| match k {
            "CLOUD_RUN_TASK_INDEX" => Some("2".to_string()),
            "CLOUD_RUN_TASK_COUNT" => Some("4".to_string()),
            _ => None,
        };
        assert_eq!(
            TaskShare::resolve(None, None, env).unwrap(),
            TaskShare { index: 2, count: 4 }
        );
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "1".to_string());
        assert_eq!(
            TaskShare::resolve(None, Some(2), k8s).unwrap(),
            TaskShare { index: 1, count: 2 }
        );
        assert!(TaskShare::resolve(None, None, k8s).is_err());
        assert!(TaskShare::resolve(Some(3), Some(3), |_| None).is_err());
        assert_eq!(
            TaskShare::resolve(None, None, |_| None).unwrap(),
            TaskShare { index: 0, count: 1 }
        );
    }
}
