"""The filter language and sort keys, compiled to SQL over `runs r` with bound parameters.

    params.lr < 1e-3 and (metrics.val/loss.min < 0.2 or tags.stage = "prod") and name ~ "bert"

Grammar (keywords are case-insensitive; a value is a number, a quoted string or a bare word):

    filter    = or_expr
    or_expr   = and_expr { "or" and_expr }
    and_expr  = unary { "and" unary }
    unary     = "not" unary | "(" or_expr ")" | predicate
    predicate = operand ( cmp value | ["not"] "in" "(" value { "," value } ")" | "is" ["not"] "null" )
              | flag                                   (stale, deleted, starred, error = "has an error")
    cmp       = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
    operand   = attribute | "params." key | "tags." key | "metrics." key "." agg
              | "metrics." key ".at(" integer ")"
    sort      = item { "," item } ;  item = ["-" | "+"] operand ["asc" | "desc"]

Keys run up to the operator (`params.optimizer.lr` is the key `optimizer.lr`); for metrics the last `.agg`
is the aggregate; quoted pieces (`params."my key"`, `metrics."a b".max`) hold anything else. Strings take
`\\"`, `\\'` and `\\\\` escapes; any other backslash is kept, so regexes read naturally (`"\\d+"`).

Semantics are SQL's: a missing param/tag/metric (or a NaN summary, stored as NULL) matches no comparison,
not even under `not`, but matches `is null`. Params compare numerically against a number when they hold one
(`params.seed = 42` matches "42" and "42.0") and as text otherwise.

The language (`vocabulary`, `tokens`, `nodes`, `parser`, `errors`, `completion`) knows no SQL; `compile`
turns a parsed filter or sort into SQL with bound parameters (see its docstring for why that is safe).
"""

from expdesk.index.filter.compile import compile_filter, compile_sort
from expdesk.index.filter.completion import completions
from expdesk.index.filter.errors import FilterError
from expdesk.index.filter.parser import parse_filter

__all__ = ["FilterError", "compile_filter", "compile_sort", "completions", "parse_filter"]
