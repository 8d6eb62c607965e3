//! Formulas: a CEL expression over a scaler's named metrics (`spec.formula`), compiled, checked and
//! evaluated here. A leaf: it knows names and numbers, not specs, sources or the engine.
//!
//! CEL is the language Kubernetes validation already speaks, read by the pure-Rust `cel` crate
//! (already built for kube's CEL rules). Two conveniences keep KEDA's `scalingModifiers` formulas
//! (expr-lang) meaning the same: a whole-number literal is a number like any other (`/ 2` is
//! `/ 2.0`; CEL alone would refuse to divide a double by an int), and `name ?? fallback` reads a
//! metric that failed as `fallback` (CEL's own spelling also works: `has(metrics.lag) ? metrics.lag : 0`).
//! Each metric that was read is a variable of its name and a key of the map `metrics`; one that
//! failed is neither.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cel::{Context, Program, Value};

/// The longest expression accepted, in bytes.
pub const MAX_LEN: usize = 1024;

/// The map every metric read is also a key of.
pub const METRICS_MAP: &str = "metrics";

/// A compiled formula.
pub struct Formula {
    program: Program,
    source: String,
}

impl std::fmt::Debug for Formula {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Formula").field("source", &self.source).finish()
    }
}

/// Whether `name` can be a formula's variable: a CEL identifier that is no reserved word.
pub fn is_variable_name(name: &str) -> bool {
    const RESERVED: [&str; 22] = [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
        METRICS_MAP,
    ];
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

impl Formula {
    /// Compile `expression` over the metrics `names`; says what is wrong where it cannot be read,
    /// names a variable that is no metric's, or gives no number when every metric reads 1.
    pub fn compile(expression: &str, names: &[&str]) -> Result<Formula, String> {
        if expression.len() > MAX_LEN {
            return Err(format!("the formula is {} bytes long; at most {MAX_LEN}", expression.len()));
        }
        if expression.trim().is_empty() {
            return Err("the formula is empty".into());
        }
        let source = rewrite(expression)?;
        let program = catch_unwind(|| Program::compile(&source))
            .map_err(|_| "the formula cannot be read as CEL".to_string())?
            .map_err(|e| format!("the formula is not valid CEL: {}", first_line(&e.to_string())))?;
        let formula = Formula { program, source };
        let references = formula.program.references();
        let unknown: Vec<&str> =
            references.variables().into_iter().filter(|v| *v != METRICS_MAP && !names.contains(v)).collect();
        if let Some(name) = unknown.first() {
            return Err(format!(
                "the formula reads `{name}`, which is no metric's name (the metrics: {})",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ));
        }
        let ones: Vec<(&str, Option<f64>)> = names.iter().map(|n| (*n, Some(1.0))).collect();
        // A type check: any number will do here; the range is the reading's business.
        formula.number(&ones).map_err(|e| format!("with every metric at 1, {e}"))?;
        Ok(formula)
    }

    /// The expression as CEL reads it (after the two conveniences of the module's doc).
    pub fn cel(&self) -> &str {
        &self.source
    }

    /// The formula's value with each metric's reading (`None`: it failed): a finite number >= 0,
    /// or why not.
    pub fn eval(&self, values: &[(&str, Option<f64>)]) -> Result<f64, String> {
        let value = self.number(values)?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("the formula gives {value}: not a finite number >= 0"));
        }
        Ok(value)
    }

    /// The formula's value, any number.
    fn number(&self, values: &[(&str, Option<f64>)]) -> Result<f64, String> {
        let mut context = Context::default();
        let mut map = HashMap::new();
        for (name, value) in values {
            if let Some(value) = value {
                context.add_variable_from_value(*name, Value::Float(*value));
                map.insert((*name).to_string(), Value::Float(*value));
            }
        }
        context.add_variable_from_value(METRICS_MAP, map);
        let result = catch_unwind(AssertUnwindSafe(|| self.program.execute(&context)))
            .map_err(|_| "the formula could not be evaluated".to_string())?;
        let value = match result {
            Ok(Value::Float(v)) => v,
            Ok(Value::Int(v)) => v as f64,
            Ok(Value::UInt(v)) => v as f64,
            Ok(other) => return Err(format!("the formula gives a {}, not a number", other.type_of())),
            Err(cel::ExecutionError::UndeclaredReference(name)) => {
                let failed = values.iter().any(|(n, v)| *n == name.as_str() && v.is_none());
                return Err(if failed {
                    format!(
                        "metric {name} failed and the formula has no fallback for it (write `{name} ?? 0`)"
                    )
                } else {
                    format!("the formula reads `{name}`, which is no metric's name")
                });
            }
            Err(e) => return Err(format!("the formula failed: {}", first_line(&e.to_string()))),
        };
        Ok(value)
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or(text);
    line.chars().take(200).collect()
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Number(String),
    Text(String),
    Coalesce,
    Open,
    Close,
    Space(String),
    Other(char),
}

