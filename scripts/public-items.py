#!/usr/bin/env python3
# The public API items of the crate, counted from rustdoc JSON: walked from the root through
# public modules (glob re-exports of private modules followed, each item counted once):
# modules, types, functions, constants, fields, variants and inherent methods; trait,
# synthetic and blanket impls are not counted.
#   cargo +nightly rustdoc --lib --all-features -- -Z unstable-options --output-format json
#   python3 scripts/public-items.py target/doc/roboflow_batch.json [--list]
import json,sys
d=json.load(open(sys.argv[1])); idx=d['index']
seen=set(); out=[]
def visit(i,path):
    i=str(i)
    if i in seen or i not in idx: return
    seen.add(i); it=idx[i]; inner=it['inner']; kind=next(iter(inner))
    if it.get('visibility')!='public' and kind not in ('variant',) and path: return
    if kind=='use':
        u=inner['use']
        if u['id'] is None: return
        if u['is_glob']:
            t=idx.get(str(u['id']))
            if t and 'module' in t['inner']:
                for c in t['inner']['module']['items']: visit(c,path)
        else: visit(u['id'],path)
        return
    name=it.get('name'); out.append((kind,path+'::'+str(name)))
    p=path+'::'+str(name)
    if kind=='module':
        for c in inner['module']['items']: visit(c,p)
    elif kind=='struct':
        s=inner['struct']; k=s['kind']
        if isinstance(k,dict) and 'plain' in k:
            for f in k['plain']['fields']: visit(f,p)
        elif isinstance(k,dict) and 'tuple' in k:
            for f in k['tuple']:
                if f is not None: visit(f,p)
        for im in s['impls']: visit_impl(im,p)
    elif kind=='enum':
        e=inner['enum']
        for v in e['variants']: visit(v,p)
        for im in e['impls']: visit_impl(im,p)
    elif kind=='variant':
        k=inner['variant']['kind']
        if isinstance(k,dict) and 'struct' in k:
            for f in k['struct']['fields']: visit(f,p)
    elif kind=='trait':
        for c in inner['trait']['items']: visit(c,p)
def visit_impl(i,p):
    it=idx[str(i)]['inner']['impl']
    if it['trait'] is not None or it['is_synthetic'] or it['blanket_impl'] is not None: return
    for c in it['items']: visit(c,p)
r=idx[str(d['root'])]
for c in r['inner']['module']['items']: visit(c,'roboflow_batch')
print(len(out))
if len(sys.argv)>2:
    for k,p in sorted(out,key=lambda x:x[1]): print(k,p)
