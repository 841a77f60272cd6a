package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Names of everything the harness creates for run r and host i. Interface names stay under
// the kernel's 15 bytes; the patterns are what the leftover sweep matches.
// Host i has address 10.77.<r>.<i+1>; the bridge (the harness itself) has .254.
func bridgeName(r int) string   { return fmt.Sprintf("shb%d", r) }
func nsName(r, i int) string    { return fmt.Sprintf("shoal-%d-h%d", r, i) }
func vethName(r, i int) string  { return fmt.Sprintf("shv%dh%d", r, i) }
func hostAddr(r, i int) string  { return fmt.Sprintf("10.77.%d.%d", r, i+1) }
func bridgeAddr(r int) string   { return fmt.Sprintf("10.77.%d.254", r) }
func nsPath(r, i int) string    { return "/run/netns/" + nsName(r, i) }
func cgroupRel(r, i int) string { return fmt.Sprintf("%s/%d/h%d", cgroupRoot, r, i) }
func runCgroupRel(r int) string { return fmt.Sprintf("%s/%d", cgroupRoot, r) }
func hostName(i int) string     { return fmt.Sprintf("h%d", i) }

const (
	nsIface        = "eth0"      // a host's interface inside its namespace
	partitionTable = "shoalpart" // the nftables table holding a host's partition rules
	lossTable      = "shoalloss" // the nftables table holding a host's packet loss rule
)

// command runs a program and returns its combined output, with the command line in the error.
func command(ctx context.Context, name string, args ...string) (string, error) {
	return runIn(ctx, nil, name, args...)
}

