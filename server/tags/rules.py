"""Admin tag rules: a small safe expression language over customer features.

`parse(text, features)` checks a rule against the feature catalogue and returns a Rule;
`Rule.evaluate(values)` decides one customer in Python (real-time tagging) and `Rule.to_sql(columns)`
gives the same decision as an SQL expression (preview counts, batch recompute). Own tokenizer and
recursive-descent parser; nothing is ever eval'd.

Grammar (EBNF; keywords and/or/not/in/true/false in any letter case, whitespace between tokens free):

    rule        = disjunction END ;
    disjunction = conjunction { "or" conjunction } ;
    conjunction = negation { "and" negation } ;
    negation    = "not" negation | "(" disjunction ")" | comparison ;
    comparison  = operand [ compare_op operand
                          | [ "not" ] "in" "(" literal { "," literal } ")" ] ;
                  (* an operand standing alone must be yes/no: a bool feature, true/false, has_tag(...) *)
    compare_op  = "==" | "!=" | "<" | "<=" | ">" | ">=" ;
    operand     = feature | literal | call ;
    call        = "has_tag" "(" string ")" ;
    literal     = [ "-" ] number | string | "true" | "false" ;
    number      = digit { digit } [ "." digit { digit } ] ;       (* integers fit in 64 bits *)
    string      = '"' { char | escape } '"' | "'" { char | escape } "'" ;
    escape      = "\\" ( '"' | "'" | "\\" ) ;
    feature     = ( letter | "_" ) { letter | digit | "_" } ;    (* ASCII, a catalogue name *)

Types: features are "int" | "num" (both numbers) | "str" | "bool" (yes/no). Both sides of a comparison
have the same kind; only numbers take < <= > >=.

Missing values: a feature whose value is absent, None, NaN or not of its type is missing. Every
comparison (== != < <= > >= in, not in, and a bool feature standing alone) with a missing side is false.
and/or/not are plain two-valued logic on those results, so for a customer without a tier
`tier != "gold"` is false but `not tier == "gold"` is true. to_sql() keeps exactly this: its expression
is 1 where evaluate() is true and 0 elsewhere, never NULL (SQL's NULL is turned into false under every
`not` and at the top, which equals false-at-each-comparison because and/or are monotone).
"""

import difflib
import math
import operator
import re
from collections import namedtuple

MAX_LENGTH = 2000   # characters in a rule
MAX_DEPTH = 32      # nested parentheses and 'not's
TYPES = ("int", "num", "str", "bool")
FUNCTIONS = ("has_tag",)
_KEYWORDS = ("and", "or", "not", "in", "true", "false")
_KIND = {"int": "number", "num": "number", "str": "string", "bool": "yes/no"}
_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"
_DIGITS = "0123456789"
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCT = "(),-"
_HINTS = {"=": "'==' to compare", "<>": "'!='", "&&": "'and'", "&": "'and'", "||": "'or'", "|": "'or'",
          "!": "'not' or '!='", "\u201c": "a straight quote \"", "\u201d": "a straight quote \"",
          "\u2018": "a straight quote '", "\u2019": "a straight quote '", "\uff08": "an ASCII '('",
          "\uff09": "an ASCII ')'", "\uff0c": "an ASCII ','", "\uff1d": "'=='", "\uff1c": "an ASCII '<'",
          "\uff1e": "an ASCII '>'"}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_SQL_OP = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SIMPLE_SQL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_INT_MIN, _INT_MAX = -2 ** 63, 2 ** 63 - 1

_Token = namedtuple("_Token", "kind value col src")       # kind: name kw num str op punct end
_Operand = namedtuple("_Operand", "kind value type col src")  # kind: feature lit call


class RuleError(ValueError):
    """A rule that does not scan, parse or type-check; column is 1-based in the rule text."""

    def __init__(self, message, column):
        ValueError.__init__(self, message, column)
        self.message = message
        self.column = column

    def __str__(self):
        return "column %d: %s" % (self.column, self.message)


def parse(text, features, tags=None):
    """Parse and type-check `text` against features {name: type or (type, doc)}; tags, if given,
    is the set of tag codes has_tag() may name. Raises RuleError."""
    if not isinstance(text, str):
        raise TypeError("rule text must be str")
    types = _catalogue(features)
    if len(text) > MAX_LENGTH:
        raise RuleError("rule too long: %d characters, expected at most %d" % (len(text), MAX_LENGTH),
                        MAX_LENGTH + 1)
    parser = _Parser(text, types, None if tags is None else frozenset(tags))
    tree = parser.disjunction()
    end = parser.peek()
    if end.kind != "end":
        extra = ""
        if end.kind == "op":
            extra = " (comparisons do not chain: write a < b and b < c)"
        raise RuleError("expected 'and', 'or' or the end of the rule, found %s%s" % (_found(end), extra),
                        end.col)
    return Rule(text, tree, frozenset(parser.features), frozenset(parser.tags))


