//! The one place where engine errors become JS errors: a `TypeError` for bad arguments, an
//! `Error` otherwise, each with the engine's stable `code` (`ERR_DASH_*`) as its `code` property
//! and, when an operating-system error is under it, that error as its `cause` (an `Error` whose
//! `code` is the POSIX name, `ENOSPC`, as Node's own file-system errors have).

use ingest_core::IngestError;
use napi::bindgen_prelude::{JsObjectValue, JsValue};
use napi::{Env, JsError, JsTypeError};

/// The JS error for `error`, ready to be thrown or used to reject a promise.
pub fn to_js(env: &Env, error: &IngestError) -> napi::Error {
    let inner = napi::Error::new(error.code().to_string(), error.to_string());
    let value = if error.is_invalid_argument() {
        JsTypeError::from(inner).into_unknown(*env)
    } else {
        JsError::from(inner).into_unknown(*env)
    };
    if let Some(os) = error.os_cause() {
        let code = error.os_code().unwrap_or("EUNKNOWN").to_string();
        let cause = JsError::from(napi::Error::new(code, os.to_string())).into_unknown(*env);
        // Best effort: without its cause the error still says everything in its message.
        if let Ok(mut object) = value.coerce_to_object() {
            let _ = object.set_named_property("cause", cause);
        }
    }
    napi::Error::from(value)
}

/// Converts an engine result, building the JS error on the JS thread.
pub fn check<T>(env: &Env, result: ingest_core::Result<T>) -> napi::Result<T> {
    result.map_err(|e| to_js(env, &e))
}
