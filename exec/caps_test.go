package exec

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Capabilities follows Docker's cap_drop/cap_add over the defaults, and Nomad's
// allow_caps over the result: every capability a task ends up with must be allowed.
func TestCapabilities(t *testing.T) {
	withNetRaw := append(slices.Clone(defaultCaps), "net_raw")
	tests := []struct {
		name            string
		add, drop, allo []string
		want            []string // nil: an error containing wantErr
		wantErr         string
	}{
		{name: "defaults", want: defaultCaps},
		{name: "drop one", drop: []string{"CAP_MKNOD"}, want: slices.DeleteFunc(slices.Clone(defaultCaps), func(c string) bool { return c == "CAP_MKNOD" })},
		{name: "drop all, add one back", drop: []string{"ALL"}, add: []string{"chown"}, want: []string{"CAP_CHOWN"}},
		{name: "add beyond the defaults", add: []string{"net_raw"}, wantErr: `cap_add: "net_raw" is not allowed on this peer; allowed: chown, `},
		{name: "add what allow_caps allows", add: []string{"Net_Raw"}, allo: withNetRaw, want: append(slices.Clone(defaultCaps), "CAP_NET_RAW")},
		{name: "a narrow allow_caps refuses the defaults", allo: []string{"chown"}, wantErr: `capability "dac_override" (a default: cap_drop it) is not allowed on this peer; allowed: chown`},
		{name: "a narrow allow_caps with cap_drop all", drop: []string{"all"}, add: []string{"chown"}, allo: []string{"chown"}, want: []string{"CAP_CHOWN"}},
		{name: "unknown name", add: []string{"nope"}, wantErr: `cap_add: "nope" is not a Linux capability`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Capabilities(tt.add, tt.drop, tt.allo)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// A peer whose allow_caps allows net_raw runs a task that adds it, and one that
// does not refuses it at start.
func TestAllowCaps(t *testing.T) {
	d := newDriver(t)
	img := busyboxImage(t)
	s := shTask(img, "allow-caps", "grep CapEff /proc/self/status")
	s.CapAdd = []string{"net_raw"}
	if _, err := d.Start(ctxT(t, time.Minute), s); err == nil || !strings.Contains(err.Error(), `cap_add: "net_raw" is not allowed on this peer`) {
		t.Fatalf("cap_add net_raw with the default allow_caps: %v, want it refused", err)
	}
	d.cfg.AllowCaps = append(slices.Clone(defaultCaps), "net_raw")
	res, out, errOut := run(t, d, s)
	if want := "CapEff:\t00000000a80425fb\n"; res.ExitCode != 0 || out != want { // the default a80405fb and CAP_NET_RAW (0x2000)
		t.Errorf("exit %d, stdout %q (stderr %q); want %q", res.ExitCode, out, errOut, want)
	}
}
