//! Numbers from Python checked against what a parameter allows, the parameter named in the
//! error: `Resolver(concurrency=-5)` is "concurrency must be at least 1, not -5", not an
//! OverflowError from converting -5 to an unsigned type.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::PyResult;

/// `value` as a `T`, when it lies in `min..=max` (`max` None: no upper bound but `T`'s).
pub(crate) fn whole<T: TryFrom<i64>>(name: &str, value: i64, min: i64, max: Option<i64>) -> PyResult<T> {
    let in_range = value >= min && max.is_none_or(|max| value <= max);
    match T::try_from(value) {
        Ok(converted) if in_range => Ok(converted),
        _ => Err(PyValueError::new_err(match max {
            Some(max) => format!("{name} must be {min} to {max}, not {value}"),
            None => format!("{name} must be at least {min}, not {value}"),
        })),
    }
}

/// `value` seconds as a duration: finite, and above zero (or at least zero when `zero_ok`).
pub(crate) fn seconds(name: &str, value: f64, zero_ok: bool) -> PyResult<Duration> {
    let valid = value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0));
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|_| valid)
        .ok_or_else(|| {
            let least = if zero_ok { "0 or more" } else { "more than 0" };
            PyValueError::new_err(format!(
                "{name} must be a number of seconds, {least}, not {value}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyo3::Python;

    fn message(error: pyo3::PyErr) -> String {
        Python::attach(|py| error.value(py).to_string())
    }

    #[test]
    fn out_of_range_values_name_the_parameter_and_the_range() {
        Python::initialize();
        assert_eq!(whole::<usize>("concurrency", 5, 1, None).ok(), Some(5));
        assert_eq!(
            message(whole::<usize>("concurrency", -5, 1, None).unwrap_err()),
            "concurrency must be at least 1, not -5"
        );
        assert_eq!(
            message(whole::<u32>("retries", 101, 0, Some(100)).unwrap_err()),
            "retries must be 0 to 100, not 101"
        );
        assert_eq!(
            seconds("timeout", 0.5, false).ok(),
            Some(Duration::from_millis(500))
        );
        assert!(message(seconds("timeout", 0.0, false).unwrap_err()).contains("more than 0, not 0"));
        assert!(seconds("max_age", 0.0, true).is_ok());
        assert!(seconds("max_age", f64::NAN, true).is_err());
    }
}
