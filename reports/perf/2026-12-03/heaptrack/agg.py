import sys, re, collections
strings=[None]; ips=[None]; traces=[None]; D=[]
for line in open(sys.argv[1]):
    c=line[0]; rest=line[2:].rstrip('\n')
    if c=='s':
        strings.append(rest.split(' ',1)[1] if ' ' in rest else '')
    elif c=='i':
        f=rest.split(); ips.append((int(f[2],16), int(f[3],16)) if len(f)>=4 else (0,0))
    elif c=='t':
        a,b=rest.split(); traces.append((int(a,16), int(b,16)))
    elif c=='D':
        sz,tr,d=rest.split(); D.append((int(sz),int(tr),int(d)))
depth=int(sys.argv[2]); top=int(sys.argv[3])
skip=re.compile(r'^(alloc::|core::|std::|hashbrown::|serde_json::|serde::|imbl::|tokio::|hyper::|futures|__rust|compact_str|bytes::|http::|<alloc|<core|<std|<hashbrown|<serde|<imbl|<tokio|<hyper|<compact_str|<bytes|<http|<&)')
def short(n):
    n=re.sub(r'::h[0-9a-f]{16}$','',n)
    # drop generic args
    prev=None
    while prev!=n:
        prev=n; n=re.sub(r'<[^<>]*>','',n)
    return n
def stack(tr):
    out=[]
    while tr and len(out)<60:
        ip,parent=traces[tr]
        fn,fl=ips[ip] if ip<len(ips) else (0,0)
        out.append((strings[fn] if fn<len(strings) else '?', strings[fl] if fl<len(strings) else ''))
        tr=parent
    return out
agg=collections.Counter(); total=0
for sz,tr,d in D:
    b=sz*d; total+=b
    fr=stack(tr)
    ours=[short(f)+'@'+fl.split('/')[-1] for f,fl in fr if ('/work/main/' in fl or fl.startswith('src/') or fl.startswith('mock-server/')) ]
    agg[' < '.join(ours[:depth])]+=b
print('total growth MB', round(total/1e6,1))
for k,v in agg.most_common(top): print(f'{v/1e6:8.2f} {k[:300]}')
