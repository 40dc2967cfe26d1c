"""The builtin `Exception` class: thrown by the runtime for every HSL runtime error, and
usable by scripts (`throw Exception("bad input");`)."""
from ..runtime.values import BuiltinObject, to_str
from .registry import builtin_class, method


@builtin_class("Exception", area="classes")
class ExceptionObject(BuiltinObject):
    __slots__ = ("msg", "file", "line", "column")

    def __init__(self, message=b""):
        self.msg = message if type(message) is bytes else to_str(message)
        self.file = None
        self.line = None
        self.column = None

    @method()
    def message(self):
        return self.msg

    @method("file")
    def file_(self):
        return None if self.file is None else self.file.encode("utf-8", "surrogateescape")

    @method("line")
    def line_(self):
        return None if self.line is None else float(self.line)

    @method("column")
    def column_(self):
        return None if self.column is None else float(self.column)

    @method()
    def toString(self):
        if self.file is None:
            return self.msg
        where = f"{self.file}:{self.line}:{self.column}: ".encode("utf-8", "surrogateescape")
        return where + self.msg
