"""The runtime: the execution context builtins reach (execution: the current run, its
deadline, budgets and speculative state), HSL values and their semantics (values),
regular expressions (pcre: PCRE2 on bytes; regex: on HSL values), the memory store,
cache and barriers (store), what generated code calls (ops, only through the table in
helpers) and the memory budget (memory)."""
