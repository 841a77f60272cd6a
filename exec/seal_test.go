package exec

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/exeseal"
)

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"/usr/local/bin", "/var/lib/shoal/exec/state", false},
		{"/tmp", "/tmp/shoal/exec/state", true},            // ./peer run -data-dir ./shoal from /tmp
		{"/srv/shoal", "/srv/shoal/data/exec/state", true}, // binary beside its data
		{"/srv/a/b/c", "/srv/a", true},                     // state dir above the binary
		{"/srv/shoal-bin", "/srv/shoal/exec/state", false}, // a shared prefix is not containment
		{"/", "/var/lib/shoal", true},
		{"/opt/x", "/opt/x", true},
	} {
		if got := overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestSealSelf runs this test binary as a child that calls SealSelf: the child
// must come back from the exec running from a sealed copy, with its arguments.
func TestSealSelf(t *testing.T) {
	if exeseal.IsSelfExeCloned() {
		t.Skip("the test binary already runs from a sealed copy")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$", "marker-arg")
	cmd.Env = append(os.Environ(), roleEnv+"=seal")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "sealed marker-arg" {
		t.Fatalf("child said %q; want %q", got, "sealed marker-arg")
	}
}

func runSealRole() int {
	if err := SealSelf(); err != nil { // returns only if it did not re-execute
		os.Stdout.WriteString("SealSelf: " + err.Error() + "\n")
		return 1
	}
	if !exeseal.IsSelfExeCloned() {
		os.Stdout.WriteString("not sealed after SealSelf\n")
		return 1
	}
	os.Stdout.WriteString("sealed " + os.Args[len(os.Args)-1] + "\n")
	return 0
}
