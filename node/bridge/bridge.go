package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// Plugins is what the conflist runs, in order: every one must be in the plugin dir.
var Plugins = []string{"loopback", "bridge", "host-local", "firewall", "portmap"}

// cniVersion is the spec version of the conflist: the newest that Debian's
// containernetworking-plugins 1.1 speak.
const cniVersion = "1.0.0"

// ifName is the allocation's interface inside its namespace, as Nomad names it.
const ifName = "eth0"

// Config configures a Network. Start from DefaultConfig.
type Config struct {
	// PluginDir holds the CNI plugin binaries (Nomad's cni_path). Default
	// /usr/lib/cni, where Debian's containernetworking-plugins installs them.
	PluginDir string
	// Name is the bridge interface and the CNI network name (Nomad's
	// bridge_network_name). Default "shoal". Peers on one host share it, and with
	// it host-local's leases (/var/lib/cni/networks/<name>), so their
	// allocations never get the same address.
	Name string
	// Subnet the allocations' addresses come from; the bridge takes its first
	// address and is their gateway. Default 172.26.64.0/20, as Nomad's.
	Subnet string
	// NetNSDir holds a file per allocation that its network namespace is
	// bind-mounted on. Required.
	NetNSDir string
	// CacheDir is libcni's cache (each attachment's config and result), so that a
	// restarted peer deletes exactly what it added. Required; keep it under the
	// peer's data dir.
	CacheDir string
}

// DefaultConfig returns a Config with every default filled in but the dirs.
func DefaultConfig() Config {
	return Config{
		PluginDir: "/usr/lib/cni",   // Debian's containernetworking-plugins
		Name:      "shoal",          // like Nomad's bridge "nomad"
		Subnet:    "172.26.64.0/20", // Nomad's default bridge_network_subnet
	}
}

// Validate checks c without touching the host.
func (c Config) Validate() error {
	var errs []error
	if !filepath.IsAbs(c.PluginDir) {
		errs = append(errs, fmt.Errorf("cni_path %q: must be an absolute path", c.PluginDir))
	}
	if c.Name == "" || len(c.Name) > 15 || strings.ContainsAny(c.Name, "/ \t\n:") {
		errs = append(errs, fmt.Errorf("bridge_network_name %q: must be a Linux interface name (1 to 15 characters, no '/', ':' or spaces)", c.Name))
	}
	if ip, n, err := net.ParseCIDR(c.Subnet); err != nil || ip.To4() == nil {
		errs = append(errs, fmt.Errorf("bridge_network_subnet %q: must be an IPv4 CIDR such as 172.26.64.0/20", c.Subnet))
	} else if ones, _ := n.Mask.Size(); ones > 30 {
		errs = append(errs, fmt.Errorf("bridge_network_subnet %q: /%d leaves no room for allocations; accepted: /30 or larger", c.Subnet, ones))
	}
	if !filepath.IsAbs(c.NetNSDir) || !filepath.IsAbs(c.CacheDir) {
		errs = append(errs, fmt.Errorf("bridge: netns dir %q and cache dir %q must be absolute paths", c.NetNSDir, c.CacheDir))
	}
	return errors.Join(errs...)
}

// ErrPluginsMissing is returned (wrapped) by New when the plugin dir or a plugin is
// not there.
var ErrPluginsMissing = errors.New("CNI plugins missing")

// Network attaches allocations to the host's bridge through CNI. Its methods are
// safe for concurrent use on different allocation ids; Setup and Teardown of one id
// must not overlap.
type Network struct {
	cfg  Config
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

// New checks that every plugin is in c.PluginDir and builds the network's conflist.
// It changes nothing on the host: the bridge appears with the first Setup.
func New(c Config) (*Network, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPlugins(c.PluginDir); err != nil {
		return nil, err
	}
	b, err := Conflist(c)
	if err != nil {
		return nil, err
	}
	list, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("bridge: parsing our own conflist: %w", err)
	}
	// An exec of our own: libcni would set its default lazily, racing between
	// concurrent calls.
	exec := &invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{}}
	return &Network{cfg: c, list: list, cni: libcni.NewCNIConfigWithCacheDir([]string{c.PluginDir}, c.CacheDir, exec)}, nil
}

// CheckPlugins reports which of Plugins dir lacks, naming the dir, the missing
// plugins and where they usually come from.
func CheckPlugins(dir string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: cni_path %q is not a directory: install the CNI reference plugins (Debian: apt-get install containernetworking-plugins) or set cni_path", ErrPluginsMissing, dir)
	}
	var missing []string
	for _, p := range Plugins {
		if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: cni_path %q lacks the plugins %s (needed: %s): install the CNI reference plugins (Debian: apt-get install containernetworking-plugins) or set cni_path", ErrPluginsMissing, dir, strings.Join(missing, ", "), strings.Join(Plugins, ", "))
	}
	return nil
}

