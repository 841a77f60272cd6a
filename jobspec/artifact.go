package jobspec

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Artifact is Nomad's artifact block, for the http and https sources of go-getter: a
// file fetched into the task directory before the task starts (before its templates
// render), checked against a checksum when one is given, and unpacked when it is an
// archive. The peer fetches it at every start of the task, as it renders templates.
type Artifact struct {
	Source string `json:"GetterSource" codec:"src"`
	// Options are go-getter's: checksum ("sha256:HEX", ...) and archive ("false",
	// or a format of ArchiveFormats to unpack whatever the URL's extension).
	Options map[string]string `json:"GetterOptions,omitempty" codec:"opts"`
	Headers map[string]string `json:"GetterHeaders,omitempty" codec:"hdrs"`
	Mode    string            `json:"GetterMode" codec:"mode"` // any, file or dir
	// Destination is relative to the task directory: local/ (the default) or a
	// directory below local/ or secrets/; with mode "file", the file itself.
	Destination string `json:"RelativeDest" codec:"dest"`
}

// Artifact modes, as go-getter's client modes.
const (
	// ArtifactModeAny unpacks an archive into the destination directory and saves
	// any other file in it under the URL's base name (the default).
	ArtifactModeAny = "any"
	// ArtifactModeFile saves the file as the destination (a .gz or .bz2 is
	// decompressed into it).
	ArtifactModeFile = "file"
	// ArtifactModeDir unpacks an archive into the destination directory; the
	// source must be an archive.
	ArtifactModeDir = "dir"
)

const defaultArtifactDest = "local/"

// ArchiveFormats are the archive formats a peer unpacks, by the URL's extension
// (longest match) or the archive option: go-getter's, without xz and zstd, which the
// standard library does not read. gz and bz2 are one compressed file.
var ArchiveFormats = []string{"tar", "tar.gz", "tgz", "tar.bz2", "tbz2", "zip", "gz", "bz2"}

var (
	artifactModes   = []string{ArtifactModeAny, ArtifactModeFile, ArtifactModeDir}
	artifactOptions = []string{"checksum", "archive"}
	artifactSchemes = []string{"http", "https"}
	checksumSizes   = map[string]int{"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
	checksumTypes   = []string{"md5", "sha1", "sha256", "sha512"}
	headerNameRE    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	unresolvedRE    = regexp.MustCompile(`\$\{[^}]*\}`)
)

var artifactSpec = spec{
	attrs:   []string{"source", "destination", "mode", "options", "headers"},
	blocks:  []string{"options", "headers"},
	ignored: map[string]string{"chown": "fetched files are always owned by the task's user"},
}

// artifact decodes a task's i-th artifact block.
func (p *parser) artifact(blk *hclsyntax.Block, path string, i int) Artifact {
	sub := fmt.Sprintf("artifact[%d].", i)
	p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, artifactSpec)
	var a Artifact // Canonicalize defaults Mode and Destination
	p.str(b, path, sub, "source", &a.Source)
	p.str(b, path, sub, "destination", &a.Destination)
	p.str(b, path, sub, "mode", &a.Mode)
	a.Options = p.stringMap(b, path, sub, "options")
	a.Headers = p.stringMap(b, path, sub, "headers")
	return a
}

// Checksum is an artifact's expected sum.
type Checksum struct {
	Type string // md5, sha1, sha256 or sha512
	Sum  []byte
}

func (c Checksum) String() string { return c.Type + ":" + hex.EncodeToString(c.Sum) }

// ParseChecksum parses go-getter's checksum option: "TYPE:HEX", or HEX alone, whose
// length names the type.
func ParseChecksum(s string) (Checksum, error) {
	typ, digits, typed := strings.Cut(s, ":")
	if !typed {
		typ, digits = "", s
	}
	typ = strings.ToLower(typ)
	if typ == "file" {
		return Checksum{}, fmt.Errorf("checksum files (file:URL) are not supported; give the sum itself, e.g. \"sha256:<64 hex digits>\"")
	}
	if _, ok := checksumSizes[typ]; typed && !ok {
		return Checksum{}, fmt.Errorf("unknown checksum type %q; accepted: %s%s", typ, acceptedList(checksumTypes), suggest(typ, checksumTypes))
	}
	sum, err := hex.DecodeString(digits)
	if err != nil || len(sum) == 0 {
		return Checksum{}, fmt.Errorf("%q is not a hexadecimal sum; want TYPE:HEX, e.g. \"sha256:<64 hex digits>\" (TYPE: %s)", digits, acceptedList(checksumTypes))
	}
	if !typed {
		for _, t := range checksumTypes {
			if checksumSizes[t] == len(sum) {
				typ = t
			}
		}
		if typ == "" {
			return Checksum{}, fmt.Errorf("a sum of %d hex digits has no type of that length; write TYPE:HEX with TYPE %s", len(digits), acceptedList(checksumTypes))
		}
	}
	if want := checksumSizes[typ]; len(sum) != want {
		return Checksum{}, fmt.Errorf("a %s sum has %d hex digits, this one %d", typ, 2*want, len(digits))
	}
	return Checksum{Type: typ, Sum: sum}, nil
}