class Rule:
    """A parsed, type-checked rule: evaluate() in Python, to_sql() for the database, same answers."""

    def __init__(self, text, tree, features, tags):
        self.text = text
        self.features = features   # feature names the rule reads
        self.tags = tags           # tag codes named by has_tag()
        self._tree = tree

    def __repr__(self):
        return "Rule(%r)" % self.text

    def evaluate(self, values, tags=()):
        """True if the customer with feature `values` {name: value} and current tag codes `tags`
        matches; missing or mistyped values make their comparisons false, never an exception."""
        return _evaluate(self._tree, values, tags)

    def to_sql(self, columns, param="?", tag_sql=None):
        """(sql, params): an SQL expression that is 1 exactly where evaluate() is true, else 0.

        columns maps each feature to an SQL expression (trusted, not user text); literals go into
        params, in order, as `param` placeholders. tag_sql, needed if the rule uses has_tag(), is an
        SQL condition on the same row with exactly one `param` placeholder for the tag code.
        A feature missing from columns is a RuleError at its first use."""
        if self.tags and (tag_sql is None or tag_sql.count(param) != 1):
            raise ValueError("rule uses has_tag(): tag_sql needs exactly one %r placeholder" % param)
        params = []
        sql, nullable = _sql(self._tree, columns, param, tag_sql, params)
        return ("COALESCE(%s, 0)" % sql if nullable else sql), params


def _catalogue(features):
    types = {}
    for name, spec in features.items():
        ftype = spec if isinstance(spec, str) else spec[0]
        if ftype not in TYPES:
            raise ValueError("feature %r: type %r is not one of %s" % (name, ftype, ", ".join(TYPES)))
        if (not name or name[0] not in _NAME_START or any(c not in _NAME_CHARS for c in name)
                or name.lower() in _KEYWORDS or name in FUNCTIONS):
            raise ValueError("feature name %r cannot be written in a rule" % (name,))
        types[name] = ftype
    return types


