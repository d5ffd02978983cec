#!/usr/bin/env python3
"""The library's module graph and its cycles: exit 1 naming each cycle and the files that make it.

Edges are `crate::<module>` paths outside comments in each top-level module of src/lib.rs (a
`use` or a full path alike). `.ci/run` runs it, so an import cycle between modules fails CI; the
README's "Project layout" gives the intended direction. Usage: scripts/module-cycles.py [--graph] [src] (--graph also prints every module's edges)"""
import os,re,sys,collections
args=[a for a in sys.argv[1:] if a!='--graph']
root=args[0] if args else 'src'
lib=open(os.path.join(root,'lib.rs')).read()
mods=re.findall(r'^pub mod (\w+);',lib,re.M)
def files(m):
    d=os.path.join(root,m)
    if os.path.isdir(d):
        for dp,_,fs in os.walk(d):
            for f in fs:
                if f.endswith('.rs'): yield os.path.join(dp,f)
    else: yield d+'.rs'
G=collections.defaultdict(set); why=collections.defaultdict(list)
for m in mods:
    for f in files(m):
        text=open(f).read()
        # ignore comments
        text=re.sub(r'//[^\n]*','',text)
        for n in re.findall(r'crate::(\w+)',text):
            if n in mods and n!=m:
                G[m].add(n); why[(m,n)].append(f)
# Tarjan SCC
idx={};low={};st=[];on=set();sccs=[];c=[0]
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in G[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        sccs.append(comp)
for m in mods:
    if m not in idx: sc(m)
cyc=[s for s in sccs if len(s)>1]
if '--graph' in sys.argv:
    for m in mods: print(f"{m:12} -> {' '.join(sorted(G[m]))}")
if cyc:
    for s in cyc:
        print('CYCLE:',' '.join(sorted(s)))
        for a in s:
            for b in s:
                if (a,b) in why: print(f"   {a} -> {b}: {sorted(set(why[(a,b)]))}")
    sys.exit(1)
print('no cycle between modules')
