//! A database schema as data, and the object-level difference between two of them: the
//! ground on which `migrate verify` (does every down undo its up?) and `migrate drift` (does
//! the live database match its history?) stand. Pure: [`crate::db::snapshot`] reads a
//! [`Snapshot`] from the catalogs; this module compares and renders, with no IO.
//!
//! A snapshot is a sorted map from [`ObjectId`] (kind, schema-qualified name, sub-part) to the
//! object's properties, each a string (`type`, `default`, `definition`, `owner`, `comment`,
//! ...). Identity never involves an OID or the database's name, so snapshots of two databases
//! built by the same DDL are equal, and a difference names objects as a person would:
//!
//! ```text
//! index public.idx_tb_post_slug: left behind
//! column public.tb_user.bio: type text, expected integer
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

/// The kinds of objects a snapshot covers. The order is the order of reports: containers
/// before their contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ObjectKind {
    /// A schema (namespace).
    Schema,
    /// An installed extension.
    Extension,
    /// A procedural language made after the database was (`CREATE LANGUAGE`).
    Language,
    /// A transform (`name` is `for <type> language <language>`).
    Transform,
    /// An access method made after the database was (`CREATE ACCESS METHOD`).
    AccessMethod,
    /// Enums, composites, ranges and base types (the `kind` property says which).
    Type,
    /// A domain.
    Domain,
    /// A sequence.
    Sequence,
    /// Ordinary, partitioned and foreign tables (the `kind` property says which).
    Table,
    /// A view.
    View,
    /// A materialized view.
    MaterializedView,
    /// A column of a table, view or materialized view (`name` is the relation, `sub` the column).
    Column,
    /// An attribute of a composite type (`name` is the type, `sub` the attribute).
    Attribute,
    /// A constraint of a table or domain (`name` is the table or domain).
    Constraint,
    /// An index (`name` is the index).
    Index,
    /// A function (its name carries its argument types).
    Function,
    /// A procedure (its name carries its argument types).
    Procedure,
    /// An aggregate (its name carries its argument types).
    Aggregate,
    /// A trigger on a table or view (`name` is the relation).
    Trigger,
    /// An event trigger.
    EventTrigger,
    /// A rewrite rule other than a view's own (`name` is the relation).
    Rule,
    /// A row-level security policy (`name` is the table).
    Policy,
    /// A collation (`CREATE COLLATION`).
    Collation,
    /// An encoding conversion (`CREATE CONVERSION`).
    Conversion,
    /// An extended statistics object (`CREATE STATISTICS`), with its table.
    Statistics,
    /// An operator (its name carries its operand types).
    Operator,
    /// An operator family, with its members (`name` ends with `USING <access method>`).
    OperatorFamily,
    /// An operator class (`name` ends with `USING <access method>`).
    OperatorClass,
    /// A cast made after the database was created (`name` is `(source AS target)`).
    Cast,
    /// A text search parser.
    TextSearchParser,
    /// A text search template.
    TextSearchTemplate,
    /// A text search configuration, with its mappings.
    TextSearchConfiguration,
    /// A text search dictionary.
    TextSearchDictionary,
    /// A foreign-data wrapper.
    ForeignDataWrapper,
    /// A foreign server.
    ForeignServer,
    /// A user mapping (`name` is the server, `sub` the role, `PUBLIC` for everyone), with the
    /// names of its options, never their values.
    UserMapping,
    /// A publication, with its tables and schemas.
    Publication,
    /// A subscription of the database, without its connection string.
    Subscription,
    /// The privileges one role holds on one object: `name` is the object as
    /// `<kind> <name>` (`table public.tb_user`, `column public.tb_user.email`), `sub` the
    /// grantee (`PUBLIC` for everyone).
    Grant,
    /// `ALTER DEFAULT PRIVILEGES`: `name` says whose and on what
    /// (`for role app in schema public on tables`), `sub` the grantee.
    DefaultPrivileges,
}

impl ObjectKind {
    /// Every kind, in report order.
    pub const ALL: [ObjectKind; 40] = [
        ObjectKind::Schema,
        ObjectKind::Extension,
        ObjectKind::Language,
        ObjectKind::Transform,
        ObjectKind::AccessMethod,
        ObjectKind::Type,
        ObjectKind::Domain,
        ObjectKind::Sequence,
        ObjectKind::Table,
        ObjectKind::View,
        ObjectKind::MaterializedView,
        ObjectKind::Column,
        ObjectKind::Attribute,
        ObjectKind::Constraint,
        ObjectKind::Index,
        ObjectKind::Function,
        ObjectKind::Procedure,
        ObjectKind::Aggregate,
        ObjectKind::Trigger,
        ObjectKind::EventTrigger,
        ObjectKind::Rule,
        ObjectKind::Policy,
        ObjectKind::Collation,
        ObjectKind::Conversion,
        ObjectKind::Statistics,
        ObjectKind::Operator,
        ObjectKind::OperatorFamily,
        ObjectKind::OperatorClass,
        ObjectKind::Cast,
        ObjectKind::TextSearchParser,
        ObjectKind::TextSearchTemplate,
        ObjectKind::TextSearchConfiguration,
        ObjectKind::TextSearchDictionary,
        ObjectKind::ForeignDataWrapper,
        ObjectKind::ForeignServer,
        ObjectKind::UserMapping,
        ObjectKind::Publication,
        ObjectKind::Subscription,
        ObjectKind::Grant,
        ObjectKind::DefaultPrivileges,
    ];