fn tokens(expression: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expression.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let run = |i: &mut usize, keep: &dyn Fn(char) -> bool| {
            while *i < chars.len() && keep(chars[*i]) {
                *i += 1;
            }
        };
        if c.is_ascii_alphabetic() || c == '_' {
            run(&mut i, &|c| c.is_ascii_alphanumeric() || c == '_');
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            run(&mut i, &|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            // An exponent's sign belongs to the number: 1e-3.
            while i < chars.len()
                && (chars[i] == '-' || chars[i] == '+')
                && matches!(chars[i - 1], 'e' | 'E')
                && !chars[start..i].iter().any(|c| matches!(c, 'x' | 'X'))
            {
                i += 1;
                run(&mut i, &|c| c.is_ascii_alphanumeric());
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err("the formula has a string that never ends".into());
            }
            i += 1;
            out.push(Token::Text(chars[start..i].iter().collect()));
        } else if c.is_whitespace() {
            run(&mut i, &|c| c.is_whitespace());
            out.push(Token::Space(chars[start..i].iter().collect()));
        } else if c == '?' && chars.get(i + 1) == Some(&'?') {
            i += 2;
            out.push(Token::Coalesce);
        } else {
            i += 1;
            out.push(match c {
                '(' => Token::Open,
                ')' => Token::Close,
                other => Token::Other(other),
            });
        }
    }
    Ok(out)
}

fn next_solid(tokens: &[Token], from: usize) -> usize {
    let mut i = from;
    while matches!(tokens.get(i), Some(Token::Space(_))) {
        i += 1;
    }
    i
}

/// Where the group opened at `open` closes (the index after its `)`).
fn group_end(tokens: &[Token], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
    }
    Err("the formula has a `(` that is never closed".into())
}

/// The end of the operand right of a `??` that starts at `from`: a name (or call), a number or a
/// parenthesized group, with a leading minus, and any further `?? operand`.
fn operand_end(tokens: &[Token], from: usize) -> Result<usize, String> {
    let mut i = next_solid(tokens, from);
    if tokens.get(i) == Some(&Token::Other('-')) {
        i = next_solid(tokens, i + 1);
    }
    let end = match tokens.get(i) {
        Some(Token::Number(_)) => i + 1,
        Some(Token::Open) => group_end(tokens, i)?,
        Some(Token::Ident(_)) => {
            let mut end = i + 1;
            while tokens.get(end) == Some(&Token::Other('.'))
                && matches!(tokens.get(end + 1), Some(Token::Ident(_)))
            {
                end += 2;
            }
            if tokens.get(end) == Some(&Token::Open) { group_end(tokens, end)? } else { end }
        }
        _ => return Err("`??` needs a value on its right, such as `lag ?? 0`".into()),
    };
    let after = next_solid(tokens, end);
    if tokens.get(after) == Some(&Token::Coalesce) { operand_end(tokens, after + 1) } else { Ok(end) }
}

fn render(tokens: &[Token]) -> Result<String, String> {
    let mut out = String::new();
    let mut i = 0;
    let mut previous: Option<&Token> = None;
    while i < tokens.len() {
        let token = &tokens[i];
        match token {
            Token::Ident(name) => {
                let after = next_solid(tokens, i + 1);
                let member = previous == Some(&Token::Other('.'));
                if tokens.get(after) == Some(&Token::Coalesce) && !member {
                    let end = operand_end(tokens, after + 1)?;
                    let fallback = render(&tokens[after + 1..end])?;
                    out.push_str(&format!(
                        "(has({METRICS_MAP}.{name}) ? {METRICS_MAP}.{name} : {})",
                        fallback.trim()
                    ));
                    previous = tokens.get(end.saturating_sub(1));
                    i = end;
                    continue;
                }
                out.push_str(name);
            }
            Token::Number(n) => {
                let whole = n.chars().all(|c| c.is_ascii_digit());
                // A member name or a list index stays whole.
                let kept = matches!(previous, Some(Token::Other('.' | '[')));
                out.push_str(n);
                if whole && !kept {
                    out.push_str(".0");
                }
            }
            Token::Text(t) | Token::Space(t) => out.push_str(t),
            Token::Coalesce => {
                return Err("`??` needs a metric's name on its left, such as `lag ?? 0`".into());
            }
            Token::Open => out.push('('),
            Token::Close => out.push(')'),
            Token::Other(c) => out.push(*c),
        }
        if !matches!(token, Token::Space(_)) {
            previous = Some(token);
        }
        i += 1;
    }
    Ok(out)
}

