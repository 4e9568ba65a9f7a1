-- The schema snapshot: every object the snapshot covers, one row each, in one statement.
-- Run by confiture::db::snapshot after a statement that sets, for this transaction only,
-- `confiture.snapshot_ledger` (the ledger's OID, 0 for none), `search_path = pg_catalog` (so
-- every name that format_type and the pg_get_* functions print is schema-qualified the same
-- way in every database) and the settings that change how constants are printed.
--
-- Columns: kind, name, sub (NULL for a whole object), the parent object the row belongs to
-- (kind, name, sub; NULL for top-level objects), and the properties as a JSON object whose
-- NULL values mean "absent". Names are quote_ident'ed and schema-qualified; roles are names.
-- No OID, no database name, no current value (of a sequence) ever reaches an output column.
WITH
ledger AS (
    SELECT pg_catalog.current_setting('confiture.snapshot_ledger')::pg_catalog.oid AS oid
),
-- Members of extensions are the extension's business: only the extension itself is listed.
ext AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'
),
ns AS (
    SELECT n.oid, n.nspname, n.nspowner, n.nspacl, pg_catalog.quote_ident(n.nspname) AS q
    FROM pg_catalog.pg_namespace n
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT FROM ext WHERE ext.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
                                        AND ext.objid = n.oid)
),
-- Relations: tables (ordinary, partitioned, foreign), views, materialized views, sequences,
-- and the relations behind composite types (for their attributes). Not the ledger, nor
-- anything that belongs to it (its identity sequence).
rel AS (
    SELECT c.oid, c.relkind, c.relowner, c.relacl, c.reltype,
           ns.q || '.' || pg_catalog.quote_ident(c.relname) AS name,
           CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'S' THEN 'sequence' WHEN 'c' THEN 'type' ELSE 'table' END AS kind
    FROM pg_catalog.pg_class c
    JOIN ns ON ns.oid = c.relnamespace
    CROSS JOIN ledger
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'c')
      AND c.oid <> ledger.oid
      AND NOT EXISTS (SELECT FROM ext WHERE (ext.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ext.objid = c.oid)
                                         OR (ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ext.objid = c.reltype))
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
                        AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        AND d.refobjid = ledger.oid AND d.deptype IN ('a', 'i'))
),
-- Types of their own: enums, domains, composites, ranges, base types (not arrays, not the row
-- types of tables, not the multiranges that come with ranges).
typ AS (
    SELECT t.oid, t.typtype, t.typowner, t.typacl, t.typbasetype, t.typtypmod, t.typnotnull,
           t.typdefaultbin, t.typcollation,
           ns.q || '.' || pg_catalog.quote_ident(t.typname) AS name,
           CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END AS kind
    FROM pg_catalog.pg_type t
    JOIN ns ON ns.oid = t.typnamespace
    WHERE (t.typtype IN ('e', 'd', 'r')
           OR (t.typtype = 'c' AND EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
           OR (t.typtype = 'b' AND NOT EXISTS (SELECT FROM pg_catalog.pg_type e WHERE e.typarray = t.oid)))
      AND NOT EXISTS (SELECT FROM ext WHERE ext.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ext.objid = t.oid)
),
fn AS (
    SELECT p.oid, p.prokind, p.proowner, p.proacl,
           ns.q || '.' || pg_catalog.quote_ident(p.proname) || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS name,
           CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END AS kind
    FROM pg_catalog.pg_proc p
    JOIN ns ON ns.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT FROM ext WHERE ext.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND ext.objid = p.oid)
),
-- Everything that carries privileges, with its ACL (the default one when it has none, so
-- that GRANT followed by REVOKE compares equal to never granting).
acl AS (
    SELECT 'schema ' || ns.q AS target, 'schema' AS pkind, ns.q AS pname, NULL::text AS psub,
           COALESCE(ns.nspacl, pg_catalog.acldefault('n', ns.nspowner)) AS acl
    FROM ns
    UNION ALL
    SELECT rel.kind || ' ' || rel.name, rel.kind, rel.name, NULL,
           COALESCE(rel.relacl, pg_catalog.acldefault(CASE rel.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", rel.relowner))
    FROM rel WHERE rel.relkind <> 'c'
    UNION ALL
    SELECT 'column ' || rel.name || '.' || pg_catalog.quote_ident(a.attname), 'column', rel.name,
           pg_catalog.quote_ident(a.attname), a.attacl
    FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
    WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
    UNION ALL
    SELECT fn.kind || ' ' || fn.name, fn.kind, fn.name, NULL,
           COALESCE(fn.proacl, pg_catalog.acldefault('f', fn.proowner))
    FROM fn
    UNION ALL
    SELECT typ.kind || ' ' || typ.name, typ.kind, typ.name, NULL,
           COALESCE(typ.typacl, pg_catalog.acldefault('T', typ.typowner))
    FROM typ
)

SELECT 'schema', ns.q, NULL, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'owner', pg_catalog.pg_get_userbyid(ns.nspowner),
           'comment', pg_catalog.obj_description(ns.oid, 'pg_namespace'))
FROM ns

UNION ALL
SELECT 'extension', pg_catalog.quote_ident(x.extname), NULL, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'schema', pg_catalog.quote_ident(n.nspname),
           'version', x.extversion,
           'comment', pg_catalog.obj_description(x.oid, 'pg_extension'))
