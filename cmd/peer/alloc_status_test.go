package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// peer alloc status labels the tasks with their lifecycle hooks as the allocation's
// job version has them, not as the job's current version does; an answer of an
// older peer (without them) is labelled from the job when it is that version.
func TestAllocStatusHooks(t *testing.T) {
	// Version 1 of the job made init a main task and cleanup a poststart task.
	job := `{"ID": "web", "Version": 1, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "init"}, {"Name": "web"},
		{"Name": "cleanup", "Lifecycle": {"Hook": "poststart"}}]}]}`
	states := `{"init": {"State": "dead"}, "web": {"State": "running"}, "cleanup": {"State": "dead"}}`
	for _, tc := range []struct {
		name, alloc string
		want        []string
	}{
		{"an allocation of version 0", `{"ID": "a1", "JobID": "web", "TaskGroup": "g", "JobVersion": 0, "TaskStates": ` + states +
			`, "TaskLifecycles": {"init": "prestart", "cleanup": "poststop"}}`,
			[]string{`Task "cleanup" (poststop) is "dead"`, `Task "init" (prestart) is "dead"`, `Task "web" is "running"`}},
		{"an older peer's answer, same version as the job", `{"ID": "a1", "JobID": "web", "TaskGroup": "g", "JobVersion": 1, "TaskStates": ` + states + `}`,
			[]string{`Task "cleanup" (poststart) is "dead"`, `Task "init" is "dead"`, `Task "web" is "running"`}},
		{"an older peer's answer, another version: no labels", `{"ID": "a1", "JobID": "web", "TaskGroup": "g", "JobVersion": 0, "TaskStates": ` + states + `}`,
			[]string{`Task "cleanup" is "dead"`, `Task "init" is "dead"`, `Task "web" is "running"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/allocation/a1", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(tc.alloc)) })
			mux.HandleFunc("GET /v1/job/web", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(job)) })
			srv := httptest.NewServer(mux)
			defer srv.Close()
			for _, s := range []string{tc.alloc, job} {
				if !json.Valid([]byte(s)) {
					t.Fatalf("bad test JSON: %s", s)
				}
			}
			cmd := newAllocStatusCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs([]string{"--address", srv.URL, "a1"})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, `Task "`) {
					got = append(got, line)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("task lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