def _tokens(text):
    """Yield _Tokens, then 'end' tokens forever; raises RuleError at the first bad character."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        col = i + 1
        if c in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            word = text[i:j]
            kind = "kw" if word.lower() in _KEYWORDS else "name"
            yield _Token(kind, word.lower() if kind == "kw" else word, col, word)
        elif c in _DIGITS:
            j = _scan_number(text, i)
            yield _Token("num", None, col, text[i:j])
        elif c in "\"'":
            j, value = _scan_string(text, i)
            yield _Token("str", value, col, text[i:j])
        elif text[i:i + 2] in _HINTS:
            raise RuleError("found '%s', expected %s" % (text[i:i + 2], _HINTS[text[i:i + 2]]), col)
        elif text[i:i + 2] in _OPERATORS or c in "<>":
            j = i + 2 if text[i:i + 2] in _OPERATORS else i + 1
            yield _Token("op", text[i:j], col, text[i:j])
        elif c in _PUNCT:
            j = i + 1
            yield _Token("punct", c, col, c)
        elif c in _HINTS:
            raise RuleError("found '%s', expected %s" % (c, _HINTS[c]), col)
        else:
            raise RuleError("unexpected character %s" % _show_char(c), col)
        i = j
    while True:
        yield _Token("end", None, n + 1, "")


def _scan_number(text, i):
    n = len(text)
    j = i
    while j < n and text[j] in _DIGITS:
        j += 1
    if j < n and text[j] == ".":
        j += 1
        if j >= n or text[j] not in _DIGITS:
            found = _show_char(text[j]) if j < n else "the end of the rule"
            raise RuleError("expected a digit after '%s', found %s" % (text[i:j], found), j + 1)
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and (text[j] in _NAME_CHARS or text[j] == "."):
        raise RuleError("found %s right after the number %s, expected a space or an operator"
                        % (_show_char(text[j]), text[i:j]), j + 1)
    return j


def _scan_string(text, i):
    quote, j, n, out = text[i], i + 1, len(text), []
    while j < n:
        c = text[j]
        if c == quote:
            return j + 1, "".join(out)
        if c == "\\":
            nxt = text[j + 1:j + 2]
            if nxt not in ("\\", "'", "\""):
                raise RuleError("found '\\%s' in a string, expected one of \\\\ \\' \\\"" % nxt, j + 1)
            out.append(nxt)
            j += 2
            continue
        if "\ud800" <= c <= "\udfff":
            raise RuleError("unexpected character %s in a string" % _show_char(c), j + 1)
        out.append(c)
        j += 1
    raise RuleError("string not closed: expected %s before the end of the rule" % quote, i + 1)


def _show_char(c):
    return "'%s'" % c if c.isprintable() else "U+%04X" % ord(c)


def _found(tok):
    if tok.kind == "end":
        return "the end of the rule"
    src = tok.src if len(tok.src) <= 30 else tok.src[:27] + "..."
    return ("string " + src) if tok.kind == "str" else "'%s'" % src


def _describe(op):
    if op.kind == "feature":
        return "%s feature %s" % (_KIND[op.type], op.value)
    if op.kind == "call":
        return op.src
    return "%s %s" % (_KIND[op.type], op.src)


def _suggest(name, choices):
    choices = sorted(choices)
    same_case = [c for c in choices if c.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return " (did you mean %s?)" % " or ".join(close) if close else ""


class _Parser:
    """Recursive descent over a lazily scanned token stream (two tokens of lookahead at most), so
    an error is reported where reading reaches it rather than at the first bad character anywhere."""

    def __init__(self, text, types, known_tags):
        self.stream = _tokens(text)
        self.buffer = []
        self.types = types
        self.known_tags = known_tags
        self.features = set()
        self.tags = set()
        self.depth = 0

    def peek(self, k=0):
        while len(self.buffer) <= k:
            self.buffer.append(next(self.stream))
        return self.buffer[k]

    def take(self):
        tok = self.peek()
        del self.buffer[0]
        return tok

    def expect(self, kind, value, expected):
        tok = self.take()
        if tok.kind != kind or tok.value != value:
            raise RuleError("expected %s, found %s" % (expected, _found(tok)), tok.col)
        return tok

    def disjunction(self):
        parts = [self.conjunction()]
        while self.peek()[:2] == ("kw", "or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def conjunction(self):
        parts = [self.negation()]
        while self.peek()[:2] == ("kw", "and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def negation(self):
        tok = self.peek()
        if tok[:2] not in (("kw", "not"), ("punct", "(")):
            return self.comparison()
        self.take()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError("rule nested too deeply: expected at most %d levels of parentheses and 'not'"
                            % MAX_DEPTH, tok.col)
        if tok.value == "not":
            node = ("not", self.negation())
        else:
            node = self.disjunction()
            self.expect("punct", ")", "')' to close the '(' at column %d" % tok.col)
        self.depth -= 1
        return node

    def comparison(self):
        left = self.operand("a condition (a feature, a value, 'not' or '(')")
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            right = self.operand("a value after '%s'" % tok.value)
            _check_compare(left, tok, right)
            return ("cmp", tok.value, left, right)
        negated = tok[:2] == ("kw", "not") and self.peek(1)[:2] == ("kw", "in")
        if negated or tok[:2] == ("kw", "in"):
            self.take()
            if negated:
                self.take()
            self.expect("punct", "(", "'(' after 'in'")
            items = [self.literal("a value in the list")]
            while self.peek()[:2] == ("punct", ","):
                self.take()
                items.append(self.literal("a value after ','"))
            self.expect("punct", ")", "',' or ')' in the list")
            for item in items:
                if _KIND[item.type] != _KIND[left.type]:
                    raise RuleError("cannot compare %s with %s in the list" % (_describe(left), _describe(item)),
                                    item.col)
            return ("in", negated, left, tuple(item.value for item in items))
        if left.type == "bool":
            return ("truth", left)
        raise RuleError("expected a comparison (== != < <= > >= in) after %s, found %s"
                        % (_describe(left), _found(tok)), tok.col)

    def operand(self, expected):
        tok = self.peek()
        if tok.kind != "name":
            return self.literal(expected)
        self.take()
        if self.peek()[:2] == ("punct", "("):
            return self.call(tok)
        ftype = self.types.get(tok.value)
        if ftype is None:
            raise RuleError("unknown feature '%s'%s" % (tok.value, _suggest(tok.value, self.types)), tok.col)
        self.features.add(tok.value)
        return _Operand("feature", tok.value, ftype, tok.col, tok.src)

    def call(self, name):
        if name.value not in FUNCTIONS:
            raise RuleError("unknown function '%s'%s, expected one of: %s"
                            % (name.value, _suggest(name.value, FUNCTIONS), ", ".join(FUNCTIONS)), name.col)
        self.take()
        code = self.take()
        if code.kind != "str":
            raise RuleError("expected a tag code in quotes after '%s(', found %s" % (name.value, _found(code)),
                            code.col)
        if self.known_tags is not None and code.value not in self.known_tags:
            raise RuleError("unknown tag %s%s" % (code.src, _suggest(code.value, self.known_tags)), code.col)
        self.expect("punct", ")", "')' after the tag code")
        self.tags.add(code.value)
        return _Operand("call", code.value, "bool", name.col, "%s(%s)" % (name.value, code.src))

    def literal(self, expected):
        tok = self.take()
        if tok.kind == "str":
            return _Operand("lit", tok.value, "str", tok.col, tok.src)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return _Operand("lit", tok.value == "true", "bool", tok.col, tok.src)
        col, sign = tok.col, ""
        if tok[:2] == ("punct", "-"):
            tok, sign = self.take(), "-"
            if tok.kind != "num":
                raise RuleError("expected a number after '-', found %s" % _found(tok), tok.col)
        if tok.kind != "num":
            raise RuleError("expected %s, found %s" % (expected, _found(tok)), tok.col)
        src = sign + tok.src
        if "." in tok.src:
            value = float(src)
            if math.isinf(value):
                raise RuleError("number %s is too large, expected at most about 1.8e308" % src, col)
            return _Operand("lit", value, "num", col, src)
        value = int(src)
        if not _INT_MIN <= value <= _INT_MAX:
            raise RuleError("whole number %s is out of range, expected %d to %d" % (src, _INT_MIN, _INT_MAX), col)
        return _Operand("lit", value, "int", col, src)


def _check_compare(left, op, right):
    if _KIND[left.type] != _KIND[right.type]:
        raise RuleError("cannot compare %s with %s" % (_describe(left), _describe(right)), right.col)
    if op.value not in ("==", "!=") and _KIND[left.type] != "number":
        raise RuleError("cannot use '%s' on %s, expected == != or in (only numbers are ordered)"
                        % (op.value, _describe(left)), op.col)


def _value(op, values, tags):
    """The operand's value, or None when missing (absent, None, NaN or not of the feature's type)."""
    if op.kind == "lit":
        return op.value
    if op.kind == "call":
        return op.value in tags
    v = values.get(op.value)
    if op.type == "str":
        return v if isinstance(v, str) else None
    if op.type == "bool":
        return bool(v) if isinstance(v, int) and v in (0, 1) else None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and not math.isnan(v):
        return v
    return None


def _evaluate(node, values, tags):
    kind = node[0]
    if kind == "or":
        return any(_evaluate(part, values, tags) for part in node[1])
    if kind == "and":
        return all(_evaluate(part, values, tags) for part in node[1])
    if kind == "not":
        return not _evaluate(node[1], values, tags)
    if kind == "truth":
        return _value(node[1], values, tags) is True
    if kind == "cmp":
        a, b = _value(node[2], values, tags), _value(node[3], values, tags)
        return a is not None and b is not None and _COMPARE[node[1]](a, b)
    a = _value(node[2], values, tags)
    return a is not None and (a in node[3]) != node[1]


def _sql(node, columns, param, tag_sql, params):
    """(sql, nullable) for node, appending literals to params in placeholder order."""
    kind = node[0]
    if kind in ("or", "and"):
        parts = [_sql(part, columns, param, tag_sql, params) for part in node[1]]
        return _balanced([p[0] for p in parts], kind.upper()), any(p[1] for p in parts)
    if kind == "not":
        inner, nullable = _sql(node[1], columns, param, tag_sql, params)
        return "(NOT %s)" % ("COALESCE(%s, 0)" % inner if nullable else inner), False
    if kind == "truth":
        op = node[1]
        if op.kind == "lit":
            return ("1" if op.value else "0"), False
        sql, nullable = _operand_sql(op, columns, param, tag_sql, params)
        return (sql if op.kind == "call" else "(%s = 1)" % sql), nullable
    if kind == "cmp":
        a, a_null = _operand_sql(node[2], columns, param, tag_sql, params)
        b, b_null = _operand_sql(node[3], columns, param, tag_sql, params)
        return "(%s %s %s)" % (a, _SQL_OP[node[1]], b), a_null or b_null
    a, nullable = _operand_sql(node[2], columns, param, tag_sql, params)
    params.extend(int(v) if isinstance(v, bool) else v for v in node[3])
    return "(%s %sIN (%s))" % (a, "NOT " if node[1] else "", ", ".join([param] * len(node[3]))), nullable


def _operand_sql(op, columns, param, tag_sql, params):
    if op.kind == "lit":
        params.append(int(op.value) if isinstance(op.value, bool) else op.value)
        return param, False
    if op.kind == "call":
        params.append(op.value)
        return "(%s)" % tag_sql, True
    if op.value not in columns:
        raise RuleError("no SQL column given for feature %s" % op.value, op.col)
    column = columns[op.value]
    return (column if _SIMPLE_SQL.match(column) else "(%s)" % column), True


def _balanced(parts, word):
    """Join parts with AND/OR as a balanced tree, so long chains stay shallow for SQLite's depth limit."""
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return "(%s %s %s)" % (_balanced(parts[:mid], word), word, _balanced(parts[mid:], word))