    /// The kind as PostgreSQL's documentation words it: `materialized view`, `event trigger`.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Language => "language",
            ObjectKind::Transform => "transform",
            ObjectKind::AccessMethod => "access method",
            ObjectKind::Type => "type",
            ObjectKind::Domain => "domain",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Column => "column",
            ObjectKind::Attribute => "attribute",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Aggregate => "aggregate",
            ObjectKind::Trigger => "trigger",
            ObjectKind::EventTrigger => "event trigger",
            ObjectKind::Rule => "rule",
            ObjectKind::Policy => "policy",
            ObjectKind::Collation => "collation",
            ObjectKind::Conversion => "conversion",
            ObjectKind::Statistics => "statistics",
            ObjectKind::Operator => "operator",
            ObjectKind::OperatorFamily => "operator family",
            ObjectKind::OperatorClass => "operator class",
            ObjectKind::Cast => "cast",
            ObjectKind::TextSearchParser => "text search parser",
            ObjectKind::TextSearchTemplate => "text search template",
            ObjectKind::TextSearchConfiguration => "text search configuration",
            ObjectKind::TextSearchDictionary => "text search dictionary",
            ObjectKind::ForeignDataWrapper => "foreign data wrapper",
            ObjectKind::ForeignServer => "foreign server",
            ObjectKind::UserMapping => "user mapping",
            ObjectKind::Publication => "publication",
            ObjectKind::Subscription => "subscription",
            ObjectKind::Grant => "grant",
            ObjectKind::DefaultPrivileges => "default privileges",
        }
    }

    /// The kind named as [`ObjectKind::name`] does; `None` for anything else.
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which object: its kind, its name (schema-qualified, each part quoted only where SQL needs
/// it, as `quote_ident` does; a function's name carries its argument types), and for objects
/// that live inside another (a column, a constraint, a trigger, a grantee) the inner name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectId {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Its schema-qualified name, quoted where SQL needs it.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The inner name (column, constraint, trigger, grantee) of an object inside another.
    pub sub: Option<String>,
}

impl ObjectId {
    /// An object that lives on its own (`sub` is `None`).
    pub fn new(kind: ObjectKind, name: impl Into<String>) -> ObjectId {
        ObjectId {
            kind,
            name: name.into(),
            sub: None,
        }
    }

    /// An object inside another (`name`), named `sub` there.
    pub fn with_sub(kind: ObjectKind, name: impl Into<String>, sub: impl Into<String>) -> ObjectId {
        ObjectId {
            kind,
            name: name.into(),
            sub: Some(sub.into()),
        }
    }
}

/// `index public.idx_tb_post_slug`, `column public.tb_user.bio`,
/// `grant on table public.tb_user to app_reader`, `user mapping for app server remote`.
impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.sub) {
            (ObjectKind::Grant, Some(grantee)) => write!(f, "grant on {} to {grantee}", self.name),
            (ObjectKind::DefaultPrivileges, Some(grantee)) => {
                write!(f, "default privileges {} to {grantee}", self.name)
            }
            (ObjectKind::UserMapping, Some(role)) => {
                write!(f, "user mapping for {role} server {}", self.name)
            }
            (kind, Some(sub)) => write!(f, "{kind} {}.{sub}", self.name),
            (kind, None) => write!(f, "{kind} {}", self.name),
        }
    }
}

/// An object's properties by name. An absent property is one the object does not have (no
/// default, no comment); booleans are `yes` / `no`.
pub type Properties = BTreeMap<String, String>;

/// One object of a snapshot: its properties, and the objects it belongs to (a column's table,
/// a grant's object, a partition's parent table, an index's table and the partitioned index
/// it is attached to). These are not compared, but let a report say "table t: left behind"
/// once instead of listing every column of t as well.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Object {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    /// The objects it belongs to (not compared).
    pub parents: Vec<ObjectId>,
    /// Its properties (compared).
    pub properties: Properties,
    /// A column's (an attribute's) place among the live columns of its relation: 1, 2, ...
    /// (not `attnum`, which keeps a gap for every dropped column). Not compared by [`diff`]: a
    /// down migration can only add a column at the end; [`column_order`] reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
}

