//! Embedded, versioned schema migrations, applied on connect.
//!
//! Each migration runs once per schema, in order, inside one transaction that first takes a
//! transaction-level advisory lock keyed by the schema: processes starting at once queue up, the
//! first applies what is missing, the others find nothing to do. Applied versions are recorded
//! in `bindu_schema_migrations`. A database migrated by a newer build (a version this build does
//! not know) is refused rather than used blindly.

use deadpool_postgres::Object;

use super::error::{committing, in_transaction};
use crate::error::{BackendError, Error, Result, Transience};

/// `(version, name, sql)`, in order. Never edit a released migration: add a new one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "operations", include_str!("migrations/0002_operations.sql")),
    (3, "claims_and_lanes", include_str!("migrations/0003_claims_and_lanes.sql")),
    (4, "operations_tooling", include_str!("migrations/0004_operations_tooling.sql")),
    (5, "conversation_rows", include_str!("migrations/0005_conversation_rows.sql")),
];

/// The newest schema version this build knows.
pub const LATEST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings `schema` up to [`LATEST_VERSION`]; returns the versions it applied.
pub(crate) async fn migrate(client: &mut Object, schema: &str) -> Result<Vec<i32>> {
    // Up to date already (the common case): no lock, no DDL — and so no CREATE privilege on the
    // database needed, which most application roles do not have.
    if let Some(current) = recorded_version(client, schema).await? {
        check_known(schema, current)?;
        if current == LATEST_VERSION {
            return Ok(Vec::new());
        }
    }
    let tx = client.transaction().await.map_err(in_transaction)?;
    let lock_key = format!("bindu.migrations.{schema}");
    tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key]).await.map_err(in_transaction)?;
    // `schema` is a checked identifier (PostgresOptions::schema_name), quoted in case it is a
    // reserved word. The schema is created only when missing (CREATE SCHEMA IF NOT EXISTS would
    // still check the privilege).
    let exists: bool = tx
        .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&schema])
        .await
        .map_err(in_transaction)?
        .get(0);
    if !exists {
        tx.batch_execute(&format!("CREATE SCHEMA \"{schema}\"")).await.map_err(in_transaction)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".bindu_schema_migrations (
             version     integer PRIMARY KEY,
             name        text NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(in_transaction)?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM \"{schema}\".bindu_schema_migrations"),
            &[],
        )
        .await
        .map_err(in_transaction)?
        .get(0);
    check_known(schema, current)?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(version, _, _)| *version > current) {
        tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\";\n{sql}"))
            .await
            .map_err(in_transaction)?;
        tx.execute(
            &format!("INSERT INTO \"{schema}\".bindu_schema_migrations (version, name) VALUES ($1, $2)"),
            &[version, name],
        )
        .await
        .map_err(in_transaction)?;
        applied.push(*version);
    }
    tx.commit().await.map_err(committing)?;
    Ok(applied)
}

/// The schema's recorded version, `None` when it has no migrations table yet.
async fn recorded_version(client: &Object, schema: &str) -> Result<Option<i32>> {
    let table = format!("\"{schema}\".bindu_schema_migrations");
    let present: bool =
        client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).await.map_err(committing)?.get(0);
    if !present {
        return Ok(None);
    }
    let row = client
        .query_one(&format!("SELECT coalesce(max(version), 0) FROM {table}"), &[])
        .await
        .map_err(committing)?;
    Ok(Some(row.get(0)))
}

/// A database migrated by a newer build is refused rather than used blindly.
fn check_known(schema: &str, current: i32) -> Result<()> {
    if current > LATEST_VERSION {
        return Err(Error::Backend(BackendError::new(
            "postgres",
            Transience::Permanent,
            format!(
                "schema {schema} is at version {current}, newer than this build knows ({LATEST_VERSION}); upgrade bindu"
            ),
        )));
    }
    Ok(())
}
