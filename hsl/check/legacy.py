"""Functions of older HSL generations that current HSL no longer has, with what to use now.

Older public scripts (and PHP habits) call these; current HSL reports "undefined function".
`hsl check` names the replacement in the hint (HSL701). A script that defines a function of
such a name itself is not affected (user functions win).
"""
from __future__ import annotations

# name -> replacement text (shown as "use ...").
LEGACY: dict[str, str] = {
    "strlen": "length($string)",
    "count": "length($array)",
    "sizeof": "length($array)",
    "in_array": "array_includes($needle, $array)",
    "explode": "str_split($string, $delimiter) (note the argument order)",
    "implode": "array_join($array, $separator) (note the argument order)",
    "join": "array_join($array, $separator)",
    "substr": "str_slice($string, $offset, $length)",
    "strtolower": "str_lower($string)",
    "strtoupper": "str_upper($string)",
    "trim": "str_strip($string)",
    "ltrim": "str_lstrip($string)",
    "rtrim": "str_rstrip($string)",
    "strpos": "str_find($string, $substring)",
    "strrpos": "str_rfind($string, $substring)",
    "str_str": "str_find($string, $substring)",
    "strstr": "str_find($string, $substring) and str_slice()",
    "range": "array_range($start, $stop)",
    "sort": "array_sort($array)",
    "array_merge": "[...$a, ...$b] (lists) or $a + $b",
    "array_push": "$array[] = $value",
    "array_key_exists": "isset($array[$key])",
    "array_search": "array_find($array, $callback)",
    "preg_match": "pcre_match($pattern, $subject) or the =~ operator",
    "preg_match_all": "pcre_match_all($pattern, $subject)",
    "preg_replace": "pcre_replace($pattern, $replacement, $subject)",
    "preg_quote": "pcre_quote($string)",
    "is_int": "is_number($value)",
    "is_numeric": "is_number($value)",
    "is_bool": "is_boolean($value)",
    "intval": "number($value)",
    "floatval": "number($value)",
    "strval": "string($value)",
    "rand": "random_number($first, $last)",
    "mt_rand": "random_number($first, $last)",
    "print": "echo",
    "var_dump": "echo json_encode($value)",
    "print_r": "echo json_encode($value)",
    "urlencode": "url_encode($string)",
    "urldecode": "url_decode($string)",
    "in_network": "inet_includes($ip, $network)",
    "is_subdomain": "domain_includes($subdomain, $domain)",
    "dns": "dns_query($host)",
    "dnsa": "dns_query($host, [\"type\" => \"a\"])",
    "dnsaaaa": "dns_query($host, [\"type\" => \"aaaa\"])",
    "dnsmx": "dns_query($host, [\"type\" => \"mx\"])",
    "dnsptr": "dns_query($host, [\"type\" => \"ptr\"])",
    "dnstxt": "dns_query($host, [\"type\" => \"txt\"])",
    "dnscname": "dns_query($host, [\"type\" => \"cname\"])",
    "dnsns": "dns_query($host, [\"type\" => \"ns\"])",
    "json_encode_pretty": "json_encode($value, [\"pretty_print\" => true])",
    "str_toupper": "str_upper($string)",
    "str_tolower": "str_lower($string)",
}


def replacement(name: str) -> str | None:
    return LEGACY.get(name)
