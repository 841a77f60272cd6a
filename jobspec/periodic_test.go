package jobspec

import (
	"strings"
	"testing"
	"time"
)

func TestPeriodicNext(t *testing.T) {
	from := time.Date(2026, 11, 30, 4, 7, 30, 0, time.UTC) // a Monday
	tests := []struct {
		name  string
		specs []string
		zone  string
		want  time.Time
	}{
		{name: "every 15 minutes", specs: []string{"*/15 * * * *"}, want: time.Date(2026, 11, 30, 4, 15, 0, 0, time.UTC)},
		{name: "the earliest of several", specs: []string{"0 5 * * *", "30 4 * * *"}, want: time.Date(2026, 11, 30, 4, 30, 0, 0, time.UTC)},
		{name: "seconds field (7 fields)", specs: []string{"*/10 * * * * * *"}, want: time.Date(2026, 11, 30, 4, 7, 40, 0, time.UTC)},
		{name: "predefined", specs: []string{"@daily"}, want: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		// 03:00 in Berlin (UTC+1 in winter) is 02:00 UTC: tomorrow's, today's has passed.
		{name: "time zone", specs: []string{"0 3 * * *"}, zone: "Europe/Berlin", want: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)},
		{name: "never again", specs: []string{"0 0 1 1 * 2001"}, want: time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Periodic{Specs: tc.specs, TimeZone: tc.zone}
			if got := p.Next(from); !got.Equal(tc.want) {
				t.Errorf("Next(%s) = %s, want %s", from, got, tc.want)
			}
		})
	}
}

func TestChildID(t *testing.T) {
	tick := time.Date(2026, 11, 30, 4, 15, 0, 0, time.UTC)
	id := ChildID("report", tick)
	if id != "report/periodic-1796012100" {
		t.Errorf("ChildID = %q, want Nomad's form report/periodic-<unix seconds>", id)
	}
	parent, got, ok := ParseChildID(id)
	if !ok || parent != "report" || !got.Equal(tick) {
		t.Errorf("ParseChildID(%q) = %q, %s, %v; want report, %s, true", id, parent, got, ok, tick)
	}
	for _, bad := range []string{"report", "report/periodic-", "report/periodic-x1", "/periodic-12", "report/periodic--5"} {
		if _, _, ok := ParseChildID(bad); ok {
			t.Errorf("ParseChildID(%q) is ok; want not a child id", bad)
		}
	}
}

func TestChildIsTheParentWithoutPeriodic(t *testing.T) {
	parent, err := ParseFile("testdata/periodic.hcl", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	parent.Version = 4
	tick := time.Unix(1796012100, 0)
	c := parent.Child(tick)
	if c.ID != "report/periodic-1796012100" || c.ParentID != "report" || c.Periodic != nil || c.Version != 0 || c.Type != TypeBatch {
		t.Errorf("child = ID %q ParentID %q Periodic %v Version %d Type %q; want the parent's spec as a plain batch job",
			c.ID, c.ParentID, c.Periodic, c.Version, c.Type)
	}
	if parent.Periodic == nil || parent.ID != "report" {
		t.Error("Child changed the parent")
	}
	if c.Hash() != parent.Child(tick).Hash() {
		t.Error("two launches of the same tick are different jobs")
	}
	if c.Hash() == parent.Child(tick.Add(time.Minute)).Hash() {
		t.Error("launches of two ticks are the same job")
	}
}

func TestPeriodicFromJSONGetsDefaults(t *testing.T) {
	j := &Job{ID: "r", Type: TypeBatch, Periodic: &Periodic{Specs: []string{"@hourly"}},
		Groups: []*Group{{Name: "g", Count: 1, Tasks: []*Task{{Name: "t", Driver: DriverExec, Config: TaskConfig{Command: "/bin/true"}}}}}}
	j.Canonicalize()
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	if !j.Periodic.IsEnabled() || j.Periodic.TimeZone != "UTC" {
		t.Errorf("after Canonicalize: enabled %v, time zone %q; want true, UTC", j.Periodic.IsEnabled(), j.Periodic.TimeZone)
	}
	j.Periodic.Specs = []string{"0 0 1 1 * 2001"}
	if err := j.Validate(); err == nil || !strings.Contains(err.Error(), `periodic.crons[0]: cron expression "0 0 1 1 * 2001" never fires`) {
		t.Errorf("a cron that never fires again: got %v", err)
	}
}

func TestJobWithoutPeriodicHashesAsBefore(t *testing.T) {
	// Jobs stored before periodic existed must keep their hash, or resubmitting one
	// unchanged would make a new version: the new fields are left out when empty.
	j := &Job{ID: "j", Name: "j", Type: TypeBatch}
	b, err := Encode(j)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "periodic") || strings.Contains(s, "parent") {
		t.Errorf("the encoding of a job without periodic names the new fields: %q", s)
	}
}
