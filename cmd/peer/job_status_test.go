package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
)

func TestJobListShowsPeriodicParentsAndChildren(t *testing.T) {
	var b bytes.Buffer
	table(&b, jobRows([]api.JobListStub{
		{ID: "report", Type: "batch", Status: "running", Periodic: true},
		{ID: "report/periodic-1796012100", Type: "batch", Status: "dead", ParentID: "report", Summary: map[string]int{"complete": 1}},
		{ID: "web", Type: "service", Status: "running"},
	}))
	want := `ID                          Type            Version  Status   Allocations  Parent
report                      batch/periodic  0        running  -            -
report/periodic-1796012100  batch           0        dead     complete=1   report
web                         service         0        running  -            -
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	table(&b, jobRows([]api.JobListStub{{ID: "web", Type: "service", Status: "running"}}))
	if strings.Contains(b.String(), "Parent") {
		t.Errorf("a list without children has a Parent column:\n%s", b.String())
	}
}

func TestParentStatusShowsNextLaunchAndChildren(t *testing.T) {
	on := true
	job := &api.Job{Job: &jobspec.Job{ID: "report", Name: "report", Type: "batch",
		Periodic: &jobspec.Periodic{Specs: []string{"*/15 * * * *"}, Enabled: &on, TimeZone: "UTC", ProhibitOverlap: true}},
		Status: "running", NextLaunch: time.Date(2026, 11, 30, 4, 15, 0, 0, time.UTC),
		Children: []api.JobListStub{{ID: "report/periodic-1796011200", Status: "dead", ParentID: "report"}}}
	var b bytes.Buffer
	printParent(&b, job)
	for _, want := range []string{"Next Periodic Launch  = 2026-11-30T04:15:00Z", "Prohibit Overlap      = true",
		"Previously Launched Jobs", "report/periodic-1796011200  dead"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	job.Stop, job.NextLaunch, job.Children = true, time.Time{}, nil
	b.Reset()
	printParent(&b, job)
	for _, want := range []string{"Next Periodic Launch  = none (stopped)", "No instances of periodic job found"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	job.Stop = false // running, but its crons have no tick left
	b.Reset()
	printParent(&b, job)
	if want := "Next Periodic Launch  = none (no tick of its crons is left)"; !strings.Contains(b.String(), want) {
		t.Errorf("missing %q in\n%s", want, b.String())
	}
}

func TestRunOfPeriodicJobSaysNextLaunch(t *testing.T) {
	next := time.Now().Add(90 * time.Second).UTC().Truncate(time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(api.Job{Job: &jobspec.Job{ID: "report"}, NextLaunch: next})
	}))
	defer srv.Close()
	var b bytes.Buffer
	if err := printNextLaunch(context.Background(), &b, api.NewClient(srv.URL), "report"); err != nil {
		t.Fatal(err)
	}
	if want := `Periodic job "report": next launch ` + next.Format("2006-01-02T15:04:05Z"); !strings.Contains(b.String(), want) {
		t.Errorf("got %q, want it to contain %q", b.String(), want)
	}
}