// FetchSpec is an artifact as a peer fetches it, once the ${...} references in it
// are filled in (see Artifact.Resolve).
type FetchSpec struct {
	URL      *url.URL // http or https, without go-getter's checksum and archive query parameters
	Headers  map[string]string
	Checksum *Checksum // nil: none to check
	Archive  string    // the format to unpack (one of ArchiveFormats), "" for none
	Mode     string    // ArtifactModeAny, ArtifactModeFile or ArtifactModeDir
	// Dest is relative to the task directory, clean, and local/... or secrets/...:
	// the directory to save or unpack into, or with mode "file" the file.
	Dest string
}

// Resolve checks an artifact whose ${...} references are filled in and says how to
// fetch it. go-getter's checksum and archive parameters in the source's query are
// read as the options of the same name (and taken out of the URL).
func (a Artifact) Resolve() (FetchSpec, error) {
	fs, probs := a.resolve(false)
	if len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, pr := range probs {
			msgs[i] = pr.field + ": " + pr.msg
		}
		return fs, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return fs, nil
}

// artifactProblem is one thing wrong with an artifact, by field.
type artifactProblem struct{ field, value, msg string }

// resolve checks a and builds its FetchSpec. At parse time (parsing), the fields that
// hold run-time references (${...}) are checked only as far as they can be.
func (a Artifact) resolve(parsing bool) (FetchSpec, []artifactProblem) {
	var probs []artifactProblem
	bad := func(f, value, format string, args ...any) {
		probs = append(probs, artifactProblem{f, value, fmt.Sprintf(format, args...)})
	}
	later := func(s string) bool { return parsing && strings.Contains(s, "${") }
	fs := FetchSpec{Headers: a.Headers, Mode: a.Mode, Dest: a.Destination}
	if fs.Mode == "" {
		fs.Mode = ArtifactModeAny
	}
	opts := map[string]string{}
	for k, v := range a.Options {
		opts[k] = v
	}

	if !parsing {
		for _, f := range [][2]string{{"source", a.Source}, {"destination", a.Destination}} {
			if ref := unresolvedRE.FindString(f[1]); ref != "" {
				bad(f[0], quote(f[1]), "%s is not known on this peer", ref)
			}
		}
		if len(probs) > 0 {
			return fs, probs
		}
	}
	src := a.Source
	getter, _, forced := strings.Cut(src, "::")
	scheme, _, hasScheme := strings.Cut(src, "://")
	switch {
	case src == "":
		bad("source", "", "the artifact needs a source, an http:// or https:// URL, e.g. source = \"https://example.com/app.tar.gz\"")
	case forced && !strings.ContainsAny(getter, "/:"):
		bad("source", quote(src), "go-getter's %q getter is not supported: Shoal fetches artifacts over http and https only; accepted: an http:// or https:// URL", getter)
	case later(scheme):
	case !hasScheme:
		bad("source", quote(src), "not an http:// or https:// URL (go-getter's detected forms, such as github.com/org/repo or a path, are not supported); accepted: an http:// or https:// URL")
	case !contains(artifactSchemes, strings.ToLower(scheme)):
		bad("source", quote(src), "scheme %q is not supported: Shoal fetches artifacts over http and https only (not git, hg, s3, gcs or file); accepted: \"http\" or \"https\"", scheme)
	case later(src):
	default:
		u, err := url.Parse(src)
		switch {
		case err != nil:
			bad("source", quote(src), "not a valid URL: %v", unwrapURLError(err))
		case u.Host == "":
			bad("source", quote(src), "the URL has no host; want e.g. \"https://example.com/app.tar.gz\"")
		default:
			q := u.Query()
			for _, k := range artifactOptions {
				if !q.Has(k) {
					continue
				}
				if _, set := opts[k]; set {
					bad("options."+k, quote(opts[k]), "%s is also in the source URL's query; set it in one place", k)
				}
				opts[k] = q.Get(k)
				q.Del(k)
			}
			u.RawQuery = q.Encode()
			fs.URL = u
		}
	}

	for _, k := range sortedKeys(opts) {
		if !contains(artifactOptions, k) {
			bad("options."+k, quote(opts[k]), "option %q is not supported (Shoal fetches over http and https only, so go-getter's git, s3 and gcs options do not apply); accepted: %s%s",
				k, acceptedList(artifactOptions), suggest(k, artifactOptions))
		}
	}
	if c, ok := opts["checksum"]; ok && !later(c) {
		sum, err := ParseChecksum(c)
		if err != nil {
			bad("options.checksum", quote(c), "%v", err)
		} else {
			fs.Checksum = &sum
		}
	}

	detect := true // unless the archive option is false or names a format
	if v, ok := opts["archive"]; ok && !later(v) {
		if b, err := strconv.ParseBool(v); err == nil {
			detect = b
		} else if contains(ArchiveFormats, strings.ToLower(v)) {
			fs.Archive, detect = strings.ToLower(v), false
		} else {
			bad("options.archive", quote(v), "accepted: false (save the file as it is), true (unpack by the URL's extension) or a format: %s", acceptedList(ArchiveFormats))
		}
	}
	if detect && fs.URL != nil {
		fs.Archive = archiveOf(fs.URL.Path)
	} else if detect && later(src) {
		// The end of the path may still tell, after the last reference.
		if tail := src[strings.LastIndex(src, "}")+1:]; !strings.ContainsAny(tail, "?#") {
			fs.Archive = archiveOf(tail)
		}
	}
	// Whether the source is known not to be an archive, for mode "dir".
	known := fs.URL != nil || !detect || fs.Archive != ""

	if !contains(artifactModes, fs.Mode) {
		bad("mode", quote(fs.Mode), "unknown mode %q; accepted: %s%s", fs.Mode, acceptedList(artifactModes), suggest(fs.Mode, artifactModes))
	}
	single := compressedFile(fs.Archive)
	switch {
	case fs.Mode == ArtifactModeFile && fs.Archive != "" && !single:
		bad("mode", quote(fs.Mode), "mode \"file\" saves one file, but the source is a %s archive; set options { archive = false } to save the archive itself, or mode = \"any\" to unpack it into destination", fs.Archive)
	case fs.Mode == ArtifactModeDir && fs.Archive == "" && known && src != "":
		bad("mode", quote(fs.Mode), "mode \"dir\" unpacks an archive, but the source is not one (accepted: %s by extension, or options { archive = \"FORMAT\" }); use mode = \"any\" to save the file", acceptedList(ArchiveFormats))
	case fs.Mode != ArtifactModeFile && fs.URL != nil && fileName(fs.URL.Path, fs.Archive) == "" && (fs.Archive == "" || single):
		bad("source", quote(src), "the URL's path names no file to save it as; set mode = \"file\" and destination = \"local/NAME\"")
	}

	dest := fs.Dest
	if dest == "" {
		dest = defaultArtifactDest
	}
	if parsing {
		// As in Nomad, the task's directories may be named by their variables.
		dest = strings.NewReplacer("${NOMAD_TASK_DIR}", "/local", "${NOMAD_SECRETS_DIR}", "/secrets").Replace(dest)
	}
	clean := strings.TrimPrefix(path.Clean("/"+dest), "/")
	switch {
	case hasDotDot(dest):
		bad("destination", quote(fs.Dest), "the destination must stay inside the task directory: no \"..\"; want a directory under local/ or secrets/, e.g. \"local/bin\"")
	case later(dest) && !under(clean, "local", "secrets"):
		// Checked at run time, once the references are known.
	case !under(clean, "local", "secrets"):
		bad("destination", quote(fs.Dest), "want a path under local/ or secrets/ of the task directory (the task sees them at /local and /secrets), e.g. \"local/bin\"")
	case fs.Mode == ArtifactModeFile && (clean == "local" || clean == "secrets"):
		bad("destination", quote(fs.Dest), "with mode \"file\" the destination is the file to write, e.g. \"local/app.bin\"")
	}
	fs.Dest = clean

	for _, k := range sortedKeys(a.Headers) {
		if !headerNameRE.MatchString(k) {
			bad("headers."+k, quote(k), "%q is not an HTTP header name (letters, digits and !#$%%&'*+-.^_`|~)", k)
		}
		if strings.ContainsAny(a.Headers[k], "\r\n\x00") {
			bad("headers."+k, quote(a.Headers[k]), "a header value must be one line")
		}
	}
	return fs, probs
}

