"""A recursive-descent parser for the filter language (grammar in `expdesk.index.filter`)."""

from __future__ import annotations

import difflib

from expdesk.index.filter.errors import FilterError, col, suggest
from expdesk.index.filter.nodes import BoolOp, Compare, Flag, Node, Not, Operand, Value
from expdesk.index.filter.tokens import INTEGER, NUMBER, Token, tokenize
from expdesk.index.filter.vocabulary import AGGREGATES, ATTRIBUTES, FLAGS, NAMESPACES

_INT64 = (-(2**63), 2**63 - 1)


class Parser:
    def __init__(self, expr: str) -> None:
        self.tokens = tokenize(expr)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def fail(self, message: str, tok: Token, hint: str = "") -> FilterError:
        length = max(len(tok.text), 1 if tok.text else 0)
        return FilterError(f"{message} at {col(tok.pos)}{hint}", tok.pos, length)

    def expect(self, kind: str, after: Token) -> Token:
        tok = self.next()
        if tok.kind != kind:
            raise self.fail(f"expected '{kind}' after '{after.text}', found {tok.describe()}", tok)
        return tok

    # filter = or_expr, left-associative, `not` binds tighter than `and`, `and` tighter than `or`
    def parse_filter(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            hint = "; a value with spaces needs quotes" if tok.kind == "word" and not tok.keyword else ""
            raise self.fail(f"expected 'and', 'or' or the end, found {tok.describe()}{hint}", tok)
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.peek().keyword == "or":
            self.next()
            node = BoolOp("OR", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.unary()
        while self.peek().keyword == "and":
            self.next()
            node = BoolOp("AND", node, self.unary())
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.keyword == "not":
            self.next()
            return Not(self.unary())
        if tok.kind == "(":
            self.next()
            node = self.or_expr()
            close = self.next()
            if close.kind != ")":
                raise self.fail(
                    f"expected ')' to close the '(' at {col(tok.pos)}, found {close.describe()}", close
                )
            return node
        return self.predicate()

    def predicate(self) -> Node:
        first = self.peek()
        operand = self.operand()
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            return Compare(operand, "=" if tok.text == "==" else tok.text, (self.value(tok),))
        if tok.keyword == "in" or (tok.keyword == "not" and self.peek(1).keyword == "in"):
            op = "in" if tok.keyword == "in" else "not in"
            if op == "not in":
                self.next()
            in_tok = self.next()
            self.expect("(", in_tok)
            values = [self.value(in_tok)]
            while self.peek().kind == ",":
                values.append(self.value(self.next()))
            self.expect(")", self.tokens[self.i - 1])
            return Compare(operand, op, tuple(values))
        if tok.keyword == "is":
            self.next()
            negated = self.peek().keyword == "not"
            if negated:
                self.next()
            null = self.next()
            if null.keyword != "null":
                raise self.fail(
                    f"expected 'null' after 'is{' not' if negated else ''}', found {null.describe()}", null
                )
            return Compare(operand, "is not null" if negated else "is null", ())
        if operand.kind == "attr" and operand.name in FLAGS:
            return Flag(operand)
        raise self.fail(
            f"expected an operator (= != < <= > >= ~ !~ in, is null) after '{first.text}', found {tok.describe()}",
            tok,
        )

    def operand(self) -> Operand:
        tok = self.next()
        what = "an attribute, params.<key>, tags.<key> or metrics.<key>.<aggregate>"
        if tok.kind != "word" or tok.keyword or tok.parts[0][1]:
            raise self.fail(f"expected {what}, found {tok.describe()}", tok)
        head_text, _, head_pos = tok.parts[0]
        if "." not in head_text:
            name = head_text.lower()
            if len(tok.parts) == 1 and name in ATTRIBUTES:
                return Operand("attr", name, pos=tok.pos, length=len(tok.text), text=tok.text)
            if name in NAMESPACES:
                raise self.fail(f"'{head_text}' needs a key: {name}.<key>", tok)
            if NUMBER.fullmatch(tok.text):
                raise self.fail(f"expected {what}, found the value '{tok.text}'", tok)
            raise self.fail(f"unknown attribute '{tok.text}'", tok, suggest(name, ATTRIBUTES))
        head, _, rest = head_text.partition(".")
        namespace = head.lower()
        if namespace not in NAMESPACES:
            close = difflib.get_close_matches(namespace, NAMESPACES, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}.{tok.text[len(head) + 1 :]}'?)" if close else ""
            raise FilterError(f"unknown attribute '{head}' at {col(tok.pos)}{hint}", tok.pos, len(head) or 1)
        pieces = [(rest, False, head_pos + len(head) + 1), *tok.parts[1:]]
        if namespace != "metrics":
            key = "".join(p[0] for p in pieces)
            if not key:
                raise self.fail(f"expected a key after '{head}.'", tok)
            return Operand(namespace, key, pos=tok.pos, length=len(tok.text), text=tok.text)
        # metrics: the last unquoted ".agg" is the aggregate, so keys may contain dots
        last_text, last_quoted, last_pos = pieces[-1]
        dot = -1 if last_quoted else last_text.rfind(".")
        key = "".join(p[0] for p in pieces[:-1]) + (last_text[:dot] if dot >= 0 else last_text)
        if dot < 0 or not key:
            message = f"'{tok.text}' needs a key and an aggregate: metrics.<key>.<{'|'.join(AGGREGATES)}> or .at(<step>)"
            raise self.fail(message, tok)
        agg_text, agg_pos = last_text[dot + 1 :], last_pos + dot + 1
        agg = agg_text.lower()
        if agg == "at":
            return self.at_step(tok, key)
        if agg not in AGGREGATES:
            err_tok = Token("word", agg_text, agg_pos)
            raise self.fail(f"unknown aggregate '{agg_text}'", err_tok, suggest(agg, (*AGGREGATES, "at")))
        return Operand("metrics", key, agg, pos=tok.pos, length=len(tok.text), text=tok.text)

    def at_step(self, tok: Token, key: str) -> Operand:
        self.expect("(", tok)
        step_tok = self.next()
        if step_tok.kind != "word" or not INTEGER.fullmatch(step_tok.text):
            raise self.fail(
                f"expected an integer step in '{tok.text}(...)', found {step_tok.describe()}", step_tok
            )
        step = int(step_tok.text)
        if not _INT64[0] <= step <= _INT64[1]:
            raise self.fail("step out of range (64-bit integers)", step_tok)
        close = self.expect(")", step_tok)
        text = f"{tok.text}({step_tok.text})"
        return Operand("metrics", key, "at", step, tok.pos, close.pos + 1 - tok.pos, text)

    def value(self, after: Token) -> Value:
        tok = self.next()
        if tok.kind != "word" or (tok.keyword and tok.keyword != "null"):
            raise self.fail(f"expected a value after '{after.text}', found {tok.describe()}", tok)
        if len(tok.parts) != 1:
            raise self.fail(f"a value is one number, string or word; quote all of {tok.describe()}", tok)
        text, quoted, _ = tok.parts[0]
        length = len(tok.text)
        if quoted:
            return Value("string", text, text, tok.pos, length)
        low = text.lower()
        if low == "null":
            raise self.fail("compare with null using 'is null' or 'is not null'", tok)
        if low.lstrip("+-") == "nan":
            raise self.fail(
                "NaN equals nothing and orders nowhere; use metrics.<key>.nan_count > 0 or 'is null'", tok
            )
        if NUMBER.fullmatch(text):
            number: float | int = float(text)
            # exact integers stay ints (counts, steps); beyond int64 SQLite cannot bind them
            if INTEGER.fullmatch(text) and _INT64[0] <= int(text) <= _INT64[1]:
                number = int(text)
            return Value("number", number, text, tok.pos, length)
        if low in ("true", "false"):
            return Value("bool", low == "true", text, tok.pos, length)
        return Value("string", text, text, tok.pos, length)


def parse_filter(expr: str) -> Node:
    return Parser(expr).parse_filter()
