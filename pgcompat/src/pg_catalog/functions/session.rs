//! Who and where the session is: `current_user` (and `session_user`,
//! `user`, `current_role`), `current_schemas`, `set_config`,
//! `pg_get_userbyid`.

use std::sync::{Arc, RwLock};

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;

use super::super::context::CatalogContext;
use super::super::oids;
use crate::udf::{as_i64, as_text, register, utf8};

pub(super) fn register_all(ctx: &SessionContext, cat: &CatalogContext) {
    let text = DataType::Utf8;
    let list_of_text = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));

    let user = cat.clone();
    for name in ["current_user", "session_user", "user", "current_role"] {
        let user = user.clone();
        register(ctx, name, &[0], text.clone(), move |_| {
            Ok(utf8(Some(user.user())))
        });
    }
    register(ctx, "current_schemas", &[1], list_of_text.clone(), |args| {
        let implicit = matches!(args[0], ScalarValue::Boolean(Some(true)));
        let names: &[&str] = if implicit {
            &["pg_catalog", "public"]
        } else {
            &["public"]
        };
        Ok(super::super::rows::text_array(names))
    });
    let settings = cat.settings.clone();
    register(ctx, "set_config", &[3], text.clone(), move |args| {
        set_config(&settings, args)
    });
    let user = cat.clone();
    register(ctx, "pg_get_userbyid", &[1], text.clone(), move |args| {
        Ok(utf8(as_i64(&args[0]).map(|o| {
            if o == oids::BOOTSTRAP_SUPERUSER {
                user.user()
            } else {
                format!("unknown (OID={o})")
            }
        })))
    });
}

fn set_config(
    settings: &RwLock<crate::settings::Settings>,
    args: &[ScalarValue],
) -> DfResult<ScalarValue> {
    let (Some(name), Some(value)) = (as_text(&args[0]), as_text(&args[1])) else {
        return Ok(ScalarValue::Null);
    };
    let mut settings = settings.write().unwrap_or_else(|e| e.into_inner());
    settings
        .set(&name, &value)
        .map_err(|e| datafusion::error::DataFusionError::Execution(e.message().to_string()))?;
    Ok(utf8(settings.get(&name).ok()))
}