// ArtifactFileName is the name under which an artifact that is one file (not an
// archive to unpack) is saved in its destination directory: the URL path's base
// name, without the .gz or .bz2 it is decompressed from; "" if there is none.
func ArtifactFileName(fs FetchSpec) string { return fileName(fs.URL.Path, fs.Archive) }

func fileName(urlPath, archive string) string {
	if strings.HasSuffix(urlPath, "/") {
		return ""
	}
	base := path.Base(urlPath)
	if compressedFile(archive) && strings.HasSuffix(strings.ToLower(base), "."+archive) {
		base = base[:len(base)-len(archive)-1]
	}
	if base == "" || base == "." || base == ".." || base == "/" {
		return ""
	}
	return base
}

// Compressed reports whether the artifact is one compressed file (gz or bz2),
// decompressed into one file rather than unpacked into a directory.
func (fs FetchSpec) Compressed() bool { return compressedFile(fs.Archive) }

func compressedFile(archive string) bool { return archive == "gz" || archive == "bz2" }

// archiveOf is the archive format a path's extension names (the longest match), or "".
func archiveOf(p string) string {
	p = strings.ToLower(p)
	best := ""
	for _, f := range ArchiveFormats {
		if strings.HasSuffix(p, "."+f) && len(f) > len(best) {
			best = f
		}
	}
	return best
}

// unwrapURLError drops url.Error's "parse <the URL>:" prefix, which repeats the value.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// artifacts checks a task's artifact blocks.
func (v *validator) artifacts(taskPath string, as []Artifact) {
	for i, a := range as {
		_, probs := a.resolve(true)
		for _, pr := range probs {
			v.errf(field(taskPath, fmt.Sprintf("artifact[%d].%s", i, pr.field)), pr.value, "%s", pr.msg)
		}
	}
}
