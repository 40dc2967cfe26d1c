"""The runtime: the execution context builtins reach (execution, memory), HSL values
(values), PCRE regular expressions (regex), the memory store (store), and the
operations generated code calls (ops, through the table in helpers)."""
