package node

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/bridge"
)

func group(ports ...jobspec.Port) *jobspec.Group {
	return &jobspec.Group{Name: "web", Network: &jobspec.Network{Mode: "host", Ports: ports}}
}

func TestAssignPorts(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	g := group(jobspec.Port{Label: "http"}, jobspec.Port{Label: "admin", Static: 8080}, jobspec.Port{Label: "metrics"})

	byLabel, ports, err := assignPorts(g, nil, rnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if byLabel["admin"] != 8080 {
		t.Errorf("static port admin = %d, want 8080", byLabel["admin"])
	}
	for _, l := range []string{"http", "metrics"} {
		if p := byLabel[l]; p < minDynamicPort || p >= maxDynamicPort {
			t.Errorf("dynamic port %s = %d, want one in [%d, %d)", l, p, minDynamicPort, maxDynamicPort)
		}
	}
	if byLabel["http"] == byLabel["metrics"] {
		t.Errorf("two labels of one allocation share port %d", byLabel["http"])
	}
	if want := []int{byLabel["http"], 8080, byLabel["metrics"]}; !slices.Equal(ports, want) {
		t.Errorf("ports = %v, want %v (label order)", ports, want)
	}

	// A second allocation on the same peer never gets a port the first holds.
	second, _, err := assignPorts(g, ports, rnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"http", "metrics"} {
		if slices.Contains(ports, second[l]) {
			t.Errorf("second allocation's %s got %d, held by the first (%v)", l, second[l], ports)
		}
	}

	// Ports something else listens on are skipped; none left is an error naming the port.
	busy := func(p int) bool { return p != byLabel["http"] }
	if got, _, _ := assignPorts(group(jobspec.Port{Label: "x"}), nil, rand.New(rand.NewPCG(1, 2)), busy); got["x"] == byLabel["http"] {
		t.Errorf("picked %d, which the free check refused", got["x"])
	}
	_, _, err = assignPorts(group(jobspec.Port{Label: "x"}), nil, rnd, func(int) bool { return false })
	if err == nil || err.Error() != `group "web": port "x": no free dynamic port in 20000-31999` {
		t.Errorf("no free port: err = %v", err)
	}

	if m, p, err := assignPorts(&jobspec.Group{Name: "g"}, nil, rnd, nil); m != nil || p != nil || err != nil {
		t.Errorf("a group without a network: %v %v %v, want nothing", m, p, err)
	}
}

// The NOMAD_* port variables as Nomad sets them: in host mode every port is the
// host port; in bridge mode NOMAD_PORT_x and NOMAD_ALLOC_PORT_x are the port to
// listen on inside the allocation ("to", else the host port), NOMAD_ADDR_x and the
// NOMAD_HOST_* ones where the host reaches it, NOMAD_ALLOC_* the allocation's own
// address.
func TestPortEnv(t *testing.T) {
	ports := []jobspec.Port{{Label: "http", To: 8080}, {Label: "db-admin", Static: 5432}, {Label: "raw", To: -1}}
	hostPorts := map[string]int{"http": 23456, "db-admin": 5432, "raw": 23457}
	bridged := group(ports...)
	bridged.Network.Mode = "bridge"
	for _, tc := range []struct {
		name    string
		g       *jobspec.Group
		allocIP string
		want    map[string]string
	}{
		{"host mode ignores to", group(ports...), "", map[string]string{
			"NOMAD_PORT_http": "23456", "NOMAD_ALLOC_PORT_http": "23456", "NOMAD_HOST_PORT_http": "23456",
			"NOMAD_IP_http": "10.0.0.7", "NOMAD_HOST_IP_http": "10.0.0.7",
			"NOMAD_ADDR_http": "10.0.0.7:23456", "NOMAD_HOST_ADDR_http": "10.0.0.7:23456",
			"NOMAD_PORT_db_admin": "5432", "NOMAD_ALLOC_PORT_db_admin": "5432", "NOMAD_HOST_PORT_db_admin": "5432",
			"NOMAD_IP_db_admin": "10.0.0.7", "NOMAD_HOST_IP_db_admin": "10.0.0.7",
			"NOMAD_ADDR_db_admin": "10.0.0.7:5432", "NOMAD_HOST_ADDR_db_admin": "10.0.0.7:5432",
			"NOMAD_PORT_raw": "23457", "NOMAD_ALLOC_PORT_raw": "23457", "NOMAD_HOST_PORT_raw": "23457",
			"NOMAD_IP_raw": "10.0.0.7", "NOMAD_HOST_IP_raw": "10.0.0.7",
			"NOMAD_ADDR_raw": "10.0.0.7:23457", "NOMAD_HOST_ADDR_raw": "10.0.0.7:23457",
		}},
		{"bridge mode maps to", bridged, "172.26.64.5", map[string]string{
			"NOMAD_PORT_http": "8080", "NOMAD_ALLOC_PORT_http": "8080", "NOMAD_HOST_PORT_http": "23456",
			"NOMAD_IP_http": "10.0.0.7", "NOMAD_HOST_IP_http": "10.0.0.7",
			"NOMAD_ADDR_http": "10.0.0.7:23456", "NOMAD_HOST_ADDR_http": "10.0.0.7:23456",
			"NOMAD_ALLOC_IP_http": "172.26.64.5", "NOMAD_ALLOC_ADDR_http": "172.26.64.5:8080",
			"NOMAD_PORT_db_admin": "5432", "NOMAD_ALLOC_PORT_db_admin": "5432", "NOMAD_HOST_PORT_db_admin": "5432",
			"NOMAD_IP_db_admin": "10.0.0.7", "NOMAD_HOST_IP_db_admin": "10.0.0.7",
			"NOMAD_ADDR_db_admin": "10.0.0.7:5432", "NOMAD_HOST_ADDR_db_admin": "10.0.0.7:5432",
			"NOMAD_ALLOC_IP_db_admin": "172.26.64.5", "NOMAD_ALLOC_ADDR_db_admin": "172.26.64.5:5432",
			"NOMAD_PORT_raw": "23457", "NOMAD_ALLOC_PORT_raw": "23457", "NOMAD_HOST_PORT_raw": "23457",
			"NOMAD_IP_raw": "10.0.0.7", "NOMAD_HOST_IP_raw": "10.0.0.7",
			"NOMAD_ADDR_raw": "10.0.0.7:23457", "NOMAD_HOST_ADDR_raw": "10.0.0.7:23457",
			"NOMAD_ALLOC_IP_raw": "172.26.64.5", "NOMAD_ALLOC_ADDR_raw": "172.26.64.5:23457",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := portEnv(tc.g, hostPorts, "10.0.0.7", tc.allocIP)
			if len(env) != len(tc.want) {
				t.Errorf("got %d variables, want %d: %v", len(env), len(tc.want), env)
			}
			for k, v := range tc.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
		})
	}
}

// A bridge-mode group maps each host port to its "to" (or the same port), on the
// peer's address.
func TestPortMappings(t *testing.T) {
	g := group(jobspec.Port{Label: "http", To: 8080}, jobspec.Port{Label: "raw"})
	g.Network.Mode = "bridge"
	got := portMappings(g, map[string]int{"http": 23456, "raw": 23457}, "10.0.0.7")
	want := []bridge.PortMapping{{HostPort: 23456, ContainerPort: 8080, HostIP: "10.0.0.7"}, {HostPort: 23457, ContainerPort: 23457, HostIP: "10.0.0.7"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestInterpolateEnv(t *testing.T) {
	s := exec.TaskSpec{
		Command: "/bin/${PROG}",
		Args:    []string{"-p", "${NOMAD_PORT_http}", "${UNKNOWN}", "$NOMAD_PORT_http", "a${NOMAD_IP_http}:${NOMAD_PORT_http}b"},
		Env:     map[string]string{"PROG": "busybox", "NOMAD_PORT_http": "23456", "NOMAD_IP_http": "10.0.0.7", "LISTEN": ":${NOMAD_PORT_http}"},
	}
	jobArgs := s.Args // the job's own slice: interpolation must not write to it
	interpolateEnv(&s)
	if jobArgs[1] != "${NOMAD_PORT_http}" {
		t.Errorf("the job's args were changed: %q", jobArgs)
	}
	if s.Command != "/bin/busybox" {
		t.Errorf("command = %q", s.Command)
	}
	// $NAME without braces is left to a shell, like an unknown ${NAME}.
	if want := []string{"-p", "23456", "${UNKNOWN}", "$NOMAD_PORT_http", "a10.0.0.7:23456b"}; !slices.Equal(s.Args, want) {
		t.Errorf("args = %q, want %q", s.Args, want)
	}
	if s.Env["LISTEN"] != ":23456" {
		t.Errorf("env LISTEN = %q, want :23456", s.Env["LISTEN"])
	}
}