/// The expression as CEL reads it: whole numbers as doubles, `a ?? b` as `has(...) ? ... : b`.
fn rewrite(expression: &str) -> Result<String, String> {
    render(&tokens(expression)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expression: &str, values: &[(&str, Option<f64>)]) -> Result<f64, String> {
        let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
        Formula::compile(expression, &names)?.eval(values)
    }

    #[test]
    fn arithmetic_over_metrics() {
        let both = [("lag", Some(120.0)), ("inflight", Some(80.0))];
        assert_eq!(eval("(lag + inflight) / 2", &both), Ok(100.0));
        assert_eq!(eval("max([lag, inflight]) * 1.5", &both), Ok(180.0));
        assert_eq!(eval("lag > 100 ? lag : inflight", &both), Ok(120.0));
        assert_eq!(eval("metrics.lag - 20", &both), Ok(100.0));
        assert_eq!(eval("1e2 + lag", &both), Ok(220.0));
    }

    #[test]
    fn a_failed_metric_is_absent_and_the_fallback_says_what_then() {
        let failed = [("lag", None), ("inflight", Some(80.0))];
        assert_eq!(eval("(lag ?? 0) + inflight", &failed), Ok(80.0));
        assert_eq!(eval("lag ?? inflight * 2", &failed), Ok(160.0));
        assert_eq!(eval("lag ?? (inflight * 2)", &failed), Ok(160.0));
        assert_eq!(eval("has(metrics.lag) ? metrics.lag : 7", &failed), Ok(7.0));
        let none = [("lag", None), ("inflight", None)];
        assert_eq!(eval("lag ?? inflight ?? 3", &none), Ok(3.0));
        assert_eq!(
            eval("lag + inflight", &failed),
            Err("metric lag failed and the formula has no fallback for it (write `lag ?? 0`)".into())
        );
        let read = [("lag", Some(5.0)), ("inflight", Some(80.0))];
        assert_eq!(eval("(lag ?? 0) + inflight", &read), Ok(85.0));
    }

    #[test]
    fn bad_formulas_say_what_is_wrong() {
        let names = ["lag", "inflight"];
        let err = |e: &str| Formula::compile(e, &names).unwrap_err();
        assert!(err("lag +").contains("not valid CEL"), "{}", err("lag +"));
        assert_eq!(
            err("lag + queue"),
            "the formula reads `queue`, which is no metric's name (the metrics: lag, inflight)"
        );
        assert_eq!(err("lag > 3"), "with every metric at 1, the formula gives a bool, not a number");
        assert!(
            err("'a' + lag").starts_with("with every metric at 1, the formula failed"),
            "{}",
            err("'a' + lag")
        );
        assert_eq!(err("?? 3"), "`??` needs a metric's name on its left, such as `lag ?? 0`");
        assert_eq!(err("lag ??"), "`??` needs a value on its right, such as `lag ?? 0`");
        assert!(err("(lag").contains("missing ')'"), "{}", err("(lag"));
        assert_eq!(err("lag ?? (inflight"), "the formula has a `(` that is never closed");
        assert_eq!(err(" "), "the formula is empty");
        assert!(err(&"lag+".repeat(400)).contains("at most 1024"));
        assert_eq!(
            eval("lag - 10", &[("lag", Some(1.0))]),
            Err("the formula gives -9: not a finite number >= 0".into())
        );
        assert!(eval("lag / 0.0", &[("lag", Some(1.0))]).unwrap_err().contains("not a finite number"));
    }

    #[test]
    fn names_and_rewriting() {
        assert!(is_variable_name("lag") && is_variable_name("_x2"));
        assert!(!is_variable_name("2x") && !is_variable_name("in") && !is_variable_name("a-b"));
        assert!(!is_variable_name("metrics") && !is_variable_name(""));
        assert_eq!(
            rewrite("a / 2 + 0x1F + 1.5 + 'x2' + l[0]").unwrap(),
            "a / 2.0 + 0x1F + 1.5 + 'x2' + l[0]"
        );
    }
}
