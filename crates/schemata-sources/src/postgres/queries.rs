//! The SQL Schemata sends to a PostgreSQL source (12 or newer). Each query
//! covers every object it concerns at once; per-row functions are kept off the
//! hot paths (types are formatted once per distinct type, defaults deparsed
//! without opening their table, index definitions only where they say more
//! than their columns).

/// The relations a refresh may cache: tables, views, materialized views,
/// partitioned and foreign tables outside the system schemas, narrowed by the
/// connection's filters ($1 schemas, $2 `schema.table` allowlist) and the
/// refresh's own ($3 schemas, $4 tables). Partitions stand behind their parent.
macro_rules! in_scope {
    () => {
        "c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND (cardinality($1::text[]) = 0 OR n.nspname = ANY($1))
  AND (cardinality($2::text[]) = 0 OR n.nspname || '.' || c.relname = ANY($2))
  AND ((cardinality($3::text[]) = 0 AND cardinality($4::text[]) = 0)
       OR n.nspname = ANY($3) OR n.nspname || '.' || c.relname = ANY($4))"
    };
}

/// Every relation in scope, with what costs nothing to read along ($5: a cap).
pub(super) const LISTING: &str = concat!(
    "SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS name, c.relkind::text AS relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::int8 END AS row_estimate,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT count(*)::int4 FROM pg_inherits i WHERE i.inhparent = c.oid) END AS partition_count,
       has_any_column_privilege(c.oid, 'SELECT') AS readable
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ",
    in_scope!(),
    "
ORDER BY c.oid
LIMIT $5"
);

/// Columns of the relations in $1, as numbers; names of types come from TYPES.
pub(super) const COLUMNS: &str = "
SELECT a.attrelid AS relid, a.attnum::int4 AS ordinal, a.attname::text AS name,
       a.atttypid AS type_oid, a.atttypmod AS typmod, NOT a.attnotnull AS nullable,
       a.attidentity::text AS identity, a.attgenerated::text AS generated
FROM pg_attribute a
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
LIMIT $2";

/// One row per distinct (type, typmod) of the columns read: the source's own
/// spelling, the base type behind domains, its category and enum labels.
pub(super) const TYPES: &str = "
WITH RECURSIVE used AS (
    SELECT * FROM unnest($1::oid[], $2::int4[]) AS u(type_oid, typmod)
), base AS (
    SELECT t.oid AS type_oid, t.oid AS base_oid, t.typtype, t.typbasetype, 0 AS depth
    FROM pg_type t WHERE t.oid IN (SELECT type_oid FROM used)
    UNION ALL
    SELECT base.type_oid, t.oid, t.typtype, t.typbasetype, base.depth + 1
    FROM base JOIN pg_type t ON t.oid = base.typbasetype
    WHERE base.typtype = 'd' AND base.depth < 16
)
SELECT u.type_oid, u.typmod, format_type(u.type_oid, u.typmod) AS remote_type,
       bt.typname::text AS base_name, bt.typcategory::text AS category,
       CASE WHEN bt.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder)
       END AS enum_values
FROM used u
JOIN base b ON b.type_oid = u.type_oid AND b.typtype <> 'd'
JOIN pg_type bt ON bt.oid = b.base_oid";

/// Defaults and generation expressions. A default cannot refer to columns, so
/// it is deparsed without opening its table (relid 0); generated columns can.
pub(super) const DEFAULTS: &str = "
SELECT d.adrelid AS relid, d.adnum::int4 AS ordinal,
       pg_get_expr(d.adbin, CASE WHEN a.attgenerated <> '' THEN d.adrelid ELSE 0 END) AS expression
FROM pg_attrdef d
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE d.adrelid = ANY($1)";

/// Comments of the relations in $1 (objsubid 0) and of their columns.
pub(super) const COMMENTS: &str = "
SELECT d.objoid AS relid, d.objsubid AS ordinal, d.description AS comment
FROM pg_description d
WHERE d.classoid = 'pg_class'::regclass AND d.objoid = ANY($1)";

/// Primary keys, unique constraints and foreign keys, with column numbers.
/// Foreign keys PostgreSQL clones for partitions (conparentid <> 0) are skipped.
pub(super) const CONSTRAINTS: &str = "
SELECT con.conrelid AS relid, con.conname::text AS name, con.contype::text AS kind,
       con.conkey::int2[] AS columns, con.confrelid AS target_oid, con.confkey::int2[] AS target_columns,
       fn.nspname::text AS target_schema, fc.relname::text AS target_name,
       con.confupdtype::text AS on_update, con.confdeltype::text AS on_delete
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY($1) AND con.contype IN ('p', 'u', 'f') AND con.conparentid = 0";

/// Column names of relations outside the read set that foreign keys point at.
pub(super) const TARGET_COLUMNS: &str = "
SELECT a.attrelid AS relid, a.attnum::int4 AS ordinal, a.attname::text AS name
FROM pg_attribute a
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped";

/// Indexes with their column numbers (0 for an expression). The definition is
/// deparsed only when the columns do not tell it all: expressions, predicates,
/// INCLUDE columns, sort options or a non-default operator class.
pub(super) const INDEXES: &str = "
SELECT i.indrelid AS relid, ic.relname::text AS name, i.indisunique AS is_unique,
       i.indisprimary AS is_primary, ARRAY(SELECT unnest(i.indkey::int2[])) AS columns, am.amname::text AS method,
       CASE WHEN i.indexprs IS NOT NULL OR i.indpred IS NOT NULL OR i.indnkeyatts <> i.indnatts
                 OR EXISTS (SELECT 1 FROM unnest(i.indoption) o WHERE o <> 0)
                 OR EXISTS (SELECT 1 FROM unnest(i.indclass) oc JOIN pg_opclass opc ON opc.oid = oc
                            WHERE NOT opc.opcdefault)
            THEN pg_get_indexdef(i.indexrelid) END AS definition
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = ANY($1)";

