#!/usr/bin/env python3
"""Checks the house's layer order from every #include of the source tree.

    app → ui → model/server → model/engine → model/store → model/hub → model/net → model/media → model/text → shaders → vk

A file may include headers of its own folder and of folders after it in that line, never before it
("upward"). Three more rules:
  - ui/ never sees Vulkan: no header it includes, directly or through others, may live in vk/ or shaders/
    or include <volk.h> / <vulkan/...>;
  - system headers belong to one place: Vulkan to vk/, GTK and libadwaita to ui/ and app/, FFmpeg, libpng,
    libjpeg and poppler to model/media/, libsoup to model/media/, model/hub/ and model/server/ (picture URLs, model downloads, the server), SQLite to model/store/;
  - every quoted include names a header of the tree (so nothing slips past by a name we cannot place).
tests/ is outside the layers and may include anything.

Usage: check_layers.py ROOT      prints one line per violation, exits 1 if there is any.
"""
import os
import re
import sys

LAYERS = ['app', 'ui', 'model/server', 'model/engine', 'model/store', 'model/hub', 'model/net', 'model/media', 'model/text', 'shaders', 'vk']
RANK = {folder: len(LAYERS) - i for i, folder in enumerate(LAYERS)}  # higher rank = higher layer

# System headers and the folders that may include them.
SYSTEM_OWNERS = [
    (re.compile(r'^(volk\.[ch]|vulkan/)'), {'vk'}, 'Vulkan'),
    (re.compile(r'^(gtk/|adwaita\.h|gdk/)'), {'ui', 'app'}, 'GTK'),
    (re.compile(r'^(libavcodec|libavformat|libavutil|libswscale)/|^(png\.h|jpeglib\.h|jerror\.h|poppler\.h)$'),
     {'model/media'}, 'FFmpeg, libpng, libjpeg and poppler'),
    (re.compile(r'^libsoup/'), {'model/media', 'model/hub', 'model/server'}, 'libsoup'),
    (re.compile(r'^sqlite3\.h$'), {'model/store'}, 'SQLite'),
]
VULKAN = SYSTEM_OWNERS[0][0]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def scan(root):
    """{relative path: [(line number, kind, name)]} for every .c/.h file of the layers, and a map from each
    header's base name to its relative path."""
    files, headers = {}, {}
    for folder in LAYERS:
        top = os.path.join(root, folder)
        if not os.path.isdir(top):
            continue
        for name in sorted(os.listdir(top)):
            if not name.endswith(('.c', '.h')):
                continue
            rel = folder + '/' + name
            with open(os.path.join(top, name), encoding='utf-8', errors='replace') as f:
                files[rel] = [(n, m.group(1), m.group(2)) for n, line in enumerate(f, 1)
                              if (m := INCLUDE.match(line))]
            if name.endswith('.h'):
                if name in headers:
                    raise SystemExit(f'{rel}: header name also used by {headers[name]}')
                headers[name] = rel
    return files, headers


def folder_of(rel):
    return rel.rsplit('/', 1)[0]


def check(root):
    files, headers = scan(root)
    problems = []
    for rel, includes in files.items():
        here = folder_of(rel)
        for line, kind, name in includes:
            where = f'{rel}:{line}: #include {"<" if kind == "<" else chr(34)}{name}{">" if kind == "<" else chr(34)}'
            if kind == '<':
                for pattern, owners, what in SYSTEM_OWNERS:
                    if pattern.search(name) and here not in owners:
                        problems.append(f'{where}: {what} headers belong to {", ".join(sorted(owners))}/ only')
                continue
            target = headers.get(os.path.basename(name))
            if target is None:
                problems.append(f'{where}: no such header in the tree')
                continue
            there = folder_of(target)
            if there != here and RANK[there] > RANK[here]:
                problems.append(f'{where}: upward, {here}/ may not include {there}/')
    # ui never sees Vulkan, through any chain of includes.
    for rel in files:
        if folder_of(rel) != 'ui':
            continue
        chain = vulkan_chain(rel, files, headers)
        if chain:
            problems.append(f'{rel}: sees Vulkan through {" → ".join(chain)}')
    return problems


def vulkan_chain(start, files, headers):
    """The first include path from `start` to a vk/ or shaders/ header or to a Vulkan system header."""
    stack, seen = [(start, [])], {start}
    while stack:
        rel, path = stack.pop()
        for _, kind, name in files.get(rel, []):
            if kind == '<':
                if VULKAN.search(name):
                    return path + [f'<{name}>']
                continue
            target = headers.get(os.path.basename(name))
            if target is None or target in seen:
                continue
            if folder_of(target) in ('vk', 'shaders'):
                return path + [target]
            seen.add(target)
            stack.append((target, path + [target]))
    return None


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    print(f'{len(problems)} layer violation(s) under {sys.argv[1]}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