// Conflist is the CNI network configuration list the peer uses, shaped like the
// one Nomad writes for its bridge: loopback; a bridge that is the allocations'
// gateway, masquerades their outgoing traffic and lets them reach themselves
// through a mapped port (hairpin); host-local addresses from the subnet; the
// firewall plugin's forwarding rules; portmap's host-port DNAT (with SNAT so that
// connections from the host itself, loopback included, work).
func Conflist(c Config) ([]byte, error) {
	type obj = map[string]any
	list := obj{
		"cniVersion": cniVersion,
		"name":       c.Name,
		"plugins": []obj{
			{"type": "loopback"},
			{
				"type":         "bridge",
				"bridge":       c.Name,
				"ipMasq":       true,
				"isGateway":    true,
				"forceAddress": true,
				"hairpinMode":  true,
				"ipam": obj{
					"type":   "host-local",
					"ranges": [][]obj{{{"subnet": c.Subnet}}},
					"routes": []obj{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "firewall", "backend": "iptables", "iptablesAdminChainName": "SHOAL-ADMIN"},
			{"type": "portmap", "capabilities": obj{"portMappings": true}, "snat": true},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// PortMapping maps a host port to a port inside an allocation's namespace, for both
// tcp and udp.
type PortMapping struct {
	HostPort      int
	ContainerPort int
	HostIP        string // the host address it is reached on; "" or a wildcard: every address; else an IP
}

// Attachment is an allocation's place on the bridge.
type Attachment struct {
	NetNS     string // the network namespace's file, for the tasks to join
	IP        string // the allocation's address on the bridge
	HostIface string // the host end of its veth pair
}

// NetNSPath is the file an allocation's network namespace is bind-mounted on.
func (n *Network) NetNSPath(id string) string { return filepath.Join(n.cfg.NetNSDir, id) }

// Setup creates allocation id's network namespace and attaches it to the bridge
// with ports mapped. On error nothing of it is left.
func (n *Network) Setup(ctx context.Context, id string, ports []PortMapping) (Attachment, error) {
	for _, p := range ports {
		if p.HostIP != "" && net.ParseIP(p.HostIP) == nil {
			return Attachment{}, fmt.Errorf("attaching %s: port mapping %d -> %d: host IP %q is not an IP address; accepted: an IP, or \"\" for every address", id, p.HostPort, p.ContainerPort, p.HostIP)
		}
	}
	path := n.NetNSPath(id)
	if err := createNetNS(path); err != nil {
		return Attachment{}, fmt.Errorf("creating the network namespace of %s: %w", id, err)
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, n.runtimeConf(id, path, ports))
	if err != nil {
		err = fmt.Errorf("attaching %s to bridge %q (CNI ADD): %w", id, n.cfg.Name, err)
		return Attachment{}, errors.Join(err, n.Teardown(context.WithoutCancel(ctx), id))
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil || len(r.IPs) == 0 {
		err = fmt.Errorf("attaching %s to bridge %q: no address in the CNI result (%v)", id, n.cfg.Name, err)
		return Attachment{}, errors.Join(err, n.Teardown(context.WithoutCancel(ctx), id))
	}
	a := Attachment{NetNS: path, IP: r.IPs[0].Address.IP.String()}
	for _, i := range r.Interfaces {
		if i.Sandbox == "" && i.Name != n.cfg.Name {
			a.HostIface = i.Name
		}
	}
	return a, nil
}

// Teardown detaches allocation id from the bridge (CNI DEL with the config it was
// added with, from libcni's cache: its veth, iptables rules and address lease go)
// and removes its namespace. It is idempotent: tearing down what is not there, or
// half there, succeeds.
func (n *Network) Teardown(ctx context.Context, id string) error {
	path := n.NetNSPath(id)
	rt := n.runtimeConf(id, path, nil)
	list := n.list
	if cached, cachedRT, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && cached != nil {
		if l, err := libcni.ConfListFromBytes(cached); err == nil {
			list, rt = l, cachedRT
		}
	}
	if !isNetNS(path) {
		// Gone already, or a plain file left by a reboot: plugins still release
		// what lives outside it (address lease, iptables rules).
		rt.NetNS = ""
	}
	var errs []error
	if err := n.cni.DelNetworkList(ctx, list, rt); err != nil {
		errs = append(errs, fmt.Errorf("detaching %s from bridge %q (CNI DEL): %w", id, n.cfg.Name, err))
	}
	if err := removeNetNS(path); err != nil {
		errs = append(errs, fmt.Errorf("removing the network namespace of %s: %w", id, err))
	}
	return errors.Join(errs...)
}

func (n *Network) runtimeConf(id, netns string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName}
	if len(ports) > 0 {
		type entry struct {
			HostPort      int    `json:"hostPort"`
			ContainerPort int    `json:"containerPort"`
			Protocol      string `json:"protocol"`
			HostIP        string `json:"hostIP,omitempty"`
		}
		var entries []entry
		for _, p := range ports {
			hostIP := p.HostIP
			if ip := net.ParseIP(hostIP); ip != nil && ip.IsUnspecified() {
				hostIP = "" // portmap's "every address"
			}
			for _, proto := range []string{"tcp", "udp"} {
				entries = append(entries, entry{p.HostPort, p.ContainerPort, proto, hostIP})
			}
		}
		rt.CapabilityArgs = map[string]any{"portMappings": entries}
	}
	return rt
}
