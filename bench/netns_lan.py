"""The namespace LAN of the bench/ probes, laid out as bench/xleave.sh lays it: a bridge in
namespace PREFIXbr and, per host number i, a namespace PREFIXhi whose eth0 (198.18.0.i/24)
is one end of a veth pair, the other end (vi) a port of the bridge. Imported by
bench/chronyd-leg-probe.py and bench/txstamp-probe.py, which Python runs as scripts: their
own directory (bench/) is first on the module path, whatever the working directory."""
import os
import signal
import subprocess


def sh(*argv):
    subprocess.run(argv, check=True)


def up(prefix, hosts):
    """The bridge and one namespace per host number in `hosts`; returns the hosts' namespace
    names. On failure what was made stays for down() to remove."""
    br = f"{prefix}br"
    sh("ip", "netns", "add", br)
    sh("ip", "-n", br, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", br, "link", "set", "br0", "up")
    # no netfilter on the bridge (with it, the bridge's transmit stamp of a datagram goes;
    # bench/txstamp-probe.py)
    sh("ip", "netns", "exec", br, "sh", "-c",
       "for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e $f ] && echo 0 >$f; done; true")
    names = []
    for i in hosts:
        ns = f"{prefix}h{i}"
        sh("ip", "netns", "add", ns)
        names.append(ns)
        sh("ip", "-n", br, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        sh("ip", "-n", br, "link", "set", f"v{i}", "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"198.18.0.{i}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    return names


def down(prefix, hosts):
    """Kill what still runs in the LAN's namespaces and delete them (those that exist)."""
    for ns in [f"{prefix}h{i}" for i in hosts] + [f"{prefix}br"]:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
