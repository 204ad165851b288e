//! Statement shapes: one method per statement family, plus `SELECT` with ksqlDB's clauses.

use sqlparser::tokenizer::Token;

use super::Parser;
use super::ast::*;
use crate::connector::ConnectorKind;
use crate::error::{Error, Result};

/// Words that end a relation in `FROM` (so they are not taken as an alias).
const RELATION_END: &[&str] = &[
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "WINDOW",
    "WHERE",
    "GROUP",
    "PARTITION",
    "HAVING",
    "EMIT",
    "LIMIT",
    "ON",
    "WITHIN",
    "GRACE",
];

impl Parser<'_> {
    /// One statement.
    pub(crate) fn statement(&mut self) -> Result<Statement> {
        let tok = self.peek();
        let Token::Word(w) = &tok.token else {
            return self.expected("a statement");
        };
        if w.quote_style.is_some() {
            return self.expected("a statement");
        }
        match w.value.to_uppercase().as_str() {
            "CREATE" => self.create(),
            "INSERT" => self.insert(),
            "SELECT" => Ok(Statement::Select(self.query()?)),
            "DROP" => self.drop(),
            "SHOW" | "LIST" => self.show(),
            "DESCRIBE" => self.describe(),
            "PRINT" => self.print(),
            "EXPLAIN" => self.explain(),
            "TERMINATE" | "PAUSE" | "RESUME" => self.control(),
            "SET" => self.set(),
            "UNSET" => {
                self.inner.next_token();
                Ok(Statement::Unset(self.string("a quoted property name, e.g. 'auto.offset.reset'")?))
            }
            "DEFINE" => {
                self.inner.next_token();
                let name = self.name_or_string("a variable name")?;
                self.expect(&Token::Eq)?;
                let value = self.string("a quoted value")?;
                Ok(Statement::Define { name, value })
            }
            "UNDEFINE" => {
                self.inner.next_token();
                Ok(Statement::Undefine(self.name_or_string("a variable name")?))
            }
            "RUN" => {
                self.inner.next_token();
                self.expect_word("SCRIPT")?;
                Ok(Statement::RunScript(self.string("a quoted file path")?))
            }
            "ALTER" => self.alter(),
            _ => self.expected(
                "a statement (CREATE, INSERT, SELECT, DROP, SHOW, LIST, DESCRIBE, PRINT, EXPLAIN, TERMINATE, SET, UNSET, DEFINE, UNDEFINE, RUN SCRIPT)",
            ),
        }
    }

    fn stream_or_table(&mut self) -> Result<SourceKind> {
        if self.eat_word("STREAM") {
            Ok(SourceKind::Stream)
        } else if self.eat_word("TABLE") {
            Ok(SourceKind::Table)
        } else {
            self.expected("STREAM or TABLE")
        }
    }

    fn create(&mut self) -> Result<Statement> {
        self.expect_word("CREATE")?;
        let or_replace = self.eat_words(&["OR", "REPLACE"]);
        if self.peek_word("TYPE") && !or_replace {
            self.inner.next_token();
            let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
            let name = self.ident("a type name")?;
            self.expect_word("AS")?;
            let ty = self.type_spec()?;
            return Ok(Statement::CreateType { name, ty, if_not_exists });
        }
        if (self.peek_word("SOURCE") || self.peek_word("SINK")) && self.peek_nth_word(1, "CONNECTOR") {
            if or_replace {
                return Err(
                    self.error_here("CREATE OR REPLACE is not valid for connectors; DROP CONNECTOR first")
                );
            }
            return self.create_connector();
        }
        let is_source = self.eat_word("SOURCE");
        let kind = self.stream_or_table()?;
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = self.ident(&format!("a {} name", kind.to_string().to_lowercase()))?;
        let mut columns = Vec::new();
        if self.peek().token == Token::LParen {
            self.inner.next_token();
            columns = self.comma_separated(|p| p.column_def(kind))?;
            self.expect(&Token::RParen)?;
        }
        let properties = if self.peek_word("WITH") { self.properties()? } else { Default::default() };
        if self.eat_word("AS") {
            if is_source {
                return Err(self.error_here("CREATE SOURCE cannot be combined with AS SELECT"));
            }
            if !columns.is_empty() {
                return Err(self.error_here(
                    "a column list is not allowed with AS SELECT: the columns come from the query",
                ));
            }
            if !self.peek_word("SELECT") {
                return self.expected("SELECT");
            }
            let query = self.query()?;
            return Ok(Statement::CreateAsSelect(CreateAsSelect {
                kind,
                name,
                or_replace,
                if_not_exists,
                properties,
                query,
            }));
        }
        Ok(Statement::CreateSource(CreateSource {
            kind,
            name,
            or_replace,
            is_source,
            if_not_exists,
            columns,
            properties,
        }))
    }

    /// `SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (…)` (after `CREATE`).
    fn create_connector(&mut self) -> Result<Statement> {
        let kind = if self.eat_word("SOURCE") {
            ConnectorKind::Source
        } else {
            self.expect_word("SINK")?;
            ConnectorKind::Sink
        };
        self.expect_word("CONNECTOR")?;
        let if_not_exists = self.eat_words(&["IF", "NOT", "EXISTS"]);
        let name = self.name_or_string("a connector name")?;
        if !self.peek_word("WITH") {
            return self.expected(
                "WITH (…) giving the connector's properties, e.g. WITH ('connector'='file', 'path'='…', 'topic'='…')",
            );
        }
        let properties = self.properties()?;
        Ok(Statement::CreateConnector(CreateConnector { kind, name, if_not_exists, properties }))
    }

    fn column_def(&mut self, kind: SourceKind) -> Result<ColumnDef> {
        let name = self.ident("a column name")?;
        let ty = self.type_spec()?;
        let constraint = if self.eat_words(&["PRIMARY", "KEY"]) {
            if kind == SourceKind::Stream {
                return Err(self.error_here(format!(
                    "column {name}: streams have KEY columns, not PRIMARY KEY (use `{name} … KEY`)"
                )));
            }
            ColumnConstraint::PrimaryKey
        } else if self.peek_word("KEY") {
            if kind == SourceKind::Table {
                return Err(self.error_here(format!(
                    "column {name}: tables have PRIMARY KEY columns, not KEY (use `{name} … PRIMARY KEY`)"
                )));
            }
            self.inner.next_token();
            ColumnConstraint::Key
        } else if self.eat_word("HEADERS") {
            ColumnConstraint::Headers
        } else if self.eat_word("HEADER") {
            self.expect(&Token::LParen)?;
            let k = self.string("a quoted header key")?;
            self.expect(&Token::RParen)?;
            ColumnConstraint::Header(k)
        } else {
            ColumnConstraint::None
        };
        Ok(ColumnDef { name, ty, constraint })
    }

    /// `WITH (name = literal, …)`.
    fn properties(&mut self) -> Result<Properties> {
        self.expect_word("WITH")?;
        self.expect(&Token::LParen)?;
        let mut props = Properties::new();
        let pairs = self.comma_separated(|p| {
            let name = p.name_or_string("a property name")?.to_uppercase();
            p.expect(&Token::Eq)?;
            let value = p.literal()?;
            Ok((name, value))
        })?;
        self.expect(&Token::RParen)?;
        for (k, v) in pairs {
            if props.insert(k.clone(), v).is_some() {
                return Err(Error::plan(format!("property {k} is given twice")));
            }
        }
        Ok(props)
    }

    fn literal(&mut self) -> Result<Literal> {
        let tok = self.peek();
        let negative = if tok.token == Token::Minus {
            self.inner.next_token();
            true
        } else {
            false
        };
        let tok = self.peek();
        let lit = match &tok.token {
            Token::SingleQuotedString(s) if !negative => Literal::String(s.clone()),
            Token::Number(n, _) => Literal::Number(if negative { format!("-{n}") } else { n.clone() }),
            Token::Word(w)
                if !negative && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("true") =>
            {
                Literal::Bool(true)
            }
            Token::Word(w)
                if !negative && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("false") =>
            {
                Literal::Bool(false)
            }
            _ => return Err(self.error_at(&tok, "a literal (a quoted string, a number, TRUE or FALSE)")),
        };
        self.inner.next_token();
        Ok(lit)
    }

    fn insert(&mut self) -> Result<Statement> {
        self.expect_word("INSERT")?;
        self.expect_word("INTO")?;
        let target = self.ident("a stream or table name")?;
        if self.peek_word("WITH") {
            // INSERT INTO … WITH (QUERY_ID='…') SELECT: the properties only name the query.
            self.properties()?;
        }
        if self.peek_word("SELECT") {
            return Ok(Statement::InsertSelect { target, query: self.query()? });
        }
        let columns = if self.eat(&Token::LParen) {
            let cols = self.comma_separated(|p| p.ident("a column name"))?;
            self.expect(&Token::RParen)?;
            Some(cols)
        } else {
            None
        };
        if !self.eat_word("VALUES") {
            return self.expected("VALUES or SELECT");
        }
        self.expect(&Token::LParen)?;
        let values = self.comma_separated(|p| p.expr())?;
        self.expect(&Token::RParen)?;
        Ok(Statement::InsertValues { target, columns, values })
    }

    fn drop(&mut self) -> Result<Statement> {
        self.expect_word("DROP")?;
        if self.eat_word("TYPE") {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            return Ok(Statement::DropType { name: self.ident("a type name")?, if_exists });
        }
        if self.eat_word("CONNECTOR") {
            let if_exists = self.eat_words(&["IF", "EXISTS"]);
            let name = self.name_or_string("a connector name")?;
            return Ok(Statement::DropConnector { name, if_exists });
        }
        let kind = self.stream_or_table()?;
        let if_exists = self.eat_words(&["IF", "EXISTS"]);
        let name = self.ident("a name")?;
        let delete_topic = self.eat_words(&["DELETE", "TOPIC"]);
        Ok(Statement::Drop { kind, name, if_exists, delete_topic })
    }

    fn show(&mut self) -> Result<Statement> {
        self.inner.next_token(); // SHOW | LIST
        let all = self.eat_word("ALL");
        let target = if self.eat_word("STREAMS") {
            ShowTarget::Streams
        } else if self.eat_word("TABLES") {
            ShowTarget::Tables
        } else if self.eat_word("TOPICS") {
            ShowTarget::Topics { all }
        } else if self.eat_word("QUERIES") {
            ShowTarget::Queries
        } else if self.eat_word("FUNCTIONS") {
            ShowTarget::Functions
        } else if self.eat_word("PROPERTIES") {
            ShowTarget::Properties
        } else if self.eat_word("TYPES") {
            ShowTarget::Types
        } else if self.eat_word("VARIABLES") {
            ShowTarget::Variables
        } else if self.eat_word("CONNECTORS") {
            ShowTarget::Connectors { kind: None }
        } else if self.peek_word("SOURCE") || self.peek_word("SINK") {
            let kind = if self.eat_word("SOURCE") { ConnectorKind::Source } else { ConnectorKind::Sink };
            self.eat_word("SINK");
            if !self.eat_word("CONNECTORS") {
                return self.expected("CONNECTORS");
            }
            ShowTarget::Connectors { kind: Some(kind) }
        } else if self.peek_word("CONNECTOR") && self.peek_nth_word(1, "PLUGINS") {
            return Err(Error::Unsupported(
                "SHOW CONNECTOR PLUGINS: Brook's connectors are built in: sources 'file' (formats \
                 debezium_json, json, csv) and sinks 'file' (JSON lines) and 'parquet'"
                    .into(),
            ));
        } else {
            return self.expected(
                "STREAMS, TABLES, TOPICS, QUERIES, FUNCTIONS, PROPERTIES, TYPES, VARIABLES or CONNECTORS",
            );
        };
        if all && !matches!(target, ShowTarget::Topics { .. }) {
            return Err(self.error_here("ALL is only valid with TOPICS"));
        }
        let extended = self.eat_word("EXTENDED");
        Ok(Statement::Show { target, extended })
    }

    fn describe(&mut self) -> Result<Statement> {
        self.expect_word("DESCRIBE")?;
        let single = matches!(self.inner.peek_nth_token_ref(1).token, Token::EOF | Token::SemiColon);
        if self.peek_word("FUNCTION") && !single {
            self.inner.next_token();
            return Ok(Statement::DescribeFunction(self.ident("a function name")?));
        }
        if self.peek_word("CONNECTOR") && !single {
            self.inner.next_token();
            return Ok(Statement::DescribeConnector(self.name_or_string("a connector name")?));
        }
        let next_is_end = |p: &Self| {
            matches!(p.inner.peek_nth_token_ref(1).token, Token::EOF | Token::SemiColon)
                || p.peek_nth_word(1, "EXTENDED")
        };
        if self.peek_word("STREAMS") && next_is_end(self) {
            self.inner.next_token();
            return Ok(Statement::DescribeAll {
                kind: SourceKind::Stream,
                extended: self.eat_word("EXTENDED"),
            });
        }
        if self.peek_word("TABLES") && next_is_end(self) {
            self.inner.next_token();
            return Ok(Statement::DescribeAll {
                kind: SourceKind::Table,
                extended: self.eat_word("EXTENDED"),
            });
        }
        let name = self.ident("a stream or table name")?;
        let extended = self.eat_word("EXTENDED");
        Ok(Statement::Describe { name, extended })
    }

    fn print(&mut self) -> Result<Statement> {
        self.expect_word("PRINT")?;
        let topic = self.name_or_string("a topic name")?;
        let mut print = Print { topic, from_beginning: false, interval: None, limit: None };
        loop {
            if self.eat_words(&["FROM", "BEGINNING"]) {
                print.from_beginning = true;
            } else if self.eat_word("INTERVAL") || self.eat_word("SAMPLE") {
                print.interval = Some(self.uint("a number of records")?.max(1));
            } else if self.eat_word("LIMIT") {
                print.limit = Some(self.uint("a number of records")?);
            } else {
                break;
            }
        }
        Ok(Statement::Print(print))
    }

    fn explain(&mut self) -> Result<Statement> {
        self.expect_word("EXPLAIN")?;
        let tok = self.peek();
        let is_id = matches!(&tok.token, Token::Word(_))
            && matches!(self.inner.peek_nth_token_ref(1).token, Token::EOF | Token::SemiColon);
        if is_id {
            return Ok(Statement::ExplainQuery(self.name_or_string("a query id")?.to_uppercase()));
        }
        let start = tok.span.start;
        let statement = self.statement()?;
        if matches!(statement, Statement::Explain(_) | Statement::ExplainQuery(_)) {
            return Err(Error::Parse {
                line: start.line,
                column: start.column,
                message: "cannot EXPLAIN an EXPLAIN".into(),
            });
        }
        Ok(Statement::Explain(Box::new(Parsed { statement, text: String::new() })))
    }

    fn control(&mut self) -> Result<Statement> {
        let tok = self.inner.next_token();
        let target = if self.eat_word("ALL") {
            None
        } else {
            Some(self.name_or_string("a query id or ALL")?.to_uppercase())
        };
        Ok(match &tok.token {
            Token::Word(w) if w.value.eq_ignore_ascii_case("TERMINATE") => Statement::Terminate(target),
            Token::Word(w) if w.value.eq_ignore_ascii_case("PAUSE") => Statement::Pause(target),
            _ => Statement::Resume(target),
        })
    }

    fn set(&mut self) -> Result<Statement> {
        self.expect_word("SET")?;
        let name = self.string("a quoted property name, e.g. 'auto.offset.reset'")?;
        self.expect(&Token::Eq)?;
        let value = self.string("a quoted value")?;
        Ok(Statement::Set { name, value })
    }

    fn alter(&mut self) -> Result<Statement> {
        self.expect_word("ALTER")?;
        if self.peek_word("SYSTEM") {
            return Err(Error::Unsupported("ALTER SYSTEM; use SET for session properties".into()));
        }
        let kind = self.stream_or_table()?;
        let name = self.ident("a name")?;
        let columns = self.comma_separated(|p| {
            p.expect_word("ADD")?;
            p.eat_word("COLUMN");
            p.column_def(kind)
        })?;
        Ok(Statement::Alter { kind, name, columns })
    }

    /// `n unit`.
    pub(crate) fn duration(&mut self) -> Result<i64> {
        let n = self.uint("a number followed by a time unit")?;
        let tok = self.peek();
        let unit = match &tok.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
            _ => {
                return Err(
                    self.error_at(&tok, "a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS)")
                );
            }
        };
        let ms: i64 = match unit.trim_end_matches('S') {
            "MILLISECOND" => 1,
            "SECOND" => 1_000,
            "MINUTE" => 60_000,
            "HOUR" => 3_600_000,
            "DAY" => 86_400_000,
            _ => {
                return Err(
                    self.error_at(&tok, "a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS)")
                );
            }
        };
        self.inner.next_token();
        i64::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(ms))
            .ok_or_else(|| self.error_here("duration is too large"))
    }

    /// `SELECT … FROM … [JOIN …] [WINDOW …] [WHERE …] [GROUP BY …] [PARTITION BY …] [HAVING …]
    /// [EMIT CHANGES|FINAL] [LIMIT n]`.
    pub(crate) fn query(&mut self) -> Result<Query> {
        self.expect_word("SELECT")?;
        let projection = self.comma_separated(|p| p.select_item())?;
        if !self.eat_word("FROM") {
            return self.expected("FROM");
        }
        let from = self.relation()?;
        let mut joins = Vec::new();
        while let Some(join_type) = self.join_type() {
            let relation = self.relation()?;
            let mut within = None;
            let mut grace = None;
            if self.eat_word("WITHIN") {
                if self.eat(&Token::LParen) {
                    let before = self.duration()?;
                    self.expect(&Token::Comma)?;
                    let after = self.duration()?;
                    self.expect(&Token::RParen)?;
                    within = Some((before, after));
                } else {
                    let d = self.duration()?;
                    within = Some((d, d));
                }
                if self.eat_words(&["GRACE", "PERIOD"]) {
                    grace = Some(self.duration()?);
                }
            }
            self.expect_word("ON")?;
            let on = self.expr()?;
            joins.push(Join { join_type, relation, within, grace, on });
        }
        let window = if self.eat_word("WINDOW") { Some(self.window()?) } else { None };
        let selection = if self.eat_word("WHERE") { Some(self.expr()?) } else { None };
        let group_by =
            if self.eat_words(&["GROUP", "BY"]) { self.comma_separated(|p| p.expr())? } else { Vec::new() };
        let partition_by = if self.eat_words(&["PARTITION", "BY"]) {
            self.comma_separated(|p| p.expr())?
        } else {
            Vec::new()
        };
        let having = if self.eat_word("HAVING") { Some(self.expr()?) } else { None };
        let emit = if self.eat_word("EMIT") {
            if self.eat_word("CHANGES") {
                Some(Emit::Changes)
            } else if self.eat_word("FINAL") {
                Some(Emit::Final)
            } else {
                return self.expected("CHANGES or FINAL");
            }
        } else {
            None
        };
        let limit = if self.eat_word("LIMIT") { Some(self.uint("a row count")?) } else { None };
        if self.peek_word("WINDOW")
            || self.peek_word("WHERE")
            || self.peek_word("GROUP")
            || self.peek_word("HAVING")
        {
            return Err(self.error_here(
                "clauses are out of order: the order is FROM, JOIN, WINDOW, WHERE, GROUP BY, PARTITION BY, HAVING, EMIT, LIMIT",
            ));
        }
        Ok(Query { projection, from, joins, window, selection, group_by, partition_by, having, emit, limit })
    }

    fn relation(&mut self) -> Result<Relation> {
        let name = self.ident("a stream or table name")?;
        let alias = if self.eat_word("AS") {
            Some(self.ident("an alias")?)
        } else {
            match &self.peek().token {
                Token::Word(w)
                    if w.quote_style.is_some()
                        || !RELATION_END.iter().any(|k| w.value.eq_ignore_ascii_case(k)) =>
                {
                    Some(self.ident("an alias")?)
                }
                _ => None,
            }
        };
        Ok(Relation { name, alias })
    }

    fn join_type(&mut self) -> Option<JoinType> {
        if self.eat_word("JOIN") || self.eat_words(&["INNER", "JOIN"]) {
            Some(JoinType::Inner)
        } else if self.eat_words(&["LEFT", "JOIN"]) || self.eat_words(&["LEFT", "OUTER", "JOIN"]) {
            Some(JoinType::Left)
        } else if self.eat_words(&["RIGHT", "JOIN"]) || self.eat_words(&["RIGHT", "OUTER", "JOIN"]) {
            Some(JoinType::Right)
        } else if self.eat_words(&["FULL", "JOIN"]) || self.eat_words(&["FULL", "OUTER", "JOIN"]) {
            Some(JoinType::Full)
        } else {
            None
        }
    }

    fn window(&mut self) -> Result<WindowExpr> {
        let kind_word = if self.eat_word("TUMBLING") {
            "TUMBLING"
        } else if self.eat_word("HOPPING") {
            "HOPPING"
        } else if self.eat_word("SESSION") {
            "SESSION"
        } else {
            return self.expected("TUMBLING, HOPPING or SESSION");
        };
        self.expect(&Token::LParen)?;
        let kind = match kind_word {
            "TUMBLING" => {
                self.expect_word("SIZE")?;
                WindowKind::Tumbling { size: self.duration()? }
            }
            "HOPPING" => {
                self.expect_word("SIZE")?;
                let size = self.duration()?;
                self.expect(&Token::Comma)?;
                self.expect_word("ADVANCE")?;
                self.expect_word("BY")?;
                let advance = self.duration()?;
                if advance <= 0 || advance > size {
                    return Err(self.error_here(format!(
                        "ADVANCE BY ({advance} ms) must be greater than zero and at most the window SIZE ({size} ms)"
                    )));
                }
                WindowKind::Hopping { size, advance }
            }
            _ => WindowKind::Session { gap: self.duration()? },
        };
        let mut retention = None;
        let mut grace = None;
        while self.eat(&Token::Comma) {
            if self.eat_word("RETENTION") {
                retention = Some(self.duration()?);
            } else if self.eat_words(&["GRACE", "PERIOD"]) {
                grace = Some(self.duration()?);
            } else {
                return self.expected("RETENTION or GRACE PERIOD");
            }
        }
        self.expect(&Token::RParen)?;
        if let WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } = kind
            && size <= 0
        {
            return Err(self.error_here("window SIZE must be greater than zero"));
        }
        Ok(WindowExpr { kind, retention, grace })
    }
}
