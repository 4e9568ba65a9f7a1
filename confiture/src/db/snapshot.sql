-- The schema snapshot: every object it covers, one row each, in one statement.
--
-- Run by confiture::db::snapshot after statements that set, for this transaction only,
-- `confiture.snapshot_ledger` (the ledger's OID, 0 for none) and `confiture.snapshot_started`
-- (the OID of the start markers' table beside it, 0 for none), `search_path = pg_catalog` (so
-- that regclass, regprocedure, format_type and the pg_get_* functions print every name of
-- ours schema-qualified, the same way in every database) and the settings that change how
-- constants print (TimeZone, DateStyle, ...).
--
-- Columns: kind, name, sub (NULL for a whole object), the objects the row belongs to as a
-- JSON array of [kind, name, sub] (NULL for none: a column belongs to its table, an index to
-- its table and to the partitioned index it is attached to), and the properties as a JSON
-- object whose NULL values mean "absent". Names are quoted where SQL needs it and
-- schema-qualified; roles are names. No OID, no database name and no current value of a
-- sequence reaches an output column.
--
-- Left out: system schemas (pg_*, information_schema), objects that belong to an extension
-- (only the extension is listed), the ledger and everything of it (and the table of start
-- markers beside it), array and multirange
-- types and the constructors PostgreSQL makes for ranges, the rules behind views, internal
-- (foreign key) triggers, tablespaces, the statistics gathered (not the statistics objects, nor a column's
-- statistics target), the values of a user mapping's options (they may hold passwords: only
-- their names are read), a subscription's connection string (the superuser's to read) and its
-- options but enabled, slot_name and synchronous_commit (the others are columns of later
-- servers, which a role other than a superuser may read only one by one), and the grants on
-- large objects. Extension members are found and skipped through the pg_depend index, row by
-- row, rather than by reading all of it.
--
-- The order of columns (and of a composite type's attributes) is read but not compared: a
-- down migration can only add a column at the end, so a down that re-adds a dropped column
-- can never restore its place. Each column's `position` is its place among the live columns
-- of its relation (1, 2, ...; not attnum, which keeps a gap for every dropped column); it is
-- no property (`db::snapshot` takes it out of the properties), and `schema::column_order`
-- compares it, which `verify` and `drift` report as a warning.
WITH
ledger AS (
    SELECT pg_catalog.current_setting('confiture.snapshot_ledger')::pg_catalog.oid AS oid,
           pg_catalog.current_setting('confiture.snapshot_started')::pg_catalog.oid AS started
),
ns AS (
    SELECT n.oid, n.nspowner, n.nspacl, pg_catalog.quote_ident(n.nspname) AS name
    FROM pg_catalog.pg_namespace n
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.objid = n.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
-- Relations: tables (ordinary, partitioned, foreign), views, materialized views, sequences,
-- and the relations behind composite types (for their attributes). Not the ledger, nor the
-- sequences that belong to it. `identity` is set for a sequence behind an identity column:
-- it is described with its column, not as an object of its own.
rel AS (
    SELECT c.oid, c.relkind, c.relowner, c.relacl, c.oid::pg_catalog.regclass::text AS name,
           CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'S' THEN 'sequence' WHEN 'c' THEN 'type' ELSE 'table' END AS kind,
           own.refobjid AS owned_by_table, own.refobjsubid AS owned_by_column,
           COALESCE(own.deptype = 'i', false) AS identity
    FROM pg_catalog.pg_class c
    CROSS JOIN ledger
    LEFT JOIN pg_catalog.pg_depend own
      ON c.relkind = 'S' AND own.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND own.objid = c.oid
     AND own.objsubid = 0 AND own.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
     AND own.refobjsubid > 0 AND own.deptype IN ('a', 'i')
    WHERE c.relnamespace IN (SELECT ns.oid FROM ns)
      AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c')
      AND c.oid <> ledger.oid
      AND c.oid <> ledger.started
      AND own.refobjid IS DISTINCT FROM ledger.oid
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = c.reltype
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
-- Types of their own: enums, domains, composites, ranges, base types (not the row types of
-- tables, arrays or multiranges).
typ AS (
    SELECT t.oid, t.typtype, t.typowner, t.typacl, t.oid::pg_catalog.regtype::text AS name,
           CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END AS kind
    FROM pg_catalog.pg_type t
    WHERE t.typnamespace IN (SELECT ns.oid FROM ns)
      AND (t.typtype IN ('e', 'd', 'r')
           OR (t.typtype = 'c' AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
           OR (t.typtype = 'b' AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid)))
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = t.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
-- Functions, procedures, aggregates: not those of extensions, nor those PostgreSQL made
-- for a range type (an internal dependency). The schemas filter first: there are thousands of
-- functions in pg_catalog, and few of ours.
fn_in_ns AS MATERIALIZED (
    SELECT p.oid, p.prokind, p.proowner, p.proacl
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace IN (SELECT ns.oid FROM ns)
),
fn AS (
    SELECT p.oid, p.prokind, p.proowner, p.proacl, p.oid::pg_catalog.regprocedure::text AS name,
           CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END AS kind
    FROM fn_in_ns p
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
                        AND d.objsubid = 0 AND d.deptype IN ('e', 'i'))
),
-- Foreign-data wrappers, foreign servers and procedural languages: not those of extensions,
-- nor the languages made when the database was (internal, c, sql).
fdw AS (
    SELECT w.oid, w.fdwowner, w.fdwacl, pg_catalog.quote_ident(w.fdwname) AS name
    FROM pg_catalog.pg_foreign_data_wrapper w
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND d.objid = w.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
srv AS (
    SELECT s.oid, s.srvowner, s.srvacl, pg_catalog.quote_ident(s.srvname) AS name
    FROM pg_catalog.pg_foreign_server s
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_foreign_server'::pg_catalog.regclass AND d.objid = s.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
lang AS (
    SELECT l.oid, l.lanowner, l.lanacl, pg_catalog.quote_ident(l.lanname) AS name
    FROM pg_catalog.pg_language l
    WHERE l.oid >= 16384
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_language'::pg_catalog.regclass AND d.objid = l.oid
                        AND d.objsubid = 0 AND d.deptype = 'e')
),
-- Everything that carries privileges: the object as grants name it, the object itself (the
-- parent of its grants), its owner, and its ACL (the default one when it has none, so that a
-- GRANT undone by a REVOKE compares equal to never granting).
acl AS (
    SELECT 'schema ' || ns.name AS target, 'schema' AS pkind, ns.name AS pname, NULL::text AS psub,
           ns.nspowner AS owner, 'n'::"char" AS code, ns.nspacl AS acl
    FROM ns
    UNION ALL
    SELECT rel.kind || ' ' || rel.name, rel.kind, rel.name, NULL, rel.relowner,
           CASE rel.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", rel.relacl
    FROM rel WHERE rel.relkind <> 'c' AND NOT rel.identity
    UNION ALL
    -- An identity column's sequence is granted on as a sequence, and belongs to its column.
    SELECT 'sequence ' || rel.name, 'column', t.name, pg_catalog.quote_ident(a.attname), rel.relowner,
           's', rel.relacl
    FROM rel
    JOIN rel t ON t.oid = rel.owned_by_table
    JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.owned_by_table AND a.attnum = rel.owned_by_column
    WHERE rel.identity
    UNION ALL
    SELECT 'column ' || rel.name || '.' || pg_catalog.quote_ident(a.attname), 'column', rel.name,
           pg_catalog.quote_ident(a.attname), rel.relowner, 'c', a.attacl
    FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
    WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
    UNION ALL
    SELECT fn.kind || ' ' || fn.name, fn.kind, fn.name, NULL, fn.proowner, 'f', fn.proacl
    FROM fn
    UNION ALL
    SELECT typ.kind || ' ' || typ.name, typ.kind, typ.name, NULL, typ.typowner, 'T', typ.typacl
    FROM typ
    UNION ALL
    SELECT 'foreign data wrapper ' || fdw.name, 'foreign data wrapper', fdw.name, NULL, fdw.fdwowner, 'F', fdw.fdwacl
    FROM fdw
    UNION ALL
    SELECT 'foreign server ' || srv.name, 'foreign server', srv.name, NULL, srv.srvowner, 'S', srv.srvacl
    FROM srv
    UNION ALL
    SELECT 'language ' || lang.name, 'language', lang.name, NULL, lang.lanowner, 'l', lang.lanacl
    FROM lang
),
-- Each ACL entry, by grantee: NULL for a column's ACL means no grant on the column.
grants AS (
    SELECT acl.target, acl.pkind, acl.pname, acl.psub, acl.owner, acl.code, e.grantee,
           pg_catalog.string_agg(DISTINCT e.privilege_type, ', ' ORDER BY e.privilege_type) AS privileges,
           pg_catalog.string_agg(DISTINCT e.privilege_type, ', ' ORDER BY e.privilege_type)
               FILTER (WHERE e.is_grantable) AS grantable
    FROM acl
    CROSS JOIN LATERAL pg_catalog.aclexplode(
        CASE WHEN acl.code = 'c' THEN acl.acl
             ELSE COALESCE(acl.acl, pg_catalog.acldefault(acl.code, acl.owner)) END) e
    GROUP BY acl.target, acl.pkind, acl.pname, acl.psub, acl.owner, acl.code, e.grantee
)

SELECT 'schema', ns.name, NULL, NULL::pg_catalog.json,
       pg_catalog.json_build_object(
           'owner', pg_catalog.pg_get_userbyid(ns.nspowner),
           'comment', ds.description)
FROM ns
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = ns.oid AND ds.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'extension', pg_catalog.quote_ident(x.extname), NULL, NULL,
       pg_catalog.json_build_object(
           'schema', x.extnamespace::pg_catalog.regnamespace::text,
           'version', x.extversion,
           'comment', ds.description)
FROM pg_catalog.pg_extension x
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = x.oid AND ds.classoid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT typ.kind, typ.name, NULL, NULL,
       pg_catalog.json_build_object(
           'kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'c' THEN 'composite'
                                  WHEN 'r' THEN 'range' WHEN 'b' THEN 'base' END,
           'labels', CASE WHEN t.typtype = 'e' THEN
               (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) END,
           'base_type', CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
           'nullable', CASE WHEN t.typtype = 'd' THEN NOT t.typnotnull END,
           'default', pg_catalog.pg_get_expr(t.typdefaultbin, 0),
           'collation', CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                             THEN pg_catalog.quote_ident(coll_ns.nspname) || '.' || pg_catalog.quote_ident(coll.collname) END,
           'subtype', pg_catalog.format_type(r.rngsubtype, NULL),
           'subtype_opclass', CASE WHEN r.rngsubopc IS NOT NULL THEN
               (SELECT pg_catalog.quote_ident(ocn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname)
                FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
                WHERE oc.oid = r.rngsubopc) END,
           'subtype_collation', CASE WHEN r.rngcollation <> 0 THEN
               (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                WHERE co.oid = r.rngcollation) END,
           'canonical', NULLIF(r.rngcanonical, 0)::pg_catalog.regproc::text,
           'subtype_diff', NULLIF(r.rngsubdiff, 0)::pg_catalog.regproc::text,
           'input', CASE WHEN t.typtype = 'b' THEN t.typinput::pg_catalog.regproc::text END,
           'output', CASE WHEN t.typtype = 'b' THEN t.typoutput::pg_catalog.regproc::text END,
           'owner', pg_catalog.pg_get_userbyid(t.typowner),
           'comment', ds.description)
FROM typ
JOIN pg_catalog.pg_type t ON t.oid = typ.oid
LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_collation coll ON coll.oid = t.typcollation
LEFT JOIN pg_catalog.pg_namespace coll_ns ON coll_ns.oid = coll.collnamespace
LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = t.oid AND ds.classoid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT rel.kind, rel.name, NULL,
       CASE WHEN parent.name IS NOT NULL THEN
           pg_catalog.json_build_array(pg_catalog.json_build_array(parent.kind, parent.name, NULL)) END,
       pg_catalog.json_build_object(
           'kind', CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign' END,
           'partition_key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
           'partition_of', CASE WHEN c.relispartition THEN parent.name END,
           'partition_bound', CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
           'inherits', CASE WHEN NOT c.relispartition AND c.relkind IN ('r', 'p', 'f') THEN
               (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::text, ', ' ORDER BY i.inhseqno)
                FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) END,
           'server', CASE WHEN c.relkind = 'f' THEN
               (SELECT pg_catalog.quote_ident(s.srvname) FROM pg_catalog.pg_foreign_table ft
                JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid) END,
           'server_options', CASE WHEN c.relkind = 'f' THEN
               (SELECT pg_catalog.array_to_string(ft.ftoptions, ', ') FROM pg_catalog.pg_foreign_table ft
                WHERE ft.ftrelid = c.oid) END,
           'persistence', CASE c.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary' ELSE 'permanent' END,
           'options', pg_catalog.array_to_string(c.reloptions, ', '),
           'row_security', CASE WHEN c.relkind IN ('r', 'p', 'f') THEN c.relrowsecurity END,
           'force_row_security', CASE WHEN c.relkind IN ('r', 'p', 'f') THEN c.relforcerowsecurity END,
           'replica_identity', CASE WHEN c.relkind IN ('r', 'p', 'm') THEN
               CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' END END,
           'definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END,
           'populated', CASE WHEN c.relkind = 'm' THEN c.relispopulated END,
           'type', pg_catalog.format_type(s.seqtypid, NULL),
           'start', s.seqstart::text,
           'increment', s.seqincrement::text,
           'minimum', s.seqmin::text,
           'maximum', s.seqmax::text,
           'cache', s.seqcache::text,
           'cycle', s.seqcycle,
           'owned_by', CASE WHEN rel.owned_by_table IS NOT NULL THEN
               (SELECT rel.owned_by_table::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(oc.attname)
                FROM pg_catalog.pg_attribute oc
                WHERE oc.attrelid = rel.owned_by_table AND oc.attnum = rel.owned_by_column) END,
           'owner', pg_catalog.pg_get_userbyid(c.relowner),
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_class c ON c.oid = rel.oid
LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
-- What it belongs to: the partitioned table of a partition, the table of an owned sequence
-- (both always tables). Looked up through the catalogs' indexes, not the CTE, which has none.
LEFT JOIN LATERAL (
    SELECT 'table' AS kind, i.inhparent::pg_catalog.regclass::text AS name
    FROM pg_catalog.pg_inherits i
    WHERE c.relispartition AND i.inhrelid = c.oid
    UNION ALL
    SELECT 'table', rel.owned_by_table::pg_catalog.regclass::text
    WHERE rel.owned_by_table IS NOT NULL
    LIMIT 1
) parent ON true
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = c.oid AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ds.objsubid = 0
WHERE rel.relkind <> 'c' AND NOT rel.identity

UNION ALL
SELECT CASE WHEN rel.relkind = 'c' THEN 'attribute' ELSE 'column' END, rel.name, pg_catalog.quote_ident(a.attname),
       pg_catalog.json_build_array(pg_catalog.json_build_array(rel.kind, rel.name, NULL)),
       pg_catalog.json_build_object(
           'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
           -- Its place among the live columns (the WHERE below leaves dropped ones out first).
           'position', pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
           'nullable', CASE WHEN rel.relkind IN ('r', 'p', 'f') THEN NOT a.attnotnull END,
           -- A default cannot refer to columns: relation 0 spares opening (and locking) the table.
           'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0) END,
           'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
           'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
           'identity_sequence', CASE WHEN a.attidentity <> '' THEN
               (SELECT pg_catalog.concat_ws(' ',
                    'type', pg_catalog.format_type(s.seqtypid, NULL), 'start', s.seqstart, 'increment', s.seqincrement,
                    'minimum', s.seqmin, 'maximum', s.seqmax, 'cache', s.seqcache,
                    CASE WHEN s.seqcycle THEN 'cycle' ELSE 'no cycle' END)
                FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
                WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = a.attrelid
                  AND d.refobjsubid = a.attnum AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND d.deptype = 'i'
                LIMIT 1) END,
           'collation', CASE WHEN a.attcollation <> t.typcollation THEN
               (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                WHERE co.oid = a.attcollation) END,
           -- ALTER COLUMN ... SET STATISTICS, SET (n_distinct = ...), SET STORAGE, SET COMPRESSION.
           'statistics_target', CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::text END,
           -- The options ALTER COLUMN ... SET (...) takes, not what else a server keeps there.
           'options', (SELECT pg_catalog.string_agg(o.option, ', ' ORDER BY o.option)
                       FROM pg_catalog.unnest(a.attoptions) AS o(option)
                       WHERE pg_catalog.split_part(o.option, '=', 1) IN ('n_distinct', 'n_distinct_inherited')),
           'storage', CASE WHEN a.attstorage <> t.typstorage THEN
               CASE a.attstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external' WHEN 'm' THEN 'main'
                                 WHEN 'x' THEN 'extended' END END,
           -- (attcompression is PostgreSQL 14's: read through the row's JSON, absent before.)
           'compression', CASE pg_catalog.to_jsonb(a.*) OPERATOR(pg_catalog.->>) 'attcompression'
                              WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END,
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = rel.oid AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ds.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind <> 'S'

UNION ALL
SELECT 'constraint', owner.name, pg_catalog.quote_ident(k.conname),
       pg_catalog.json_build_array(
           pg_catalog.json_build_array(owner.kind, owner.name, NULL),
           -- A constraint a partition got from its partitioned table goes with the parent's.
           CASE WHEN k.conparentid <> 0 THEN
               (SELECT pg_catalog.json_build_array('constraint', pk.conrelid::pg_catalog.regclass::text,
                                                   pg_catalog.quote_ident(pk.conname))
                FROM pg_catalog.pg_constraint pk WHERE pk.oid = k.conparentid) END),
       pg_catalog.json_build_object(
           'type', CASE k.contype WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key' WHEN 'p' THEN 'primary key'
                                  WHEN 'u' THEN 'unique' WHEN 't' THEN 'trigger' WHEN 'x' THEN 'exclusion'
                                  WHEN 'n' THEN 'not null' ELSE k.contype::text END,
           'definition', pg_catalog.pg_get_constraintdef(k.oid),
           'comment', ds.description)
FROM pg_catalog.pg_constraint k
JOIN (SELECT rel.oid, 0::pg_catalog.oid AS typid, rel.kind, rel.name FROM rel WHERE rel.relkind IN ('r', 'p', 'f')
      UNION ALL
      SELECT 0, typ.oid, typ.kind, typ.name FROM typ WHERE typ.typtype = 'd') owner
  ON owner.oid = k.conrelid AND owner.typid = k.contypid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = k.oid AND ds.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'index', i.indexrelid::pg_catalog.regclass::text, NULL,
       pg_catalog.json_build_array(
           pg_catalog.json_build_array(rel.kind, rel.name, NULL),
           -- An index a partition got from its partitioned table's index goes with that one.
           (SELECT pg_catalog.json_build_array('index', ih.inhparent::pg_catalog.regclass::text, NULL)
            FROM pg_catalog.pg_inherits ih WHERE ih.inhrelid = i.indexrelid)),
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_indexdef(i.indexrelid),
           'valid', i.indisvalid,
           'clustered', i.indisclustered,
           'options', pg_catalog.array_to_string(ic.reloptions, ', '),
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_index i ON i.indrelid = rel.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = i.indexrelid AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ds.objsubid = 0
-- The index behind a primary key, unique or exclusion constraint is the constraint's.
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                  WHERE k.conrelid = i.indrelid AND k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x'))

UNION ALL
SELECT fn.kind, fn.name, NULL, NULL,
       pg_catalog.json_build_object(
           'arguments', pg_catalog.pg_get_function_arguments(p.oid),
           'result', pg_catalog.pg_get_function_result(p.oid),
           'language', l.lanname,
           -- A SQL-standard body (BEGIN ATOMIC, RETURN) has no source text: its definition stands in.
           'body', CASE WHEN p.prokind = 'a' THEN NULL
                        WHEN p.prosrc = '' AND l.lanname = 'sql' THEN pg_catalog.pg_get_functiondef(p.oid)
                        ELSE p.prosrc END,
           'library', p.probin,
           'window', CASE WHEN p.prokind = 'w' THEN true END,
           'volatility', CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
           'strict', p.proisstrict,
           'security_definer', p.prosecdef,
           'leakproof', p.proleakproof,
           'parallel', CASE p.proparallel WHEN 's' THEN 'safe' WHEN 'r' THEN 'restricted' ELSE 'unsafe' END,
           'cost', p.procost::text,
           'rows', CASE WHEN p.proretset THEN p.prorows::text END,
           'config', pg_catalog.array_to_string(p.proconfig, ', '),
           'aggregate', CASE WHEN p.prokind = 'a' THEN
               (SELECT pg_catalog.concat_ws(', ',
                    'sfunc = ' || ag.aggtransfn::pg_catalog.regproc::text,
                    'stype = ' || pg_catalog.format_type(ag.aggtranstype, NULL),
                    'finalfunc = ' || NULLIF(ag.aggfinalfn, 0)::pg_catalog.regproc::text,
                    'combinefunc = ' || NULLIF(ag.aggcombinefn, 0)::pg_catalog.regproc::text,
                    'initcond = ' || ag.agginitval,
                    'sortop = ' || NULLIF(ag.aggsortop, 0)::pg_catalog.regoperator::text,
                    'kind = ' || ag.aggkind::text)
                FROM pg_catalog.pg_aggregate ag WHERE ag.aggfnoid = p.oid) END,
           'owner', pg_catalog.pg_get_userbyid(p.proowner),
           'comment', ds.description)
FROM fn
JOIN pg_catalog.pg_proc p ON p.oid = fn.oid
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = p.oid AND ds.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'trigger', rel.name, pg_catalog.quote_ident(tg.tgname),
       pg_catalog.json_build_array(pg_catalog.json_build_array(rel.kind, rel.name, NULL)),
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_triggerdef(tg.oid),
           'enabled', CASE tg.tgenabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                        WHEN 'A' THEN 'always' END,
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = rel.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = tg.oid AND ds.classoid = 'pg_catalog.pg_trigger'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT tg.tgisinternal

UNION ALL
SELECT 'rule', rel.name, pg_catalog.quote_ident(r.rulename),
       pg_catalog.json_build_array(pg_catalog.json_build_array(rel.kind, rel.name, NULL)),
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_ruledef(r.oid),
           'enabled', CASE r.ev_enabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                        WHEN 'A' THEN 'always' END,
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_rewrite r ON r.ev_class = rel.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = r.oid AND ds.classoid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND ds.objsubid = 0
WHERE r.rulename <> '_RETURN'

UNION ALL
SELECT 'policy', rel.name, pg_catalog.quote_ident(pol.polname),
       pg_catalog.json_build_array(pg_catalog.json_build_array(rel.kind, rel.name, NULL)),
       pg_catalog.json_build_object(
           'command', CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                      WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           'permissive', pol.polpermissive,
           'roles', (SELECT pg_catalog.string_agg(
                         CASE WHEN r.role = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.role) END, ', ' ORDER BY 1)
                     FROM pg_catalog.unnest(pol.polroles) AS r(role)),
           'using', pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
           'with_check', pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
           'comment', ds.description)
FROM rel
JOIN pg_catalog.pg_policy pol ON pol.polrelid = rel.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = pol.oid AND ds.classoid = 'pg_catalog.pg_policy'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'event trigger', pg_catalog.quote_ident(et.evtname), NULL, NULL,
       pg_catalog.json_build_object(
           'event', et.evtevent,
           'tags', pg_catalog.array_to_string(et.evttags, ', '),
           'function', et.evtfoid::pg_catalog.regprocedure::text,
           'enabled', CASE et.evtenabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                         WHEN 'A' THEN 'always' END,
           'owner', pg_catalog.pg_get_userbyid(et.evtowner),
           'comment', ds.description)
FROM pg_catalog.pg_event_trigger et
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = et.oid AND ds.classoid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND d.objid = et.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
-- The owner's own privileges, as long as they are the default ones, go without saying: they
-- follow the owner, which is compared on its own.
SELECT 'grant', g.target, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(g.grantee) END,
       pg_catalog.json_build_array(pg_catalog.json_build_array(g.pkind, g.pname, g.psub)),
       pg_catalog.json_build_object('privileges', g.privileges, 'grantable', g.grantable)
FROM grants g
WHERE NOT (g.grantee = g.owner AND g.grantable IS NULL AND g.code <> 'c'
           AND g.privileges = (SELECT pg_catalog.string_agg(d.privilege_type, ', ' ORDER BY d.privilege_type)
                               FROM pg_catalog.aclexplode(pg_catalog.acldefault(g.code, g.owner)) d
                               WHERE d.grantee = g.owner))

UNION ALL
SELECT 'default privileges',
       'for role ' || pg_catalog.pg_get_userbyid(da.defaclrole)
           || COALESCE(' in schema ' || NULLIF(da.defaclnamespace, 0)::pg_catalog.regnamespace::text, '')
           || ' on ' || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                              WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE da.defaclobjtype::text END,
       CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END,
       NULL,
       pg_catalog.json_build_object(
           'privileges', pg_catalog.string_agg(DISTINCT e.privilege_type, ', ' ORDER BY e.privilege_type),
           'grantable', pg_catalog.string_agg(DISTINCT e.privilege_type, ', ' ORDER BY e.privilege_type)
                            FILTER (WHERE e.is_grantable))
FROM pg_catalog.pg_default_acl da
CROSS JOIN LATERAL pg_catalog.aclexplode(da.defaclacl) e
GROUP BY da.defaclrole, da.defaclnamespace, da.defaclobjtype, e.grantee

UNION ALL
-- Collations: what CREATE COLLATION said (provider, locales, deterministic, ...), every column
-- of the catalog but the identifying ones and the provider's version (which the server may
-- update): the same text on every major version, whatever columns it has.
SELECT 'collation', ns.name || '.' || pg_catalog.quote_ident(co.collname), NULL, NULL,
       pg_catalog.json_build_object(
           'definition', (pg_catalog.to_jsonb(co.*)
               OPERATOR(pg_catalog.-) ARRAY['oid', 'collname', 'collnamespace', 'collowner', 'collversion'])::text,
           'owner', pg_catalog.pg_get_userbyid(co.collowner),
           'comment', ds.description)
FROM pg_catalog.pg_collation co
JOIN ns ON ns.oid = co.collnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = co.oid AND ds.classoid = 'pg_catalog.pg_collation'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_collation'::pg_catalog.regclass AND d.objid = co.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
-- Extended statistics (CREATE STATISTICS), with the table they are on.
SELECT 'statistics', ns.name || '.' || pg_catalog.quote_ident(st.stxname), NULL,
       (SELECT pg_catalog.json_build_array(pg_catalog.json_build_array(rel.kind, rel.name, NULL))
        FROM rel WHERE rel.oid = st.stxrelid),
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_statisticsobjdef(st.oid),
           'statistics_target', (pg_catalog.to_jsonb(st.*) OPERATOR(pg_catalog.->>) 'stxstattarget'),
           'owner', pg_catalog.pg_get_userbyid(st.stxowner),
           'comment', ds.description)
FROM pg_catalog.pg_statistic_ext st
JOIN ns ON ns.oid = st.stxnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = st.oid AND ds.classoid = 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass AND d.objid = st.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'operator', o.oid::pg_catalog.regoperator::text, NULL, NULL,
       pg_catalog.json_build_object(
           'function', o.oprcode::pg_catalog.regproc::text,
           'result', pg_catalog.format_type(o.oprresult, NULL),
           'commutator', NULLIF(o.oprcom, 0)::pg_catalog.regoperator::text,
           'negator', NULLIF(o.oprnegate, 0)::pg_catalog.regoperator::text,
           'restrict', NULLIF(o.oprrest, 0)::pg_catalog.regproc::text,
           'join', NULLIF(o.oprjoin, 0)::pg_catalog.regproc::text,
           'hashes', o.oprcanhash,
           'merges', o.oprcanmerge,
           'owner', pg_catalog.pg_get_userbyid(o.oprowner),
           'comment', ds.description)
FROM pg_catalog.pg_operator o
JOIN ns ON ns.oid = o.oprnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = o.oid AND ds.classoid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND d.objid = o.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
-- An operator family, with its members (the operators and support functions of its classes,
-- and those ALTER OPERATOR FAMILY ... ADD gave it).
SELECT 'operator family', ns.name || '.' || pg_catalog.quote_ident(f.opfname) || ' USING ' || pg_catalog.quote_ident(am.amname),
       NULL, NULL,
       pg_catalog.json_build_object(
           'operators', (SELECT pg_catalog.string_agg(ao.amopstrategy::text || ' ' || ao.amopopr::pg_catalog.regoperator::text
                                 || CASE ao.amoppurpose WHEN 'o' THEN ' FOR ORDER BY ' ||
                                     (SELECT pg_catalog.quote_ident(sf.opfname) FROM pg_catalog.pg_opfamily sf
                                      WHERE sf.oid = ao.amopsortfamily) ELSE '' END,
                                 ', ' ORDER BY ao.amopstrategy, ao.amopopr::pg_catalog.regoperator::text)
                         FROM pg_catalog.pg_amop ao WHERE ao.amopfamily = f.oid),
           'functions', (SELECT pg_catalog.string_agg(ap.amprocnum::text || ' ' || ap.amproc::pg_catalog.regprocedure::text
                                 || ' (' || pg_catalog.format_type(ap.amproclefttype, NULL) || ', '
                                 || pg_catalog.format_type(ap.amprocrighttype, NULL) || ')',
                                 ', ' ORDER BY ap.amprocnum, ap.amproc::pg_catalog.regprocedure::text)
                         FROM pg_catalog.pg_amproc ap WHERE ap.amprocfamily = f.oid),
           'owner', pg_catalog.pg_get_userbyid(f.opfowner),
           'comment', ds.description)
FROM pg_catalog.pg_opfamily f
JOIN ns ON ns.oid = f.opfnamespace
JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = f.oid AND ds.classoid = 'pg_catalog.pg_opfamily'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_opfamily'::pg_catalog.regclass AND d.objid = f.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'operator class', ns.name || '.' || pg_catalog.quote_ident(c.opcname) || ' USING ' || pg_catalog.quote_ident(am.amname),
       NULL, NULL,
       pg_catalog.json_build_object(
           'type', pg_catalog.format_type(c.opcintype, NULL),
           'default', c.opcdefault,
           'family', (SELECT pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(f.opfname)
                      FROM pg_catalog.pg_opfamily f JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
                      WHERE f.oid = c.opcfamily),
           'storage', NULLIF(c.opckeytype, 0)::pg_catalog.regtype::text,
           'owner', pg_catalog.pg_get_userbyid(c.opcowner),
           'comment', ds.description)
FROM pg_catalog.pg_opclass c
JOIN ns ON ns.oid = c.opcnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = c.oid AND ds.classoid = 'pg_catalog.pg_opclass'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_opclass'::pg_catalog.regclass AND d.objid = c.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
-- Casts are not in a schema: those made after initdb (not built in), not of an extension, nor
-- those PostgreSQL makes for a range type's multirange (an internal dependency).
SELECT 'cast', '(' || pg_catalog.format_type(k.castsource, NULL) || ' AS ' || pg_catalog.format_type(k.casttarget, NULL) || ')',
       NULL, NULL,
       pg_catalog.json_build_object(
           'function', NULLIF(k.castfunc, 0)::pg_catalog.regprocedure::text,
           'context', CASE k.castcontext WHEN 'e' THEN 'explicit' WHEN 'a' THEN 'assignment' WHEN 'i' THEN 'implicit' END,
           'method', CASE k.castmethod WHEN 'f' THEN 'function' WHEN 'i' THEN 'inout' WHEN 'b' THEN 'binary' END,
           'comment', ds.description)
FROM pg_catalog.pg_cast k
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = k.oid AND ds.classoid = 'pg_catalog.pg_cast'::pg_catalog.regclass AND ds.objsubid = 0
WHERE k.oid >= 16384
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass AND d.objid = k.oid
                    AND d.objsubid = 0 AND d.deptype IN ('e', 'i'))

UNION ALL
SELECT 'text search configuration', ns.name || '.' || pg_catalog.quote_ident(cfg.cfgname), NULL, NULL,
       pg_catalog.json_build_object(
           'parser', (SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.prsname)
                      FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace
                      WHERE p.oid = cfg.cfgparser),
           'mappings', (SELECT pg_catalog.string_agg(m.maptokentype::text || ': ' || m.mapdict::pg_catalog.regdictionary::text,
                                                     ', ' ORDER BY m.maptokentype, m.mapseqno)
                        FROM pg_catalog.pg_ts_config_map m WHERE m.mapcfg = cfg.oid),
           'owner', pg_catalog.pg_get_userbyid(cfg.cfgowner),
           'comment', ds.description)
