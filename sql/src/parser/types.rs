//! Column types as written in `CREATE STREAM/TABLE`, `CREATE TYPE` and `CAST`.

use sqlparser::tokenizer::Token;

use super::Parser;
use super::ast::TypeSpec;
use crate::error::Result;
use crate::types::SqlType;

impl Parser<'_> {
    /// `BOOLEAN | INT | INTEGER | BIGINT | DOUBLE | DECIMAL(p, s) | STRING | VARCHAR | BYTES |
    /// TIMESTAMP | DATE | TIME | ARRAY<T> | MAP<K, V> | STRUCT<name T, …> | custom_name`
    pub(crate) fn type_spec(&mut self) -> Result<TypeSpec> {
        let tok = self.peek();
        let Token::Word(w) = &tok.token else {
            return self.expected("a type");
        };
        if w.quote_style.is_some() {
            let name = w.value.clone();
            self.inner.next_token();
            return Ok(TypeSpec::Named(name));
        }
        let upper = w.value.to_uppercase();
        self.inner.next_token();
        let b = |t| Ok(TypeSpec::Builtin(t));
        match upper.as_str() {
            "BOOLEAN" | "BOOL" => b(SqlType::Boolean),
            "INT" | "INTEGER" => b(SqlType::Int),
            "BIGINT" => b(SqlType::Bigint),
            "DOUBLE" | "FLOAT" | "REAL" => {
                self.eat_word("PRECISION");
                b(SqlType::Double)
            }
            "STRING" | "VARCHAR" | "TEXT" => {
                if upper == "VARCHAR" && self.eat(&Token::LParen) {
                    self.uint("a length")?;
                    self.expect(&Token::RParen)?;
                }
                b(SqlType::String)
            }
            "BYTES" => b(SqlType::Bytes),
            "TIMESTAMP" => b(SqlType::Timestamp),
            "DATE" => b(SqlType::Date),
            "TIME" => b(SqlType::Time),
            "DECIMAL" | "NUMERIC" => {
                self.expect(&Token::LParen)?;
                let p = self.uint("the precision of DECIMAL")?;
                let s = if self.eat(&Token::Comma) { self.uint("the scale of DECIMAL")? } else { 0 };
                self.expect(&Token::RParen)?;
                if !(1..=38).contains(&p) || s > p {
                    return Err(self.error_here(format!(
                        "DECIMAL({p}, {s}) is invalid: precision must be 1 to 38 and scale at most the precision"
                    )));
                }
                b(SqlType::Decimal { precision: p as u8, scale: s as i8 })
            }
            "ARRAY" => {
                self.expect(&Token::Lt)?;
                let t = self.type_spec()?;
                self.expect_gt()?;
                Ok(TypeSpec::Array(Box::new(t)))
            }
            "MAP" => {
                self.expect(&Token::Lt)?;
                let k = self.type_spec()?;
                self.expect(&Token::Comma)?;
                let v = self.type_spec()?;
                self.expect_gt()?;
                Ok(TypeSpec::Map(Box::new(k), Box::new(v)))
            }
            "STRUCT" => {
                self.expect(&Token::Lt)?;
                let mut fields = Vec::new();
                if !self.peek_gt() {
                    fields = self.comma_separated(|p| {
                        let name = p.ident("a field name")?;
                        let t = p.type_spec()?;
                        Ok((name, t))
                    })?;
                }
                self.expect_gt()?;
                Ok(TypeSpec::Struct(fields))
            }
            _ => Ok(TypeSpec::Named(upper)),
        }
    }

    fn peek_gt(&self) -> bool {
        self.pending_gt > 0 || matches!(self.peek().token, Token::Gt | Token::ShiftRight)
    }
}
