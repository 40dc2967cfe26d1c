"""The syntax stage: source text, the LALR runtime on the grammar's tables, the parser
(with error recovery) and the AST with positions on every node."""