/// A schema: every object, sorted by [`ObjectId`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    objects: BTreeMap<ObjectId, Object>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// Adds an object; returns the one it replaces, if the id was taken.
    pub fn insert(&mut self, id: ObjectId, object: Object) -> Option<Object> {
        self.objects.insert(id, object)
    }

    /// The object with this id.
    pub fn get(&self, id: &ObjectId) -> Option<&Object> {
        self.objects.get(id)
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there is no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// This snapshot without what confiture (Python) keeps for itself in a database it migrates
    /// beside a ledger whose table is named `ledger` (unqualified): its `confiture` schema of
    /// view helpers and everything named in it, a `confiture_lock_holder` table and the
    /// ledger's `<ledger>_steps` table (`ledger::PYTHON_HELPER_SCHEMA`,
    /// `ledger::python_bookkeeping_tables`), with what belongs to them — each unless
    /// `expected` has it too (then a migration made it, and it is compared as any object).
    /// `drift` compares the live database without them, as without the ledger itself.
    pub fn without_python_bookkeeping(&self, ledger: &str, expected: &Snapshot) -> Snapshot {
        let tables = crate::ledger::python_bookkeeping_tables(ledger)
            .map(|table| crate::ledger::quote_ident(&table).into_owned());
        let helpers = crate::ledger::quote_ident(crate::ledger::PYTHON_HELPER_SCHEMA);
        let is_root = |id: &ObjectId| {
            let in_helper_schema = (id.kind == ObjectKind::Schema && id.name == *helpers)
                || id
                    .name
                    .strip_prefix(&*helpers)
                    .is_some_and(|rest| rest.starts_with('.'));
            let table = id.kind == ObjectKind::Table
                && tables
                    .iter()
                    .any(|t| id.name == *t || id.name.ends_with(&format!(".{t}")));
            (in_helper_schema || table) && !expected.objects.contains_key(id)
        };
        self.without_roots(is_root)
    }

    /// This snapshot without the objects `is_root` picks and everything that belongs to them
    /// ([`Snapshot::has_ancestor_in`]): the one pruning of [`Snapshot::without_schemas`] and
    /// [`Snapshot::without_python_bookkeeping`].
    fn without_roots(&self, is_root: impl Fn(&ObjectId) -> bool) -> Snapshot {
        let roots: BTreeSet<&ObjectId> = self.objects.keys().filter(|id| is_root(id)).collect();
        if roots.is_empty() {
            return self.clone();
        }
        Snapshot {
            objects: self
                .objects
                .iter()
                .filter(|(id, _)| !roots.contains(id) && !self.has_ancestor_in(id, &roots))
                .map(|(id, object)| (id.clone(), object.clone()))
                .collect(),
        }
    }

    /// The schemas (quoted, as the snapshot names them) that hold a confiture ledger of their
    /// own: a table `<schema>.<ledger>` (`ledger` unqualified) with the ledger's `slug`,
    /// `version` and `checksum` columns — a tenant migrated with `--schema`. The environment's
    /// own ledger is never in a snapshot ([`crate::db::snapshot::SnapshotOptions::ledger`]).
    pub fn ledger_schemas(&self, ledger: &str) -> Vec<String> {
        let table = format!(".{}", crate::ledger::quote_ident(ledger));
        let has_column = |t: &str, c: &str| {
            self.objects
                .contains_key(&ObjectId::with_sub(ObjectKind::Column, t, c))
        };
        self.objects
            .keys()
            .filter(|id| id.kind == ObjectKind::Table)
            .filter_map(|id| Some((id, id.name.strip_suffix(&table)?)))
            .filter(|(_, schema)| {
                self.objects
                    .contains_key(&ObjectId::new(ObjectKind::Schema, *schema))
            })
            .filter(|(id, _)| {
                ["slug", "version", "checksum"]
                    .iter()
                    .all(|c| has_column(&id.name, c))
            })
            .map(|(_, schema)| schema.to_string())
            .collect()
    }

    /// This snapshot without the schemas `schemas` (quoted, as it names them) and everything
    /// in them, with what belongs to that (columns, grants, ...).
    pub fn without_schemas(&self, schemas: &[String]) -> Snapshot {
        if schemas.is_empty() {
            return self.clone();
        }
        self.without_roots(|id: &ObjectId| {
            schemas.iter().any(|schema| {
                (id.kind == ObjectKind::Schema && id.name == *schema)
                    || id.name.starts_with(&format!("{schema}."))
            })
        })
    }

    /// Every object in order.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectId, &Object)> {
        self.objects.iter()
    }

    /// This snapshot — a replay of migrations made by the role `replayed_as` — with its roles
    /// as the live database `live` has them, where the ledger says the migrations were
    /// applied by the roles `applied_by`: `drift` may run as another role than the one that
    /// ran `up` (a monitoring role, a `--scratch-url` server whose role has another name), and
    /// what the replaying role owns was made there by whoever applied the migrations.
    ///
    /// An `owner` equal to `replayed_as` becomes the live object's owner when that is one of
    /// `applied_by`, else the applying role when there is only one: so an owner changed by
    /// hand to any other role (`ALTER TABLE t OWNER TO someone_else`) is still drift, named
    /// against the role that applied the migrations. With only one applying role, a grant to
    /// `replayed_as`, its default privileges (`for role ...`) and its user mappings are that
    /// role's. A change of
    /// owner between two roles that both applied migrations cannot be told from their work.
    /// Unchanged when `applied_by` is empty (no ledger rows name a role) or is
    /// `replayed_as` alone.
    pub fn as_applied_by(
        &self,
        replayed_as: &str,
        applied_by: &BTreeSet<String>,
        live: &Snapshot,
    ) -> Snapshot {
        let only = match applied_by.iter().collect::<Vec<_>>().as_slice() {
            [] => return self.clone(),
            [only] if *only == replayed_as => return self.clone(),
            [only] => Some(only.as_str()),
            _ => None,
        };
        let for_role = format!("for role {replayed_as} ");
        self.objects
            .iter()
            .map(|(id, object)| {
                let mut id = id.clone();
                let mut object = object.clone();
                if let Some(owner) = object.properties.get_mut("owner") {
                    let live_owner = live
                        .get(&id)
                        .and_then(|o| o.properties.get("owner"))
                        .filter(|o| applied_by.contains(*o));
                    if owner == replayed_as {
                        if let Some(to) = live_owner.map(String::as_str).or(only) {
                            *owner = to.to_string();
                        }
                    }
                }
                if let Some(only) = only {
                    let by_name = matches!(
                        id.kind,
                        ObjectKind::Grant | ObjectKind::DefaultPrivileges | ObjectKind::UserMapping
                    );
                    if by_name && id.sub.as_deref() == Some(replayed_as) {
                        id.sub = Some(only.to_string());
                    }
                    if id.kind == ObjectKind::DefaultPrivileges {
                        if let Some(rest) = id.name.strip_prefix(&for_role) {
                            id.name = format!("for role {only} {rest}");
                        }
                    }
                }
                (id, object)
            })
            .collect()
    }

    /// Whether one of the objects `id` belongs to (its parents, their parents...) is in
    /// `set`. Parents form no cycle in a snapshot read from a database; in a hand-made one,
    /// an object on a cycle is not hidden by it, so that it is still reported.
    fn has_ancestor_in(&self, id: &ObjectId, set: &BTreeSet<&ObjectId>) -> bool {
        let parents_of = |id: &ObjectId| {
            self.objects
                .get(id)
                .map(|o| o.parents.as_slice())
                .unwrap_or_default()
        };
        let mut seen: BTreeSet<&ObjectId> = BTreeSet::new();
        let mut todo: Vec<&ObjectId> = parents_of(id).iter().collect();
        let mut found = false;
        while let Some(parent) = todo.pop() {
            if parent == id {
                return false;
            }
            if !seen.insert(parent) {
                continue;
            }
            found |= set.contains(parent);
            todo.extend(parents_of(parent));
        }
        found
    }
}

