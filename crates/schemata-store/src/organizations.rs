use crate::StoreError;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Organization {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// Finds the organization with this slug, creating it if needed.
pub async fn ensure(pool: &PgPool, slug: &str) -> Result<Organization, StoreError> {
    let organization = sqlx::query_as(
        "INSERT INTO organizations (id, slug, name) VALUES ($1, $2, $2)
         ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
         RETURNING id, slug, name",
    )
    .bind(Uuid::now_v7())
    .bind(slug)
    .fetch_one(pool)
    .await?;
    Ok(organization)
}
