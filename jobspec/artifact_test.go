package jobspec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseChecksum(t *testing.T) {
	sha256Hex := strings.Repeat("ab", 32)
	tests := []struct {
		in, wantType, wantErr string
	}{
		{in: "sha256:" + sha256Hex, wantType: "sha256"},
		{in: "SHA256:" + sha256Hex, wantType: "sha256"},
		{in: sha256Hex, wantType: "sha256"}, // the type from the length, as go-getter guesses it
		{in: strings.Repeat("0", 32), wantType: "md5"},
		{in: "sha1:" + strings.Repeat("0", 40), wantType: "sha1"},
		{in: "sha512:" + strings.Repeat("f", 128), wantType: "sha512"},
		{in: "sha256:abcd", wantErr: "a sha256 sum has 64 hex digits, this one 4"},
		{in: "crc32:abcd", wantErr: `unknown checksum type "crc32"`},
		{in: "sha256:xyz", wantErr: `"xyz" is not a hexadecimal sum`},
		{in: "abcd", wantErr: "a sum of 4 hex digits has no type of that length"},
		{in: "file:https://example.com/SHA256SUMS", wantErr: "checksum files (file:URL) are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseChecksum(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseChecksum(%q) = %v, %v; want an error containing %q", tc.in, c, err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Type != tc.wantType {
				t.Fatalf("ParseChecksum(%q) = %v, %v; want type %s", tc.in, c, err, tc.wantType)
			}
			_, digits, _ := strings.Cut(tc.in, ":")
			if !strings.Contains(tc.in, ":") {
				digits = tc.in
			}
			if hex.EncodeToString(c.Sum) != strings.ToLower(digits) {
				t.Errorf("sum %x, want %s", c.Sum, digits)
			}
		})
	}
}

func TestArtifactResolve(t *testing.T) {
	md5Empty := "md5:d41d8cd98f00b204e9800998ecf8427e"
	tests := []struct {
		name        string
		a           Artifact
		wantURL     string
		wantArchive string
		wantDest    string
		wantSum     string
		wantErr     string
	}{
		{name: "file into local", a: Artifact{Source: "https://example.com/a/app.bin"},
			wantURL: "https://example.com/a/app.bin", wantDest: "local"},
		{name: "archive by extension", a: Artifact{Source: "http://h:8080/app.TGZ", Destination: "local/app/"},
			wantURL: "http://h:8080/app.TGZ", wantArchive: "tgz", wantDest: "local/app"},
		{name: "longest extension wins", a: Artifact{Source: "http://h/app.tar.bz2"}, wantURL: "http://h/app.tar.bz2", wantArchive: "tar.bz2", wantDest: "local"},
		{name: "archive false", a: Artifact{Source: "http://h/app.zip", Options: map[string]string{"archive": "false"}},
			wantURL: "http://h/app.zip", wantDest: "local"},
		{name: "archive forced", a: Artifact{Source: "http://h/download?id=7", Options: map[string]string{"archive": "zip"}, Mode: "dir"},
			wantURL: "http://h/download?id=7", wantArchive: "zip", wantDest: "local"},
		{name: "go-getter query options move out of the URL",
			a:       Artifact{Source: "http://h/app.tgz?archive=false&checksum=" + md5Empty + "&v=2"},
			wantURL: "http://h/app.tgz?v=2", wantDest: "local", wantSum: md5Empty},
		{name: "absolute destination is below the task dir, as in Nomad", a: Artifact{Source: "http://h/x", Destination: "/secrets/x"},
			wantURL: "http://h/x", wantDest: "secrets/x"},
		{name: "gz into a file", a: Artifact{Source: "http://h/x.gz", Mode: "file", Destination: "local/x"},
			wantURL: "http://h/x.gz", wantArchive: "gz", wantDest: "local/x"},
		{name: "gz forced on a name without .gz", a: Artifact{Source: "http://h/download", Options: map[string]string{"archive": "gz"}},
			wantURL: "http://h/download", wantArchive: "gz", wantDest: "local"},
		{name: "no file name", a: Artifact{Source: "http://h/a/.."}, wantErr: "the URL's path names no file"},
		{name: "unresolved reference", a: Artifact{Source: "https://h/${meta.missing}/x"}, wantErr: "source: ${meta.missing} is not known on this peer"},
		{name: "escape", a: Artifact{Source: "http://h/x", Destination: "local/../../x"}, wantErr: `destination: the destination must stay inside the task directory`},
		{name: "outside local and secrets", a: Artifact{Source: "http://h/x", Destination: "tmp"}, wantErr: "want a path under local/ or secrets/"},
		{name: "file scheme", a: Artifact{Source: "file:///etc/passwd"}, wantErr: `scheme "file" is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := tc.a.Resolve()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve() error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fs.URL.String() != tc.wantURL || fs.Archive != tc.wantArchive || fs.Dest != tc.wantDest {
				t.Errorf("got url %s archive %q dest %q; want %s %q %q", fs.URL, fs.Archive, fs.Dest, tc.wantURL, tc.wantArchive, tc.wantDest)
			}
			got := ""
			if fs.Checksum != nil {
				got = fs.Checksum.String()
			}
			if got != tc.wantSum {
				t.Errorf("checksum %q, want %q", got, tc.wantSum)
			}
		})
	}
}

// A job without artifacts encodes, and so hashes, as before the field existed: peers
// of two versions agree on its hash during an upgrade.
func TestArtifactsLeaveOtherJobsEncodingAlone(t *testing.T) {
	job, err := ParseFile("testdata/minimal.hcl", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(job)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("arts")) {
		t.Error("a job without artifacts has an artifacts field in its encoding")
	}
	job.Groups[0].Tasks[0].Artifacts = []Artifact{{Source: "http://h/x", Mode: "any", Destination: "local/"}}
	if b2, _ := Encode(job); !bytes.Contains(b2, []byte("arts")) {
		t.Error("a job with artifacts has none in its encoding")
	}
}