/// As JSON: `{"objects": [{"kind", "name", "sub"?, "parents"?, "properties"}, ...]}`, sorted.
impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Objects<'a>(&'a BTreeMap<ObjectId, Object>);
        impl Serialize for Objects<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct Entry<'a> {
                    #[serde(flatten)]
                    id: &'a ObjectId,
                    #[serde(flatten)]
                    object: &'a Object,
                }
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for (id, object) in self.0 {
                    seq.serialize_element(&Entry { id, object })?;
                }
                seq.end()
            }
        }
        let mut s = serializer.serialize_struct("Snapshot", 1)?;
        s.serialize_field("objects", &Objects(&self.objects))?;
        s.end()
    }
}

impl FromIterator<(ObjectId, Object)> for Snapshot {
    fn from_iter<I: IntoIterator<Item = (ObjectId, Object)>>(iter: I) -> Snapshot {
        Snapshot {
            objects: iter.into_iter().collect(),
        }
    }
}

/// How the second snapshot (`after`, what is there) differs from the first (`before`, what
/// should be there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Difference {
    /// In `after` only: an object a down migration left behind, or one added by hand.
    Extra {
        /// The object.
        object: ObjectId,
    },
    /// In `before` only: an object that should be there and is not.
    Missing {
        /// The object.
        object: ObjectId,
    },
    /// In both, with one property different; `None` is an absent property.
    Changed {
        /// The object.
        object: ObjectId,
        /// The property that differs.
        property: String,
        /// Its value in `before` (`None`: absent).
        before: Option<String>,
        /// Its value in `after` (`None`: absent).
        after: Option<String>,
    },
}

impl Difference {
    /// The object that differs.
    pub fn object(&self) -> &ObjectId {
        match self {
            Difference::Extra { object }
            | Difference::Missing { object }
            | Difference::Changed { object, .. } => object,
        }
    }
}