FROM pg_catalog.pg_extension x
JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace

UNION ALL
SELECT typ.kind, typ.name, NULL, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'kind', CASE typ.typtype WHEN 'e' THEN 'enum' WHEN 'c' THEN 'composite'
                                    WHEN 'r' THEN 'range' WHEN 'b' THEN 'base' END,
           'labels', CASE WHEN typ.typtype = 'e' THEN
               (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                FROM pg_catalog.pg_enum e WHERE e.enumtypid = typ.oid) END,
           'base_type', CASE WHEN typ.typtype = 'd' THEN pg_catalog.format_type(typ.typbasetype, typ.typtypmod) END,
           'nullable', CASE WHEN typ.typtype = 'd' THEN NOT typ.typnotnull END,
           'default', pg_catalog.pg_get_expr(typ.typdefaultbin, 0),
           'collation', CASE WHEN typ.typtype = 'd' AND typ.typcollation <> 0
                              AND typ.typcollation <> (SELECT b.typcollation FROM pg_catalog.pg_type b WHERE b.oid = typ.typbasetype)
                             THEN (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                   FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                   WHERE co.oid = typ.typcollation) END,
           'subtype', (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r WHERE r.rngtypid = typ.oid),
           'subtype_opclass', (SELECT pg_catalog.quote_ident(ocn.nspname) || '.' || pg_catalog.quote_ident(oc.opcname)
                               FROM pg_catalog.pg_range r JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc
                               JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace
                               WHERE r.rngtypid = typ.oid),
           'subtype_collation', (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                                 FROM pg_catalog.pg_range r JOIN pg_catalog.pg_collation co ON co.oid = r.rngcollation
                                 JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                                 WHERE r.rngtypid = typ.oid),
           'canonical', (SELECT NULLIF(r.rngcanonical, 0)::pg_catalog.regproc::text FROM pg_catalog.pg_range r WHERE r.rngtypid = typ.oid),
           'subtype_diff', (SELECT NULLIF(r.rngsubdiff, 0)::pg_catalog.regproc::text FROM pg_catalog.pg_range r WHERE r.rngtypid = typ.oid),
           'owner', pg_catalog.pg_get_userbyid(typ.typowner),
           'comment', pg_catalog.obj_description(typ.oid, 'pg_type'))
FROM typ

UNION ALL
SELECT rel.kind, rel.name, NULL, p.pkind, p.pname, NULL,
       pg_catalog.json_build_object(
           'kind', CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign' END,
           'partition_key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
           'partition_of', CASE WHEN c.relispartition THEN p.pname END,
           'partition_bound', CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
           'inherits', CASE WHEN NOT c.relispartition THEN
               (SELECT pg_catalog.string_agg(pn.q || '.' || pg_catalog.quote_ident(pc.relname), ', ' ORDER BY i.inhseqno)
                FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
                JOIN ns pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) END,
           'server', (SELECT pg_catalog.quote_ident(s.srvname) FROM pg_catalog.pg_foreign_table ft
                      JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid),
           'server_options', (SELECT pg_catalog.array_to_string(ft.ftoptions, ', ') FROM pg_catalog.pg_foreign_table ft WHERE ft.ftrelid = c.oid),
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
           'owned_by', own.name,
           'identity', CASE WHEN c.relkind = 'S' THEN own.identity END,
           'owner', pg_catalog.pg_get_userbyid(c.relowner),
           'comment', pg_catalog.obj_description(c.oid, 'pg_class'))