func runIn(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inNS runs a command inside host i's network namespace only (no new mount namespace, unlike
// `ip netns exec`, which remounts /sys and would hide the cgroup hierarchies from a peer).
func inNS(ctx context.Context, r, i int, name string, args ...string) (string, error) {
	return nsRun(ctx, r, i, nil, name, args...)
}

func nsRun(ctx context.Context, r, i int, stdin []byte, name string, args ...string) (string, error) {
	return runIn(ctx, stdin, "nsenter", append([]string{"--net=" + nsPath(r, i), "--", name}, args...)...)
}

// setupBridge creates the run's bridge with the harness' own address on it, so the test
// process (in the root namespace) reaches every host's API.
func setupBridge(ctx context.Context, r int) error {
	br := bridgeName(r)
	steps := [][]string{
		{"link", "add", br, "type", "bridge"},
		{"addr", "add", bridgeAddr(r) + "/24", "dev", br},
		{"link", "set", br, "up"},
	}
	for _, s := range steps {
		if _, err := command(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// setupHostNet creates host i's namespace, its veth pair (eth0 inside, shv<r>h<i> on the
// bridge) and its address, with loopback up.
func setupHostNet(ctx context.Context, r, i int) error {
	ns, veth := nsName(r, i), vethName(r, i)
	steps := [][]string{
		{"netns", "add", ns},
		{"link", "add", veth, "type", "veth", "peer", "name", nsIface, "netns", ns},
		{"link", "set", veth, "master", bridgeName(r), "up"},
		{"-n", ns, "addr", "add", hostAddr(r, i) + "/24", "dev", nsIface},
		{"-n", ns, "link", "set", nsIface, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := command(ctx, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// setBlocked replaces host i's partition rules: traffic to and from each address in blocked
// is dropped inside the host's namespace (input and output, so both directions are cut even
// if only one side's rules were applied). An empty list removes the rules.
func setBlocked(ctx context.Context, r, i int, blocked []string) error {
	tbl := partitionTable
	var b strings.Builder
	// "add" then "delete" makes the delete valid whether or not the table exists; the
	// whole file is one transaction.
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", tbl, tbl)
	if len(blocked) > 0 {
		sort.Strings(blocked)
		set := strings.Join(blocked, ", ")
		fmt.Fprintf(&b, "table inet %s {\n", tbl)
		fmt.Fprintf(&b, "\tchain in { type filter hook input priority -10; policy accept; ip saddr { %s } drop; }\n", set)
		fmt.Fprintf(&b, "\tchain out { type filter hook output priority -10; policy accept; ip daddr { %s } drop; }\n", set)
		b.WriteString("}\n")
	}
	_, err := nsRun(ctx, r, i, []byte(b.String()), "nft", "-f", "-")
	return err
}

// ErrNoDelay wraps the reason a delay could not be added: the kernel lacks the netem qdisc
// (CONFIG_NET_SCH_NETEM) and the userspace delay line could not be set up either.
var ErrNoDelay = errors.New("packet delay cannot be emulated")

// setNetem shapes the traffic leaving host i (its eth0): loss in percent, a fixed delay.
// Zero loss and zero delay remove the shaping. With the netem qdisc, tc does both and
// delayed is true; without it (this kernel), loss is an nftables rule on the namespace's
// output hook (numgen random) and the caller must add the delay (delayed false).
func setNetem(ctx context.Context, r, i int, lossPct float64, delay time.Duration) (delayed bool, err error) {
	ns := nsName(r, i)
	var errs []error
	// Remove whatever shaping is in place; errors here mean "nothing to remove".
	_, _ = command(ctx, "tc", "-n", ns, "qdisc", "del", "dev", nsIface, "root")
	if _, err := nsRun(ctx, r, i, []byte(fmt.Sprintf("add table inet %s\ndelete table inet %s\n", lossTable, lossTable)), "nft", "-f", "-"); err != nil {
		errs = append(errs, err)
	}
	if lossPct == 0 && delay == 0 {
		return true, errors.Join(errs...)
	}
	args := []string{"-n", ns, "qdisc", "replace", "dev", nsIface, "root", "netem"}
	if delay > 0 {
		args = append(args, "delay", fmt.Sprintf("%dms", delay.Milliseconds()))
	}
	if lossPct > 0 {
		args = append(args, "loss", fmt.Sprintf("%g%%", lossPct))
	}
	_, err = command(ctx, "tc", args...)
	if err == nil {
		return true, errors.Join(errs...)
	}
	if !strings.Contains(err.Error(), "qdisc kind is unknown") {
		return false, errors.Join(append(errs, err)...)
	}
	if lossPct > 0 {
		// numgen random mod 10000 gives 0.01% steps.
		match := fmt.Sprintf("numgen random mod 10000 < %d", int(lossPct*100+0.5))
		if lossPct >= 100 {
			match = ""
		}
		rule := fmt.Sprintf("table inet %s {\n\tchain out { type filter hook output priority -5; policy accept; %s drop; }\n}\n", lossTable, match)
		if _, err := nsRun(ctx, r, i, []byte(rule), "nft", "-f", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	return delay == 0, errors.Join(errs...)
}

// shaping returns a description of host i's traffic shaping: its qdisc and loss rules.
func shaping(ctx context.Context, r, i int) (string, error) {
	q, err := command(ctx, "tc", "-n", nsName(r, i), "qdisc", "show", "dev", nsIface)
	if err != nil {
		return "", err
	}
	rules, _ := nsRun(ctx, r, i, nil, "nft", "list", "table", "inet", lossTable)
	return q + rules, nil
}

// DialFrom opens a connection from inside host i's network namespace, as a process on that
// host would: the socket is created on an OS thread switched into the namespace with
// setns(2), and keeps that namespace for its lifetime.
func (c *Cluster) DialFrom(ctx context.Context, i int, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is never unlocked: if switching back failed it must not be reused, and
		// a locked thread is discarded when its goroutine exits.
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer self.Close()
		target, err := os.Open(nsPath(c.Run, i))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			ch <- result{nil, fmt.Errorf("entering %s: %w", nsName(c.Run, i), err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if rerr := setns(self); rerr == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{conn, err}
	}()
	res := <-ch
	return res.conn, res.err
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// HTTPFrom returns an HTTP client whose connections start inside host i's namespace. Its
// dials give up after timeout too: http.Transport goes on dialling after the request has
// timed out, and a dial to a partitioned host would wait out the kernel's SYN retries
// (about two minutes) on a thread in the namespace, after the test and its cluster are gone.
func (c *Cluster) HTTPFrom(i int, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return c.DialFrom(ctx, i, network, addr)
		},
	}}
}