/// How many keys, indexes, comments and partitions each relation in $1 has:
/// stored with the catalog state, so that a later refresh notices rows that
/// disappeared (a dropped constraint leaves no newer row behind).
pub(super) const COUNTS: &str = "
SELECT 'constraints' AS catalog, conrelid AS relid, count(*)::int4 AS n FROM pg_constraint
    WHERE conrelid = ANY($1) AND contype IN ('p', 'u', 'f') AND conparentid = 0 GROUP BY conrelid
UNION ALL
SELECT 'indexes', indrelid, count(*)::int4 FROM pg_index WHERE indrelid = ANY($1) GROUP BY indrelid
UNION ALL
SELECT 'comments', objoid, count(*)::int4 FROM pg_description
    WHERE classoid = 'pg_class'::regclass AND objoid = ANY($1) GROUP BY objoid
UNION ALL
SELECT 'partitions', inhparent, count(*)::int4 FROM pg_inherits WHERE inhparent = ANY($1) GROUP BY inhparent";

/// Opens the snapshot every read of one refresh sees, and in the same round
/// trip reads our own-database marker and the snapshot's oldest running
/// transaction: rows written from that transaction on are "newer" next time.
pub(super) const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT current_setting('schemata.instance', true) AS marker,
       txid_snapshot_xmin(txid_current_snapshot()) AS snapshot_xmin,
       txid_snapshot_xmax(txid_current_snapshot()) AS snapshot_xmax";

/// What changed in scope since transaction $5 (an earlier snapshot's xmin):
/// relations with a catalog row written since (inserted or updated), whose
/// keys, indexes, comments or partitions were counted differently ($6–$13
/// stored counts), and how many relations the scope holds now.
pub(super) const CHANGES: &str = concat!(
    "WITH since AS (SELECT age(($5 % 4294967296)::text::xid) AS age),
scope AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ",
    in_scope!(),
    "
),
-- Renamed types and enums with new labels; not the row types (and their
-- arrays) every new table brings, or each CREATE TABLE would scan every column.
changed_types AS (
    SELECT t.oid FROM pg_type t, since
    WHERE age(t.xmin) <= since.age AND t.typrelid = 0
      AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
    UNION SELECT e.enumtypid FROM pg_enum e, since WHERE age(e.xmin) <= since.age
),
newer AS (
    SELECT c.oid AS relid FROM pg_class c, since WHERE age(c.xmin) <= since.age
    UNION SELECT a.attrelid FROM pg_attribute a, since WHERE age(a.xmin) <= since.age
    UNION SELECT d.adrelid FROM pg_attrdef d, since WHERE age(d.xmin) <= since.age
    UNION SELECT k.conrelid FROM pg_constraint k, since WHERE age(k.xmin) <= since.age
    UNION SELECT i.indrelid FROM pg_index i, since WHERE age(i.xmin) <= since.age
    UNION SELECT d.objoid FROM pg_description d, since
        WHERE d.classoid = 'pg_class'::regclass AND age(d.xmin) <= since.age
    UNION SELECT h.inhparent FROM pg_inherits h, since WHERE age(h.xmin) <= since.age
    UNION SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, since
        WHERE age(n.xmin) <= since.age
    UNION SELECT a.attrelid FROM pg_attribute a
        WHERE EXISTS (SELECT 1 FROM changed_types) AND a.atttypid IN (SELECT oid FROM changed_types)
),
counted AS (
    SELECT conrelid AS relid, 'constraints' AS catalog, count(*)::int4 AS n FROM pg_constraint
        WHERE conrelid IN (SELECT oid FROM scope) AND contype IN ('p', 'u', 'f') AND conparentid = 0
        GROUP BY conrelid
    UNION ALL SELECT indrelid, 'indexes', count(*)::int4 FROM pg_index
        WHERE indrelid IN (SELECT oid FROM scope) GROUP BY indrelid
    UNION ALL SELECT objoid, 'comments', count(*)::int4 FROM pg_description
        WHERE classoid = 'pg_class'::regclass AND objoid IN (SELECT oid FROM scope) GROUP BY objoid
    UNION ALL SELECT inhparent, 'partitions', count(*)::int4 FROM pg_inherits
        WHERE inhparent IN (SELECT oid FROM scope) GROUP BY inhparent
),
stored AS (
    SELECT * FROM unnest($6::text[], $7::oid[], $8::int4[]) AS s(catalog, relid, n)
),
recounted AS (
    SELECT coalesce(c.relid, s.relid) AS relid FROM counted c
    FULL JOIN stored s ON s.relid = c.relid AND s.catalog = c.catalog
    WHERE c.n IS DISTINCT FROM s.n
)
SELECT (SELECT count(*) FROM scope)::int8 AS in_scope,
       ARRAY(SELECT relid FROM newer WHERE relid IN (SELECT oid FROM scope)
             UNION SELECT relid FROM recounted) AS changed,
       EXISTS (SELECT 1 FROM pg_auth_members m, since WHERE age(m.xmin) <= since.age)
           OR (SELECT count(*) FROM pg_auth_members) <> $9 AS memberships_changed"
);

/// How many role memberships exist: privileges (and so failures) follow them.
pub(super) const MEMBERSHIPS: &str = "SELECT count(*) FROM pg_auth_members";
