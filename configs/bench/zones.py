#!/usr/bin/env python3
"""DNSBL zones for the benchmarks, made from a corpus's envelope.jsonl.

usage: zones.py CORPUS DIR [--empty-zones]

Writes DIR/zen.txt, DIR/dnswl.txt and DIR/dbl.txt for rbldnsd (a third of
the spam client IPs and a quarter of the spam senders' domains listed, every
50th ham client IP allow-listed, the RFC 5782 test entries) and DIR/count
(the number of messages). With --empty-zones (rspamd's bench) also
DIR/empty.txt and DIR/labels: every TLD and every last label of a host name
in the corpus, each to be served as an empty zone, so that any other lookup
gets NXDOMAIN at once instead of REFUSED.
"""
import json, os, re, sys, tarfile

corpus, work = sys.argv[1], sys.argv[2]
empty_zones = "--empty-zones" in sys.argv[3:]
heads = []
if os.path.isdir(corpus):
    lines = open(os.path.join(corpus, "envelope.jsonl"), "rb").read().splitlines()
    for d, _, fs in os.walk(corpus):
        for f in fs:
            if empty_zones and f.endswith(".eml"):
                heads.append(open(os.path.join(d, f), "rb").read().split(b"\n\n", 1)[0])
else:
    with tarfile.open(corpus) as t:
        lines = None
        for m in t:
            if m.name.endswith("envelope.jsonl"):
                lines = t.extractfile(m).read().splitlines()
            elif empty_zones and m.isfile() and m.name.endswith(".eml"):
                b = t.extractfile(m).read().replace(b"\r\n", b"\n")
                heads.append(b.split(b"\n\n", 1)[0])
env = [json.loads(l) for l in lines if l.strip()]
open(os.path.join(work, "count"), "w").write("%d\n" % len(env))
spam = [e for e in env if e.get("class") == "spam"]
ham = [e for e in env if e.get("class") == "ham"]
# $SOA gives NXDOMAIN answers a one-hour negative TTL (RFC 2308), so the
# cache keeps them for the whole run
soa = "$SOA 3600 bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 3600\n"
def ips(es, step):
    return sorted({e["client_ip"] for e in es[::step] if e.get("client_ip") and ":" not in e["client_ip"]})
with open(os.path.join(work, "zen.txt"), "w") as f:
    f.write(soa + ":127.0.0.2:Listed by the levee bench\n127.0.0.2\n")
    for i, ip in enumerate(ips(spam, 3)):
        f.write("%s :127.0.0.%d:\n" % (ip, (2, 4, 11)[i % 3]))
with open(os.path.join(work, "dnswl.txt"), "w") as f:
    f.write(soa + ":127.0.10.2:dnswl\n127.0.0.2\n")
    for ip in ips(ham, 50):
        f.write(ip + "\n")
with open(os.path.join(work, "dbl.txt"), "w") as f:
    f.write(soa + ":127.0.1.2:Listed by the levee bench\ntest\ndbltest.com\n")
    doms = sorted({e["mail_from"].rpartition("@")[2].lower() for e in spam[::4] if "@" in e.get("mail_from", "")})
    f.write("".join(d + "\n" for d in doms if d))
if empty_zones:
    # Empty zones (NXDOMAIN for every name in them): every TLD of the public
    # suffix list, and the last label of every host name the corpus gives rspamd
    # to look up (envelope HELO, rDNS name, sender; header addresses, Received
    # hosts, DKIM d=), so that no lookup is ever REFUSED.
    open(os.path.join(work, "empty.txt"), "w").write(soa)
    labels = {"arpa"}
    for l in open("/usr/share/rspamd/effective_tld_names.dat", encoding="utf-8"):
        l = l.strip()
        if l and not l.startswith("//"):
            labels.add(l.split(".")[-1].lstrip("!*").lower())
    names = []
    for e in env:
        names += [e.get("helo", ""), e.get("client_name", ""), e.get("mail_from", "").rpartition("@")[2]]
        names += [r.rpartition("@")[2] for r in e.get("rcpt_to", []) if isinstance(r, str)]
    hostre = re.compile(rb"(?:@|\bfrom |\bby |\bhelo=|\bd=|\(|\[)\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\.?", re.I)
    for h in heads:
        names += [m.decode("ascii", "replace") for m in hostre.findall(h)]
    for nm in names:
        last = nm.strip().strip(".").rpartition(".")[2].lower()
        if last:
            labels.add(last)
    ok = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
    labels = sorted(l for l in labels if ok.match(l) and not l.isdigit())
    open(os.path.join(work, "labels"), "w").write("".join(l + "\n" for l in labels))
