"""hsl: the Halon Scripting Language outside the Halon MTA.

    import hsl
    program = hsl.compile('echo "hello";')      # compile once
    program.run(output=print)                    # run many times, from any thread
"""
from .errors import HSLError, HSLRuntimeError, HSLSyntaxError
from .version import __version__
__all__ = ["parse", "compile", "Program", "HSLError", "HSLSyntaxError", "HSLRuntimeError",
           "__version__"]


def parse(source: str, filename: str = "<string>"):
    """Parse HSL source into an hsl.syntax.ast.Program, or raise HSLSyntaxError."""
    # deferred: `import hsl.<any module>` runs this file
    from .syntax.parser import parse as _parse
    return _parse(source, filename)


def compile(source: str, filename: str = "<string>", **options):
    """Compile HSL source (with its includes and imports) into a reusable Program.

    Options: `context` (hook context name, e.g. "helo"), `readonly` (names of read-only
    pre-defined variables), `predefined` (the set of variable names that will be
    pre-defined; when given, reading a global assigned nowhere is a compile error),
    `coverage` (True, or an hsl.coverage.Coverage that gets the program: count the lines,
    functions and branches its runs execute; docs/coverage.md)."""
    # deferred: the compiler loads only when it is used
    from .program import compile_program
    return compile_program(source, filename, **options)


def __getattr__(name):
    if name == "Program":
        # deferred: the compiler loads only when it is used
        from .program import Program
        return Program
    raise AttributeError(name)
