#!/usr/bin/env python3
"""Sender-authentication zones for levee's auth benchmark (auth.sh).

usage: authzones.py CORPUS DIR RSA_RECORD ED25519_RECORD

From the corpus (a directory or .tar.gz with envelope.jsonl and the .eml
files) it writes, for nsd, one zone per top-level label of every name a
message makes levee look up, into DIR/zones/ plus DIR/nsd-zones.conf:

  - SPF: each envelope sender domain allows the client IPs it was seen with
    (up to 8: "v=spf1 ip4:... ~all"), so SPF passes for those messages;
    each HELO name likewise (the null sender's identity);
  - DKIM: the benchmark's own public key (RSA_RECORD or ED25519_RECORD, by
    the signature's a=) at every selector._domainkey.domain of the corpus's
    DKIM-Signature fields: levee does the whole verification (body hash and
    public-key operation), which then fails, the corpus having been signed
    with other keys;
  - DMARC: every From domain gets a record (p=none, one in four p=quarantine,
    one in eight p=reject);
  - every other name under those labels is NXDOMAIN with a one-hour negative
    TTL, so that levee's cache holds every answer after a warm-up.
"""
import json, os, re, sys, tarfile

corpus, work, rsa_rec, ed_rec = sys.argv[1:5]
label = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def valid(name):
    name = name.strip().strip(".").lower()
    parts = name.split(".")
    if len(parts) < 2 or len(name) > 200 or parts[-1].isdigit():
        return ""
    return name if all(label.match(p) for p in parts) else ""


msgs = []  # (envelope, header bytes)
if os.path.isdir(corpus):
    lines = open(os.path.join(corpus, "envelope.jsonl"), "rb").read().splitlines()
    env = [json.loads(l) for l in lines if l.strip()]
    for e in env:
        try:
            raw = open(os.path.join(corpus, e["file"]), "rb").read()
        except OSError:
            continue
        msgs.append((e, raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]))
else:
    with tarfile.open(corpus) as t:
        files, env = {}, []
        for m in t:
            if m.name.endswith("envelope.jsonl"):
                env = [json.loads(l) for l in t.extractfile(m).read().splitlines() if l.strip()]
            elif m.isfile() and m.name.endswith(".eml"):
                # keyed by the member's whole name: envelope.jsonl's "file"
                # is "ham/x.eml", at the top of the tarball or below one
                # directory ("dev/ham/x.eml")
                files[m.name] = t.extractfile(m).read()
        for e in env:
            raw = files.get(e["file"]) or next((v for k, v in files.items() if k.endswith("/" + e["file"])), None)
            if raw is not None:
                msgs.append((e, raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]))

records = {}  # name -> [txt]
def add(name, txt):
    records.setdefault(name, [])
    if txt not in records[name]:
        records[name].append(txt)

spf_ips = {}
from_domains = []
dkim = {}
fromre = re.compile(rb"^from:(.*)$", re.I | re.M)
addrre = re.compile(rb"[\w.+=-]+@([\w.-]+)")
for e, head in msgs:
    ip = e.get("client_ip") or ""
    if ":" in ip or not ip:
        ip = ""
    for who in (e.get("mail_from", "").rpartition("@")[2], e.get("helo", "")):
        d = valid(who)
        if d and ip:
            s = spf_ips.setdefault(d, [])
            if ip not in s and len(s) < 8:
                s.append(ip)
    unfolded = re.sub(rb"\n[ \t]+", b" ", head)
    m = fromre.search(unfolded)
    if m:
        a = addrre.search(m.group(1))
        if a:
            d = valid(a.group(1).decode("ascii", "replace"))
            if d and d not in from_domains:
                from_domains.append(d)
    for line in unfolded.split(b"\n"):
        if not line.lower().startswith(b"dkim-signature:"):
            continue
        tags = {}
        for part in line.split(b":", 1)[1].split(b";"):
            k, _, v = part.partition(b"=")
            tags[k.strip().decode("ascii", "replace")] = re.sub(rb"\s", b"", v).decode("ascii", "replace")
        d, s = valid(tags.get("d", "")), tags.get("s", "").lower()
        if d and s and all(label.match(p) for p in s.split(".")):
            dkim[s + "._domainkey." + d] = tags.get("a", "").startswith("ed25519")

for d, ips in spf_ips.items():
    add(d, "v=spf1 " + " ".join("ip4:" + i for i in ips) + " ~all")
for i, d in enumerate(from_domains):
    p = "reject" if i % 8 == 7 else "quarantine" if i % 4 == 3 else "none"
    add("_dmarc." + d, "v=DMARC1; p=%s; rua=mailto:dmarc@%s" % (p, d))
for name, ed in dkim.items():
    add(name, ed_rec if ed else rsa_rec)

def txt(s):
    return "( " + " ".join('"%s"' % s[i:i + 255] for i in range(0, len(s), 255)) + " )"

zones = {}
for name, txts in records.items():
    zones.setdefault(name.rpartition(".")[2], []).append((name, txts))
# every last label of every name looked up gets a zone, empty or not
for d in list(spf_ips) + from_domains + [n.split("._domainkey.")[1] for n in dkim]:
    zones.setdefault(d.rpartition(".")[2], [])
os.makedirs(os.path.join(work, "zones"), exist_ok=True)
with open(os.path.join(work, "nsd-zones.conf"), "w") as conf:
    for z, recs in sorted(zones.items()):
        with open(os.path.join(work, "zones", z + ".zone"), "w") as f:
            f.write("$ORIGIN %s.\n$TTL 3600\n@ IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 3600\n@ IN NS ns.bench.invalid.\n" % z)
            for name, txts in recs:
                for t in txts:
                    f.write("%s. IN TXT %s\n" % (name, txt(t)))
        conf.write('zone:\n\tname: "%s."\n\tzonefile: "%s.zone"\n' % (z, z))
print("%d zones, %d SPF, %d DMARC, %d DKIM key names" % (len(zones), len(spf_ips), len(from_domains), len(dkim)), file=sys.stderr)