FROM rel
JOIN pg_catalog.pg_class c ON c.oid = rel.oid
LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
-- The table a sequence belongs to (OWNED BY, or an identity column).
LEFT JOIN LATERAL (
    SELECT o.name || '.' || pg_catalog.quote_ident(a.attname) AS name, o.kind, o.name AS table_name,
           d.deptype = 'i' AS identity
    FROM pg_catalog.pg_depend d
    JOIN rel o ON o.oid = d.refobjid
    JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE c.relkind = 'S' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
      AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
      AND d.refobjsubid > 0
    LIMIT 1
) own ON true
-- Its parent: the partitioned table of a partition, the table of an owned sequence.
LEFT JOIN LATERAL (
    SELECT pr.kind AS pkind, pr.name AS pname
    FROM pg_catalog.pg_inherits i JOIN rel pr ON pr.oid = i.inhparent
    WHERE c.relispartition AND i.inhrelid = c.oid
    UNION ALL
    SELECT own.kind, own.table_name WHERE own.name IS NOT NULL
    LIMIT 1
) p ON true
WHERE rel.relkind <> 'c'

UNION ALL
SELECT CASE WHEN rel.relkind = 'c' THEN 'attribute' ELSE 'column' END, rel.name, pg_catalog.quote_ident(a.attname),
       rel.kind, rel.name, NULL,
       pg_catalog.json_build_object(
           'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
           'nullable', CASE WHEN rel.relkind IN ('r', 'p', 'f') THEN NOT a.attnotnull END,
           'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
           'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
           'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
           'collation', CASE WHEN a.attcollation <> t.typcollation THEN
               (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
                FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                WHERE co.oid = a.attcollation) END,
           'comment', pg_catalog.col_description(rel.oid, a.attnum))
FROM rel
JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND rel.relkind <> 'S'

UNION ALL
SELECT 'constraint', owner.name, pg_catalog.quote_ident(k.conname), owner.kind, owner.name, NULL,
       pg_catalog.json_build_object(
           'type', CASE k.contype WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key' WHEN 'p' THEN 'primary key'
                                  WHEN 'u' THEN 'unique' WHEN 't' THEN 'trigger' WHEN 'x' THEN 'exclusion'
                                  WHEN 'n' THEN 'not null' ELSE k.contype::text END,
           'definition', pg_catalog.pg_get_constraintdef(k.oid),
           'comment', pg_catalog.obj_description(k.oid, 'pg_constraint'))
FROM pg_catalog.pg_constraint k
JOIN (SELECT rel.oid, 0::pg_catalog.oid AS typid, rel.kind, rel.name FROM rel WHERE rel.relkind IN ('r', 'p', 'f')
      UNION ALL
      SELECT 0, typ.oid, typ.kind, typ.name FROM typ WHERE typ.typtype = 'd') owner
  ON owner.oid = k.conrelid AND owner.typid = k.contypid

UNION ALL
SELECT 'index', pg_catalog.quote_ident(ins.nspname) || '.' || pg_catalog.quote_ident(ic.relname), NULL, rel.kind, rel.name, NULL,
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_indexdef(i.indexrelid),
           'valid', i.indisvalid,
           'clustered', i.indisclustered,
           'options', pg_catalog.array_to_string(ic.reloptions, ', '),
           'comment', pg_catalog.obj_description(i.indexrelid, 'pg_class'))
FROM rel
JOIN pg_catalog.pg_index i ON i.indrelid = rel.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_namespace ins ON ins.oid = ic.relnamespace
-- The index behind a primary key, unique or exclusion constraint is the constraint's.
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k
                  WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))

UNION ALL
SELECT fn.kind, fn.name, NULL, NULL, NULL, NULL,
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
           'comment', pg_catalog.obj_description(p.oid, 'pg_proc'))
FROM fn
JOIN pg_catalog.pg_proc p ON p.oid = fn.oid
JOIN pg_catalog.pg_language l ON l.oid = p.prolang

