#!/usr/bin/env python3
"""check_cjson_unchecked.py - finds cJSON allocations whose result is never
checked (issue 16: "every allocation checked, including cJSON_Add*").

A call to cJSON_Add*, cJSON_Create*, shoal_json_put, shoal_json_push or
hub_store_json_add_* (which add one member and return false on failure) counts as checked when its result
  - is tested in a condition (if/while/for, !, &&, ||, ?:, comparison),
  - is returned to the caller,
  - is passed as an argument to another call (cJSON_AddItemTo* and
    shoal_json_put fail on a NULL item, so a checked outer call checks the
    inner one; any other callee is trusted to handle NULL),
  - or is assigned (=, &=, |=) to a variable or lvalue that is later tested
    in the same function, returned, or passed into a checked call.
A call used as a bare statement, or cast to (void), is unchecked, except
cJSON_AddItemToArray (it allocates nothing) with an item variable tested
or filled through &item earlier in the function.

Usage: scripts/check_cjson_unchecked.py [-v] [DIR_OR_FILE...]
  (default: shared agent hub). Prints each unchecked call as file:line and
  a count per file; exits 1 if any is found."""
import os
import re
import sys

CALL = re.compile(r'\b(cJSON_(?:Add|Create)\w*|shoal_json_put|shoal_json_push|hub_store_json_add_\w+)\s*\(')
CONTROL = {'if', 'while', 'for', 'switch', 'return', 'sizeof'}


def strip(text):
    """Comments and string/char literal contents blanked, offsets kept."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = ' '
            i = j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if text[k] != '\n':
                    out[k] = ' '
            i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            for k in range(i + 1, min(j, n)):
                if text[k] != '\n':
                    out[k] = '_'
            i = j + 1
        elif c == '#' and (i == 0 or text[i - 1] == '\n'):
            # preprocessor line (with continuations): blank it
            j = i
            while True:
                e = text.find('\n', j)
                e = n if e < 0 else e
                if e > 0 and text[e - 1] == '\\':
                    j = e + 1
                    continue
                break
            for k in range(i, e):
                out[k] = ' '
            i = e
        else:
            i += 1
    return ''.join(out)


def match_close(s, i):
    """s[i] == '('; returns the index of its matching ')'."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == '(':
            depth += 1
        elif s[j] == ')':
            depth -= 1
            if depth == 0:
                return j
    return len(s) - 1


def func_end(s, i):
    """End of the top-level function holding offset i: next '\n}'."""
    j = s.find('\n}', i)
    return len(s) if j < 0 else j


def ident_before(s, i):
    j = i - 1
    while j >= 0 and s[j] in ' \t\n':
        j -= 1
    k = j
    while k >= 0 and (s[k].isalnum() or s[k] == '_'):
        k -= 1
    return s[k + 1:j + 1], j