/// `index public.idx_tb_post_slug: left behind`, `view public.v_user: missing`,
/// `column public.tb_user.bio: type text, expected integer`. A value of several lines (a view's
/// definition, a function's body) is shown as the lines that differ, `-` expected, `+` found.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Extra { object } => write!(f, "{object}: left behind"),
            Difference::Missing { object } => write!(f, "{object}: missing"),
            Difference::Changed {
                object,
                property,
                before,
                after,
            } => {
                write!(f, "{object}: ")?;
                match (before.as_deref(), after.as_deref()) {
                    (Some(b), Some(a)) if b.contains('\n') || a.contains('\n') => {
                        write!(f, "{property} differs")?;
                        for line in line_diff(b, a) {
                            write!(f, "\n    {line}")?;
                        }
                        Ok(())
                    }
                    (Some(b), Some(a)) => write!(f, "{property} {a}, expected {b}"),
                    (Some(b), None) => write!(f, "no {property}, expected {b}"),
                    (None, Some(a)) => write!(f, "{property} {a}, expected none"),
                    (None, None) => write!(f, "{property} differs"),
                }
            }
        }
    }
}

/// What changed from `before` to `after`, object by object and property by property, in
/// [`ObjectId`] order. An object that is extra (or missing) as a whole hides the objects that
/// belong to it: a leftover table is one difference, not one per column, index and grant.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Difference> {
    let extra: BTreeSet<&ObjectId> = after
        .objects
        .keys()
        .filter(|id| !before.objects.contains_key(id))
        .collect();
    let missing: BTreeSet<&ObjectId> = before
        .objects
        .keys()
        .filter(|id| !after.objects.contains_key(id))
        .collect();
    let ids: BTreeSet<&ObjectId> = before.objects.keys().chain(after.objects.keys()).collect();
    let mut out = Vec::new();
    for id in ids {
        match (before.objects.get(id), after.objects.get(id)) {
            (None, Some(_)) => {
                if !after.has_ancestor_in(id, &extra) {
                    out.push(Difference::Extra { object: id.clone() });
                }
            }
            (Some(_), None) => {
                if !before.has_ancestor_in(id, &missing) {
                    out.push(Difference::Missing { object: id.clone() });
                }
            }
            (Some(b), Some(a)) => changed(id, &b.properties, &a.properties, &mut out),
            (None, None) => {}
        }
    }
    out
}

/// A relation whose columns (a composite type whose attributes) are in another order in one
/// snapshot than in the other: what [`column_order`] finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ColumnOrder {
    /// The table, view or materialized view (the composite type).
    pub relation: ObjectId,
    /// Its columns (attributes) in order in the first snapshot.
    pub before: Vec<String>,
    /// Its columns (attributes) in order in the second.
    pub after: Vec<String>,
}

impl ColumnOrder {
    /// The one sentence of it, `before` and `after` saying which snapshot each order is
    /// (`before`, `after its down`): `column order of table public.a: (id, v) before, (v, id)
    /// after its down: positional INSERT, COPY without a column list and SELECT * read them
    /// differently`.
    pub fn describe(&self, before: &str, after: &str) -> String {
        let (what, reads) = if self.relation.kind == ObjectKind::Type {
            (
                "attribute",
                "a row constructor cast to the type (ROW(...)::type) and the text of its \
                 values read them differently",
            )
        } else {
            (
                "column",
                "positional INSERT, COPY without a column list and SELECT * read them \
                 differently",
            )
        };
        format!(
            "{what} order of {}: ({}) {before}, ({}) {after}: {reads}",
            self.relation,
            self.before.join(", "),
            self.after.join(", ")
        )
    }
}

/// The relations (composite types) of both snapshots whose columns (attributes) the two
/// hold in another order, by [`Object::position`], in [`ObjectId`] order: **the** comparison
/// of column order, which [`diff`] leaves out. Only the columns both have are compared (a
/// column added or dropped is [`diff`]'s); each order is reported whole.
pub fn column_order(before: &Snapshot, after: &Snapshot) -> Vec<ColumnOrder> {
    type Columns<'a> = BTreeMap<(ObjectKind, &'a str), (Option<&'a ObjectId>, Vec<(u32, &'a str)>)>;
    fn columns(s: &Snapshot) -> Columns<'_> {
        let mut out: Columns<'_> = BTreeMap::new();
        for (id, object) in &s.objects {
            let (Some(sub), Some(position)) = (&id.sub, object.position) else {
                continue;
            };
            if !matches!(id.kind, ObjectKind::Column | ObjectKind::Attribute) {
                continue;
            }
            let entry = out.entry((id.kind, id.name.as_str())).or_default();
            entry.0 = entry.0.or(object.parents.first());
            entry.1.push((position, sub.as_str()));
        }
        for (_, list) in out.values_mut() {
            list.sort();
        }
        out
    }
    let (b, a) = (columns(before), columns(after));
    let mut out = Vec::new();
    for (key @ (kind, name), (parent, before_list)) in &b {
        let Some((_, after_list)) = a.get(key) else {
            continue;
        };
        let names = |list: &[(u32, &str)]| list.iter().map(|(_, n)| n.to_string()).collect();
        let (before_names, after_names): (Vec<String>, Vec<String>) =
            (names(before_list), names(after_list));
        let common = |of: &[String], other: &[String]| -> Vec<String> {
            of.iter().filter(|n| other.contains(n)).cloned().collect()
        };
        if common(&before_names, &after_names) == common(&after_names, &before_names) {
            continue;
        }
        let relation = parent.cloned().unwrap_or_else(|| {
            let kind = match kind {
                ObjectKind::Attribute => ObjectKind::Type,
                _ => ObjectKind::Table,
            };
            ObjectId::new(kind, *name)
        });
        out.push(ColumnOrder {
            relation,
            before: before_names,
            after: after_names,
        });
    }
    out
}