UNION ALL
SELECT 'trigger', rel.name, pg_catalog.quote_ident(tg.tgname), rel.kind, rel.name, NULL,
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_triggerdef(tg.oid),
           'enabled', CASE tg.tgenabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                        WHEN 'A' THEN 'always' END,
           'comment', pg_catalog.obj_description(tg.oid, 'pg_trigger'))
FROM rel
JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = rel.oid
WHERE NOT tg.tgisinternal

UNION ALL
SELECT 'rule', rel.name, pg_catalog.quote_ident(r.rulename), rel.kind, rel.name, NULL,
       pg_catalog.json_build_object(
           'definition', pg_catalog.pg_get_ruledef(r.oid),
           'enabled', CASE r.ev_enabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                        WHEN 'A' THEN 'always' END,
           'comment', pg_catalog.obj_description(r.oid, 'pg_rewrite'))
FROM rel
JOIN pg_catalog.pg_rewrite r ON r.ev_class = rel.oid
WHERE r.rulename <> '_RETURN'

UNION ALL
SELECT 'policy', rel.name, pg_catalog.quote_ident(pol.polname), rel.kind, rel.name, NULL,
       pg_catalog.json_build_object(
           'command', CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                      WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           'permissive', pol.polpermissive,
           'roles', (SELECT pg_catalog.string_agg(CASE WHEN r.role = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.role) END,
                                                  ', ' ORDER BY 1)
                     FROM pg_catalog.unnest(pol.polroles) AS r(role)),
           'using', pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
           'with_check', pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
           'comment', pg_catalog.obj_description(pol.oid, 'pg_policy'))
FROM rel
JOIN pg_catalog.pg_policy pol ON pol.polrelid = rel.oid

UNION ALL
SELECT 'event trigger', pg_catalog.quote_ident(et.evtname), NULL, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'event', et.evtevent,
           'tags', pg_catalog.array_to_string(et.evttags, ', '),
           'function', et.evtfoid::pg_catalog.regproc::text,
           'enabled', CASE et.evtenabled WHEN 'O' THEN 'yes' WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica only'
                                         WHEN 'A' THEN 'always' END,
           'owner', pg_catalog.pg_get_userbyid(et.evtowner),
           'comment', pg_catalog.obj_description(et.oid, 'pg_event_trigger'))
FROM pg_catalog.pg_event_trigger et
WHERE NOT EXISTS (SELECT FROM ext WHERE ext.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND ext.objid = et.oid)

UNION ALL
SELECT 'grant', acl.target, x.grantee, acl.pkind, acl.pname, acl.psub,
       pg_catalog.json_build_object(
           'privileges', pg_catalog.string_agg(DISTINCT x.privilege_type, ', ' ORDER BY x.privilege_type),
           'grantable', pg_catalog.string_agg(DISTINCT x.privilege_type, ', ' ORDER BY x.privilege_type)
                            FILTER (WHERE x.is_grantable))
FROM acl
CROSS JOIN LATERAL (
    SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END AS grantee,
           e.privilege_type, e.is_grantable
    FROM pg_catalog.aclexplode(acl.acl) e
) x
GROUP BY acl.target, x.grantee, acl.pkind, acl.pname, acl.psub

UNION ALL
SELECT 'default privileges',
       'for role ' || pg_catalog.pg_get_userbyid(da.defaclrole)
           || COALESCE(' in schema ' || pg_catalog.quote_ident(n.nspname), '')
           || ' on ' || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                              WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE da.defaclobjtype::text END,
       x.grantee, NULL, NULL, NULL,
       pg_catalog.json_build_object(
           'privileges', pg_catalog.string_agg(DISTINCT x.privilege_type, ', ' ORDER BY x.privilege_type),
           'grantable', pg_catalog.string_agg(DISTINCT x.privilege_type, ', ' ORDER BY x.privilege_type)
                            FILTER (WHERE x.is_grantable))
FROM pg_catalog.pg_default_acl da
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = da.defaclnamespace
CROSS JOIN LATERAL (
    SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END AS grantee,
           e.privilege_type, e.is_grantable
    FROM pg_catalog.aclexplode(da.defaclacl) e
) x
GROUP BY da.defaclrole, n.nspname, da.defaclobjtype, x.grantee
