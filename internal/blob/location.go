package blob

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Location is where the blobs live, parsed from the --blobs setting.
type Location struct {
	// Dir is the folder of a folder store; empty for S3.
	Dir string
	// Bucket is the S3 bucket; empty for a folder.
	Bucket string
	// Prefix is put before every key in the bucket ("" or ending as given).
	Prefix string
	// query holds the S3 options other than prefix (endpoint, region,
	// use_path_style, profile).
	query url.Values
}

// s3Parameters are the query parameters an s3:// location takes.
var s3Parameters = []string{"endpoint", "region", "use_path_style", "prefix", "profile"}

// ParseLocation reads the --blobs setting: empty for the folder defaultDir,
// file:///abs/path for another folder, or s3://BUCKET?endpoint=...&region=...
// &use_path_style=true&prefix=... for an S3-compatible bucket. S3 credentials
// come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, ...), never from the URL: a URL carrying a user name or
// password is refused. Errors never repeat the URL.
func ParseLocation(raw, defaultDir string) (Location, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		if defaultDir == "" {
			return Location{}, errors.New("no blob folder given")
		}
		return Location{Dir: defaultDir}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, errors.New("is not a valid URL")
	}
	if u.User != nil {
		return Location{}, errors.New("must not hold a user name or password: S3 credentials come from " +
			"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")
	}
	if u.Fragment != "" {
		return Location{}, errors.New("must not have a #fragment")
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("file URL names host %q: write file:///absolute/path", u.Host)
		}
		if u.RawQuery != "" {
			return Location{}, errors.New("a file:// URL takes no query parameters")
		}
		if u.Opaque != "" || !filepath.IsAbs(u.Path) {
			return Location{}, errors.New("a file:// URL needs an absolute path: file:///var/lib/gatehouse/tarballs")
		}
		return Location{Dir: filepath.Clean(u.Path)}, nil
	case "s3":
		if u.Host == "" || u.Opaque != "" {
			return Location{}, errors.New("an s3:// URL must name a bucket: s3://BUCKET?region=REGION")
		}
		if u.Path != "" && u.Path != "/" {
			return Location{}, errors.New("an s3:// URL is s3://BUCKET?...; put a key prefix in prefix=, not in the path")
		}
		q := u.Query()
		for name, values := range q {
			if len(values) > 1 {
				return Location{}, fmt.Errorf("query parameter %q is given %d times", name, len(values))
			}
			if !slices.Contains(s3Parameters, name) {
				return Location{}, fmt.Errorf("unknown query parameter %q: an s3:// URL takes %s=",
					name, strings.Join(s3Parameters, "=, "))
			}
		}
		if v := q.Get("use_path_style"); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return Location{}, errors.New("use_path_style= must be true or false")
			}
		}
		if ep := q.Get("endpoint"); ep != "" {
			e, err := url.Parse(ep)
			if err != nil || e.Scheme != "http" && e.Scheme != "https" || e.Host == "" {
				return Location{}, errors.New("endpoint= must be an http:// or https:// URL, such as http://127.0.0.1:8333")
			}
			if e.User != nil {
				return Location{}, errors.New("endpoint= must not hold a user name or password: S3 credentials come from " +
					"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
			}
			if e.Path != "" && e.Path != "/" || e.RawQuery != "" || e.Fragment != "" {
				return Location{}, errors.New("endpoint= is a server's address alone, such as http://127.0.0.1:8333, with no path")
			}
		}
		prefix := q.Get("prefix")
		q.Del("prefix")
		return Location{Bucket: u.Host, Prefix: prefix, query: q}, nil
	default:
		return Location{}, fmt.Errorf("unknown scheme %q: use empty (the folder DATA/tarballs), "+
			"file:///absolute/path or s3://BUCKET?endpoint=URL&region=REGION&use_path_style=true", u.Scheme)
	}
}

// String describes the location for logs: the folder, or the s3:// URL. It
// holds no secret, since a URL with credentials does not parse.
func (l Location) String() string {
	if l.Bucket == "" {
		return l.Dir
	}
	q := url.Values{}
	for k, v := range l.query {
		q[k] = v
	}
	if l.Prefix != "" {
		q.Set("prefix", l.Prefix)
	}
	u := url.URL{Scheme: "s3", Host: l.Bucket, RawQuery: q.Encode()}
	return u.String()
}

// Open opens the blob store named by the --blobs setting raw (see
// ParseLocation; empty means the folder defaultDir) and checks that it
// answers, so a wrong bucket, endpoint or credential fails at start.
func Open(ctx context.Context, raw, defaultDir string) (*Store, Location, error) {
	loc, err := ParseLocation(raw, defaultDir)
	if err != nil {
		return nil, Location{}, fmt.Errorf("blobs: %w", err)
	}
	s, err := OpenLocation(ctx, loc)
	return s, loc, err
}

// OpenLocation opens the blob store at loc and checks that it answers.
func OpenLocation(ctx context.Context, loc Location) (*Store, error) {
	if loc.Bucket == "" {
		return OpenFolder(loc.Dir)
	}
	b, err := openBucket(loc)
	if err != nil {
		return nil, fmt.Errorf("open S3 bucket %s: %w", loc, err)
	}
	if err := b.check(ctx); err != nil {
		return nil, fmt.Errorf("S3 bucket %s does not answer (check the bucket, endpoint, region and "+
			"AWS credentials): %w", loc, err)
	}
	return &Store{b: b}, nil
}
