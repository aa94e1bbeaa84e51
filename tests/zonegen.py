"""Zones generated for the differential tests: every directive, type and syntax edge the parser
handles, varied by a seed so each run covers a different mix. Every zone loads in BIND."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from pathlib import Path

KEY = base64.b64encode(bytes(range(1, 65))).decode()
SIG = base64.b64encode(bytes(range(100, 164))).decode()


def split(text: str, rng: random.Random) -> str:
    """Splits base64 or hex into space-separated chunks, as zone files often do."""
    if rng.random() < 0.5:
        return text
    size = rng.randint(4, 20)
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def hexstr(rng: random.Random, length: int) -> str:
    return bytes(rng.getrandbits(8) for _ in range(length)).hex()


def txt_string(rng: random.Random) -> str:
    pieces = [
        "hello world",
        'say \\"hi\\"',
        "semi;colon",
        "back\\\\slash",
        "tab\\009x",
        "v=spf1 -all",
        "\\255\\000",
    ]
    return '"' + rng.choice(pieces) + str(rng.randint(0, 99)) + '"'


def ilnp64(rng: random.Random) -> str:
    """A 64-bit ILNP node id or locator (NID, L64), as RFC 6742 writes it."""
    return ":".join(f"{rng.getrandbits(16):04x}" for _ in range(4))


def registry_types(rng: random.Random, add: Callable[[str], None]) -> None:
    """Records of the registry's rarer types that dnspython reads, fields varied by `rng`.
    Names inside HIP, AMTRELAY, DSYNC, NSAP-PTR and LP rdata are lowercase: dnspython keeps
    their case in the canonical wire form (they are not in RFC 4034 6.2), dnsmill lowercases
    every name."""
    ports = " ".join(str(port) for port in rng.sample(range(1024), rng.randint(0, 5)))
    add(f"wks WKS 192.0.2.{rng.randint(1, 254)} {rng.choice(['6', '17', 'TCP', 'udp'])} {ports}")
    add(f"x25 X25 {rng.randint(1000, 10**15)}")
    subaddress = rng.choice(["", " 004", ' "0ab"'])
    add(f'isdn ISDN "{rng.randint(10**8, 10**15)}"{subaddress}')
    nsap = hexstr(rng, rng.randint(1, 20))
    add(f"nsap NSAP 0x{'.'.join(nsap[i : i + 4] for i in range(0, len(nsap), 4))}")
    add("nsap NSAP-PTR nsap-ptr.example.net.")
    add(
        f"@ SIG A 8 2 3600 20300101000000 20240101000000 {rng.randint(0, 65535)} Example.COM. {split(SIG, rng)}"
    )
    add(f"px PX {rng.randint(0, 65535)} Net2.IT. PRMD-net2.ADMD-p400.C-it.")
    latitude = f"{rng.uniform(-90, 90):.{rng.randint(0, 6)}f}"
    longitude = f"{rng.uniform(-180, 180):.{rng.randint(0, 6)}f}"
    add(f'gpos GPOS {latitude} "{longitude}" {rng.uniform(-100, 9000):.1f}')
    hit = hexstr(rng, 16)
    servers = " ".join(f"rvs{i}.example.com." for i in range(rng.randint(0, 2)))
    add(f"hip HIP {rng.choice([1, 2, 3, 5])} {rng.choice([hit, hit.upper()])} {KEY} {servers}")
    # Knot 3.2 reads KEY, but not one without key data.
    add("nokey KEY 49152 3 RSASHA256")
    add(f"@ NINFO {txt_string(rng)} {txt_string(rng)}")
    add(
        f"_dsync DSYNC {rng.choice(['CDS', 'CSYNC', 'TYPE1234'])} {rng.choice(['NOTIFY', '1', '2'])} {rng.randint(0, 65535)} scanner.example.net."
    )
    add(f"drip HHIT {split(KEY, rng)}")
    add(f"drip BRID {split(SIG, rng)}")
    add('@ AVC "app-name:WOLFGANG|app-class:OAM|business=yes"')
    add(f"amt AMTRELAY {rng.randint(0, 255)} {rng.randint(0, 1)} 0 .")
    add(f"amt AMTRELAY 10 {rng.randint(0, 1)} 1 203.0.113.{rng.randint(1, 254)}")
    add(f"amt AMTRELAY 20 0 2 2001:DB8::{rng.randint(1, 9999):x}")
    add("amt AMTRELAY 128 1 3 amtrelays.example.com.")
    add("resolver RESINFO qnamemin exterr=15,16,17 infourl=https://resolver.example.com/guide")
    add(f"@ WALLET BTC {txt_string(rng)}")
    add(f"sub DLV 60485 {rng.choice(['5', 'RSASHA1'])} 1 {split(hexstr(rng, 20), rng)}")
    add(
        "wks NSEC ns1.example.com. A WKS X25 ISDN NSAP NSAP-PTR SIG PX GPOS HIP NINFO DSYNC HHIT BRID NXNAME AVC AMTRELAY RESINFO WALLET DLV"
    )


def generated_zone(seed: int, include_dir: Path | None = None, *, for_dnspython: bool = False) -> str:
    """A zone for `seed`. `for_dnspython` leaves out the constructs where dnspython departs
    from BIND (dnsmill follows BIND there; each is listed below with the reason), and adds the
    types that Knot 3.2 cannot read: the BIND and Knot tests check what dnsmill writes with
    Debian 12's kzonecheck, so those types appear only in the zones compared with dnspython."""
    rng = random.Random(seed)
    lines: list[str] = []
    add = lines.append
    ttl_form = rng.choice(["1h", "3600", "60m", "1H"])
    add(f"$TTL {ttl_form} ; default")
    add("$ORIGIN example.com.")
    add("@ IN SOA ns1 Hostmaster.Example.COM. (")
    add(f"        {rng.randint(1, 4_000_000_000)} ; serial")
    add("        1h ; refresh")
    add("        15M 1w")
    add("        1d )  ; end")
    add("\tNS ns1")
    add("@ IN NS NS2.Example.Com.")
    add("ns1 A 192.0.2.1")
    add("ns2 IN 300 A 192.0.2.2")
    add("")
    add("; a comment line")
    for i in range(rng.randint(5, 15)):
        owner = f"host{i}"
        add(f"{owner} {rng.choice(['', '120 ', 'IN ', '120 IN ', 'IN 120 '])}A 198.51.100.{i}")
        if rng.random() < 0.5:
            add(f"\t{rng.choice(['', '120 ', 'IN '])}AAAA 2001:DB8:{i:x}:0:0:0:0:{rng.randint(1, 9999):x}")
        if rng.random() < 0.3:
            add(f"{owner}.example.com. TXT {txt_string(rng)} {txt_string(rng)}")
    add("alias CNAME host0")
    add("alias2 CNAME Host1.Example.Com.")
    add("@ MX 10 Mail")
    add("@ MX 20 mail2.example.net.")
    add("mail A 192.0.2.25")
    add("@ TXT unquoted " + txt_string(rng))
    add('@ SPF "v=spf1 ip4:192.0.2.0/24 -all"')
    add(f"_sip._tcp SRV {rng.randint(0, 10)} 60 5060 sip")
    add('@ NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .')
    add('@ CAA 0 issue "ca.example.net"')
    add('@ CAA 128 iodef "mailto:security@example.com"')
    add('@ HINFO "PC-Intel" "Linux 6"')
    add("@ RP admin.example.com. txt.example.com.")
    add("@ AFSDB 1 afs")
    add("@ LOC 52 22 23.000 N 4 53 32.000 E -2.00m 1m 10000m 10m")
    add("loc2 LOC 42 21 N 71 W 24m")
    add(f"@ DNSKEY 257 3 8 ( {split(KEY, rng)} )")
    add(f"@ CDNSKEY 257 3 RSASHA256 {split(KEY, rng)}")
    add(
        f"@ RRSIG A 8 2 3600 20300101000000 {rng.choice(['20240101000000', '1704067200'])} 12345 example.com. {split(SIG, rng)}"
    )
    add("@ NSEC host0.example.com. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY TYPE1234")
    add(f"@ NSEC3PARAM 1 0 {rng.randint(0, 10)} {rng.choice(['-', 'AABBCCDD'])}")
    add("@ SSHFP 4 2 " + split(hexstr(rng, 32), rng))
    add("@ OPENPGPKEY " + split(KEY, rng))
    add("@ DHCID AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=")
    add('@ URI 10 1 "ftp://ftp1.example.com/public"')
    add("@ ZONEMD 2024010101 1 1 ( " + split(hexstr(rng, 48), rng) + " )")
    add("@ CSYNC 66 3 A NS AAAA")
    add(f"@ IPSECKEY 10 1 2 192.0.2.38 {KEY}")
    add(f"ipsec2 IPSECKEY 10 3 2 gw.example.net. {KEY}")
    add("@ KX 10 kx")
    add("@ APL 1:192.168.32.0/21 !1:192.168.38.0/28 2:ff00::/8")
    add("@ EUI48 00-00-5E-00-53-2A")
    add("@ EUI64 00-00-5e-ef-10-00-00-2a")
    add('@ HTTPS 1 . alpn="h2,h3" port=8443 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1')
    add("svc SVCB 0 svc.example.net.")
    add('svc2 SVCB 16 foo.example.org. mandatory=alpn alpn=h2 key667="hello" no-default-alpn')
    add("_443._tcp TLSA 3 1 1 " + split(hexstr(rng, 32), rng))
    add("smime SMIMEA 3 1 1 " + hexstr(rng, 32))
    add("nsec3owner NSEC3 1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG")
    add("sub NS ns.sub")
    add("ns.sub A 192.0.2.53")
    add(f"sub DS 60485 5 1 {split(hexstr(rng, 20), rng)}")
    add(f"sub CDS 60485 RSASHA1 2 {hexstr(rng, 32)}")
    add(f"cert CERT PGP 0 0 {KEY}")
    add(f"cert2 CERT 1 65535 RSASHA256 {KEY}")
    add("dn DNAME other.example.net.")
    add("1.2 PTR ptr-target")
    add(f"@ RT {rng.randint(0, 65535)} Relay.Example.NET.")
    add(
        f"key KEY {rng.choice(['256', 'NOAUTH|ZONE', '512'])} {rng.choice(['3', 'DNSSEC'])} 8 {split(KEY, rng)}"
    )
    add(f"ilnp NID {rng.randint(0, 65535)} {ilnp64(rng)}")
    add(f"ilnp L32 10 10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0")
    add(f"ilnp L64 {rng.randint(0, 65535)} {ilnp64(rng).upper()}")
    add("ilnp LP 10 l64-subnet1.example.com.")
    add("ilnp NSEC ns1.example.com. A MINFO RT KEY NID L32 L64 LP")
    if not for_dnspython:
        # dnspython reads MINFO only in the generic form.
        add("@ MINFO Admin.example.com. errors")
    else:
        registry_types(rng, add)
    add("generic TYPE1 \\# 4 C0000202")
    add("generic2 TYPE65280 \\# 3 abcdef")
    add("generic3 CLASS1 TYPE16 \\# 6 05 68656c6c6f")
    add("escaped\\.dot A 192.0.2.99")
    add("$ORIGIN sub2.example.com.")
    add("a A 10.0.0.1")
    add('@ TXT "in sub2"')
    add("$ORIGIN example.com.")
    add("$TTL 2h")
    add(f"$GENERATE 1-{rng.randint(2, 20)} gen$ A 10.1.0.$")
    add("$GENERATE 0-8/4 pgen${0,3,d} PTR tgt${10,4,x}")
    if not for_dnspython:
        # dnspython misreads a $GENERATE line that gives both a TTL and a class before the type.
        add('$GENERATE 1-3 mxgen$ 60 IN MX "10 mx$"')
    add("crlf A 192.0.2.77\r")
    add('crlf2 TXT "crlf"\r')
    if include_dir is not None:
        child = include_dir / f"child-{seed}.zone"
        child.write_text(
            'inc A 192.0.2.200\n\tTXT "included"\n$ORIGIN elsewhere.example.com.\nx A 192.0.2.201\n'
        )
        add(f"$INCLUDE {child} inc.example.com.")
        add("\tAAAA ::1")
        add("afterinclude A 192.0.2.202")
    return "\n".join(lines) + "\n"
