//! The one place where engine errors become JS errors: a `TypeError` for bad arguments, an
//! `Error` otherwise, each with the engine's stable `code` (`ERR_DASH_*`) as its `code` property.

use ingest_core::IngestError;
use napi::{Env, JsError, JsTypeError};

/// The JS error for `error`, ready to be thrown or used to reject a promise.
pub fn to_js(env: &Env, error: &IngestError) -> napi::Error {
    let inner = napi::Error::new(error.code().to_string(), error.to_string());
    let value = if error.is_invalid_argument() {
        JsTypeError::from(inner).into_unknown(*env)
    } else {
        JsError::from(inner).into_unknown(*env)
    };
    napi::Error::from(value)
}

/// Converts an engine result, building the JS error on the JS thread.
pub fn check<T>(env: &Env, result: ingest_core::Result<T>) -> napi::Result<T> {
    result.map_err(|e| to_js(env, &e))
}
