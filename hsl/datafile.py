"""Reading the YAML or JSON files users hand to hsl (session files, DNS tables): one
reader, so that every such file reports its errors the same way, with file:line:col."""
from __future__ import annotations


def read_yaml_or_json(path: str, what: str):
    """(value, text) of a YAML file, or a JSON one when the name ends in .json.
    ValueError with a message naming the file (and the position, when the parser gives
    one) when it cannot be read or parsed; `what` names the file in it ("DNS table")."""
    from .sourcefile import read_source
    try:
        data = read_source(path)
    except OSError as e:
        raise ValueError(f"cannot read {what} {path}: {e.strerror}") from None
    text = data.decode("utf-8", "replace")
    is_json = path.endswith(".json")
    try:
        if is_json:
            import json
            return json.loads(text), text
        import yaml
        return yaml.safe_load(text), text
    except Exception as e:      # json.JSONDecodeError, yaml.YAMLError
        raise ValueError(_parse_error(path, e, is_json)) from None


def _parse_error(path: str, e: Exception, is_json: bool) -> str:
    if is_json:
        line, col = getattr(e, "lineno", None), getattr(e, "colno", None)
        msg = getattr(e, "msg", str(e))
        return f"{path}:{line}:{col}: not valid JSON: {msg}" if line else \
            f"{path}: not valid JSON: {msg}"
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if mark is not None:
        return f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {problem}"
    return f"{path}: not valid YAML: {problem}"
