package node

import (
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/bridge"
)

// Dynamic ports come from Nomad's default range.
const (
	minDynamicPort = 20000
	maxDynamicPort = 32000 // exclusive
)

// assignPorts gives every port of a group's network a host port: static ports as
// asked (placement has checked them), dynamic ones a free port of
// [minDynamicPort, maxDynamicPort) that is not in held (ports of this peer's other
// allocations) and that free accepts (nil: any). It returns label -> host port and
// the host ports in label order.
func assignPorts(g *jobspec.Group, held []int, rnd *rand.Rand, free func(int) bool) (map[string]int, []int, error) {
	if g.Network == nil || len(g.Network.Ports) == 0 {
		return nil, nil, nil
	}
	byLabel := map[string]int{}
	taken := slices.Clone(held)
	for _, p := range g.Network.Ports {
		if p.Static > 0 {
			byLabel[p.Label] = p.Static
			taken = append(taken, p.Static)
		}
	}
	span := maxDynamicPort - minDynamicPort
	for _, p := range g.Network.Ports {
		if p.Static > 0 {
			continue
		}
		start := rnd.IntN(span)
		found := false
		for i := range span {
			port := minDynamicPort + (start+i)%span
			if slices.Contains(taken, port) || free != nil && !free(port) {
				continue
			}
			byLabel[p.Label], taken, found = port, append(taken, port), true
			break
		}
		if !found {
			return nil, nil, fmt.Errorf("group %q: port %q: no free dynamic port in %d-%d", g.Name, p.Label, minDynamicPort, maxDynamicPort-1)
		}
	}
	ports := make([]int, 0, len(byLabel))
	for _, p := range g.Network.Ports {
		ports = append(ports, byLabel[p.Label])
	}
	return byLabel, ports, nil
}

// heldPortsLocked lists the host ports this peer's allocations still hold and its
// bids reserve. Callers hold n.mu.
func (n *Node) heldPortsLocked() []int {
	var held []int
	for _, la := range n.local {
		if la.rec.HoldsResources() {
			held = append(held, la.rec.Ports...)
		}
	}
	now := time.Now()
	for _, h := range n.holds {
		if h.Active(now) {
			held = append(held, h.Ports...)
		}
	}
	return held
}

// portFree reports whether nothing on this host listens on TCP port (any address).
func portFree(port int) bool {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// portEnv is the environment Nomad gives a task for its group's ports, with the
// label's characters that are not valid in a variable name replaced by '_':
//   - NOMAD_HOST_PORT_<label>, NOMAD_IP_<label>, NOMAD_HOST_IP_<label>,
//     NOMAD_ADDR_<label> and NOMAD_HOST_ADDR_<label>: the host port and the host
//     address it is reached at;
//   - NOMAD_PORT_<label> and NOMAD_ALLOC_PORT_<label>: the port to listen on inside
//     the task's network: the host port in host mode, the port's "to" (else the
//     host port) in bridge mode;
//   - in bridge mode, NOMAD_ALLOC_IP_<label> and NOMAD_ALLOC_ADDR_<label>: the
//     allocation's own address on the bridge (allocIP) and that address with the
//     inside port.
func portEnv(g *jobspec.Group, ports map[string]int, hostIP, allocIP string) map[string]string {
	env := map[string]string{}
	if g.Network == nil {
		return env
	}
	inside := insidePorts(g, ports)
	for _, p := range g.Network.Ports {
		host, ok := ports[p.Label]
		if !ok {
			continue
		}
		l := envLabel(p.Label)
		hp, in := strconv.Itoa(host), strconv.Itoa(inside[p.Label])
		env["NOMAD_PORT_"+l] = in
		env["NOMAD_ALLOC_PORT_"+l] = in
		env["NOMAD_HOST_PORT_"+l] = hp
		env["NOMAD_IP_"+l] = hostIP
		env["NOMAD_HOST_IP_"+l] = hostIP
		env["NOMAD_ADDR_"+l] = net.JoinHostPort(hostIP, hp)
		env["NOMAD_HOST_ADDR_"+l] = net.JoinHostPort(hostIP, hp)
		if allocIP != "" {
			env["NOMAD_ALLOC_IP_"+l] = allocIP
			env["NOMAD_ALLOC_ADDR_"+l] = net.JoinHostPort(allocIP, in)
		}
	}
	return env
}

// bridgeMode reports whether a group's tasks share a network namespace of their own
// on the peer's bridge (Nomad's network mode "bridge").
func bridgeMode(g *jobspec.Group) bool { return g.Network != nil && g.Network.Mode == "bridge" }

// insidePorts maps each port label to the port the task listens on: in bridge mode
// the port's "to" when it is set (0 and -1 mean the host port, as in Nomad), else
// the host port.
func insidePorts(g *jobspec.Group, ports map[string]int) map[string]int {
	in := map[string]int{}
	if g.Network == nil {
		return in
	}
	for _, p := range g.Network.Ports {
		host, ok := ports[p.Label]
		if !ok {
			continue
		}
		in[p.Label] = host
		if bridgeMode(g) && p.To > 0 {
			in[p.Label] = p.To
		}
	}
	return in
}

// portMappings are the host-port -> inside-port mappings of a bridge-mode group,
// on hostIP.
func portMappings(g *jobspec.Group, ports map[string]int, hostIP string) []bridge.PortMapping {
	inside := insidePorts(g, ports)
	var ms []bridge.PortMapping
	for _, p := range g.Network.Ports {
		if host, ok := ports[p.Label]; ok {
			ms = append(ms, bridge.PortMapping{HostPort: host, ContainerPort: inside[p.Label], HostIP: hostIP})
		}
	}
	return ms
}

// envRef is a run-time reference to a task environment variable, "${NAME}".
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// interpolateEnv replaces "${NAME}" in a task's command, args, working dir and env
// values (s.Env must be the task's own map) with the task's environment variable NAME, as Nomad interpolates
// "${NOMAD_PORT_http}" in a task's config. Unknown names stay as written (a shell in
// the task may still expand them).
func interpolateEnv(s *exec.TaskSpec) {
	expand := func(str string) string {
		if !strings.Contains(str, "${") {
			return str
		}
		return envRef.ReplaceAllStringFunc(str, func(ref string) string {
			if v, ok := s.Env[ref[2:len(ref)-1]]; ok {
				return v
			}
			return ref
		})
	}
	s.Command, s.WorkDir, s.Hostname = expand(s.Command), expand(s.WorkDir), expand(s.Hostname)
	s.Args = slices.Clone(s.Args) // shared with the job: other allocations read it
	for i := range s.Args {
		s.Args[i] = expand(s.Args[i])
	}
	for k, v := range s.Env {
		s.Env[k] = expand(v)
	}
}

func envLabel(label string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, label)
}
