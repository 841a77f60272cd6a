package jobspec

import "path"

// InDatacenter reports whether the job may run in datacenter dc. Datacenters are
// glob patterns, as in Nomad since 1.5: "*" (the default) matches every datacenter,
// "us-*" every datacenter whose name starts with "us-".
func (j *Job) InDatacenter(dc string) bool {
	for _, pattern := range j.Datacenters {
		if ok, err := path.Match(pattern, dc); err == nil && ok {
			return true
		}
	}
	return false
}