class File:
    def __init__(self, path):
        self.path = path
        with open(path, encoding='utf-8', errors='replace') as f:
            self.s = strip(f.read())
        self.sites = []  # (start, name, open_paren, close_paren)
        for m in CALL.finditer(self.s):
            op = m.end() - 1
            self.sites.append((m.start(), m.group(1), op, match_close(self.s, op)))
        self.memo = {}

    def line(self, pos):
        return self.s.count('\n', 0, pos) + 1

    def enclosing_site(self, pos, op):
        """The must-check call whose argument list holds the '(' at op."""
        for st, name, o, c in self.sites:
            if o == op:
                return st
        return None

    def checked(self, idx, seen=()):
        if idx in self.memo:
            return self.memo[idx]
        if idx in seen:
            return True
        start = self.sites[idx][0]
        r = self._checked(start, seen + (idx,))
        self.memo[idx] = r
        return r

    def site_index(self, start):
        for k, site in enumerate(self.sites):
            if site[0] == start:
                return k
        return None

    def _checked(self, start, seen):
        s = self.s
        # Walk back over the expression at depth 0 to its boundary.
        j = start - 1
        depth = 0
        comma = None
        while j >= 0:
            c = s[j]
            if c == ')':
                depth += 1
            elif c == '(':
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in ';{}':
                break
            elif depth == 0 and c == ',' and comma is None:
                comma = j
            j -= 1
        if j >= 0 and s[j] == '(':
            name, _ = ident_before(s, j)
            if name in ('if', 'while', 'for', 'switch'):
                return True
            if name and name not in CONTROL and re.match(r'[A-Za-z_]', name):
                outer = self.enclosing_site(start, j)
                if outer is not None:
                    return self.checked(self.site_index(outer), seen)
                return True  # argument of another function: the callee handles NULL
            if s[j + 1:start].strip() == '' and s[match_close(s, j) + 1:].lstrip().startswith(';'):
                return False  # "(cJSON_Add...(...));"
            return True  # a grouping paren inside an expression: value used
        # Statement (or declaration list) level.
        prefix = s[(comma if comma is not None else j) + 1:start]
        prefix = re.sub(r'^\s*(?:else\b|case\b[^:]*:|default\s*:|\w+\s*:(?!:))*', '', prefix)
        # strip leading control heads: if (...) / while (...) / for (...)
        while True:
            m = re.match(r'\s*(?:if|while|for)\s*\(', prefix)
            if not m:
                break
            close = match_close(prefix, m.end() - 1)
            prefix = prefix[close + 1:]
            prefix = re.sub(r'^\s*else\b', '', prefix)
        p = prefix.strip()
        if p == '' and self.sites[self.site_index(start)][1] == 'cJSON_AddItemToArray':
            return self.linked_checked(start)
        if p == '' or re.fullmatch(r'\(\s*void\s*\)', p):
            return False
        if p.startswith('return'):
            return True
        m = re.match(r'(?:[\w\s\*]*?[\s\*])?\s*([\w\.\[\]\*]+(?:->\w+)*)\s*(=|&=|\|=)(?!=)', p)
        if m:
            var = m.group(1).lstrip('*')
            end = match_close(s, self.sites[self.site_index(start)][2])
            return self.var_checked(var, end, seen)
        return True  # part of a larger expression whose value is used

    def linked_checked(self, start):
        """cJSON_AddItemToArray only links a node (it allocates nothing), so
        a bare call is fine when its item is a variable already tested, or
        filled by an earlier call through &item (a shoal_err-returning
        parser), in the same function."""
        s = self.s
        _, _, op, cl = self.sites[self.site_index(start)]
        m = re.fullmatch(r'(.*),\s*(\w+)\s*', s[op + 1:cl], re.S)
        if not m:
            return False
        v = re.escape(m.group(2))
        begin = s.rfind('\n}', 0, start)
        before = s[begin + 1 if begin >= 0 else 0:start]
        if not re.search(r'!\s*' + v + r'\b|\b' + v + r'\s*[!=]=\s*NULL|&' + v + r'\b', before):
            return False
        # The array itself, when it is a variable, must be tested somewhere
        # in the function (a NULL array drops the item: a partial result).
        arr = m.group(1).strip()
        if re.fullmatch(r'\w+', arr):
            end = func_end(s, start)
            return self.tested(arr, s[begin + 1 if begin >= 0 else 0:end])
        return True

    @staticmethod
    def tested(var, body):
        """var is tested (or returned) somewhere in body."""
        v = re.escape(var)
        tests = [
            r'!\s*' + v + r'(?![\w\[\.]|\s*->|\s*!=|\s*==)',
            r'!\s*\(\s*' + v + r'\s*=(?!=)',
            r'\b' + v + r'\s*[!=]=\s*NULL', r'NULL\s*[!=]=\s*' + v + r'\b',
            r'(?:if|while)\s*\(\s*' + v + r'\s*\)',
            r'(?<![\w.>])' + v + r'\s*(?:&&|\|\||\?)',
            r'(?:&&|\|\|)\s*' + v + r'\s*[)&|;]',
            r'\breturn\s+' + v + r'\s*;',
        ]
        return any(re.search(t, body) for t in tests)

    def var_checked(self, var, pos, seen):
        s = self.s
        end = func_end(s, pos)
        body = s[pos:end]
        v = re.escape(var)
        if self.tested(var, body):
            return True
        # passed into a later must-check call that is itself checked
        for k, (st, name, op, cl) in enumerate(self.sites):
            if op < pos or op > end:
                continue
            args = s[op + 1:cl]
            if re.search(r'(?<![\w.>])' + v + r'(?![\w\[])', args):
                if self.checked(k, seen):
                    return True
        return False


def main(argv):
    verbose = '-v' in argv
    args = [a for a in argv if a != '-v'] or ['shared', 'agent', 'hub']
    files = []
    for a in args:
        if os.path.isdir(a):
            for root, _, names in os.walk(a):
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith('.c')]
        else:
            files.append(a)
    total = calls = 0
    for path in sorted(files):
        f = File(path)
        bad = [k for k in range(len(f.sites)) if not f.checked(k)]
        calls += len(f.sites)
        total += len(bad)
        for k in bad:
            print('%s:%d: unchecked %s' % (path, f.line(f.sites[k][0]), f.sites[k][1]))
        if verbose or bad:
            print('%s: %d of %d unchecked' % (path, len(bad), len(f.sites)))
    print('%d unchecked cJSON allocation(s) of %d calls' % (total, calls))
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