fn changed(id: &ObjectId, before: &Properties, after: &Properties, out: &mut Vec<Difference>) {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for name in names {
        let (b, a) = (before.get(name), after.get(name));
        if b != a {
            out.push(Difference::Changed {
                object: id.clone(),
                property: name.clone(),
                before: b.cloned(),
                after: a.cloned(),
            });
        }
    }
}

/// The lines that differ between two texts, `- ` for `before` and `+ ` for `after`, in order
/// (a longest-common-subsequence diff; unchanged runs between changes shown as `…`).
fn line_diff(before: &str, after: &str) -> Vec<String> {
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    // Beyond this the quadratic table costs more than the answer is worth: show both whole.
    if b.len().saturating_mul(a.len()) > 1_000_000 {
        return b
            .iter()
            .map(|l| format!("- {l}"))
            .chain(a.iter().map(|l| format!("+ {l}")))
            .collect();
    }
    // lcs[i][j]: length of the longest common subsequence of b[i..] and a[j..].
    let mut lcs = vec![vec![0u32; a.len() + 1]; b.len() + 1];
    for i in (0..b.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if b[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut skipped = false;
    while i < b.len() || j < a.len() {
        if i < b.len() && j < a.len() && b[i] == a[j] {
            skipped = true;
            i += 1;
            j += 1;
            continue;
        }
        if skipped && !out.is_empty() {
            out.push("…".to_string());
        }
        skipped = false;
        if i < b.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", b[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", a[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn object(pairs: &[(&str, &str)]) -> Object {
        Object {
            parents: Vec::new(),
            properties: props(pairs),
            position: None,
        }
    }

    fn child(parent: ObjectId, pairs: &[(&str, &str)]) -> Object {
        Object {
            parents: vec![parent],
            properties: props(pairs),
            position: None,
        }
    }

    /// A snapshot of table `public.a` with `columns` in that order.
    fn columns_in_order(columns: &[&str]) -> Snapshot {
        let t = table("public.a");
        let mut s: Snapshot = [(t.clone(), object(&[]))].into_iter().collect();
        for (i, c) in columns.iter().enumerate() {
            let mut col = child(t.clone(), &[("type", "integer")]);
            col.position = Some(u32::try_from(i).unwrap() + 1);
            s.insert(ObjectId::with_sub(ObjectKind::Column, "public.a", *c), col);
        }
        s
    }

    #[test]
    fn column_order_compares_the_columns_both_have_and_diff_ignores_it() {
        let (before, after) = (
            columns_in_order(&["id", "v"]),
            columns_in_order(&["v", "id"]),
        );
        assert_eq!(diff(&before, &after), []);
        let found = column_order(&before, &after);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].describe("before", "after"),
            "column order of table public.a: (id, v) before, (v, id) after: positional \
             INSERT, COPY without a column list and SELECT * read them differently"
        );
        // A column added at the end, or dropped, moves none of the others.
        for other in [&["id", "v", "w"][..], &["v"], &["id", "w", "v"]] {
            assert_eq!(
                column_order(&before, &columns_in_order(other)),
                [],
                "{other:?}"
            );
        }
        assert_eq!(column_order(&before, &before), []);
    }

    fn table(name: &str) -> ObjectId {
        ObjectId::new(ObjectKind::Table, name)
    }

    #[test]
    fn a_replay_by_another_role_compares_owners_with_the_roles_that_applied() {
        let owned = |owner: &str| object(&[("owner", owner)]);
        let grant = |to: &str| ObjectId::with_sub(ObjectKind::Grant, "table public.a", to);
        let replay: Snapshot = [
            (table("public.a"), owned("monitor")),
            (table("public.b"), owned("monitor")),
            (table("public.c"), owned("app_owner")),
            (grant("monitor"), object(&[("privileges", "SELECT")])),
        ]
        .into_iter()
        .collect();
        let live: Snapshot = [
            (table("public.a"), owned("deploy")),
            (table("public.b"), owned("someone_else")),
            (table("public.c"), owned("app_owner")),
            (grant("deploy"), object(&[("privileges", "SELECT")])),
        ]
        .into_iter()
        .collect();
        let one: BTreeSet<String> = ["deploy".to_string()].into();
        let found = diff(&replay.as_applied_by("monitor", &one, &live), &live);
        // Only the owner changed by hand, named against the applying role.
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].to_string(),
            "table public.b: owner someone_else, expected deploy"
        );

        // Two applying roles: an owner that is either is theirs; a grant keeps its name.
        let two: BTreeSet<String> = ["deploy".to_string(), "admin".to_string()].into();
        let found = diff(&replay.as_applied_by("monitor", &two, &live), &live);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().all(|d| !d.starts_with("table public.a:")),
            "{shown:?}"
        );
        assert!(shown
            .iter()
            .any(|d| d.starts_with("table public.b: owner someone_else")));

        // No applying role recorded, or the replaying role itself: unchanged.
        assert_eq!(
            replay.as_applied_by("monitor", &BTreeSet::new(), &live),
            replay
        );
        let same: BTreeSet<String> = ["monitor".to_string()].into();
        assert_eq!(replay.as_applied_by("monitor", &same, &live), replay);
    }

    fn column(table: &str, name: &str) -> ObjectId {
        ObjectId::with_sub(ObjectKind::Column, table, name)
    }

    fn rendered(before: &Snapshot, after: &Snapshot) -> Vec<String> {
        diff(before, after).iter().map(|d| d.to_string()).collect()
    }

    /// A table with one column, an index, and a grant on the column.
    fn users() -> Snapshot {
        let t = table("public.tb_user");
        let bio = column("public.tb_user", "bio");
        [
            (t.clone(), object(&[("owner", "postgres")])),
            (
                bio.clone(),
                child(t.clone(), &[("type", "integer"), ("nullable", "yes")]),
            ),
            (
                ObjectId::new(ObjectKind::Index, "public.idx_tb_user_bio"),
                child(t.clone(), &[("definition", "CREATE INDEX ...")]),
            ),
            (
                ObjectId::with_sub(ObjectKind::Grant, "column public.tb_user.bio", "app"),
                child(bio, &[("privileges", "SELECT")]),
            ),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn equal_snapshots_have_no_differences() {
        assert_eq!(diff(&users(), &users()), []);
        assert_eq!(diff(&Snapshot::new(), &Snapshot::new()), []);
    }

    #[test]
    fn an_object_only_after_is_left_behind_and_only_before_is_missing() {
        let before = users();
        let mut after = users();
        let idx = ObjectId::new(ObjectKind::Index, "public.idx_tb_post_slug");
        after.insert(idx.clone(), object(&[("definition", "x")]));
        assert_eq!(
            diff(&before, &after),
            [Difference::Extra {
                object: idx.clone()
            }]
        );
        assert_eq!(
            rendered(&before, &after),
            ["index public.idx_tb_post_slug: left behind"]
        );
        assert_eq!(
            rendered(&after, &before),
            ["index public.idx_tb_post_slug: missing"]
        );
    }

    #[test]
    fn a_changed_property_names_what_is_there_and_what_was_expected() {
        let before = users();
        let mut after = users();
        after.insert(
            column("public.tb_user", "bio"),
            child(
                table("public.tb_user"),
                &[("type", "text"), ("nullable", "no"), ("comment", "about")],
            ),
        );
        assert_eq!(
            rendered(&before, &after),
            [
                "column public.tb_user.bio: comment about, expected none",
                "column public.tb_user.bio: nullable no, expected yes",
                "column public.tb_user.bio: type text, expected integer",
            ]
        );
        assert_eq!(
            rendered(&after, &before)[0],
            "column public.tb_user.bio: no comment, expected about"
        );
        assert_eq!(
            diff(&before, &after)[2],
            Difference::Changed {
                object: column("public.tb_user", "bio"),
                property: "type".to_string(),
                before: Some("integer".to_string()),
                after: Some("text".to_string()),
            }
        );
    }

    #[test]
    fn a_leftover_table_hides_its_columns_indexes_and_grants_but_not_unrelated_objects() {
        let before = Snapshot::new();
        let mut after = users();
        let other = ObjectId::new(ObjectKind::Sequence, "public.s");
        after.insert(other, object(&[]));
        assert_eq!(
            rendered(&before, &after),
            [
                "sequence public.s: left behind",
                "table public.tb_user: left behind"
            ]
        );
        assert_eq!(
            rendered(&after, &before),
            [
                "sequence public.s: missing",
                "table public.tb_user: missing"
            ]
        );
    }

    #[test]
    fn a_child_whose_parent_is_still_there_is_reported() {
        let before = users();
        let mut after = users();
        let grant = ObjectId::with_sub(ObjectKind::Grant, "column public.tb_user.bio", "app");
        after.objects.remove(&grant);
        assert_eq!(
            rendered(&before, &after),
            ["grant on column public.tb_user.bio to app: missing"]
        );
    }

    #[test]
    fn an_object_with_two_parents_is_hidden_by_either() {
        // A partition's index belongs to the partition and to the partitioned index.
        let partition = table("public.m_2025");
        let parent_index = ObjectId::new(ObjectKind::Index, "public.idx_m_at");
        let index = ObjectId::new(ObjectKind::Index, "public.m_2025_at_idx");
        let base: Snapshot = [
            (partition.clone(), object(&[])),
            (parent_index.clone(), object(&[])),
        ]
        .into_iter()
        .collect();
        let mut with_index = base.clone();
        with_index.insert(
            index.clone(),
            Object {
                parents: vec![partition.clone(), parent_index.clone()],
                properties: Properties::new(),
                position: None,
            },
        );
        let mut without_parent_index = base.clone();
        without_parent_index.objects.remove(&parent_index);
        assert_eq!(
            rendered(&without_parent_index, &with_index),
            ["index public.idx_m_at: left behind"]
        );
        let mut without_partition = base.clone();
        without_partition.objects.remove(&partition);
        assert_eq!(
            rendered(&without_partition, &with_index),
            ["table public.m_2025: left behind"]
        );
        assert_eq!(
            rendered(&base, &with_index),
            ["index public.m_2025_at_idx: left behind"]
        );
    }

    #[test]
    fn a_parent_cycle_in_a_hand_made_snapshot_does_not_hang() {
        let a = table("public.a");
        let b = table("public.b");
        let looped: Snapshot = [
            (a.clone(), child(b.clone(), &[])),
            (b.clone(), child(a.clone(), &[])),
        ]
        .into_iter()
        .collect();
        assert_eq!(diff(&Snapshot::new(), &looped).len(), 2);
    }

    #[test]
    fn multi_line_values_show_the_lines_that_differ() {
        let v = ObjectId::new(ObjectKind::View, "public.v_user");
        let before: Snapshot = [(
            v.clone(),
            object(&[(
                "definition",
                " SELECT u.id,\n    u.name\n   FROM public.tb_user u;",
            )]),
        )]
        .into_iter()
        .collect();
        let after: Snapshot = [(
            v,
            object(&[(
                "definition",
                " SELECT u.id,\n    u.email\n   FROM public.tb_user u;",
            )]),
        )]
        .into_iter()
        .collect();
        assert_eq!(
            rendered(&before, &after),
            ["view public.v_user: definition differs\n    -     u.name\n    +     u.email"]
        );
    }

    #[test]
    fn line_diff_marks_separate_hunks() {
        assert_eq!(
            line_diff("a\nb\nc\nd\ne", "a\nB\nc\nd\nE"),
            ["- b", "+ B", "…", "- e", "+ E"]
        );
        assert_eq!(line_diff("a\nb", "a\nb\nc"), ["+ c"]);
        assert_eq!(line_diff("x\na", "a"), ["- x"]);
        assert_eq!(line_diff("", "a\nb"), ["+ a", "+ b"]);
    }

    #[test]
    fn names_render_with_kind_and_grantee() {
        assert_eq!(
            ObjectId::with_sub(ObjectKind::Grant, "table public.tb_user", "PUBLIC").to_string(),
            "grant on table public.tb_user to PUBLIC"
        );
        assert_eq!(
            ObjectId::with_sub(
                ObjectKind::DefaultPrivileges,
                "for role app in schema public on tables",
                "reader"
            )
            .to_string(),
            "default privileges for role app in schema public on tables to reader"
        );
        assert_eq!(
            ObjectId::with_sub(ObjectKind::UserMapping, "remote", "app").to_string(),
            "user mapping for app server remote"
        );
        assert_eq!(
            ObjectId::new(ObjectKind::MaterializedView, "public.mv").to_string(),
            "materialized view public.mv"
        );
        assert_eq!(
            ObjectId::with_sub(ObjectKind::Constraint, "public.t", "t_pkey").to_string(),
            "constraint public.t.t_pkey"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ObjectKind::from_name("tablespace"), None);
        // ALL is in the order of the enum (the report order).
        assert!(ObjectKind::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn json_lists_objects_and_tags_differences() {
        let json = serde_json::to_value(users()).unwrap();
        let objects = json["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 4);
        assert_eq!(objects[0]["kind"], "table");
        assert_eq!(objects[0]["name"], "public.tb_user");
        assert!(objects[0].get("sub").is_none());
        assert_eq!(objects[0]["properties"]["owner"], "postgres");
        assert_eq!(objects[1]["kind"], "column");
        assert_eq!(objects[1]["sub"], "bio");
        assert_eq!(objects[1]["parents"][0]["name"], "public.tb_user");

        let d = Difference::Changed {
            object: column("public.t", "c"),
            property: "default".to_string(),
            before: None,
            after: Some("0".to_string()),
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["difference"], "changed");
        assert_eq!(json["object"]["kind"], "column");
        assert_eq!(json["before"], serde_json::Value::Null);
        assert_eq!(json["after"], "0");
        let extra = serde_json::to_value(Difference::Extra {
            object: ObjectId::new(ObjectKind::MaterializedView, "public.mv"),
        })
        .unwrap();
        assert_eq!(extra["difference"], "extra");
        assert_eq!(extra["object"]["kind"], "materialized_view");
    }
}