FROM pg_catalog.pg_ts_config cfg
JOIN ns ON ns.oid = cfg.cfgnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = cfg.oid AND ds.classoid = 'pg_catalog.pg_ts_config'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_ts_config'::pg_catalog.regclass AND d.objid = cfg.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'text search dictionary', ns.name || '.' || pg_catalog.quote_ident(dict.dictname), NULL, NULL,
       pg_catalog.json_build_object(
           'template', (SELECT pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.tmplname)
                        FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace
                        WHERE t.oid = dict.dicttemplate),
           'options', dict.dictinitoption,
           'owner', pg_catalog.pg_get_userbyid(dict.dictowner),
           'comment', ds.description)
FROM pg_catalog.pg_ts_dict dict
JOIN ns ON ns.oid = dict.dictnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = dict.oid AND ds.classoid = 'pg_catalog.pg_ts_dict'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_ts_dict'::pg_catalog.regclass AND d.objid = dict.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'foreign data wrapper', pg_catalog.quote_ident(w.fdwname), NULL, NULL,
       pg_catalog.json_build_object(
           'handler', NULLIF(w.fdwhandler, 0)::pg_catalog.regproc::text,
           'validator', NULLIF(w.fdwvalidator, 0)::pg_catalog.regproc::text,
           'options', pg_catalog.array_to_string(w.fdwoptions, ', '),
           'owner', pg_catalog.pg_get_userbyid(w.fdwowner),
           'comment', ds.description)
