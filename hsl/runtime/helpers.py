"""The contract between the compiler and the runtime: `HELPERS`, every name that generated
code may use besides those the compiler binds itself.

Generated code (see hsl.compiler.codegen) runs with this table as its globals, plus what the
program defines: `K` (its constants), `M<n>` and `D_<name>` (its module functions and the
factories of its top-level functions), `B_<name>` and `C_<name>` (the builtin functions
and classes it calls).  The run's state it reaches through `R` (hsl.runtime.ops.Execution),
the run's pre-defined variables through `V`, both arguments of the module functions.

hsl.compiler.codegen names each helper once through `helper()`, so that a misspelt or missing one
stops the compiler as it is imported, not a script when it gets there;
tests/test_contract.py checks every global name the code of the conformance files uses.

A module of its own, not part of hsl.runtime.ops: the table reaches into hsl.runtime.values and
hsl.runtime.regex as well, and hsl.runtime.regex imports hsl.runtime.ops.
"""
from __future__ import annotations

from . import ops as RT
from . import values as V
from ..errors import ThrownValue
from .regex import regex_search


def _lne(a, b):
    return not V.loose_eq(a, b)


def _sne(a, b):
    return not V.strict_eq(a, b)


def _rnomatch(subject, pattern):
    return not regex_search(subject, pattern)


HELPERS: dict = {
    # markers and value types
    "_UNSET": RT._UNSET, "_D": RT._D, "_HArray": V.HArray, "_HFunction": V.HFunction,
    "_UserClass": RT.UserClass, "_ThrownValue": ThrownValue, "_Catchable": Exception,
    "_share": V.share, "_str": V.to_str, "_to_number": V.to_number,
    # operators (hsl.runtime.values)
    "_concat": V.concat, "_concat_many": V.concat_many, "_interpolate": V.interpolate,
    "_add": V.add, "_sub": V.sub, "_mul": V.mul, "_div": V.div, "_mod": V.mod,
    "_pow": V.power, "_neg": V.neg, "_pos": V.pos, "_bnot": V.bit_not,
    "_band": V.bit_and, "_bor": V.bit_or, "_bxor": V.bit_xor,
    "_shl": V.shl, "_shr": V.shr, "_ushr": V.ushr,
    "_leq": V.loose_eq, "_lne": _lne, "_seq": V.strict_eq, "_sne": _sne,
    "_lt": V.lt, "_le": V.le, "_gt": V.gt, "_ge": V.ge,
    "_rmatch": regex_search, "_rnomatch": _rnomatch,
    "_slice": V.slice_get, "_inc": RT._inc, "_dec": RT._dec,
    # variables: module state, imported variables (cells), undefined ones
    "_globals_of": RT._globals_of, "_module_exports": RT._module_exports,
    "_undefined": RT._undefined, "_soft_global": RT._soft_global,
    "_unhandled_match": RT._unhandled_match,
    "_cell_get": RT._cell_get, "_cell_set": RT._cell_set, "_cell_soft": RT._cell_soft,
    "_cell_del": RT._cell_del, "_cell_container": RT._cell_container,
    # elements and slices
    "_container": RT._container, "_child_container": RT._child_container,
    "_append_container": RT._append_container, "_object_container": RT._object_container,
    "_append": RT._append, "_setindex": RT._setindex,
    "_setindex_coalesce": RT._setindex_coalesce, "_setindex_op": RT._setindex_op,
    "_setslice": RT._setslice, "_unset_index": RT._unset_index,
    "_unset_slice": RT._unset_slice, "_incdec_index": RT._incdec_index,
    "_index": RT._index, "_soft_index": RT._soft_index, "_isset_index": RT._isset_index,
    # arrays and iteration
    "_iter_items": RT._iter_items, "_iter_values": RT._iter_values,
    "_build_array": RT._build_array, "_spread": RT._spread,
    "_destructure_pos": RT._destructure_pos, "_destructure_key": RT._destructure_key,
    "_destructure_rest": RT._destructure_rest,
    # calls
    "_call_value": RT._call_value, "_call_checked": RT._call_checked,
    "_call_method": RT._call_method, "_new_builtin": RT._new_builtin,
    "_builtin_ctor": RT._builtin_ctor,
    # properties
    "_getprop": RT._getprop, "_soft_prop": RT._soft_prop, "_isset_prop": RT._isset_prop,
    "_setprop": RT._setprop, "_setprop_coalesce": RT._setprop_coalesce,
    "_setprop_op": RT._setprop_op, "_incdec_prop": RT._incdec_prop,
    "_unset_prop": RT._unset_prop, "_prop_container": RT._prop_container,
}


def helper(name: str) -> str:
    """`name`, for the compiler to emit: it must be in HELPERS (checked when the compiler
    is imported, as it names each helper once at its top)."""
    if name not in HELPERS:
        raise ImportError(f"generated code would use {name}, which is not in "
                          "hsl.runtime.helpers.HELPERS")
    return name