FROM fdw
JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = fdw.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = w.oid AND ds.classoid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'foreign server', pg_catalog.quote_ident(s.srvname), NULL, NULL,
       pg_catalog.json_build_object(
           'wrapper', (SELECT pg_catalog.quote_ident(w.fdwname) FROM pg_catalog.pg_foreign_data_wrapper w
                       WHERE w.oid = s.srvfdw),
           'type', s.srvtype,
           'version', s.srvversion,
           'options', pg_catalog.array_to_string(s.srvoptions, ', '),
           'owner', pg_catalog.pg_get_userbyid(s.srvowner),
           'comment', ds.description)
FROM srv
JOIN pg_catalog.pg_foreign_server s ON s.oid = srv.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = s.oid AND ds.classoid = 'pg_catalog.pg_foreign_server'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
-- A publication: its flags (every column of the catalog but the identifying ones, the same
-- text whatever the major version adds) and its tables.
SELECT 'publication', pg_catalog.quote_ident(pb.pubname), NULL, NULL,
       pg_catalog.json_build_object(
           'definition', (pg_catalog.to_jsonb(pb.*)
               OPERATOR(pg_catalog.-) ARRAY['oid', 'pubname', 'pubowner'])::text,
           'tables', (SELECT pg_catalog.string_agg(pr.prrelid::pg_catalog.regclass::text, ', '
                                                   ORDER BY pr.prrelid::pg_catalog.regclass::text)
                      FROM pg_catalog.pg_publication_rel pr WHERE pr.prpubid = pb.oid),
           -- FOR TABLES IN SCHEMA: the rows of pg_publication_namespace (PostgreSQL 15's), found
           -- through what they depend on, so that the query runs on older servers too.
           'schemas', (SELECT pg_catalog.string_agg(sd.refobjid::pg_catalog.regnamespace::text, ', '
                                                    ORDER BY sd.refobjid::pg_catalog.regnamespace::text)
                       FROM pg_catalog.pg_depend pd
                       JOIN pg_catalog.pg_depend sd
                         ON sd.classid = pd.classid AND sd.objid = pd.objid AND sd.objsubid = 0
                        AND sd.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                       WHERE pd.classid = pg_catalog.to_regclass('pg_catalog.pg_publication_namespace')
                         AND pd.refclassid = 'pg_catalog.pg_publication'::pg_catalog.regclass
                         AND pd.refobjid = pb.oid AND pd.refobjsubid = 0),
           'owner', pg_catalog.pg_get_userbyid(pb.pubowner),
           'comment', ds.description)
FROM pg_catalog.pg_publication pb
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = pb.oid AND ds.classoid = 'pg_catalog.pg_publication'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
-- A subscription of this database (the catalog is the server's): what a role other than a
-- superuser may read of it, never its connection string.
SELECT 'subscription', pg_catalog.quote_ident(su.subname), NULL, NULL,
       pg_catalog.json_build_object(
           'publications', pg_catalog.array_to_string(su.subpublications, ', '),
           'enabled', su.subenabled,
           'slot_name', su.subslotname,
           'synchronous_commit', su.subsynccommit,
           'owner', pg_catalog.pg_get_userbyid(su.subowner),
           'comment', sd.description)
FROM pg_catalog.pg_subscription su
LEFT JOIN pg_catalog.pg_shdescription sd
  ON sd.objoid = su.oid AND sd.classoid = 'pg_catalog.pg_subscription'::pg_catalog.regclass
WHERE su.subdbid = (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database())

UNION ALL
-- A user mapping, with its server: the names of its options, never their values (a password).
-- Read through pg_user_mappings, which a role other than a superuser may read; it shows the
-- options only to the server's owner and the mapped role.
SELECT 'user mapping', srv.name, CASE WHEN um.umuser = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(um.umuser) END,
       pg_catalog.json_build_array(pg_catalog.json_build_array('foreign server', srv.name, NULL)),
       pg_catalog.json_build_object(
           'options', (SELECT pg_catalog.string_agg(pg_catalog.split_part(o.option, '=', 1), ', '
                                                    ORDER BY pg_catalog.split_part(o.option, '=', 1))
                       FROM pg_catalog.unnest(um.umoptions) AS o(option)))
FROM pg_catalog.pg_user_mappings um
JOIN srv ON srv.oid = um.srvid

UNION ALL
SELECT 'language', lang.name, NULL, NULL,
       pg_catalog.json_build_object(
           'trusted', l.lanpltrusted,
           'procedural', l.lanispl,
           'handler', NULLIF(l.lanplcallfoid, 0)::pg_catalog.regprocedure::text,
           'inline', NULLIF(l.laninline, 0)::pg_catalog.regprocedure::text,
           'validator', NULLIF(l.lanvalidator, 0)::pg_catalog.regprocedure::text,
           'owner', pg_catalog.pg_get_userbyid(l.lanowner),
           'comment', ds.description)
FROM lang
JOIN pg_catalog.pg_language l ON l.oid = lang.oid
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = l.oid AND ds.classoid = 'pg_catalog.pg_language'::pg_catalog.regclass AND ds.objsubid = 0

UNION ALL
SELECT 'transform', 'for ' || pg_catalog.format_type(tr.trftype, NULL) || ' language ' || pg_catalog.quote_ident(l.lanname),
       NULL, NULL,
       pg_catalog.json_build_object(
           'from_sql', NULLIF(tr.trffromsql, 0)::pg_catalog.regprocedure::text,
           'to_sql', NULLIF(tr.trftosql, 0)::pg_catalog.regprocedure::text,
           'comment', ds.description)
FROM pg_catalog.pg_transform tr
JOIN pg_catalog.pg_language l ON l.oid = tr.trflang
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = tr.oid AND ds.classoid = 'pg_catalog.pg_transform'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_transform'::pg_catalog.regclass AND d.objid = tr.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
-- Access methods made after the database was (CREATE ACCESS METHOD), not of an extension.
SELECT 'access method', pg_catalog.quote_ident(am.amname), NULL, NULL,
       pg_catalog.json_build_object(
           'type', CASE am.amtype WHEN 't' THEN 'table' WHEN 'i' THEN 'index' ELSE am.amtype::text END,
           'handler', am.amhandler::pg_catalog.regproc::text,
           'comment', ds.description)
FROM pg_catalog.pg_am am
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = am.oid AND ds.classoid = 'pg_catalog.pg_am'::pg_catalog.regclass AND ds.objsubid = 0
WHERE am.oid >= 16384
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_am'::pg_catalog.regclass AND d.objid = am.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'conversion', ns.name || '.' || pg_catalog.quote_ident(cv.conname), NULL, NULL,
       pg_catalog.json_build_object(
           'from', pg_catalog.pg_encoding_to_char(cv.conforencoding)::text,
           'to', pg_catalog.pg_encoding_to_char(cv.contoencoding)::text,
           'function', cv.conproc::pg_catalog.regprocedure::text,
           'default', cv.condefault,
           'owner', pg_catalog.pg_get_userbyid(cv.conowner),
           'comment', ds.description)
FROM pg_catalog.pg_conversion cv
JOIN ns ON ns.oid = cv.connamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = cv.oid AND ds.classoid = 'pg_catalog.pg_conversion'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_conversion'::pg_catalog.regclass AND d.objid = cv.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'text search parser', ns.name || '.' || pg_catalog.quote_ident(p.prsname), NULL, NULL,
       pg_catalog.json_build_object(
           'start', p.prsstart::pg_catalog.regproc::text,
           'gettoken', p.prstoken::pg_catalog.regproc::text,
           'end', p.prsend::pg_catalog.regproc::text,
           'headline', NULLIF(p.prsheadline, 0)::pg_catalog.regproc::text,
           'lextypes', p.prslextype::pg_catalog.regproc::text,
           'comment', ds.description)
FROM pg_catalog.pg_ts_parser p
JOIN ns ON ns.oid = p.prsnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = p.oid AND ds.classoid = 'pg_catalog.pg_ts_parser'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_ts_parser'::pg_catalog.regclass AND d.objid = p.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')

UNION ALL
SELECT 'text search template', ns.name || '.' || pg_catalog.quote_ident(tm.tmplname), NULL, NULL,
       pg_catalog.json_build_object(
           'init', NULLIF(tm.tmplinit, 0)::pg_catalog.regproc::text,
           'lexize', tm.tmpllexize::pg_catalog.regproc::text,
           'comment', ds.description)
FROM pg_catalog.pg_ts_template tm
JOIN ns ON ns.oid = tm.tmplnamespace
LEFT JOIN pg_catalog.pg_description ds
  ON ds.objoid = tm.oid AND ds.classoid = 'pg_catalog.pg_ts_template'::pg_catalog.regclass AND ds.objsubid = 0
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_ts_template'::pg_catalog.regclass AND d.objid = tm.oid
                    AND d.objsubid = 0 AND d.deptype = 'e')
